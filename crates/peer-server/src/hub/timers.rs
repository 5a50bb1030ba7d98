//! The hub's deadlines, ordered by time: a reconnect grace that ends, a credential that needs its
//! `AUTH_EXPIRES_IN` or expires. [`Timers::next`] is what `Hub::poll_timeout` reports, and
//! `Hub::handle_timeout` takes only the entries that are due, so time passing costs nothing
//! per idle peer.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// The peer's reconnect grace ends: forget it if it has not come back.
    Grace,
    /// The peer's credential reaches its warning time or its expiry.
    Credential,
}

/// Whose deadline it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TimerKey {
    pub(super) app: Arc<str>,
    pub(super) peer: String,
    pub(super) kind: TimerKind,
}

/// A scheduled entry, kept by its owner to cancel it.
pub(super) type TimerHandle = (u64, u64);

/// Deadlines in milliseconds, earliest first; equal times keep their scheduling order.
#[derive(Debug, Default)]
pub(super) struct Timers {
    queue: BTreeMap<TimerHandle, TimerKey>,
    next_seq: u64,
}

impl Timers {
    /// Schedules `key` at `at_ms`.
    pub(super) fn schedule(&mut self, at_ms: u64, key: TimerKey) -> TimerHandle {
        self.next_seq += 1;
        let handle = (at_ms, self.next_seq);
        self.queue.insert(handle, key);
        handle
    }

    /// Cancels a scheduled entry (no-op if it already fired).
    pub(super) fn cancel(&mut self, handle: TimerHandle) {
        self.queue.remove(&handle);
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<u64> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Takes the earliest entry if it is due at `now_ms`.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<TimerKey> {
        let (&handle, _) = self.queue.first_key_value()?;
        if handle.0 > now_ms {
            return None;
        }
        self.queue.remove(&handle)
    }

    /// Number of scheduled entries.
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(peer: &str) -> TimerKey {
        TimerKey {
            app: Arc::from("a"),
            peer: peer.into(),
            kind: TimerKind::Grace,
        }
    }

    #[test]
    fn due_entries_come_out_in_time_order() {
        let mut t = Timers::default();
        t.schedule(30, key("c"));
        let b = t.schedule(20, key("b"));
        t.schedule(20, key("b2"));
        t.schedule(10, key("a"));
        assert_eq!(t.next(), Some(10));
        t.cancel(b);
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25).map(|k| k.peer), Some("a".into()));
        assert_eq!(t.pop_due(25).map(|k| k.peer), Some("b2".into()));
        assert_eq!(t.pop_due(25), None);
        assert_eq!((t.next(), t.len()), (Some(30), 1));
    }
}
