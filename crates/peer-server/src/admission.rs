//! What the server lets clients hold: open connections, connections that have not yet sent a
//! request, and inbound bytes in flight (polling bodies and partial WebSocket messages), each
//! with a limit; and the refusals, logged once per interval rather than once per attempt.
//!
//! The connection limit keeps headroom under the process's file-descriptor limit, so `accept`
//! itself never runs out: a client past the limit is accepted, answered `503` and closed at
//! once instead of waiting unanswered in the kernel's queue.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How often refusals are logged (with their count since the last line).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// File descriptors kept free under the limit: for listening, logging, files and the other
/// sockets of the process (later the SFU's and TURN's UDP sockets).
pub fn fd_headroom(fd_limit: u64) -> u64 {
    (fd_limit / 16).max(64)
}

/// The connection limit for a file-descriptor limit and a configured maximum (0: none).
pub fn connection_limit(fd_limit: u64, configured: usize) -> usize {
    let by_fds = fd_limit.saturating_sub(fd_headroom(fd_limit)).max(1);
    let by_fds = usize::try_from(by_fds).unwrap_or(usize::MAX);
    if configured == 0 {
        by_fds
    } else {
        configured.min(by_fds)
    }
}

/// Why a connection or a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every connection slot is taken.
    Connections,
    /// Too many connections have not sent a complete request yet.
    Unbound,
    /// `accept` failed (out of file descriptors despite the headroom).
    Accept,
    /// The inbound byte budget stayed exhausted past the deadline.
    InboundBytes,
    /// Every session slot is taken.
    Sessions,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Connections => "at the connection limit",
            Refusal::Unbound => "too many connections without a request",
            Refusal::Accept => "accept failed",
            Refusal::InboundBytes => "inbound byte budget exhausted",
            Refusal::Sessions => "at the session limit",
        }
    }
}

/// The server's admission state.
#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    max_unbound: usize,
    open: AtomicUsize,
    /// The most connections open at once since [`Admission::take_peak_connections`].
    peak: AtomicUsize,
    unbound: AtomicUsize,
    inbound: Arc<Semaphore>,
    max_inbound: usize,
    refused: AtomicU64,
    /// When refusals were last logged, and how many came since.
    log: Mutex<(Option<Instant>, u64)>,
}

impl Admission {
    /// Limits: open connections, connections without a request yet, inbound bytes in flight.
    pub fn new(max_connections: usize, max_unbound: usize, max_inbound: usize) -> Admission {
        let max_inbound = max_inbound.min(Semaphore::MAX_PERMITS);
        Admission {
            max_connections,
            max_unbound,
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            unbound: AtomicUsize::new(0),
            inbound: Arc::new(Semaphore::new(max_inbound)),
            max_inbound,
            refused: AtomicU64::new(0),
            log: Mutex::new((None, 0)),
        }
    }

    /// The connection limit in force.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Takes a slot for a just-accepted connection, or says why there is none.
    pub fn admit(self: &Arc<Self>) -> Result<ConnSlot, Refusal> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Connections);
        }
        self.peak.fetch_max(before + 1, Ordering::Relaxed);
        if self.unbound.fetch_add(1, Ordering::AcqRel) >= self.max_unbound {
            self.unbound.fetch_sub(1, Ordering::AcqRel);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Unbound);
        }
        Ok(ConnSlot {
            admission: self.clone(),
            bound: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Counts a refusal and logs, at most once per interval, how many there were.
    pub fn refused(&self, why: Refusal) {
        let total = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut log) = self.log.lock() else {
            return;
        };
        log.1 += 1;
        if log.0.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL) {
            tracing::warn!(
                reason = why.as_str(),
                refused = log.1,
                total,
                open = self.open.load(Ordering::Relaxed),
                limit = self.max_connections,
                "refusing clients (counted since the last such line)"
            );
            *log = (Some(Instant::now()), 0);
        }
    }

    /// A hold on the inbound byte budget, empty at first.
    pub fn inbound_hold(&self) -> InboundHold {
        InboundHold {
            semaphore: self.inbound.clone(),
            held: 0,
        }
    }

    /// The most connections that were open at once since the last call (or since the start),
    /// and starts the next interval from the connections open now. The periodic sweep samples
    /// only the moment it runs; a crowd that came and went between two sweeps shows here.
    pub fn take_peak_connections(&self) -> usize {
        let now = self.open.load(Ordering::Relaxed);
        self.peak.swap(now, Ordering::Relaxed).max(now)
    }

    /// Numbers for monitoring.
    pub fn counts(&self) -> AdmissionCounts {
        AdmissionCounts {
            open_connections: self.open.load(Ordering::Relaxed),
            unbound_connections: self.unbound.load(Ordering::Relaxed),
            inbound_bytes: self.max_inbound - self.inbound.available_permits(),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Admission numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCounts {
    /// Open TCP connections (HTTP and WebSocket).
    pub open_connections: usize,
    /// Connections that have not sent a complete request yet.
    pub unbound_connections: usize,
    /// Inbound bytes held for bodies and messages in progress.
    pub inbound_bytes: usize,
    /// Connections and bodies refused since the start.
    pub refused: u64,
}

/// One connection's slot; released when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    admission: Arc<Admission>,
    bound: std::sync::atomic::AtomicBool,
}

impl ConnSlot {
    /// The connection sent a complete request: it no longer counts as unbound.
    pub fn bind(&self) {
        if !self.bound.swap(true, Ordering::AcqRel) {
            self.admission.unbound.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.bind();
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes of the inbound budget held by one body or connection; given back when dropped.
#[derive(Debug)]
pub struct InboundHold {
    semaphore: Arc<Semaphore>,
    held: usize,
}

impl InboundHold {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Holds exactly `want` bytes, waiting (at most until `deadline`) for budget when growing.
    pub async fn resize(
        &mut self,
        want: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), Refusal> {
        if want <= self.held {
            self.semaphore.add_permits(self.held - want);
            self.held = want;
            return Ok(());
        }
        while self.held < want {
            let step = u32::try_from(want - self.held).unwrap_or(u32::MAX);
            let permit = tokio::time::timeout_at(deadline, self.semaphore.acquire_many(step))
                .await
                .map_err(|_| Refusal::InboundBytes)?
                .map_err(|_| Refusal::InboundBytes)?;
            permit.forget();
            self.held += step as usize;
        }
        Ok(())
    }
}

impl Drop for InboundHold {
    fn drop(&mut self) {
        self.semaphore.add_permits(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_limit_keeps_headroom() {
        assert_eq!(connection_limit(1024, 0), 960);
        assert_eq!(connection_limit(1024, 100), 100);
        assert_eq!(connection_limit(1_048_576, 0), 983_040);
        assert_eq!(connection_limit(10, 0), 1);
    }

    #[test]
    fn slots_count_open_and_unbound() {
        let a = Arc::new(Admission::new(3, 2, 1000));
        let s1 = a.admit().unwrap();
        let s2 = a.admit().unwrap();
        assert_eq!(a.admit().unwrap_err(), Refusal::Unbound);
        s1.bind();
        let s3 = a.admit().unwrap();
        assert_eq!(a.admit().unwrap_err(), Refusal::Connections);
        assert_eq!(a.counts().open_connections, 3);
        drop((s1, s2, s3));
        assert_eq!(
            (a.counts().open_connections, a.counts().unbound_connections),
            (0, 0)
        );
        // The three came and went between two reads of the peak: it still saw them.
        assert_eq!(a.take_peak_connections(), 3);
        assert_eq!(a.take_peak_connections(), 0);
    }

    #[tokio::test]
    async fn inbound_budget_is_shared_and_returned() {
        let a = Admission::new(10, 10, 100);
        let soon = || tokio::time::Instant::now() + Duration::from_millis(50);
        let mut h1 = a.inbound_hold();
        h1.resize(80, soon()).await.unwrap();
        let mut h2 = a.inbound_hold();
        assert_eq!(h2.resize(30, soon()).await, Err(Refusal::InboundBytes));
        h1.resize(50, soon()).await.unwrap();
        h2.resize(30, soon()).await.unwrap();
        assert_eq!(a.counts().inbound_bytes, 80);
        drop(h1);
        drop(h2);
        assert_eq!(a.counts().inbound_bytes, 0);
    }
}
