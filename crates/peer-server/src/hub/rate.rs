//! A token bucket that limits how many messages one socket may send.

/// A token bucket counted in thousandths of a message, refilled from the caller's clock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    milli_tokens: u64,
    capacity: u64,
    per_second: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` messages refilled at `per_second`.
    pub fn new(per_second: u32, burst: u32, now_ms: u64) -> TokenBucket {
        let capacity = u64::from(burst) * 1000;
        TokenBucket {
            milli_tokens: capacity,
            capacity,
            per_second: u64::from(per_second),
            last_ms: now_ms,
        }
    }

    /// Takes one message's token; false when the bucket is empty.
    pub fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.milli_tokens =
            (self.milli_tokens + elapsed.saturating_mul(self.per_second)).min(self.capacity);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
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
    fn burst_then_refill() {
        let mut b = TokenBucket::new(10, 3, 0);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(50));
        assert!(b.take(100));
        assert!(!b.take(100));
        assert!(b.take(10_000) && b.take(10_000) && b.take(10_000) && !b.take(10_000));
    }
}
