//! The `room_data` fuzz target's driver, client side: engine frames from a server as a Rust peer
//! takes them (Engine.IO packets, one Socket.IO [`Decoder`] with the client's attachment limit,
//! events, [`ServerMessage::parse`]), every message through [`RoomInput::from_server`], and the
//! data of each `ROOM_DATA` as the [`RoomPayload`] the application gets. Invariants:
//!
//! - no input panics;
//! - a decoded `ROOM_DATA` re-encodes ([`ServerMessage::encode`]) to frames that decode to the
//!   same message; its payload, sent on by the peer (`ROOM_SEND_DATA` of
//!   [`RoomPayload::into_wire`]), decodes to the same data and attachments;
//! - the room input is `Data` with the message's room, sender, JSON text and attachments;
//! - the payload is JSON; [`RoomPayload::as_text`] is its string, if it is one, and
//!   [`RoomPayload::as_bytes`] the attachment that a placeholder standing for the whole payload
//!   names; rebuilt with [`RoomPayload::with_attachments`] from its JSON and attachments, it is
//!   the same JSON with the same attachments.
//!
//! Returns every payload with its room and sender. Self-contained (only the workspace crates),
//! so `peer-room`'s smoke test includes this file.

use peer_protocol::client::RoomSendData;
use peer_protocol::engineio::{Frame, Packet};
use peer_protocol::socketio::{Decoder, Event, PacketKind};
use peer_protocol::{ClientMessage, ServerMessage};
use peer_room::{RoomInput, RoomPayload};
use serde_json::Value;

/// Attachments a Rust peer accepts per packet (`peer-transport`'s session decoder).
pub const CLIENT_MAX_ATTACHMENTS: usize = 64;

/// Decodes frames in order with one Socket.IO decoder, as a peer's session does; returns the
/// events.
fn events(frames: &[Frame]) -> Vec<Event> {
    let mut decoder = Decoder::new(CLIENT_MAX_ATTACHMENTS);
    let mut out = Vec::new();
    for frame in frames {
        let packet = match frame {
            Frame::Text(b) => match std::str::from_utf8(b) {
                Ok(text) => Packet::decode_text(text),
                Err(_) => continue,
            },
            Frame::Binary(b) => Packet::decode_binary_bytes(b.clone()),
        };
        let fed = match packet {
            Ok(Packet::Message(text)) => decoder.feed_text(text),
            Ok(Packet::BinaryMessage(data)) => decoder.feed_binary(data),
            _ => continue,
        };
        if let Ok(Some(p)) = fed {
            if matches!(p.kind, PacketKind::Event | PacketKind::BinaryEvent) {
                out.extend(p.into_event().ok());
            }
        }
    }
    out
}

/// The attachment number `v` stands for, if it is a placeholder.
fn placeholder_num(v: &Value) -> Option<usize> {
    let obj = v.as_object()?;
    if obj.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    usize::try_from(obj.get("num")?.as_u64()?).ok()
}

/// Checks a payload as the application reads it, and that it rebuilds to itself.
pub fn check_payload(p: &RoomPayload) {
    let json = p
        .to_json()
        .unwrap_or_else(|| panic!("received room data {:?} is not JSON", p.raw_json()));
    assert_eq!(p.as_text().as_deref(), json.as_str(), "as_text of {json}");
    assert_eq!(
        p.as_bytes(),
        placeholder_num(&json).and_then(|n| p.attachments().get(n)),
        "as_bytes of {json}"
    );
    let _ = p.check_size();
    let rebuilt = RoomPayload::with_attachments(&json, p.attachments().to_vec())
        .unwrap_or_else(|e| panic!("received room data {json} does not rebuild: {e}"));
    assert_eq!(rebuilt.to_json().as_ref(), Some(&json), "rebuilt JSON");
    assert_eq!(
        rebuilt.attachments(),
        p.attachments(),
        "rebuilt attachments"
    );
    let (raw, attachments) = p.clone().into_wire();
    assert_eq!(
        &RoomPayload::from_wire(raw, attachments),
        p,
        "wire round trip"
    );
}

/// Checks that `msg` re-encodes to itself and that its payload, sent on, is the same data.
fn check_round_trips(msg: &ServerMessage) {
    let ServerMessage::RoomData(m) = msg else {
        return;
    };
    let again: Vec<ServerMessage> = events(&msg.encode())
        .into_iter()
        .filter_map(|e| ServerMessage::parse(e).ok())
        .collect();
    assert_eq!(
        again,
        vec![msg.clone()],
        "re-encoded ROOM_DATA decodes differently"
    );
    let (data, attachments) =
        RoomPayload::from_wire(m.data.clone(), m.attachments.clone()).into_wire();
    let send = ClientMessage::RoomSendData(RoomSendData {
        room_name: m.room_name.clone(),
        data,
        attachments,
    });
    let sent: Vec<ClientMessage> = events(&send.encode())
        .into_iter()
        .filter_map(|e| ClientMessage::parse(e).ok())
        .collect();
    assert_eq!(
        sent,
        vec![send],
        "received data sent on decodes differently"
    );
}

/// Decodes `frames` as a peer does; returns the room, sender and payload of every `ROOM_DATA`.
pub fn room_data(frames: &[Frame]) -> Vec<(String, String, RoomPayload)> {
    let mut payloads = Vec::new();
    for event in events(frames) {
        let Ok(msg) = ServerMessage::parse(event) else {
            continue;
        };
        check_round_trips(&msg);
        let expected = match &msg {
            ServerMessage::RoomData(m) => Some((
                m.room_name.clone(),
                m.src.clone(),
                RoomPayload::from_wire(m.data.clone(), m.attachments.clone()),
            )),
            _ => None,
        };
        let input = RoomInput::from_server(msg);
        let Some((room, src, payload)) = expected else {
            continue;
        };
        let Some((got_room, RoomInput::Data { src: got_src, data })) = input else {
            panic!("ROOM_DATA became {input:?}");
        };
        assert_eq!((&got_room, &got_src, &data), (&room, &src, &payload));
        check_payload(&data);
        payloads.push((room, src, data));
    }
    payloads
}
