//! The mesh room's shell: carries out what [`MeshCore`](crate::mesh_core::MeshCore) decides.
//! It makes and answers the members' calls (with `peer-connection`'s router and the room's
//! stream and options), applies their signals, closes them, sends the room's messages, and
//! turns each call's stream and track events into room events with the member's id.

use crate::error::RoomError;
use crate::event::RoomEvent;
use crate::mesh_core::Output;
use crate::room::RoomInner;
use peer_connection::router as conn_router;
use peer_connection::signal::{self, Routed};
use peer_connection::{Connection, MediaConnection, MediaConnectionEvent};
use std::sync::{Arc, Weak};

impl RoomInner {
    /// Carries out the core's outputs, in order. Called with the room's step lock held.
    pub(crate) async fn run_outputs(self: &Arc<Self>) {
        loop {
            let Some(out) = self.core.lock().ok().and_then(|mut c| c.poll_output()) else {
                return;
            };
            match out {
                Output::Send(msg) => {
                    if let Err(e) = self.ctx.signal.send(msg).await {
                        tracing::debug!(room = %self.name, error = %e, "room message not sent");
                    }
                }
                Output::Call { peer, id } => self.call(&peer, &id).await,
                Output::Answer(offer) => self.answer(offer).await,
                Output::Renegotiate { id, sdp } => {
                    if let Some(call) = self.call_by_id(&id) {
                        let conn = Connection::Media(call);
                        let room = Arc::downgrade(self);
                        tokio::spawn(async move {
                            if let Err(e) = conn_router::deliver_offer(&conn, &sdp).await {
                                report(&room, e.into()).await;
                            }
                        });
                    }
                }
                Output::DeliverAnswer { id, signal } => self.deliver(&id, signal, true).await,
                Output::DeliverCandidate { id, signal } => self.deliver(&id, signal, false).await,
                Output::Close(ids) => {
                    for id in ids {
                        let call = self.calls.lock().ok().and_then(|mut c| c.remove(&id));
                        if let Some(call) = call {
                            call.close(false).await;
                        }
                    }
                }
                Output::Emit(ev) => self.emit(ev).await,
                Output::SfuOffer { sdp, first } => self.sfu_offer(sdp, first).await,
                Output::SfuClose => self.sfu_close().await,
            }
        }
    }

    fn call_by_id(&self, id: &str) -> Option<MediaConnection> {
        self.calls.lock().ok()?.get(id).cloned()
    }

    /// Keeps `call` and relays its events until it closes.
    fn keep(self: &Arc<Self>, call: &MediaConnection) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(call.id().to_owned(), call.clone());
        }
        tokio::spawn(pump(Arc::downgrade(self), call.clone()));
    }

    /// This side calls member `peer` (after `ROOM_USERS`).
    async fn call(self: &Arc<Self>, peer: &str, id: &str) {
        let (stream, options) = match self.options.lock() {
            Ok(o) => (o.stream.clone(), o.call_options().connection_id(id)),
            Err(_) => return,
        };
        let result = conn_router::call(
            &self.ctx.rtc,
            self.ctx.signal.clone(),
            peer,
            stream.as_ref(),
            options,
            Some(&self.name),
            |conn| {
                if let Some(call) = conn.as_media() {
                    self.keep(call);
                }
            },
        )
        .await;
        if let Err(e) = result {
            self.forget(id);
            self.emit(RoomEvent::Error(e.into())).await;
        }
    }

    /// A member called: the call is made and answered with the room's stream.
    async fn answer(self: &Arc<Self>, offer: signal::Offer) {
        let id = offer.connection_id.clone();
        let call =
            match conn_router::from_offer(&self.ctx.rtc, self.ctx.signal.clone(), &offer).await {
                Ok(Connection::Media(call)) => call,
                Ok(other) => {
                    other.close(false).await;
                    self.forget(&id);
                    return;
                }
                Err(e) => {
                    self.forget(&id);
                    self.emit(RoomEvent::Error(e.into())).await;
                    return;
                }
            };
        self.keep(&call);
        let (stream, options) = match self.options.lock() {
            Ok(o) => (o.stream.clone(), o.answer_options()),
            Err(_) => return,
        };
        let room = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Err(e) = call.answer(stream.as_ref(), options).await {
                report(&room, e.into()).await;
            }
        });
    }

    /// Applies a relayed `ANSWER` (`answer`) or `CANDIDATE` to call `id`.
    async fn deliver(&self, id: &str, routed: Routed, answer: bool) {
        let Some(call) = self.call_by_id(id) else {
            return;
        };
        let conn = Connection::Media(call);
        let result = if answer {
            match signal::answer_sdp(&routed.raw) {
                Ok(sdp) => conn_router::deliver_answer(&conn, &sdp).await,
                Err(e) => Err(e),
            }
        } else {
            match signal::candidate(&routed.raw) {
                Ok(Some(c)) => conn_router::deliver_candidate(&conn, c).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            tracing::debug!(room = %self.name, %id, error = %e, "member signal not applied");
        }
    }

    /// Call `id` is gone: forgotten by the core and the shell.
    pub(crate) fn forget(&self, id: &str) {
        if let Ok(mut core) = self.core.lock() {
            core.call_closed(id);
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(id);
        }
    }
}

/// Reports a failure of a member's call, if the room still exists.
async fn report(room: &Weak<RoomInner>, e: RoomError) {
    if let Some(room) = room.upgrade() {
        room.emit(RoomEvent::Error(e)).await;
    }
}

/// Relays a call's stream and track events as room events, and forgets the call when it
/// closes.
async fn pump(room: Weak<RoomInner>, call: MediaConnection) {
    let peer_id = call.remote_id().to_owned();
    while let Some(ev) = call.next_event().await {
        let Some(inner) = room.upgrade() else {
            return;
        };
        match ev {
            MediaConnectionEvent::Stream(stream) => {
                inner
                    .emit(RoomEvent::Stream {
                        peer_id: peer_id.clone(),
                        stream,
                    })
                    .await;
            }
            MediaConnectionEvent::Track(track) => {
                inner
                    .emit(RoomEvent::Track {
                        peer_id: peer_id.clone(),
                        track,
                    })
                    .await;
            }
            MediaConnectionEvent::Error(e) => {
                tracing::debug!(room = %inner.name, peer = %peer_id, error = %e, "member call error");
            }
            MediaConnectionEvent::Close => break,
            _ => {}
        }
    }
    if let Some(inner) = room.upgrade() {
        inner.forget(call.id());
    }
}
