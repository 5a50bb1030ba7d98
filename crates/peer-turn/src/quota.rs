//! Limits on what TURN clients can make the server hold: [`Allocations`] counts allocations per
//! user (`<key>$<peerId>`, so one peer's credentials with different expiries share a quota) and
//! for the whole server; [`ByteBudget`] is a token bucket of relayed bytes for one allocation.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Why an allocation was refused (TURN error 486, Allocation Quota Reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaError {
    /// The user holds its most allocations.
    User(usize),
    /// The server holds its most allocations.
    Server(usize),
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaError::User(n) => write!(f, "this user already holds {n} allocations"),
            QuotaError::Server(n) => write!(f, "the server already holds {n} allocations"),
        }
    }
}

impl std::error::Error for QuotaError {}

/// Allocation counts.
#[derive(Debug)]
pub struct Allocations {
    per_user: usize,
    total: usize,
    users: HashMap<String, usize>,
    held: usize,
}

impl Allocations {
    /// At most `per_user` allocations per user and `total` in all.
    pub fn new(per_user: usize, total: usize) -> Allocations {
        Allocations {
            per_user,
            total,
            users: HashMap::new(),
            held: 0,
        }
    }

    /// Whether one more allocation of `user` would be counted.
    pub fn check(&self, user: &str) -> Result<(), QuotaError> {
        if self.held >= self.total {
            return Err(QuotaError::Server(self.total));
        }
        if self.of(user) >= self.per_user {
            return Err(QuotaError::User(self.per_user));
        }
        Ok(())
    }

    /// Counts one more allocation of `user`, or refuses it.
    pub fn acquire(&mut self, user: &str) -> Result<(), QuotaError> {
        self.check(user)?;
        *self.users.entry(user.to_owned()).or_default() += 1;
        self.held += 1;
        Ok(())
    }

    /// One allocation of `user` ended. Releasing what was never acquired changes nothing.
    pub fn release(&mut self, user: &str) {
        if let Some(n) = self.users.get_mut(user) {
            *n -= 1;
            self.held -= 1;
            if *n == 0 {
                self.users.remove(user);
            }
        }
    }

    /// Allocations `user` holds.
    pub fn of(&self, user: &str) -> usize {
        self.users.get(user).copied().unwrap_or(0)
    }

    /// Allocations held in all.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Users holding allocations (the map shrinks as they end).
    pub fn users(&self) -> usize {
        self.users.len()
    }
}

/// A token bucket of bytes: `per_second` on average, at most one second's worth at once.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    per_second: u64,
    tokens: f64,
    last: Option<Instant>,
}

impl ByteBudget {
    /// A full bucket of `per_second` bytes a second.
    pub fn new(per_second: u64) -> ByteBudget {
        ByteBudget {
            per_second,
            tokens: per_second as f64,
            last: None,
        }
    }

    /// Whether `bytes` may be relayed at `now` (a packet that does not fit is dropped, as a
    /// congested link would).
    pub fn admit(&mut self, now: Instant, bytes: usize) -> bool {
        if let Some(last) = self.last {
            let dt = now
                .saturating_duration_since(last)
                .min(Duration::from_secs(10));
            self.tokens = (self.tokens + dt.as_secs_f64() * self.per_second as f64)
                .min(self.per_second as f64);
        }
        self.last = Some(now);
        if bytes as f64 <= self.tokens {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_the_server_have_their_limits() {
        let mut a = Allocations::new(2, 3);
        assert!(a.acquire("k$alice").is_ok());
        assert!(a.acquire("k$alice").is_ok());
        assert_eq!(a.acquire("k$alice"), Err(QuotaError::User(2)));
        assert!(a.acquire("k$bob").is_ok());
        assert_eq!(a.acquire("k$carol"), Err(QuotaError::Server(3)));
        a.release("k$alice");
        assert_eq!(a.of("k$alice"), 1);
        assert!(a.acquire("k$carol").is_ok());
        for u in ["k$alice", "k$bob", "k$carol", "k$nobody"] {
            a.release(u);
        }
        assert_eq!((a.held(), a.users()), (0, 0));
    }

    #[test]
    fn the_byte_budget_passes_its_rate() {
        let t = Instant::now();
        let mut b = ByteBudget::new(10_000);
        // A full second's worth at once, then nothing.
        assert!(b.admit(t, 10_000));
        assert!(!b.admit(t, 1));
        // 10 s of 1,200-byte packets every millisecond (1.2 MB/s offered): about 100 kB pass.
        let mut passed = 0usize;
        for i in 1..=10_000u64 {
            if b.admit(t + Duration::from_millis(i), 1_200) {
                passed += 1_200;
            }
        }
        assert!((98_000..=101_200).contains(&passed), "{passed}");
    }
}
