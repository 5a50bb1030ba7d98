//! One Engine.IO session: its outbound queue, transport state and Socket.IO decoder.
//!
//! The queue is a plain `VecDeque` behind a short-lived lock plus a `Notify`, so an idle session
//! costs a few hundred bytes. Whichever transport is active (a pending poll or the WebSocket task)
//! drains it. The queue is bounded in bytes: a push past the bound is refused
//! ([`Push::Overflow`]) and the shell then evicts the session ([`Session::evict`]): the queue is
//! freed at once and the transport task, which waits on the same `Notify`, ends and closes its
//! socket even in the middle of a write.

use crate::hub::SessionId;
use peer_protocol::engineio::Frame;
use peer_protocol::socketio::{disconnect_frame, Decoder};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::Notify;

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// XHR long-polling.
    Polling,
    /// WebSocket (from the start, or after an upgrade).
    WebSocket,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Frames are queued and sent.
    Open,
    /// The transport flushes what is queued, then ends.
    Closing,
    /// Cut off: the queue is dropped and the transport ends at once.
    Evicted,
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<Frame>,
    queued_bytes: usize,
    /// When the queue last went from empty to non-empty.
    queued_since: Option<Instant>,
    transport: Transport,
    life: Life,
    probing: bool,
    poll_active: bool,
    last_seen: Instant,
}

/// Result of pushing frames onto a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Queued,
    /// The session is closing; the frames were dropped.
    Closing,
    /// The queue would exceed its byte limit: the client reads too slowly.
    Overflow,
}

/// One Engine.IO session.
#[derive(Debug)]
pub struct Session {
    /// The hub's id for this session.
    pub id: SessionId,
    /// The Engine.IO `sid`.
    pub sid: String,
    /// The API key of the handshake (empty when there was none), for the origin policy of the
    /// session's later requests.
    pub api_key: String,
    inner: Mutex<Inner>,
    notify: Notify,
    /// The Socket.IO decoder; holding its lock serializes the session's inbound messages.
    pub inbound: tokio::sync::Mutex<Decoder>,
    max_queued_bytes: usize,
}

/// Maximum number of attachments in one Socket.IO packet.
pub const MAX_ATTACHMENTS: usize = 16;

impl Session {
    /// A new session on `transport`.
    pub fn new(
        id: SessionId,
        sid: String,
        api_key: String,
        transport: Transport,
        max_queued_bytes: usize,
    ) -> Session {
        Session {
            id,
            sid,
            api_key,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                queued_bytes: 0,
                queued_since: None,
                transport,
                life: Life::Open,
                probing: false,
                poll_active: false,
                last_seen: Instant::now(),
            }),
            notify: Notify::new(),
            inbound: tokio::sync::Mutex::new(Decoder::new(MAX_ATTACHMENTS)),
            max_queued_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues frames for the client.
    pub fn push(&self, frames: &[Frame]) -> Push {
        let mut inner = self.lock();
        if inner.life != Life::Open {
            return Push::Closing;
        }
        let bytes: usize = frames.iter().map(Frame::len).sum();
        if inner.queued_bytes + bytes > self.max_queued_bytes {
            return Push::Overflow;
        }
        if inner.queue.is_empty() {
            inner.queued_since = Some(Instant::now());
        }
        inner.queued_bytes += bytes;
        inner.queue.extend(frames.iter().cloned());
        drop(inner);
        self.notify.notify_waiters();
        Push::Queued
    }

    /// Starts closing: optionally queues a Socket.IO disconnect (`41`), then refuses new frames.
    /// The active transport flushes the queue and ends the connection.
    pub fn close(&self, socketio_disconnect: bool) {
        let mut inner = self.lock();
        if inner.life != Life::Open {
            return;
        }
        if socketio_disconnect {
            let frame = disconnect_frame();
            if inner.queue.is_empty() {
                inner.queued_since = Some(Instant::now());
            }
            inner.queued_bytes += frame.len();
            inner.queue.push_back(frame);
        }
        inner.life = Life::Closing;
        drop(inner);
        self.notify.notify_waiters();
    }

    /// Cuts the session off: drops what is queued and tells the transport to end now. True the
    /// first time.
    pub fn evict(&self) -> bool {
        let mut inner = self.lock();
        if inner.life == Life::Evicted {
            return false;
        }
        inner.life = Life::Evicted;
        inner.queue = VecDeque::new();
        inner.queued_bytes = 0;
        inner.queued_since = None;
        drop(inner);
        self.notify.notify_waiters();
        true
    }

    /// Takes every queued frame.
    pub fn drain(&self) -> Vec<Frame> {
        let mut inner = self.lock();
        inner.queued_bytes = 0;
        inner.queued_since = None;
        inner.queue.drain(..).collect()
    }

    /// Whether the session is closing (or was evicted).
    pub fn is_closing(&self) -> bool {
        self.lock().life != Life::Open
    }

    /// Whether the session was cut off.
    pub fn is_evicted(&self) -> bool {
        self.lock().life == Life::Evicted
    }

    /// Waits until the session is evicted.
    pub async fn evicted(&self) {
        loop {
            let changed = self.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_evicted() {
                return;
            }
            changed.await;
        }
    }

    /// Bytes waiting in the queue.
    pub fn queued_bytes(&self) -> usize {
        self.lock().queued_bytes
    }

    /// How long frames have waited for a long-polling client that is not polling (`None` while
    /// a poll is pending, during a WebSocket probe, on WebSocket, or with nothing queued). A
    /// client that does not come back for what is queued is not reading.
    pub fn unpolled_for(&self, now: Instant) -> Option<std::time::Duration> {
        let inner = self.lock();
        if inner.transport != Transport::Polling || inner.poll_active || inner.probing {
            return None;
        }
        inner.queued_since.map(|t| now.saturating_duration_since(t))
    }

    /// The current transport.
    pub fn transport(&self) -> Transport {
        self.lock().transport
    }

    /// A WebSocket probe succeeded (`3probe` sent): a pending poll must return (with a noop if
    /// there is nothing to send), because the client waits for it before sending `5` (upgrade).
    pub fn start_probe(&self) {
        self.lock().probing = true;
        self.notify.notify_waiters();
    }

    /// Whether a probe is under way or the session moved to WebSocket: polls return at once.
    pub fn poll_should_return(&self) -> bool {
        let inner = self.lock();
        inner.probing || inner.transport == Transport::WebSocket
    }

    /// Switches to WebSocket after a successful upgrade and wakes a pending poll.
    pub fn upgrade_to_websocket(&self) {
        self.lock().transport = Transport::WebSocket;
        self.notify.notify_waiters();
    }

    /// Marks a long-poll as active; false if one already is (an overlapping poll).
    pub fn begin_poll(&self) -> bool {
        let mut inner = self.lock();
        if inner.poll_active {
            return false;
        }
        inner.poll_active = true;
        inner.last_seen = Instant::now();
        true
    }

    /// Marks the long-poll as finished.
    pub fn end_poll(&self) {
        let mut inner = self.lock();
        inner.poll_active = false;
        inner.last_seen = Instant::now();
    }

    /// Records client activity.
    pub fn touch(&self) {
        self.lock().last_seen = Instant::now();
    }

    /// Whether the client has been silent for longer than `limit` (a pending poll counts as
    /// activity).
    pub fn is_idle_for(&self, limit: std::time::Duration) -> bool {
        let inner = self.lock();
        !inner.poll_active && inner.last_seen.elapsed() > limit
    }

    /// A future that completes on the next push, close or upgrade. Create it *before* checking
    /// the state, then await it, so no wake-up is lost.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_drain_close_and_overflow() {
        let s = Session::new(1, "sid".into(), String::new(), Transport::Polling, 10);
        assert_eq!(s.push(&[Frame::text("4abc".into())]), Push::Queued);
        assert_eq!(s.push(&[Frame::text("4abcdefgh".into())]), Push::Overflow);
        assert_eq!(s.drain().len(), 1);
        s.close(true);
        assert_eq!(s.push(&[Frame::text("4x".into())]), Push::Closing);
        assert_eq!(s.drain(), vec![disconnect_frame()]);
        assert!(s.is_closing());
    }

    #[test]
    fn overlapping_polls_are_refused() {
        let s = Session::new(1, "sid".into(), String::new(), Transport::Polling, 10);
        assert!(s.begin_poll());
        assert!(!s.begin_poll());
        s.end_poll();
        assert!(s.begin_poll());
    }

    #[test]
    fn eviction_frees_the_queue_and_ages_are_tracked() {
        let s = Session::new(1, "sid".into(), String::new(), Transport::Polling, 1 << 20);
        let now = Instant::now();
        assert_eq!(s.unpolled_for(now), None);
        s.push(&[Frame::text("4abc".into())]);
        assert!(s
            .unpolled_for(now + std::time::Duration::from_secs(1))
            .is_some());
        assert!(s.begin_poll());
        assert_eq!(s.unpolled_for(now), None);
        s.end_poll();
        assert!(s.evict());
        assert!(!s.evict());
        assert_eq!((s.queued_bytes(), s.drain().len()), (0, 0));
        assert_eq!(s.push(&[Frame::text("4x".into())]), Push::Closing);
        assert!(s.is_closing() && s.is_evicted());
    }
}
