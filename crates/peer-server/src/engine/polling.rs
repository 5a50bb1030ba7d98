//! XHR long-polling: the handshake GET, pending GETs that carry server packets, and POSTs that
//! carry client packets (text or XHR2 binary payloads).

use crate::engine::session::Transport;
use crate::http::{engine_error, payload_response, EngineErrorCode, HttpResponse};
use crate::shared::Shared;
use bytes::Bytes;
use peer_protocol::engineio::{decode_payload, encode_payload, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::ErrorType;
use std::sync::Arc;
use std::time::Duration;

/// `GET /socket.io/?EIO=3&transport=polling` without `sid`: opens a session.
pub fn handshake(
    shared: &Arc<Shared>,
    query: &HandshakeQuery,
    origin: Option<&str>,
) -> HttpResponse {
    let session = match shared.new_session(Transport::Polling) {
        Ok(s) => s,
        Err(_) => {
            return engine_error(
                EngineErrorCode::Forbidden,
                "server is at its session limit",
                origin,
            )
        }
    };
    let open = shared.handshake_packet(&session, true).encode();
    shared.open_session(&session, query);
    let mut frames = vec![open];
    frames.extend(session.drain());
    let frames = shared.poll_frames(&session, frames);
    payload_response(encode_payload(&frames), origin)
}

/// A pending `GET` with `sid`: waits for packets to send.
pub async fn poll(shared: &Arc<Shared>, sid: &str, origin: Option<&str>) -> HttpResponse {
    let Some(session) = shared.session(sid) else {
        return engine_error(EngineErrorCode::UnknownSid, "Session ID unknown", origin);
    };
    if session.transport() == Transport::WebSocket && !session.is_closing() {
        return payload_response(encode_payload(&[Packet::Noop.encode()]), origin);
    }
    if !session.begin_poll() {
        // An overlapping poll: engine.io closes the session in this case.
        shared.fail(
            &session,
            ErrorType::InvalidMessage,
            "overlapping long-poll requests",
        );
        return engine_error(EngineErrorCode::BadRequest, "overlapping poll", origin);
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
    payload_response(encode_payload(&frames), origin)
}

/// A `POST` with `sid`: client packets, handled in order.
pub async fn post(
    shared: &Arc<Shared>,
    sid: &str,
    body: Bytes,
    binary: bool,
    origin: Option<&str>,
) -> HttpResponse {
    let Some(session) = shared.session(sid) else {
        return engine_error(EngineErrorCode::UnknownSid, "Session ID unknown", origin);
    };
    let packets = match decode_payload(&body, binary) {
        Ok(p) => p,
        Err(e) => {
            shared.fail(
                &session,
                ErrorType::InvalidMessage,
                &format!("malformed polling payload: {e}"),
            );
            return engine_error(EngineErrorCode::BadRequest, "malformed payload", origin);
        }
    };
    for packet in packets {
        if !shared.on_packet(&session, packet).await {
            break;
        }
    }
    crate::http::text_response(hyper::StatusCode::OK, "ok", origin)
}

/// Marks the session's long-poll as finished when dropped.
struct PollGuard<'a>(&'a crate::engine::session::Session);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0.end_poll();
    }
}
