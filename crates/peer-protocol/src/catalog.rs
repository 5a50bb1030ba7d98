//! A machine-readable catalogue of every signaling message, its direction and fields, from which
//! `cargo xtask codegen` renders `docs/protocol.md`. Tests tie each entry to the Rust types, so the
//! document cannot drift from the code.

use crate::error_type::ErrorType;
use crate::{client, server};

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The SDK sends it to the server.
    ClientToServer,
    /// The server sends it to the SDK.
    ServerToClient,
}

/// One field of a message payload.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The JSON key.
    pub name: &'static str,
    /// The JSON type.
    pub ty: &'static str,
    /// Whether the field is always present.
    pub required: bool,
    /// What it holds.
    pub doc: &'static str,
}

/// One message.
#[derive(Debug, Clone, Copy)]
pub struct MessageSpec {
    /// The Socket.IO event name.
    pub event: &'static str,
    /// Who sends it.
    pub direction: Direction,
    /// What it does and how the server handles it.
    pub doc: &'static str,
    /// The payload: a bare value (`fields` empty, `bare` set) or an object with `fields`.
    pub bare: Option<&'static str>,
    /// The fields of an object payload.
    pub fields: &'static [FieldSpec],
}

const fn f(name: &'static str, ty: &'static str, required: bool, doc: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required,
        doc,
    }
}

const RELAY_COMMON: [FieldSpec; 4] = [
    f("dst", "string", true, "Destination peer id."),
    f(
        "connectionId",
        "string",
        true,
        "`dc_…`/`mc_…` id of the connection, unique per remote peer.",
    ),
    f("connectionType", "string", true, "`data` or `media`."),
    f(
        "roomName",
        "string",
        false,
        "Set for mesh-room connections; both peers must be members of the room.",
    ),
];

/// Every message, client-to-server first.
pub const MESSAGES: &[MessageSpec] = &[
    MessageSpec {
        event: client::event::SEND_OFFER,
        direction: Direction::ClientToServer,
        doc: "An SDP offer for `dst`. Relayed as `OFFER` with every field kept and `src` set by the server.",
        bare: None,
        fields: &[
            f("offer", "object", true, "`{type:\"offer\", sdp}`."),
            RELAY_COMMON[0], RELAY_COMMON[1], RELAY_COMMON[2], RELAY_COMMON[3],
            f("metadata", "any", false, "Application metadata of the connection."),
            f("serialization", "string", false, "Data connections: `binary`, `binary-utf8`, `json` or `none`."),
            f("label", "string", false, "Data connections: the channel label."),
            f("dcInit", "object", false, "Data connections: RTCDataChannelInit."),
        ],
    },
    MessageSpec {
        event: client::event::SEND_ANSWER,
        direction: Direction::ClientToServer,
        doc: "An SDP answer for `dst`. Relayed as `ANSWER` with `src`.",
        bare: None,
        fields: &[f("answer", "object", true, "`{type:\"answer\", sdp}`."), RELAY_COMMON[0], RELAY_COMMON[1], RELAY_COMMON[2], RELAY_COMMON[3]],
    },
    MessageSpec {
        event: client::event::SEND_CANDIDATE,
        direction: Direction::ClientToServer,
        doc: "A trickled ICE candidate for `dst`. Relayed as `CANDIDATE` with `src`.",
        bare: None,
        fields: &[
            f("candidate", "object", true, "`{candidate, sdpMid, sdpMLineIndex, usernameFragment?}`."),
            RELAY_COMMON[0], RELAY_COMMON[1], RELAY_COMMON[2], RELAY_COMMON[3],
        ],
    },
    MessageSpec {
        event: client::event::SEND_FORCE_CLOSE,
        direction: Direction::ClientToServer,
        doc: "`connection.close(true)`. Relayed to `dst` as `FORCE_CLOSE`.",
        bare: None,
        fields: &[f("dst", "string", true, "The remote peer."), f("connectionId", "string", false, "The connection to close.")],
    },
    MessageSpec {
        event: client::event::SEND_LEAVE,
        direction: Direction::ClientToServer,
        doc: "Defined by the SDK but never sent. Accepted and ignored.",
        bare: Some("none"),
        fields: &[],
    },
    MessageSpec {
        event: client::event::ROOM_JOIN,
        direction: Direction::ClientToServer,
        doc: "Join (or create) a room. Answered by `ROOM_USER_JOIN` to every member, the joiner included. A second join of the same room is answered to the joiner alone.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name, 1 to `max_room_name_len` bytes."), f("roomType", "string", true, "`mesh` or `sfu`; must match the room's type.")],
    },
    MessageSpec {
        event: client::event::ROOM_LEAVE,
        direction: Direction::ClientToServer,
        doc: "Leave a room. The other members get `ROOM_USER_LEAVE`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name.")],
    },
    MessageSpec {
        event: client::event::ROOM_GET_USERS,
        direction: Direction::ClientToServer,
        doc: "Ask for the member list. Answered by `ROOM_USERS`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("type", "string", true, "`media` or `data`, echoed back.")],
    },
    MessageSpec {
        event: client::event::ROOM_GET_LOGS,
        direction: Direction::ClientToServer,
        doc: "Ask for the room's log. Answered by `ROOM_LOGS`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name.")],
    },
    MessageSpec {
        event: client::event::ROOM_SEND_DATA,
        direction: Direction::ClientToServer,
        doc: "Data for the other members of a room (not echoed to the sender). May be a binary event whose attachments are relayed unchanged. At most `max_payload_bytes`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("data", "any", true, "Any JSON value; binary parts as placeholders.")],
    },
    MessageSpec {
        event: client::event::SFU_GET_OFFER,
        direction: Direction::ClientToServer,
        doc: "SFU rooms: ask the SFU for an offer. Handed to the server's media backend.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name.")],
    },
    MessageSpec {
        event: client::event::SFU_ANSWER,
        direction: Direction::ClientToServer,
        doc: "SFU rooms: the answer to an `SFU_OFFER`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("answer", "object", true, "`{type:\"answer\", sdp}`.")],
    },
    MessageSpec {
        event: client::event::SFU_CANDIDATE,
        direction: Direction::ClientToServer,
        doc: "SFU rooms: a trickled ICE candidate of the client.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("candidate", "object", true, "`{candidate, sdpMid, sdpMLineIndex, usernameFragment?}`.")],
    },
    MessageSpec {
        event: client::event::PING,
        direction: Direction::ClientToServer,
        doc: "Application keepalive every 25 s (`42[\"PING\",null]`). No reply.",
        bare: Some("null"),
        fields: &[],
    },
    MessageSpec {
        event: client::event::UPDATE_CREDENTIAL,
        direction: Direction::ClientToServer,
        doc: "A new credential for the same peer id. On success the session's expiry moves to `timestamp + ttl`; no reply. On failure `ERROR authentication`.",
        bare: None,
        fields: &[
            f("timestamp", "integer", true, "Unix seconds when the credential was made."),
            f("ttl", "integer", true, "Lifetime in seconds, 600 to 90000."),
            f("authToken", "string", true, "Base64(HMAC-SHA256(secret, \"{timestamp}:{ttl}:{peerId}\"))."),
        ],
    },
    MessageSpec {
        event: server::event::OPEN,
        direction: Direction::ServerToClient,
        doc: "The session is open (after the handshake, and again after a reconnect).",
        bare: None,
        fields: &[f("peerId", "string", true, "The requested or assigned peer id."), f("turnCredential", "object", false, "`{username, credential}` when the server hands out TURN credentials."), f("turnUrls", "string[]", false, "Extension (ignored by the SDK): this server's TURN URLs, sent with a credential."), f("resumed", "boolean", false, "Extension (ignored by the SDK): `true` when a reconnect resumed the session the server kept (rooms and contacts as they were); absent on a fresh session.")],
    },
    MessageSpec {
        event: server::event::ERROR,
        direction: Direction::ServerToClient,
        doc: "An error; see the error types below.",
        bare: None,
        fields: &[f("type", "string", true, "The error type."), f("message", "string", true, "Explanation.")],
    },
    MessageSpec {
        event: server::event::OFFER,
        direction: Direction::ServerToClient,
        doc: "A relayed `SEND_OFFER`: every field of the sender's payload, plus `src`.",
        bare: None,
        fields: &[f("src", "string", true, "The sender, set by the server (a client-sent `src` is overwritten)."), f("offer", "object", true, "As sent."), f("...", "any", false, "Every other field as sent.")],
    },
    MessageSpec {
        event: server::event::ANSWER,
        direction: Direction::ServerToClient,
        doc: "A relayed `SEND_ANSWER` plus `src`.",
        bare: None,
        fields: &[f("src", "string", true, "The sender, set by the server."), f("answer", "object", true, "As sent."), f("...", "any", false, "Every other field as sent.")],
    },
    MessageSpec {
        event: server::event::CANDIDATE,
        direction: Direction::ServerToClient,
        doc: "A relayed `SEND_CANDIDATE` plus `src`.",
        bare: None,
        fields: &[f("src", "string", true, "The sender, set by the server."), f("candidate", "object", true, "As sent."), f("...", "any", false, "Every other field as sent.")],
    },
    MessageSpec {
        event: server::event::FORCE_CLOSE,
        direction: Direction::ServerToClient,
        doc: "The remote peer closed a connection with `close(true)`.",
        bare: None,
        fields: &[f("src", "string", true, "The peer that closed."), f("dst", "string", true, "The receiver."), f("connectionId", "string", false, "The connection.")],
    },
    MessageSpec {
        event: server::event::LEAVE,
        direction: Direction::ServerToClient,
        doc: "A peer this peer exchanged offers, answers or candidates with has gone (destroyed, or its reconnect grace period ran out).",
        bare: Some("string: the peer id"),
        fields: &[],
    },
    MessageSpec {
        event: server::event::AUTH_EXPIRES_IN,
        direction: Direction::ServerToClient,
        doc: "The credential expires in this many seconds. Sent once when the remaining time first falls to `auth_expiry_warning_secs` (or at once when less remains); sent again after each `UPDATE_CREDENTIAL`.",
        bare: Some("integer: seconds"),
        fields: &[],
    },
    MessageSpec {
        event: server::event::ROOM_USER_JOIN,
        direction: Direction::ServerToClient,
        doc: "A peer joined a room. Sent to every member, the joiner included.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("src", "string", true, "The joiner."), f("roomMembers", "string[]", true, "All members after the join, in join order.")],
    },
    MessageSpec {
        event: server::event::ROOM_USER_LEAVE,
        direction: Direction::ServerToClient,
        doc: "A peer left a room (`ROOM_LEAVE`, destroy, or its grace period ran out). Sent to the remaining members.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("src", "string", true, "The peer that left.")],
    },
    MessageSpec {
        event: server::event::ROOM_USERS,
        direction: Direction::ServerToClient,
        doc: "The answer to `ROOM_GET_USERS`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("type", "string", true, "As asked."), f("userList", "string[]", true, "All members, the asker included.")],
    },
    MessageSpec {
        event: server::event::ROOM_DATA,
        direction: Direction::ServerToClient,
        doc: "Data a member sent with `ROOM_SEND_DATA`, to every other member. Binary attachments are kept.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("src", "string", true, "The sender."), f("data", "any", true, "As sent.")],
    },
    MessageSpec {
        event: server::event::ROOM_LOGS,
        direction: Direction::ServerToClient,
        doc: "The answer to `ROOM_GET_LOGS`. Each element is a JSON text `{\"messageType\":\"ROOM_USER_JOIN\"|\"ROOM_USER_LEAVE\"|\"ROOM_DATA\",\"message\":{...},\"timestamp\":<unix ms>}`, oldest first, the last `room_log_entries` events. In logged `ROOM_DATA` messages a binary attachment is written as `{\"_binary\":true,\"byteLength\":N}` and data whose JSON exceeds 4 KiB as `{\"_omitted\":true,\"byteLength\":N}`.",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("log", "string[]", true, "Log entries.")],
    },
    MessageSpec {
        event: server::event::SFU_OFFER,
        direction: Direction::ServerToClient,
        doc: "SFU rooms: an offer from the SFU (sent by the media backend).",
        bare: None,
        fields: &[f("roomName", "string", true, "Room name."), f("offer", "object", true, "`{type:\"offer\", sdp}`."), f("msids", "object", true, "Complete map of MediaStream id to peer id.")],
    },
];

/// Renders the catalogue as the Markdown of `docs/protocol.md`.
pub fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Signaling protocol of peer-server\n\n");
    out.push_str("<!-- Generated by `cargo xtask codegen` from crates/peer-protocol/src/catalog.rs. Do not edit. -->\n\n");
    out.push_str("Transport: Socket.IO protocol 4 over Engine.IO v3 at `/socket.io/` (long-polling and WebSocket). ");
    out.push_str("Every message is a Socket.IO event `42[\"EVENT\",payload]` on the root namespace; `ROOM_SEND_DATA` and ");
    out.push_str("`ROOM_DATA` may be binary events (`45N-[...]` plus N attachments). Events of one socket are handled in the order sent.\n\n");
    for (title, dir) in [
        ("Client to server", Direction::ClientToServer),
        ("Server to client", Direction::ServerToClient),
    ] {
        out.push_str(&format!("## {title}\n\n"));
        for m in MESSAGES.iter().filter(|m| m.direction == dir) {
            out.push_str(&format!("### `{}`\n\n{}\n\n", m.event, m.doc));
            if let Some(bare) = m.bare {
                out.push_str(&format!("Payload: {bare}.\n\n"));
            } else {
                out.push_str("| field | type | required | meaning |\n|---|---|---|---|\n");
                for field in m.fields {
                    let req = if field.required { "yes" } else { "no" };
                    out.push_str(&format!(
                        "| `{}` | {} | {} | {} |\n",
                        field.name, field.ty, req, field.doc
                    ));
                }
                out.push('\n');
            }
        }
    }
    out.push_str("## Error types\n\n`ERROR {type, message}`; the SDK emits it as the Peer's `error` event with that `type`.\n\n");
    out.push_str("| type | when |\n|---|---|\n");
    for t in ErrorType::ALL {
        out.push_str(&format!("| `{}` | {} |\n", t.as_str(), t.doc()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::*;
    use crate::socketio::Event;
    use serde_json::{json, Value};

    fn spec(event: &str) -> &'static MessageSpec {
        MESSAGES
            .iter()
            .find(|m| m.event == event)
            .unwrap_or_else(|| panic!("{event} missing from catalog"))
    }

    /// Every server message type serializes to exactly the catalogued object fields.
    #[test]
    fn server_messages_match_catalog() {
        let samples = vec![
            ServerMessage::Open(Open {
                peer_id: "a".into(),
                turn_credential: Some(TurnCredential {
                    username: "u".into(),
                    credential: "c".into(),
                }),
                turn_urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
                resumed: true,
            }),
            ServerMessage::error(ErrorType::RoomError, "x"),
            ServerMessage::ForceClose(ForceClose {
                src: "a".into(),
                dst: "b".into(),
                connection_id: Some("dc_1".into()),
            }),
            ServerMessage::RoomUserJoin(RoomUserJoin {
                room_name: "r".into(),
                src: "a".into(),
                room_members: vec![],
            }),
            ServerMessage::RoomUserLeave(RoomUserLeave {
                room_name: "r".into(),
                src: "a".into(),
            }),
            ServerMessage::RoomUsers(RoomUsers {
                room_name: "r".into(),
                kind: "media".into(),
                user_list: vec![],
            }),
            ServerMessage::RoomData(RoomData {
                room_name: "r".into(),
                src: "a".into(),
                data: crate::RawJson::from_value(&json!(1)).unwrap(),
                attachments: vec![],
            }),
            ServerMessage::RoomLogs(RoomLogs {
                room_name: "r".into(),
                log: vec![],
            }),
            ServerMessage::SfuOffer(SfuOffer {
                room_name: "r".into(),
                offer: crate::rtc::SessionDescription::offer("v=0"),
                msids: Default::default(),
            }),
        ];
        for m in samples {
            let s = spec(m.event_name());
            let Value::Object(obj) = m.payload() else {
                panic!("{} is not an object", m.event_name())
            };
            // JSON objects are unordered; compare the sets of field names.
            let mut names: Vec<&str> = s.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, names, "{}", m.event_name());
        }
        assert!(spec(ServerMessage::Leave("a".into()).event_name())
            .bare
            .is_some());
        assert!(spec(ServerMessage::AuthExpiresIn(1).event_name())
            .bare
            .is_some());
    }

    /// A payload built from the catalogued required fields parses as that client message, and
    /// dropping any required field makes it fail.
    #[test]
    fn client_messages_match_catalog() {
        for m in MESSAGES
            .iter()
            .filter(|m| m.direction == Direction::ClientToServer)
        {
            let sample = |skip: Option<&str>| -> Value {
                if m.bare.is_some() {
                    return Value::Null;
                }
                let mut obj = serde_json::Map::new();
                for field in m
                    .fields
                    .iter()
                    .filter(|f| f.required && Some(f.name) != skip)
                {
                    let v = match (field.name, field.ty) {
                        ("roomType", _) => json!("mesh"),
                        ("type", _) => json!("media"),
                        ("answer", "object") => json!({"type": "answer", "sdp": "v=0"}),
                        ("candidate", "object") => json!({"candidate": "c"}),
                        (_, "string") => json!("x"),
                        (_, "object") => json!({}),
                        (_, "integer") => json!(1),
                        _ => json!(null),
                    };
                    obj.insert(field.name.into(), v);
                }
                Value::Object(obj)
            };
            let parsed = crate::client::ClientMessage::parse(Event::new(
                m.event,
                sample(None).to_string(),
                vec![],
            ));
            let parsed = parsed.unwrap_or_else(|e| panic!("{}: {e}", m.event));
            assert_eq!(parsed.event_name(), m.event);
            for field in m
                .fields
                .iter()
                .filter(|f| f.required && f.ty != "any" && m.event != "UPDATE_CREDENTIAL")
            {
                let r = crate::client::ClientMessage::parse(Event::new(
                    m.event,
                    sample(Some(field.name)).to_string(),
                    vec![],
                ));
                if field.name != "connectionId" && field.name != "connectionType" {
                    assert!(r.is_err(), "{} without {} should fail", m.event, field.name);
                }
            }
        }
    }

    #[test]
    fn every_error_type_is_documented() {
        let md = render_markdown();
        for t in ErrorType::ALL {
            assert!(md.contains(&format!("`{}`", t.as_str())));
        }
    }
}
