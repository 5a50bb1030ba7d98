//! [`Counters`]: what the hub has done since it started, for `/metrics`: messages relayed by
//! type, errors sent by type, rate-limit hits and room-data bytes. Plain numbers kept by the
//! state machine (no atomics, no I/O); the shell reads them when it is scraped.

use std::collections::BTreeMap;

/// Totals since the hub started. Keys are wire names (`OFFER`, `peer-unavailable`), a bounded
/// set: the events and error types the hub itself sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages relayed from one peer to another (or to a room's members), by event.
    pub relayed: BTreeMap<&'static str, u64>,
    /// `ERROR` messages sent, by error type.
    pub errors_sent: BTreeMap<&'static str, u64>,
    /// Messages dropped by the per-session rate limits.
    pub rate_limited: u64,
    /// Room data accepted from members (JSON text and attachments), in bytes.
    pub room_data_bytes: u64,
}

impl Counters {
    /// One message of `event` relayed.
    pub(super) fn relayed(&mut self, event: &'static str) {
        *self.relayed.entry(event).or_default() += 1;
    }

    /// One `ERROR` of type `kind` sent.
    pub(super) fn error_sent(&mut self, kind: &'static str) {
        *self.errors_sent.entry(kind).or_default() += 1;
    }
}
