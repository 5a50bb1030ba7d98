//! The Peer's background routing: signaling events to connections, rooms and Peer events, and
//! the connections' signaling messages to the socket.
//!
//! - A relayed message with a `roomName`, and every `ROOM_*` message, goes to that room
//!   (`peer-room`'s [`room_router::deliver`]), or is dropped if the Peer is not in it; a room's
//!   offer never surfaces as a P2P connection or call. `LEAVE` goes to the P2P connections and
//!   to every room (the peer may be a member that vanished).
//! - A new `OFFER` is checked against the connection limit and the application's
//!   [`incoming`](crate::PeerOptions::incoming) policy *before* anything is created for it; a
//!   refused one gets `SEND_FORCE_CLOSE` and a [`PeerEvent::Refused`].

use crate::error::{ErrorKind, PeerError};
use crate::event::PeerEvent;
use crate::inner::{Inner, Life};
use async_trait::async_trait;
use peer_connection::router::{self as conn_router, IncomingRequest, RoomSignal};
use peer_connection::signal::{self, parse_offer, parse_routed, Offer};
use peer_connection::{Connection, ConnectionError, ConnectionState, SignalSink};
use peer_protocol::client::ClientMessage;
use peer_protocol::server::{RawJson, ServerMessage};
use peer_protocol::ErrorType;
use peer_room::{router as room_router, RoomInput};
use peer_transport::{Signaling, SignalingEvent};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// The Peer's signaling socket as the connections' [`SignalSink`]: a message is queued on the
/// socket before `send` returns, so a later `disconnect` cannot overtake a `SEND_FORCE_CLOSE`.
pub(crate) struct SignalingSink(pub(crate) Signaling);

#[async_trait]
impl SignalSink for SignalingSink {
    async fn send(&self, msg: ClientMessage) -> Result<(), ConnectionError> {
        self.0
            .send(msg)
            .await
            .map_err(|_| ConnectionError::SignalingClosed)
    }
}

/// Routes signaling events until the session ends or the Peer is dropped.
pub(crate) async fn run(peer: Weak<Inner>, mut events: mpsc::Receiver<SignalingEvent>) {
    while let Some(ev) = events.recv().await {
        let Some(inner) = peer.upgrade() else {
            return;
        };
        match ev {
            SignalingEvent::Message(msg) => route(&inner, msg).await,
            SignalingEvent::Reopened { peer_id, resumed } => {
                if inner.logs(2) {
                    tracing::warn!(peer = %peer_id, resumed, "signaling reconnected");
                }
                // A fresh session (the server restarted) knows none of the rooms: they join
                // again. The P2P connections need nothing from it.
                if !resumed {
                    for room in inner.all_rooms() {
                        room_router::deliver(&room, RoomInput::Rejoin).await;
                    }
                }
                inner.emit(PeerEvent::Reconnected).await;
            }
            SignalingEvent::Reconnecting { attempt, reason } => {
                if inner.logs(2) {
                    tracing::warn!(attempt, %reason, "signaling socket lost; reconnecting");
                }
                inner
                    .emit(PeerEvent::Reconnecting { attempt, reason })
                    .await;
            }
            SignalingEvent::Closed { reason } => {
                if inner.life() == Life::Open {
                    if inner.logs(1) {
                        tracing::error!(%reason, "signaling session ended");
                    }
                    inner
                        .emit(PeerEvent::Error(PeerError::new(
                            ErrorKind::SocketError,
                            reason.clone(),
                        )))
                        .await;
                    if inner.advance(Life::Disconnected) {
                        inner.emit(PeerEvent::Disconnected(reason)).await;
                    }
                }
                // The rooms cannot go on without signaling (the server has removed this
                // Peer from them).
                for room in inner.all_rooms() {
                    room.close().await;
                }
                return;
            }
        }
    }
}

async fn route(inner: &Arc<Inner>, msg: ServerMessage) {
    match msg {
        ServerMessage::Offer(raw) => {
            let Some(offer) = parse(&raw, parse_offer) else {
                return;
            };
            if let Some(room) = offer.room_name.clone() {
                to_room(inner, &room, RoomInput::Signal(RoomSignal::Offer(offer))).await;
                return;
            }
            match inner.find(&offer.src, &offer.connection_id) {
                Some(conn) => {
                    // Before the next message is routed: its candidates wait for the offer.
                    conn_router::expect_offer(&conn).await;
                    renegotiate(inner, conn, offer)
                }
                None => new_offer(inner, offer).await,
            }
        }
        ServerMessage::Answer(raw) => routed(inner, &raw, Signal::Answer).await,
        ServerMessage::Candidate(raw) => routed(inner, &raw, Signal::Candidate).await,
        ServerMessage::Leave(remote) => {
            for conn in inner.take_all(&remote) {
                conn_router::remote_closed(&conn).await;
            }
            for room in inner.all_rooms() {
                room_router::deliver(&room, RoomInput::PeerGone(remote.clone())).await;
            }
        }
        ServerMessage::ForceClose(fc) => {
            if let Some(id) = fc.connection_id {
                if let Some(conn) = inner.find(&fc.src, &id) {
                    conn_router::remote_closed(&conn).await;
                }
            }
        }
        ServerMessage::Error(e) => {
            if e.kind == ErrorType::PeerUnavailable {
                if let Some(remote) = unavailable_peer(&e.message) {
                    // Connections still opening, and ones whose ICE restart offer just
                    // found the remote gone.
                    for conn in inner.of(&remote) {
                        if conn.state() == ConnectionState::Connecting
                            || conn.ice_trouble_since().is_some()
                        {
                            conn_router::remote_closed(&conn).await;
                        }
                    }
                }
            }
            if inner.logs(1) {
                tracing::error!(kind = %e.kind, message = %e.message, "server error");
            }
            inner
                .emit(PeerEvent::Error(PeerError::new(
                    ErrorKind::Server(e.kind),
                    e.message,
                )))
                .await;
        }
        ServerMessage::AuthExpiresIn(secs) => inner.emit(PeerEvent::ExpiresIn(secs)).await,
        ServerMessage::Open(_) => {}
        other => {
            let event = other.event_name();
            match RoomInput::from_server(other) {
                Some((room, input)) => to_room(inner, &room, input).await,
                None => {
                    if inner.logs(3) {
                        tracing::debug!(event, "message ignored");
                    }
                }
            }
        }
    }
}

fn parse<T>(
    raw: &RawJson,
    parse: fn(serde_json::Value) -> Result<T, ConnectionError>,
) -> Option<T> {
    let value = serde_json::from_str(raw.get()).ok()?;
    parse(value).ok()
}

/// Hands a room's message to the room, if this Peer is in it.
async fn to_room(inner: &Arc<Inner>, room: &str, msg: RoomInput) {
    match inner.room(room) {
        Some(handle) => room_router::deliver(&handle, msg).await,
        None => {
            if inner.logs(3) {
                tracing::debug!(%room, "signaling for a room this Peer is not in dropped");
            }
        }
    }
}

/// An `OFFER` for an existing connection: the caller renegotiates a call.
fn renegotiate(inner: &Arc<Inner>, conn: Connection, offer: Offer) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        if let Err(e) = conn_router::deliver_offer(&conn, &offer.sdp).await {
            if let Some(inner) = weak.upgrade() {
                if inner.logs(2) {
                    tracing::warn!(id = %conn.id(), error = %e, "renegotiation failed");
                }
            }
        }
    });
}

/// Why an incoming offer is refused, if it is: checked before anything is created for it.
fn refusal(inner: &Inner, request: &IncomingRequest) -> Option<String> {
    if inner.connection_count() >= inner.options.max_connections {
        return Some(format!(
            "the Peer has {} connections (max_connections)",
            inner.options.max_connections
        ));
    }
    match &inner.options.incoming {
        Some(policy) if !policy(request) => Some("refused by the incoming policy".into()),
        _ => None,
    }
}

/// A new `OFFER`: a DataConnection (answered at once, as the SDK does) or a call (the
/// application answers it), unless refused first.
async fn new_offer(inner: &Arc<Inner>, offer: Offer) {
    let Some(request) = IncomingRequest::of(&offer) else {
        if inner.logs(2) {
            tracing::warn!(kind = %offer.connection_type, src = %offer.src, "offer of an unsupported connection type ignored");
        }
        return;
    };
    if let Some(reason) = refusal(inner, &request) {
        if inner.logs(2) {
            tracing::warn!(src = %offer.src, id = %offer.connection_id, %reason, "incoming connection refused");
        }
        let _ = conn_router::refuse(&inner.signal, &offer).await;
        inner.emit(PeerEvent::Refused { request, reason }).await;
        return;
    }
    let conn = match conn_router::from_offer(&inner.rtc, inner.signal.clone(), &offer).await {
        Ok(conn) => conn,
        Err(e) => return inner.emit(PeerEvent::Error(e.into())).await,
    };
    inner.register(&conn);
    match conn {
        Connection::Data(data) => {
            inner.emit(PeerEvent::Connection(data.clone())).await;
            let weak = Arc::downgrade(inner);
            tokio::spawn(async move {
                if let Err(e) = conn_router::accept(&data, &offer).await {
                    if let Some(inner) = weak.upgrade() {
                        inner.emit(PeerEvent::Error(e.into())).await;
                    }
                }
            });
        }
        Connection::Media(call) => inner.emit(PeerEvent::Call(call)).await,
        other => {
            if inner.logs(2) {
                tracing::warn!(id = %other.id(), "connection of an unknown kind closed");
            }
            other.close(true).await;
        }
    }
}

/// Which relayed message [`routed`] applies.
enum Signal {
    Answer,
    Candidate,
}

/// Applies a relayed `ANSWER` or `CANDIDATE` to the connection it names by
/// `(src, connectionId)`, or to its room.
async fn routed(inner: &Arc<Inner>, raw: &RawJson, kind: Signal) {
    let Some(routed) = parse(raw, parse_routed) else {
        return;
    };
    if let Some(room) = routed.room_name.clone() {
        let msg = match kind {
            Signal::Answer => RoomSignal::Answer(routed),
            Signal::Candidate => RoomSignal::Candidate(routed),
        };
        to_room(inner, &room, RoomInput::Signal(msg)).await;
        return;
    }
    let Some(conn) = inner.find(&routed.src, &routed.connection_id) else {
        if inner.logs(3) {
            tracing::debug!(id = %routed.connection_id, "signal for an unknown connection");
        }
        return;
    };
    let result = match kind {
        Signal::Answer => match signal::answer_sdp(&routed.raw) {
            Ok(sdp) => conn_router::deliver_answer(&conn, &sdp).await,
            Err(e) => Err(e),
        },
        Signal::Candidate => match signal::candidate(&routed.raw) {
            Ok(Some(c)) => conn_router::deliver_candidate(&conn, c).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        if inner.logs(2) {
            tracing::warn!(id = %routed.connection_id, error = %e, "signal not applied");
        }
    }
}

/// The peer id in peer-server's `peer-unavailable` message (`peer "bob" is not available`).
fn unavailable_peer(message: &str) -> Option<String> {
    let quoted = message
        .strip_prefix("peer ")?
        .strip_suffix(" is not available")?;
    serde_json::from_str::<String>(quoted).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_peer_server_message() {
        assert_eq!(
            super::unavailable_peer("peer \"bob x\" is not available").as_deref(),
            Some("bob x")
        );
        assert_eq!(super::unavailable_peer("nope"), None);
    }
}
