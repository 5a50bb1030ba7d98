//! [`ConnectionLimits`]: what a remote peer can make one connection hold, for a Peer's
//! connections. Everything a remote can grow has a bound here.

use std::time::Duration;

/// Bounds on what a remote peer can make one connection hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Largest data message reassembled from `binary` chunks. Default 32 MiB.
    pub max_message_bytes: usize,
    /// Bytes of partial `binary` messages held at once by one connection. Default 40 MiB.
    pub max_pending_bytes: usize,
    /// Partial `binary` messages held at once by one connection. Default 16.
    pub max_pending_messages: usize,
    /// A partial message that received no chunk for this long is dropped. Default 30 s.
    pub stale_after: Duration,
    /// Remote tracks one media connection accepts; more are ignored. Default 8.
    pub max_remote_tracks: usize,
    /// How long ICE and DTLS may take once an offer and its answer are exchanged; a connection
    /// not up by then is closed. Default 30 s.
    pub connect_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_message_bytes: 32 << 20,
            max_pending_bytes: 40 << 20,
            max_pending_messages: 16,
            stale_after: Duration::from_secs(30),
            max_remote_tracks: 8,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

impl ConnectionLimits {
    /// Sets the largest reassembled data message.
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> ConnectionLimits {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets the bytes of partial messages one connection may hold.
    #[must_use]
    pub fn max_pending_bytes(mut self, bytes: usize) -> ConnectionLimits {
        self.max_pending_bytes = bytes;
        self
    }

    /// Sets how many partial messages one connection may hold.
    #[must_use]
    pub fn max_pending_messages(mut self, n: usize) -> ConnectionLimits {
        self.max_pending_messages = n;
        self
    }

    /// Sets how long a partial message may wait for its next chunk.
    #[must_use]
    pub fn stale_after(mut self, wait: Duration) -> ConnectionLimits {
        self.stale_after = wait;
        self
    }

    /// Sets how many remote tracks one media connection accepts.
    #[must_use]
    pub fn max_remote_tracks(mut self, n: usize) -> ConnectionLimits {
        self.max_remote_tracks = n;
        self
    }

    /// Sets how long ICE and DTLS may take after negotiation.
    #[must_use]
    pub fn connect_timeout(mut self, limit: Duration) -> ConnectionLimits {
        self.connect_timeout = limit;
        self
    }

    /// The reassembly limits of a `binary` DataConnection.
    pub(crate) fn reassembly(&self) -> peer_binarypack::Limits {
        peer_binarypack::Limits {
            max_message_bytes: self.max_message_bytes,
            max_total_bytes: self.max_pending_bytes,
            max_pending_messages: self.max_pending_messages,
            ..peer_binarypack::Limits::default()
        }
    }
}
