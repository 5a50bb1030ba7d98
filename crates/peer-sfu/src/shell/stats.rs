//! What the SFU has forwarded, for monitoring: [`SfuStats`] (a snapshot, read through
//! [`SfuHandle::stats`](crate::SfuHandle::stats)) and the atomic counters behind it, which the
//! forwarding tasks and the backend bump without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since the SFU started, and the tracks forwarded now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Forwarded tracks now (one per subscriber and published track).
    pub forwarded_tracks: u64,
    /// Members with a media session now.
    pub members: u64,
    /// RTP packets received from publishers.
    pub received_packets: u64,
    /// RTP bytes received from publishers (header and payload).
    pub received_bytes: u64,
    /// RTP packets sent to subscribers (a packet sent to three counts three).
    pub forwarded_packets: u64,
    /// RTP bytes sent to subscribers.
    pub forwarded_bytes: u64,
    /// Packets subscribers asked again for (NACK) that were resent.
    pub nacked_resent: u64,
    /// Packets subscribers asked again for past their retransmission budget (not resent).
    pub nacked_refused: u64,
    /// Keyframe requests (PLI) sent to publishers.
    pub plis: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) forwarded_tracks: AtomicU64,
    pub(crate) members: AtomicU64,
    pub(crate) received_packets: AtomicU64,
    pub(crate) received_bytes: AtomicU64,
    pub(crate) forwarded_packets: AtomicU64,
    pub(crate) forwarded_bytes: AtomicU64,
    pub(crate) nacked_resent: AtomicU64,
    pub(crate) nacked_refused: AtomicU64,
    pub(crate) plis: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> SfuStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SfuStats {
            forwarded_tracks: get(&self.forwarded_tracks),
            members: get(&self.members),
            received_packets: get(&self.received_packets),
            received_bytes: get(&self.received_bytes),
            forwarded_packets: get(&self.forwarded_packets),
            forwarded_bytes: get(&self.forwarded_bytes),
            nacked_resent: get(&self.nacked_resent),
            nacked_refused: get(&self.nacked_refused),
            plis: get(&self.plis),
        }
    }
}
