//! The SFU room's shell: carries out what [`SfuRoomCore`](crate::sfu_core::SfuRoomCore)
//! decides. The server's first offer creates the one connection with it (answered with the
//! room's stream, as the SDK's SFU negotiator does: tracks first, then the offer), later offers
//! renegotiate it in order, and its stream and track events go to the core, which names their
//! member from `msids`.

use crate::event::RoomEvent;
use crate::room::RoomInner;
use peer_connection::{MediaConnection, MediaConnectionEvent};
use std::sync::{Arc, Weak};

impl RoomInner {
    /// Applies the server's offer (called with the room's step lock held, so offers are
    /// applied in the order they came).
    ///
    /// Boxed: the connection's event pump (spawned here) runs the room's outputs, which come
    /// back here, and an explicit `Send` future breaks that cycle for the compiler.
    pub(crate) fn sfu_offer(
        self: &Arc<Self>,
        sdp: String,
        first: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.sfu_offer_inner(sdp, first))
    }

    async fn sfu_offer_inner(self: &Arc<Self>, sdp: String, first: bool) {
        if !first {
            let conn = self.sfu.lock().ok().and_then(|c| c.clone());
            if let Some(conn) = conn {
                if let Err(e) = peer_connection::router::deliver_offer(
                    &peer_connection::Connection::Media(conn),
                    &sdp,
                )
                .await
                {
                    self.emit(RoomEvent::Error(e.into())).await;
                }
            }
            return;
        }
        let (stream, max_members) = match self.options.lock() {
            Ok(o) => (o.stream.clone(), o.max_members),
            Err(_) => return,
        };
        let conn = match MediaConnection::for_sfu(
            &self.ctx.rtc,
            self.ctx.signal.clone(),
            &self.name,
            &sdp,
            max_members.saturating_mul(2),
        )
        .await
        {
            Ok(conn) => conn,
            Err(e) => {
                self.emit(RoomEvent::Error(e.into())).await;
                return;
            }
        };
        if let Ok(mut s) = self.sfu.lock() {
            *s = Some(conn.clone());
        }
        tokio::spawn(pump(Arc::downgrade(self), conn.clone()));
        if let Err(e) = conn
            .answer(stream.as_ref(), peer_connection::AnswerOptions::default())
            .await
        {
            self.emit(RoomEvent::Error(e.into())).await;
        }
    }

    /// Closes the connection with the server.
    pub(crate) async fn sfu_close(&self) {
        let conn = self.sfu.lock().ok().and_then(|mut c| c.take());
        if let Some(conn) = conn {
            conn.close(false).await;
        }
    }
}

/// Hands the connection's streams and tracks to the core, and its end.
async fn pump(room: Weak<RoomInner>, conn: MediaConnection) {
    while let Some(ev) = conn.next_event().await {
        let Some(inner) = room.upgrade() else {
            return;
        };
        let _step = inner.steps.lock().await;
        match ev {
            MediaConnectionEvent::Stream(stream) => {
                if let Some(core) = inner.core.lock().ok().as_mut().and_then(|c| c.sfu()) {
                    core.remote_stream(stream);
                }
            }
            MediaConnectionEvent::Track(track) => {
                if let Some(core) = inner.core.lock().ok().as_mut().and_then(|c| c.sfu()) {
                    core.remote_track(track);
                }
            }
            MediaConnectionEvent::Error(e) => {
                tracing::debug!(room = %inner.name, error = %e, "SFU connection error");
            }
            MediaConnectionEvent::Close => {
                // A connection replaced after a rejoin ends quietly.
                let current = inner
                    .sfu
                    .lock()
                    .ok()
                    .is_some_and(|c| c.as_ref() == Some(&conn));
                if current {
                    if let Some(core) = inner.core.lock().ok().as_mut().and_then(|c| c.sfu()) {
                        core.connection_closed();
                    }
                }
                inner.run_outputs().await;
                return;
            }
            _ => {}
        }
        inner.run_outputs().await;
    }
}
