//! XHR long-polling: the handshake GET, pending GETs that carry server packets, and POSTs that
//! carry client packets (text or XHR2 binary payloads).
//!
//! A POST names its session before its body is read (an unknown `sid` is answered at once); the
//! body then has to arrive within `timeouts.body_ms`, and its bytes count against the server's
//! inbound budget (`limits.max_inbound_bytes`) until its packets are handled.

use crate::admission::{InboundHold, Refusal};
use crate::response::{engine_error, json_response, payload_response, unavailable, Cors};
use crate::response::{EngineErrorCode, HttpResponse};
use crate::session::{Session, Transport};
use crate::shared::Shared;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use peer_protocol::engineio::{decode_payload, encode_payload, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::ErrorType;
use std::sync::Arc;
use std::time::Duration;

/// `GET /socket.io/?EIO=3&transport=polling` without `sid`: opens a session.
pub async fn handshake(
    shared: &Arc<Shared>,
    query: &HandshakeQuery,
    cors: Cors<'_>,
) -> HttpResponse {
    let api_key = query.api_key.as_deref().unwrap_or("");
    let session = match shared.new_session(Transport::Polling, api_key) {
        Ok(s) => s,
        Err(_) => return unavailable("server is at its session limit", cors),
    };
    let open = shared.handshake_packet(&session, true).encode();
    shared.open_session(&session, query).await;
    let mut frames = vec![open];
    frames.extend(session.drain());
    let frames = shared.poll_frames(&session, frames);
    payload_response(encode_payload(&frames), cors)
}

/// A pending `GET` with `sid`: waits for packets to send.
pub async fn poll(shared: &Arc<Shared>, session: Arc<Session>, cors: Cors<'_>) -> HttpResponse {
    if session.transport() == Transport::WebSocket && !session.is_closing() {
        return payload_response(encode_payload(&[Packet::Noop.encode()]), cors);
    }
    if !session.begin_poll() {
        // An overlapping poll: engine.io closes the session in this case.
        shared.fail(
            &session,
            ErrorType::InvalidMessage,
            "overlapping long-poll requests",
        );
        return engine_error(EngineErrorCode::BadRequest, "overlapping poll", cors);
    }
    // Ends the poll even when the client goes away and hyper drops this future mid-wait;
    // otherwise the session would count as busy forever and never time out.
    let _active = PollGuard(&session);
    let t = &shared.config.timeouts;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(t.ping_interval_ms + t.ping_timeout_ms);
    let frames = loop {
        let changed = session.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let frames = session.drain();
        if !frames.is_empty() || session.is_closing() {
            break frames;
        }
        if session.poll_should_return() {
            break vec![Packet::Noop.encode()];
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep_until(deadline) => break vec![Packet::Noop.encode()],
        }
    };
    let frames = shared.poll_frames(&session, frames);
    payload_response(encode_payload(&frames), cors)
}

/// Why a POST body was not taken.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    TooSlow,
    Budget,
    Broken,
}

/// Reads a body of at most `limit` bytes before `deadline`, holding inbound budget for it.
async fn read_body(
    shared: &Shared,
    mut body: Incoming,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Result<(Bytes, InboundHold), BodyError> {
    let mut hold = shared.admission.inbound_hold();
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = buf.len() + data.len();
        if len > limit {
            return Err(BodyError::TooLarge);
        }
        hold.resize(len, deadline)
            .await
            .map_err(|_| BodyError::Budget)?;
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), hold))
}

/// A `POST` for `session`: reads the body, then handles its packets in order.
pub async fn post(
    shared: &Arc<Shared>,
    session: Arc<Session>,
    body: Incoming,
    binary: bool,
    cors: Cors<'_>,
) -> HttpResponse {
    let limits = &shared.config.limits;
    // Room for payload framing around the largest message.
    let limit = limits.max_payload_bytes + limits.max_payload_bytes / 8 + 4096;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(shared.config.timeouts.body_ms);
    let (body, _hold) = match read_body(shared, body, limit, deadline).await {
        Ok(read) => read,
        Err(BodyError::TooLarge) => {
            shared.invalid(&session, "polling body exceeds the payload limit");
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &serde_json::json!({"code": 3, "message": "payload too large"}),
                cors,
            );
        }
        Err(BodyError::TooSlow) => {
            return json_response(
                StatusCode::REQUEST_TIMEOUT,
                &serde_json::json!({"code": 3, "message": "body not received in time"}),
                cors,
            );
        }
        Err(BodyError::Budget) => {
            shared.admission.refused(Refusal::InboundBytes);
            return unavailable("server is busy receiving", cors);
        }
        Err(BodyError::Broken) => {
            return engine_error(EngineErrorCode::BadRequest, "broken body", cors);
        }
    };
    let packets = match decode_payload(&body, binary) {
        Ok(p) => p,
        Err(e) => {
            shared.fail(
                &session,
                ErrorType::InvalidMessage,
                &format!("malformed polling payload: {e}"),
            );
            return engine_error(EngineErrorCode::BadRequest, "malformed payload", cors);
        }
    };
    drop(body);
    for packet in packets {
        if !shared.on_packet(&session, packet).await {
            break;
        }
    }
    crate::response::text_response(StatusCode::OK, "ok", cors)
}

/// Marks the session's long-poll as finished when dropped.
struct PollGuard<'a>(&'a Session);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0.end_poll();
    }
}
