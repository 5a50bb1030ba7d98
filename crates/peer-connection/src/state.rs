//! `ConnectionState` and what waits on it: open, closed, and event queues whose last event is
//! the close. Shared by [`DataConnection`](crate::DataConnection) and
//! [`MediaConnection`](crate::MediaConnection).

use crate::error::ConnectionError;
use tokio::sync::{mpsc, watch};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Negotiating.
    Connecting,
    /// Open: the data channel is open, or the call is answered.
    Open,
    /// Closed; final.
    Closed,
}

/// Moves `Connecting` to `Open`; a closed connection stays closed.
pub(crate) fn mark_open(state: &watch::Sender<ConnectionState>) {
    state.send_if_modified(|s| {
        let open = *s == ConnectionState::Connecting;
        if open {
            *s = ConnectionState::Open;
        }
        open
    });
}

/// Waits until the state leaves `Connecting`: `Ok` if it opened, `Closed` if it closed first.
pub(crate) async fn wait_open(
    state: &watch::Sender<ConnectionState>,
) -> Result<(), ConnectionError> {
    let mut rx = state.subscribe();
    let now = rx
        .wait_for(|s| *s != ConnectionState::Connecting)
        .await
        .map(|s| *s)
        .unwrap_or(ConnectionState::Closed);
    match now {
        ConnectionState::Open => Ok(()),
        _ => Err(ConnectionError::Closed),
    }
}

/// Waits until the state is `Closed`.
pub(crate) async fn closed(state: &watch::Sender<ConnectionState>) {
    let mut rx = state.subscribe();
    let _ = rx.wait_for(|s| *s == ConnectionState::Closed).await;
}

/// The receiving end of a connection's event queue, bounded or not.
pub(crate) trait EventSource<E> {
    /// An event if one is queued.
    fn try_next(&mut self) -> Option<E>;
    /// Waits for an event; `None` when every sender is gone.
    async fn next(&mut self) -> Option<E>;
}

impl<E> EventSource<E> for mpsc::Receiver<E> {
    fn try_next(&mut self) -> Option<E> {
        self.try_recv().ok()
    }

    async fn next(&mut self) -> Option<E> {
        self.recv().await
    }
}

impl<E> EventSource<E> for mpsc::UnboundedReceiver<E> {
    fn try_next(&mut self) -> Option<E> {
        self.try_recv().ok()
    }

    async fn next(&mut self) -> Option<E> {
        self.recv().await
    }
}

/// The next event of `events`, in order; once the state is `Closed` and the queue is drained,
/// `close` once (recorded in `close_reported`), then `None`.
pub(crate) async fn next_event<E>(
    events: &mut impl EventSource<E>,
    close_reported: &mut bool,
    state: &watch::Sender<ConnectionState>,
    close: E,
) -> Option<E> {
    if *close_reported {
        return None;
    }
    let mut state = state.subscribe();
    loop {
        if let Some(ev) = events.try_next() {
            return Some(ev);
        }
        if *state.borrow_and_update() == ConnectionState::Closed {
            *close_reported = true;
            return Some(close);
        }
        tokio::select! {
            biased;
            ev = events.next() => if let Some(ev) = ev { return Some(ev) },
            _ = state.changed() => {}
        }
    }
}
