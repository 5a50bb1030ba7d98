//! The entry points of a signaling router: the Peer facade (and, for room connections, the rooms
//! crate) creates connections and delivers what the server relayed through these functions,
//! never through the user-facing connection types, whose methods are the application's.
//!
//! Order: an outgoing connection is registered (the `register` callback) *before* its offer
//! leaves, so an immediate `ANSWER`, `CANDIDATE` or `peer-unavailable` finds it; an incoming one
//! is registered by the caller between creating it from the offer and answering it.

use crate::config::RtcContext;
use crate::connection::Connection;
use crate::core::ConnectionKind;
use crate::data_connection::{ConnectOptions, DataConnection};
use crate::error::ConnectionError;
use crate::media_connection::MediaConnection;
use crate::media_options::CallOptions;
use crate::serialization::Serialization;
use crate::signal::{self, CandidateInit, Offer, Routed};
use crate::sink::Signal;
use peer_media::MediaStream;
use serde_json::Value;

/// Opens a DataConnection to `remote_id` (the SDK's `peer.connect`): creates it, lets `register`
/// record it, then sends `SEND_OFFER`. On failure the connection is closed.
pub async fn connect(
    ctx: &RtcContext,
    signal: Signal,
    remote_id: &str,
    options: ConnectOptions,
    register: impl FnOnce(&Connection),
) -> Result<DataConnection, ConnectionError> {
    let conn = DataConnection::outgoing(ctx, signal, remote_id, options).await?;
    register(&Connection::Data(conn.clone()));
    conn.offer().await?;
    Ok(conn)
}

/// Calls `remote_id` (the SDK's `peer.call`, or a mesh room's call to a member when `room` is
/// set): creates the connection with the stream's tracks, lets `register` record it, then sends
/// `SEND_OFFER`. On failure the connection is closed.
pub async fn call(
    ctx: &RtcContext,
    signal: Signal,
    remote_id: &str,
    stream: Option<&MediaStream>,
    options: CallOptions,
    room: Option<&str>,
    register: impl FnOnce(&Connection),
) -> Result<MediaConnection, ConnectionError> {
    let conn = MediaConnection::outgoing(
        ctx,
        signal,
        remote_id,
        stream,
        options,
        room.map(str::to_owned),
    )
    .await?;
    register(&Connection::Media(conn.clone()));
    conn.offer().await?;
    Ok(conn)
}

/// Creates the connection a new `OFFER` asks for, without answering: a DataConnection (answer
/// it with [`accept`]) or a MediaConnection (the application answers it).
pub async fn from_offer(
    ctx: &RtcContext,
    signal: Signal,
    offer: &Offer,
) -> Result<Connection, ConnectionError> {
    match offer.connection_type.as_str() {
        "data" => Ok(Connection::Data(
            DataConnection::from_offer(ctx, signal, offer).await?,
        )),
        "media" => Ok(Connection::Media(
            MediaConnection::from_offer(ctx, signal, offer).await?,
        )),
        other => Err(ConnectionError::InvalidSignal(format!(
            "unknown connection type {other:?}"
        ))),
    }
}

/// Answers a DataConnection made by [`from_offer`] (the SDK answers data offers at once).
pub async fn accept(conn: &DataConnection, offer: &Offer) -> Result<(), ConnectionError> {
    conn.accept(&offer.sdp).await
}

/// An `OFFER` for an existing connection: the caller renegotiates a call.
pub async fn deliver_offer(conn: &Connection, sdp: &str) -> Result<(), ConnectionError> {
    let result = match conn {
        Connection::Media(c) => c.handle_offer(sdp).await,
        Connection::Data(c) => c.handle_offer(sdp).await,
    };
    // Candidates held by [`expect_offer`] go to whatever session the offer left.
    conn.core().flush_remote_candidates().await;
    result
}

/// A renegotiation offer for `conn` arrived and [`deliver_offer`] will apply it (perhaps in
/// another task): the remote candidates that follow it wait until it is applied. An ICE
/// restart's candidates can otherwise be added to the old session and dropped by the restart.
pub async fn expect_offer(conn: &Connection) {
    conn.core().hold_remote_candidates().await;
}

/// A relayed `ANSWER` for `conn`.
pub async fn deliver_answer(conn: &Connection, sdp: &str) -> Result<(), ConnectionError> {
    match conn {
        Connection::Data(c) => c.handle_answer(sdp).await,
        Connection::Media(c) => c.handle_answer(sdp).await,
    }
}

/// A relayed `CANDIDATE` for `conn`: added, or kept until the remote description is set.
pub async fn deliver_candidate(conn: &Connection, c: CandidateInit) -> Result<(), ConnectionError> {
    conn.core().handle_candidate(c).await
}

/// The remote side closed `conn` (`FORCE_CLOSE`, or `LEAVE` of the remote peer).
pub async fn remote_closed(conn: &Connection) {
    match conn {
        Connection::Data(c) => c.handle_remote_close().await,
        Connection::Media(c) => c.handle_remote_close(),
    }
}

/// What an incoming `OFFER` asks for, read before anything is created for it, for the
/// application's accept/refuse policy.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IncomingRequest {
    /// The offering peer.
    pub remote_id: String,
    /// The connection id it chose.
    pub connection_id: String,
    /// Data or media.
    pub kind: ConnectionKind,
    /// Its metadata.
    pub metadata: Option<Value>,
    /// The data channel label (data connections).
    pub label: Option<String>,
    /// The serialization (data connections).
    pub serialization: Option<Serialization>,
}

impl IncomingRequest {
    /// What `offer` asks for; `None` for a connection type this crate does not make.
    pub fn of(offer: &Offer) -> Option<IncomingRequest> {
        let kind = match offer.connection_type.as_str() {
            "data" => ConnectionKind::Data,
            "media" => ConnectionKind::Media,
            _ => return None,
        };
        let raw = &offer.raw;
        Some(IncomingRequest {
            remote_id: offer.src.clone(),
            connection_id: offer.connection_id.clone(),
            kind,
            metadata: raw.get("metadata").cloned().filter(|m| !m.is_null()),
            label: raw.get("label").and_then(Value::as_str).map(str::to_owned),
            serialization: raw
                .get("serialization")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
        })
    }
}

/// Refuses an offer without creating anything for it: `SEND_FORCE_CLOSE` tells its sender to
/// close the connection it is opening.
pub async fn refuse(signal: &Signal, offer: &Offer) -> Result<(), ConnectionError> {
    signal
        .send(signal::force_close(&offer.src, &offer.connection_id))
        .await
}

/// A relayed message that names a room (`roomName`): a mesh room's member connections.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoomSignal {
    /// An `OFFER` from a member.
    Offer(Offer),
    /// An `ANSWER` from a member.
    Answer(Routed),
    /// A `CANDIDATE` from a member.
    Candidate(Routed),
}
