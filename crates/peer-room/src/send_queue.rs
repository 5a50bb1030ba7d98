//! The room-data outbox: a bounded queue drained by one task that sends `ROOM_SEND_DATA` at
//! most once per [`MIN_INTERVAL`], as the SDK throttles `room.send`, and only once the room is
//! open. [`SendQueue::push`] waits while the queue is full; nothing is dropped until the room
//! closes (what is still queued then is discarded, as the SDK's closed room sends nothing).

use crate::error::RoomError;
use crate::mesh_core::Phase;
use crate::payload::RoomPayload;
use peer_connection::Signal;
use peer_protocol::client::{ClientMessage, RoomSendData};
use std::sync::Mutex as StdMutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The least time between two sends of one room (the SDK's 100 ms).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The queue's sending end; the pacing task holds the other.
pub(crate) struct SendQueue {
    tx: StdMutex<Option<mpsc::Sender<RoomPayload>>>,
    /// Messages pushed and not sent yet (0 once the task ended).
    pending: watch::Sender<usize>,
}

impl SendQueue {
    /// Starts the pacing task of room `room`.
    pub(crate) fn start(
        room: String,
        signal: Signal,
        phase: watch::Receiver<Phase>,
        capacity: usize,
    ) -> SendQueue {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let pending = watch::channel(0).0;
        let count = pending.clone();
        tokio::spawn(async move {
            pace(room, signal, rx, phase, &count).await;
            count.send_replace(0);
        });
        SendQueue {
            tx: StdMutex::new(Some(tx)),
            pending,
        }
    }

    /// Queues `data`, waiting while the queue is full.
    pub(crate) async fn push(&self, data: RoomPayload) -> Result<(), RoomError> {
        let tx = self
            .tx
            .lock()
            .ok()
            .and_then(|t| t.clone())
            .ok_or(RoomError::Closed)?;
        self.pending.send_modify(|n| *n += 1);
        let sent = tx.send(data).await.map_err(|_| RoomError::Closed);
        if sent.is_err() {
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
        sent
    }

    /// Waits until everything pushed so far was sent (or the room closed).
    pub(crate) async fn flush(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// No more sends; the task ends.
    pub(crate) fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// Waits until the room is open; false if it closed instead.
async fn until_open(phase: &mut watch::Receiver<Phase>) -> bool {
    loop {
        match *phase.borrow_and_update() {
            Phase::Open => return true,
            Phase::Closed => return false,
            Phase::Joining => {}
        }
        if phase.changed().await.is_err() {
            return false;
        }
    }
}

async fn pace(
    room: String,
    signal: Signal,
    mut rx: mpsc::Receiver<RoomPayload>,
    mut phase: watch::Receiver<Phase>,
    pending: &watch::Sender<usize>,
) {
    let mut last: Option<Instant> = None;
    while let Some(data) = rx.recv().await {
        if !until_open(&mut phase).await {
            return;
        }
        if let Some(t) = last {
            tokio::time::sleep_until(t + MIN_INTERVAL).await;
        }
        if *phase.borrow() == Phase::Closed {
            return;
        }
        let (data, attachments) = data.into_wire();
        let msg = ClientMessage::RoomSendData(RoomSendData {
            room_name: room.clone(),
            data,
            attachments,
        });
        if signal.send(msg).await.is_err() {
            return;
        }
        pending.send_modify(|n| *n = n.saturating_sub(1));
        last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Sends leave 100 ms apart once the room is open, in order, none dropped (virtual time).
    #[tokio::test(start_paused = true)]
    async fn paced_in_order_after_open() {
        let (sink, mut wire) = mpsc::channel::<ClientMessage>(64);
        let (phase, phase_rx) = watch::channel(Phase::Joining);
        let q = Arc::new(SendQueue::start("r".into(), Arc::new(sink), phase_rx, 4));
        let pusher = {
            let q = q.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    q.push(RoomPayload::text(i.to_string()))
                        .await
                        .expect("queued");
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            wire.try_recv().is_err(),
            "nothing leaves before the room is open"
        );
        assert!(
            !pusher.is_finished(),
            "the fifth push waits while four are queued"
        );
        phase.send_replace(Phase::Open);
        let mut last: Option<Instant> = None;
        for i in 0..10 {
            let Some(ClientMessage::RoomSendData(d)) = wire.recv().await else {
                panic!("not room data");
            };
            assert_eq!(d.data.get(), format!("\"{i}\""));
            let now = Instant::now();
            if let Some(t) = last {
                assert!(now - t >= MIN_INTERVAL, "sent {:?} apart", now - t);
            }
            last = Some(now);
        }
        pusher.await.expect("pusher");
        q.flush().await;
        phase.send_replace(Phase::Closed);
        q.close();
        assert!(matches!(
            q.push(RoomPayload::text("x")).await,
            Err(RoomError::Closed)
        ));
    }
}
