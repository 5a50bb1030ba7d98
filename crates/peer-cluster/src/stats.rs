//! [`NodeStats`]: what a node's cluster link has done, for `/metrics`: messages sent and
//! received by kind, frames dropped, and Redis round trips with a latency histogram. Plain
//! atomics, one add per event; the server turns a [`StatsSnapshot`] into Prometheus text.

use crate::message::NodeMessage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the Redis latency buckets, in seconds (the last bucket is `+Inf`).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Message kinds, as `/metrics` labels them.
pub const KINDS: [&str; 4] = ["deliver", "room_input", "frames", "handover"];

fn kind_index(msg: &NodeMessage) -> usize {
    match msg {
        NodeMessage::Deliver { .. } => 0,
        NodeMessage::RoomInput { .. } => 1,
        NodeMessage::Frames { .. } => 2,
        NodeMessage::HandOver { .. } | NodeMessage::HandedOver { .. } => 3,
    }
}

/// Counters of one node's cluster link.
#[derive(Debug, Default)]
pub struct NodeStats {
    sent: [AtomicU64; 4],
    received: [AtomicU64; 4],
    dropped: AtomicU64,
    lost: AtomicU64,
    redis_errors: AtomicU64,
    /// Per bucket of [`LATENCY_BUCKETS`], plus `+Inf`.
    latency: [AtomicU64; 13],
    latency_sum_us: AtomicU64,
}

/// A copy of [`NodeStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Messages published, by [`KINDS`].
    pub sent: [u64; 4],
    /// Messages received and decoded, by [`KINDS`].
    pub received: [u64; 4],
    /// Frames received that did not decode, or found the inbox full.
    pub dropped: u64,
    /// Messages other nodes sent this node that never arrived (gaps in their sequence
    /// numbers: published while this node's subscription was down, say).
    pub lost: u64,
    /// Redis calls that failed or timed out.
    pub redis_errors: u64,
    /// Redis calls per latency bucket (not cumulative), the last one `+Inf`.
    pub latency: [u64; 13],
    /// Sum of the Redis calls' latencies, microseconds.
    pub latency_sum_us: u64,
}

impl NodeStats {
    pub(crate) fn sent(&self, msg: &NodeMessage) {
        self.sent[kind_index(msg)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, msg: &NodeMessage) {
        self.received[kind_index(msg)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// A Redis call that took `took`; `ok` false if it failed.
    pub(crate) fn redis_call(&self, took: Duration, ok: bool) {
        if !ok {
            self.redis_errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The numbers now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: self.sent.each_ref().map(load),
            received: self.received.each_ref().map(load),
            dropped: load(&self.dropped),
            lost: load(&self.lost),
            redis_errors: load(&self.redis_errors),
            latency: self.latency.each_ref().map(load),
            latency_sum_us: load(&self.latency_sum_us),
        }
    }
}

/// Senders and channels a [`Gaps`] remembers at most; past it, it starts over (a gap is then
/// missed, not invented).
const MAX_SENDERS: usize = 4096;

/// The last sequence number seen from each sender on each channel, to count what went
/// missing: a sender numbers its messages per channel from 0, one after another.
#[derive(Debug, Default)]
pub(crate) struct Gaps {
    last: std::collections::HashMap<(crate::NodeId, Vec<u8>), u64>,
}

impl Gaps {
    /// `seq` arrived from `from` on `channel`: how many before it never did.
    pub(crate) fn see(&mut self, from: &crate::NodeId, channel: &[u8], seq: u64) -> u64 {
        if self.last.len() >= MAX_SENDERS {
            self.last.clear();
        }
        let key = (from.clone(), channel.to_vec());
        let missed = match self.last.get(&key) {
            Some(prev) if seq > prev + 1 => seq - prev - 1,
            _ => 0,
        };
        if self.last.get(&key).is_none_or(|prev| seq > *prev) {
            self.last.insert(key, seq);
        }
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn gaps_are_counted_per_sender_and_channel() {
        let (a, b) = (
            crate::NodeId::from_random([1; 16]),
            crate::NodeId::from_random([2; 16]),
        );
        let mut g = Gaps::default();
        assert_eq!(g.see(&a, b"to:x", 0), 0);
        assert_eq!(g.see(&a, b"to:x", 1), 0);
        // Another channel, another sender: their own sequences.
        assert_eq!(g.see(&a, b"all", 0), 0);
        assert_eq!(g.see(&b, b"to:x", 7), 0);
        // Two of a's messages on to:x went missing.
        assert_eq!(g.see(&a, b"to:x", 4), 2);
        assert_eq!(g.see(&a, b"to:x", 5), 0);
        // A late or repeated one changes nothing.
        assert_eq!(g.see(&a, b"to:x", 3), 0);
        assert_eq!(g.see(&a, b"to:x", 6), 0);
    }

    #[test]
    fn calls_land_in_their_buckets() {
        let s = NodeStats::default();
        s.redis_call(Duration::from_micros(200), true);
        s.redis_call(Duration::from_micros(250), true);
        s.redis_call(Duration::from_millis(3), false);
        s.redis_call(Duration::from_secs(5), false);
        s.sent(&NodeMessage::Deliver {
            app: String::new(),
            dst: String::new(),
            event: String::new(),
            body: Bytes::new(),
        });
        let snap = s.snapshot();
        assert_eq!(snap.latency[0], 2);
        assert_eq!(snap.latency[4], 1);
        assert_eq!(snap.latency[12], 1);
        assert_eq!(snap.redis_errors, 2);
        assert_eq!(snap.latency_sum_us, 5_003_450);
        assert_eq!(snap.sent, [1, 0, 0, 0]);
    }
}
