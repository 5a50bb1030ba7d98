//! The Peer's background tasks: routing server messages to connections and events, and
//! forwarding the connections' signaling messages to the socket.

use crate::connection::Connection;
use crate::error::{ErrorKind, PeerError};
use crate::event::PeerEvent;
use crate::peer::{Inner, Life};
use async_trait::async_trait;
use peer_connection::signal::{self, parse_offer, parse_routed, Offer};
use peer_connection::{
    ConnectionError, ConnectionState, DataConnection, MediaConnection, SignalSink,
};
use peer_protocol::client::ClientMessage;
use peer_protocol::server::{RawJson, ServerMessage};
use peer_protocol::ErrorType;
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
            SignalingEvent::Reopened { peer_id } => {
                if inner.logs(2) {
                    tracing::warn!(peer = %peer_id, "signaling reconnected");
                }
            }
            SignalingEvent::Reconnecting { attempt, reason } => {
                if inner.logs(2) {
                    tracing::warn!(attempt, %reason, "signaling socket lost; reconnecting");
                }
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
                return;
            }
        }
    }
}

async fn route(inner: &Arc<Inner>, msg: ServerMessage) {
    match msg {
        ServerMessage::Offer(raw) => {
            let Ok(value) = serde_json::from_str(raw.0.get()) else {
                return;
            };
            match parse_offer(value) {
                Ok(offer) if offer.connection_type == "data" => data_offer(inner, offer).await,
                Ok(offer) if offer.connection_type == "media" => media_offer(inner, offer).await,
                Ok(offer) => {
                    if inner.logs(2) {
                        tracing::warn!(kind = %offer.connection_type, src = %offer.src, "offer of an unsupported connection type ignored");
                    }
                }
                Err(e) => {
                    if inner.logs(2) {
                        tracing::warn!(error = %e, "malformed offer ignored");
                    }
                }
            }
        }
        ServerMessage::Answer(raw) => route_to_connection(inner, raw, Signal::Answer).await,
        ServerMessage::Candidate(raw) => route_to_connection(inner, raw, Signal::Candidate).await,
        ServerMessage::Leave(remote) => {
            for conn in inner.take_all(&remote) {
                conn.handle_remote_close().await;
            }
        }
        ServerMessage::ForceClose(fc) => {
            if let Some(id) = fc.connection_id {
                if let Some(conn) = inner.find(&fc.src, &id) {
                    conn.handle_remote_close().await;
                }
            }
        }
        ServerMessage::Error(e) => {
            if e.kind == ErrorType::PeerUnavailable {
                if let Some(remote) = unavailable_peer(&e.message) {
                    for conn in inner.of(&remote) {
                        if conn.state() == ConnectionState::Connecting {
                            conn.handle_remote_close().await;
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
            if inner.logs(3) {
                tracing::debug!(
                    event = other.event_name(),
                    "room message ignored (rooms are not built yet)"
                );
            }
        }
    }
}

/// A data `OFFER`: a new DataConnection, announced and answered at once.
async fn data_offer(inner: &Arc<Inner>, offer: Offer) {
    if inner.find(&offer.src, &offer.connection_id).is_some() {
        if inner.logs(2) {
            tracing::warn!(id = %offer.connection_id, "renegotiation of a data connection is not supported; offer ignored");
        }
        return;
    }
    match DataConnection::from_offer(&inner.rtc, inner.signal.clone(), &offer).await {
        Ok(conn) => {
            inner.register(Connection::Data(conn.clone()));
            inner.emit(PeerEvent::Connection(conn.clone())).await;
            let sdp = offer.sdp;
            let weak = Arc::downgrade(inner);
            tokio::spawn(async move {
                if let Err(e) = conn.answer(&sdp).await {
                    if let Some(inner) = weak.upgrade() {
                        inner.emit(PeerEvent::Error(e.into())).await;
                    }
                }
            });
        }
        Err(e) => inner.emit(PeerEvent::Error(e.into())).await,
    }
}

/// A media `OFFER`: a new call (the application answers it), or the caller's renegotiation of
/// an existing one.
async fn media_offer(inner: &Arc<Inner>, offer: Offer) {
    match inner.find(&offer.src, &offer.connection_id) {
        Some(Connection::Media(conn)) => {
            let weak = Arc::downgrade(inner);
            tokio::spawn(async move {
                if let Err(e) = conn.handle_offer(&offer.sdp).await {
                    if let Some(inner) = weak.upgrade() {
                        if inner.logs(2) {
                            tracing::warn!(id = %conn.id(), error = %e, "renegotiation failed");
                        }
                    }
                }
            });
        }
        Some(Connection::Data(_)) => {
            if inner.logs(2) {
                tracing::warn!(id = %offer.connection_id, "media offer for a data connection id ignored");
            }
        }
        None => match MediaConnection::from_offer(&inner.rtc, inner.signal.clone(), &offer).await {
            Ok(conn) => {
                inner.register(Connection::Media(conn.clone()));
                inner.emit(PeerEvent::Call(conn)).await;
            }
            Err(e) => inner.emit(PeerEvent::Error(e.into())).await,
        },
    }
}

/// Which relayed message [`route_to_connection`] applies.
enum Signal {
    Answer,
    Candidate,
}

/// Applies a relayed `ANSWER` or `CANDIDATE` to the connection it names by
/// `(src, connectionId)`.
async fn route_to_connection(inner: &Arc<Inner>, raw: RawJson, kind: Signal) {
    let Ok(value) = serde_json::from_str(raw.0.get()) else {
        return;
    };
    let Ok(routed) = parse_routed(value) else {
        return;
    };
    let Some(conn) = inner.find(&routed.src, &routed.connection_id) else {
        if inner.logs(3) {
            tracing::debug!(id = %routed.connection_id, "signal for an unknown connection");
        }
        return;
    };
    let result = match kind {
        Signal::Answer => match signal::answer_sdp(&routed.raw) {
            Ok(sdp) => conn.handle_answer(&sdp).await,
            Err(e) => Err(e),
        },
        Signal::Candidate => match signal::candidate(&routed.raw) {
            Ok(Some(c)) => conn.handle_candidate(c).await,
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
