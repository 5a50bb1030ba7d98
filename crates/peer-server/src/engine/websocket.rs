//! The WebSocket transport: a fresh WebSocket session, or the probe/upgrade of a polling session,
//! then one task per connection that reads client frames in order and writes queued frames.

use crate::engine::session::{Session, Transport};
use crate::hub::Disconnect;
use crate::shared::Shared;
use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use peer_protocol::engineio::{Frame, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::ErrorType;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// How long a client may take between opening the probe WebSocket and sending `5` (upgrade).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket configuration: small buffers for idle peers, frames up to the payload limit.
pub fn ws_config(max_payload: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(max_payload + 64))
        .max_frame_size(Some(max_payload + 64))
}

/// Runs a WebSocket connection after the HTTP upgrade.
pub async fn run(shared: Arc<Shared>, upgraded: Upgraded, query: HandshakeQuery) {
    let config = ws_config(shared.config.limits.max_payload_bytes);
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let session = match query.sid.as_deref() {
        None => match fresh(&shared, &mut ws, &query).await {
            Some(s) => s,
            None => return,
        },
        Some(sid) => {
            let Some(session) = shared.session(sid) else {
                let _ = ws
                    .close(Some(close_frame(CloseCode::Policy, "Session ID unknown")))
                    .await;
                return;
            };
            if session.transport() != Transport::Polling || !probe(&shared, &session, &mut ws).await
            {
                return;
            }
            session
        }
    };
    let how = serve(&shared, &session, &mut ws).await;
    shared.finish(&session, how);
}

fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

/// A session that starts on WebSocket: open packet, then the Socket.IO connect.
async fn fresh(shared: &Arc<Shared>, ws: &mut Ws, query: &HandshakeQuery) -> Option<Arc<Session>> {
    let session = match shared.new_session(Transport::WebSocket) {
        Ok(s) => s,
        Err(_) => {
            let _ = ws
                .close(Some(close_frame(
                    CloseCode::Again,
                    "server is at its session limit",
                )))
                .await;
            return None;
        }
    };
    let open = shared.handshake_packet(&session, false).encode();
    if send(ws, &open).await.is_err() {
        shared.finish(&session, Disconnect::Dropped);
        return None;
    }
    shared.open_session(&session, query);
    Some(session)
}

/// The upgrade of a polling session: `2probe` -> `3probe`, then `5`. False if it did not finish.
async fn probe(shared: &Arc<Shared>, session: &Arc<Session>, ws: &mut Ws) -> bool {
    let steps = async {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            match Packet::decode_text(text.as_str()) {
                Ok(Packet::Ping(data)) if data == "probe" => {
                    if send(ws, &Packet::Pong(data).encode()).await.is_err() {
                        return false;
                    }
                }
                Ok(Packet::Upgrade) => return true,
                _ => return false,
            }
        }
        false
    };
    match tokio::time::timeout(PROBE_TIMEOUT, steps).await {
        Ok(true) => {
            session.touch();
            session.upgrade_to_websocket();
            tracing::debug!(session = session.id, "upgraded to websocket");
            let _ = shared;
            true
        }
        _ => false,
    }
}

async fn send(ws: &mut Ws, frame: &Frame) -> Result<(), WsError> {
    ws.send(to_message(frame)).await
}

fn to_message(frame: &Frame) -> Message {
    match frame {
        Frame::Text(bytes) => match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(bytes.clone()),
        },
        Frame::Binary(bytes) => Message::Binary(bytes.clone()),
    }
}

/// The main loop: flush queued frames, read client frames. Returns how the session ended.
async fn serve(shared: &Arc<Shared>, session: &Arc<Session>, ws: &mut Ws) -> Disconnect {
    loop {
        let changed = session.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let frames = session.drain();
        if !frames.is_empty() {
            for frame in &frames {
                if ws.feed(to_message(frame)).await.is_err() {
                    return Disconnect::Dropped;
                }
            }
            if ws.flush().await.is_err() {
                return Disconnect::Dropped;
            }
            continue;
        }
        if session.is_closing() {
            let _ = ws.close(Some(close_frame(CloseCode::Normal, ""))).await;
            return Disconnect::Clean;
        }
        tokio::select! {
            _ = &mut changed => {}
            incoming = ws.next() => {
                match incoming {
                    None => return Disconnect::Dropped,
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::debug!(session = session.id, error = %e, "frame too large");
                        shared.fail(session, ErrorType::InvalidMessage, "message exceeds the payload limit");
                        flush_then_close(session, ws, CloseCode::Size).await;
                        return Disconnect::Dropped;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(session = session.id, error = %e, "websocket error");
                        return Disconnect::Dropped;
                    }
                    Some(Ok(msg)) => {
                        if let Some(how) = on_message(shared, session, msg).await {
                            flush_then_close(session, ws, CloseCode::Normal).await;
                            return how;
                        }
                    }
                }
            }
        }
    }
}

async fn flush_then_close(session: &Session, ws: &mut Ws, code: CloseCode) {
    for frame in session.drain() {
        if ws.feed(to_message(&frame)).await.is_err() {
            return;
        }
    }
    let _ = ws.flush().await;
    let _ = ws.close(Some(close_frame(code, ""))).await;
}

/// Handles one client frame; `Some` when the session ends.
async fn on_message(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    msg: Message,
) -> Option<Disconnect> {
    let packet = match msg {
        Message::Text(text) => Packet::decode_text(text.as_str()),
        Message::Binary(data) => Packet::decode_binary_bytes(data),
        Message::Close(_) => return Some(Disconnect::Dropped),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
    };
    match packet {
        Ok(packet) => {
            if shared.on_packet(session, packet).await {
                None
            } else {
                Some(Disconnect::Clean)
            }
        }
        Err(e) => {
            shared.fail(
                session,
                ErrorType::InvalidMessage,
                &format!("malformed engine.io packet: {e}"),
            );
            Some(Disconnect::Clean)
        }
    }
}
