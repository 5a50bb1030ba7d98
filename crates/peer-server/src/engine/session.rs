//! One Engine.IO session: its outbound queue, transport state and Socket.IO decoder.
//!
//! The queue is a plain `VecDeque` behind a short-lived lock plus a `Notify`, so an idle session
//! costs a few hundred bytes. Whichever transport is active (a pending poll or the WebSocket task)
//! drains it.

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

#[derive(Debug)]
struct Inner {
    queue: VecDeque<Frame>,
    queued_bytes: usize,
    transport: Transport,
    closing: bool,
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
        transport: Transport,
        max_queued_bytes: usize,
    ) -> Session {
        Session {
            id,
            sid,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                queued_bytes: 0,
                transport,
                closing: false,
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
        if inner.closing {
            return Push::Closing;
        }
        let bytes: usize = frames.iter().map(Frame::len).sum();
        if inner.queued_bytes + bytes > self.max_queued_bytes {
            return Push::Overflow;
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
        if inner.closing {
            return;
        }
        if socketio_disconnect {
            let frame = disconnect_frame();
            inner.queued_bytes += frame.len();
            inner.queue.push_back(frame);
        }
        inner.closing = true;
        drop(inner);
        self.notify.notify_waiters();
    }

    /// Takes every queued frame.
    pub fn drain(&self) -> Vec<Frame> {
        let mut inner = self.lock();
        inner.queued_bytes = 0;
        inner.queue.drain(..).collect()
    }

    /// Whether the session is closing.
    pub fn is_closing(&self) -> bool {
        self.lock().closing
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
        let s = Session::new(1, "sid".into(), Transport::Polling, 10);
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
        let s = Session::new(1, "sid".into(), Transport::Polling, 10);
        assert!(s.begin_poll());
        assert!(!s.begin_poll());
        s.end_poll();
        assert!(s.begin_poll());
    }
}
