//! The `room_data` fuzz target's driver, server side: engine frames from one client as
//! `peer-server` takes them (Engine.IO packets, one Socket.IO [`Decoder`] with the server's
//! attachment limit, events on the root namespace, [`ClientMessage`]s), and every
//! `ROOM_SEND_DATA` among them relayed by the hub to the other member of its room. Invariants:
//!
//! - no input panics;
//! - a decoded `ROOM_SEND_DATA` has at most the server's attachments, its data is JSON and every
//!   placeholder in it names one of them;
//! - it re-encodes ([`ClientMessage::encode`]) to frames that decode to the same message;
//! - when the sender and another peer could join its room, the hub sends the other peer one
//!   `ROOM_DATA` (and the sender nothing) whose frames decode, as a client decodes them, to the
//!   same room, data text and attachments, with the sender as `src`; otherwise it relays nothing;
//! - the room's log then ends with the data, placeholders replaced by
//!   `{"_binary":true,"byteLength":N}` of the attachment they name (or, past 4 KiB of JSON,
//!   `{"_omitted":true,"byteLength":N}`).
//!
//! Returns what was relayed, for the client side (`room_data_driver.rs`). Self-contained (only
//! the workspace crates), so `peer-server`'s smoke test includes this file.

use bytes::Bytes;
use peer_protocol::client::{RoomJoin, RoomRef, RoomSendData, RoomType};
use peer_protocol::engineio::{Frame, Packet};
use peer_protocol::socketio::{self, Decoder, PacketKind};
use peer_protocol::{server, ClientMessage, ServerMessage};
use peer_server::config::{AppConfig, Limits, Timeouts};
use peer_server::hub::{ConnectRequest, Hub, Output, SessionId};
use peer_server::session::MAX_ATTACHMENTS;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const KEY: &str = "11111111-2222-3333-4444-555555555555";
const T0: u64 = 1_700_000_000_000;
/// The sending peer (session 1) and the receiving one (session 2).
pub const PEERS: [&str; 2] = ["alice", "bob"];
/// Room data JSON longer than this is logged as its size alone (`hub/room.rs`).
const MAX_LOGGED_DATA: usize = 4096;
/// Attachments a Rust peer accepts per packet (`peer-transport`'s session decoder).
const CLIENT_MAX_ATTACHMENTS: usize = 64;

/// The engine packet in a frame (binary frames keep the `0x04` type byte).
fn packet(frame: &Frame) -> Option<Packet> {
    match frame {
        Frame::Text(b) => Packet::decode_text(std::str::from_utf8(b).ok()?).ok(),
        Frame::Binary(b) => Packet::decode_binary_bytes(b.clone()).ok(),
    }
}

/// Decodes frames in order with one Socket.IO decoder accepting `max_attachments`; returns the
/// events on the root namespace.
fn events(frames: &[Frame], max_attachments: usize) -> Vec<socketio::Event> {
    let mut decoder = Decoder::new(max_attachments);
    let mut out = Vec::new();
    for frame in frames {
        let fed = match packet(frame) {
            Some(Packet::Message(text)) => decoder.feed_text(text),
            Some(Packet::BinaryMessage(data)) => decoder.feed_binary(data),
            _ => continue,
        };
        let Ok(Some(p)) = fed else { continue };
        if matches!(p.kind, PacketKind::Event | PacketKind::BinaryEvent) && p.nsp == "/" {
            out.extend(p.into_event().ok());
        }
    }
    out
}

/// Decodes frames from a client as a server session does.
pub fn decode_client_frames(frames: &[Frame]) -> Vec<ClientMessage> {
    events(frames, MAX_ATTACHMENTS)
        .into_iter()
        .filter_map(|e| ClientMessage::parse(e).ok())
        .collect()
}

/// Decodes frames from the server as a Rust peer does.
fn decode_server_frames(frames: &[Frame]) -> Vec<ServerMessage> {
    events(frames, CLIENT_MAX_ATTACHMENTS)
        .into_iter()
        .filter_map(|e| ServerMessage::parse(e).ok())
        .collect()
}

/// A hub with both peers open, and generous rate limits (the input decides how many messages
/// there are; the time never moves).
fn hub() -> Hub {
    let app = AppConfig {
        key: KEY.into(),
        secret: "secret".into(),
        rest_api: false,
        require_credential: false,
        allowed_origins: vec![],
    };
    let limits = Limits {
        max_rooms_per_peer: 1 << 20,
        messages_per_second: 1 << 20,
        message_burst: 1 << 20,
        log_requests_per_second: 1 << 20,
        log_request_burst: 1 << 20,
        ..Limits::default()
    };
    let mut hub = Hub::new(&[app], limits, Timeouts::default());
    for (session, peer) in (1..).zip(PEERS) {
        let out = hub.connect(
            ConnectRequest {
                session,
                api_key: Some(KEY.into()),
                token: Some("token".into()),
                peer_id: Some(peer.into()),
                ..Default::default()
            },
            T0,
        );
        assert!(
            sent(&out, session, server::event::OPEN).is_some(),
            "{peer} is not open: {out:?}"
        );
    }
    hub
}

/// The frames of the `event` that `out` sends to `session`, if it sends one.
fn sent(out: &[Output], session: SessionId, event: &str) -> Option<Arc<[Frame]>> {
    out.iter().find_map(|o| match o {
        Output::Send {
            to,
            event: e,
            frames,
        } if *to == session && *e == event => Some(frames.clone()),
        _ => None,
    })
}

/// What the room's log says of `data`: placeholders replaced by the size of the attachment
/// they name.
fn logged(data: &RoomSendData) -> Value {
    let lens: Vec<usize> = data.attachments.iter().map(Bytes::len).collect();
    let text = data.data.get();
    if text.len() > MAX_LOGGED_DATA {
        let size = text.len() + lens.iter().sum::<usize>();
        return json!({"_omitted": true, "byteLength": size});
    }
    fn replace(v: &Value, lens: &[usize]) -> Value {
        match v {
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
                let num = map.get("num").and_then(Value::as_u64).expect("checked");
                json!({"_binary": true, "byteLength": lens[num as usize]})
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), replace(v, lens)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| replace(v, lens)).collect()),
            other => other.clone(),
        }
    }
    let value: Value = serde_json::from_str(text).expect("room data is JSON");
    replace(&value, &lens)
}

/// Checks what the decoder let through, and that it re-encodes to itself.
fn check_decoded(data: &RoomSendData) {
    assert!(data.attachments.len() <= MAX_ATTACHMENTS);
    let value: Value = serde_json::from_str(data.data.get())
        .unwrap_or_else(|e| panic!("room data {:?} is not JSON: {e}", data.data));
    assert!(
        socketio::placeholders_valid(&value, data.attachments.len()),
        "a placeholder of {:?} names no attachment",
        data.data
    );
    let msg = ClientMessage::RoomSendData(data.clone());
    let frames = msg.encode();
    assert_eq!(frames.len(), 1 + data.attachments.len());
    assert_eq!(
        decode_client_frames(&frames),
        vec![msg],
        "re-encoded room data decodes differently"
    );
}

/// Checks the hub's relay of `data` and the log entry it left; returns the relayed frames.
fn check_relay(hub: &mut Hub, data: &RoomSendData, out: &[Output]) -> Arc<[Frame]> {
    let relayed = sent(out, 2, server::event::ROOM_DATA)
        .unwrap_or_else(|| panic!("room data not relayed: {out:?}"));
    assert_eq!(out.len(), 1, "room data relayed as {out:?}");
    let got = decode_server_frames(&relayed);
    let [ServerMessage::RoomData(m)] = got.as_slice() else {
        panic!("the relay decodes as {got:?}");
    };
    assert_eq!(
        (&m.room_name, m.src.as_str(), &m.data, &m.attachments),
        (&data.room_name, PEERS[0], &data.data, &data.attachments),
        "the relay changed the data"
    );

    let ask = ClientMessage::RoomGetLogs(RoomRef {
        room_name: data.room_name.clone(),
    });
    let out = hub.handle(1, ask, T0);
    let frames =
        sent(&out, 1, server::event::ROOM_LOGS).unwrap_or_else(|| panic!("no ROOM_LOGS: {out:?}"));
    let got = decode_server_frames(&frames);
    let [ServerMessage::RoomLogs(logs)] = got.as_slice() else {
        panic!("the log decodes as {got:?}");
    };
    let last: Value = logs
        .log
        .last()
        .and_then(|e| serde_json::from_str(e).ok())
        .expect("the log ends with a JSON entry");
    let expected = json!({
        "messageType": server::event::ROOM_DATA,
        "message": {"roomName": data.room_name, "src": PEERS[0], "data": logged(data)},
        "timestamp": T0,
    });
    assert_eq!(last, expected, "the log entry of {:?}", data.data);
    relayed
}

/// Decodes `frames` as the server does and relays every `ROOM_SEND_DATA` among them; returns
/// each one with the frames the receiving peer was sent.
pub fn room_send_data(frames: &[Frame]) -> Vec<(RoomSendData, Arc<[Frame]>)> {
    let mut hub = hub();
    // Whether both peers are in each room the data named.
    let mut rooms: BTreeMap<String, bool> = BTreeMap::new();
    let mut relayed = Vec::new();
    for msg in decode_client_frames(frames) {
        let ClientMessage::RoomSendData(data) = msg else {
            continue;
        };
        check_decoded(&data);
        let name = data.room_name.clone();
        let joined = *rooms.entry(name.clone()).or_insert_with(|| {
            [1, 2].into_iter().all(|session| {
                let join = RoomJoin {
                    room_name: name.clone(),
                    room_type: RoomType::Mesh,
                };
                let out = hub.handle(session, ClientMessage::RoomJoin(join), T0);
                sent(&out, session, server::event::ROOM_USER_JOIN).is_some()
            })
        });
        let out = hub.handle(1, ClientMessage::RoomSendData(data.clone()), T0);
        if joined {
            let frames = check_relay(&mut hub, &data, &out);
            relayed.push((data, frames));
        } else {
            assert!(
                sent(&out, 2, server::event::ROOM_DATA).is_none(),
                "data relayed to a room the sender is not in"
            );
        }
    }
    relayed
}
