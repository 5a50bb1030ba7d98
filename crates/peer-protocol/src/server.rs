//! Messages the server sends to the SDK (`MESSAGE_TYPES.SERVER`), encoded as Socket.IO events.

use crate::engineio::Frame;
use crate::error_type::ErrorType;
use crate::rtc::SessionDescription;
use crate::socketio::{encode_event, encode_event_sized};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Event names of server messages.
pub mod event {
    /// The session is open.
    pub const OPEN: &str = "OPEN";
    /// An error.
    pub const ERROR: &str = "ERROR";
    /// A relayed offer.
    pub const OFFER: &str = "OFFER";
    /// A relayed answer.
    pub const ANSWER: &str = "ANSWER";
    /// A relayed ICE candidate.
    pub const CANDIDATE: &str = "CANDIDATE";
    /// A peer went away.
    pub const LEAVE: &str = "LEAVE";
    /// The credential expires soon.
    pub const AUTH_EXPIRES_IN: &str = "AUTH_EXPIRES_IN";
    /// A room's log.
    pub const ROOM_LOGS: &str = "ROOM_LOGS";
    /// A room's members.
    pub const ROOM_USERS: &str = "ROOM_USERS";
    /// Data from a room member.
    pub const ROOM_DATA: &str = "ROOM_DATA";
    /// A peer joined a room.
    pub const ROOM_USER_JOIN: &str = "ROOM_USER_JOIN";
    /// A peer left a room.
    pub const ROOM_USER_LEAVE: &str = "ROOM_USER_LEAVE";
    /// An offer from the SFU.
    pub const SFU_OFFER: &str = "SFU_OFFER";
    /// The remote side closed a connection.
    pub const FORCE_CLOSE: &str = "FORCE_CLOSE";
}

/// `OPEN {peerId, turnCredential?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    /// The peer's id (requested or assigned).
    pub peer_id: String,
    /// TURN credentials, when the server hands them out.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub turn_credential: Option<TurnCredential>,
    /// Where this server's TURN listens (`turn:HOST:PORT?transport=udp|tcp`), sent with a
    /// credential. An extension the SDK ignores; Rust peers use it.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub turn_urls: Vec<String>,
    /// `true` when this `OPEN` resumes a session the server kept through a reconnect (the
    /// peer's rooms and contacts are as they were); absent on a fresh session, after which a
    /// reconnecting client joins its rooms again. An extension the SDK ignores.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub resumed: bool,
}

/// `{username, credential}` for the SDK's TURN entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCredential {
    /// TURN username.
    pub username: String,
    /// TURN password.
    pub credential: String,
}

/// `ERROR {type, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// A human-readable explanation.
    pub message: String,
}

/// `ROOM_LOGS {roomName, log}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomLogs {
    /// The room name.
    pub room_name: String,
    /// Log entries, each a JSON text `{"messageType","message","timestamp"}`.
    pub log: Vec<String>,
}

/// `ROOM_USERS {roomName, type, userList}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomUsers {
    /// The room name.
    pub room_name: String,
    /// `media` or `data`, as asked.
    #[serde(rename = "type")]
    pub kind: String,
    /// Every member id, the asker included.
    pub user_list: Vec<String>,
}

/// `ROOM_DATA {roomName, src, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomData {
    /// The room name.
    pub room_name: String,
    /// The sender.
    pub src: String,
    /// The data as JSON text, placeholders included.
    pub data: RawJson,
    /// Binary attachments the placeholders in `data` refer to.
    #[serde(skip)]
    pub attachments: Vec<Bytes>,
}

/// `ROOM_USER_JOIN {roomName, src, roomMembers}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomUserJoin {
    /// The room name.
    pub room_name: String,
    /// The peer that joined.
    pub src: String,
    /// Every member id after the join, the joiner included, in join order.
    pub room_members: Vec<String>,
}

/// `ROOM_USER_LEAVE {roomName, src}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomUserLeave {
    /// The room name.
    pub room_name: String,
    /// The peer that left.
    pub src: String,
}

/// `SFU_OFFER {roomName, offer, msids}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SfuOffer {
    /// The room name.
    pub room_name: String,
    /// `{type:"offer", sdp}`.
    pub offer: SessionDescription,
    /// The complete map from MediaStream id to peer id.
    pub msids: Map<String, Value>,
}

/// `FORCE_CLOSE {src, dst, connectionId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForceClose {
    /// The peer that closed.
    pub src: String,
    /// The receiver.
    pub dst: String,
    /// The connection closed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection_id: Option<String>,
}

pub use crate::raw::RawJson;

/// A message to the SDK.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `OPEN`.
    Open(Open),
    /// `ERROR`.
    Error(ErrorMessage),
    /// `OFFER`: the sender's `SEND_OFFER` payload plus `src`, as JSON text.
    Offer(RawJson),
    /// `ANSWER`: the sender's `SEND_ANSWER` payload plus `src`, as JSON text.
    Answer(RawJson),
    /// `CANDIDATE`: the sender's `SEND_CANDIDATE` payload plus `src`, as JSON text.
    Candidate(RawJson),
    /// `LEAVE "<peerId>"`.
    Leave(String),
    /// `AUTH_EXPIRES_IN <seconds>`.
    AuthExpiresIn(u64),
    /// `ROOM_LOGS`.
    RoomLogs(RoomLogs),
    /// `ROOM_USERS`.
    RoomUsers(RoomUsers),
    /// `ROOM_DATA`.
    RoomData(RoomData),
    /// `ROOM_USER_JOIN`.
    RoomUserJoin(RoomUserJoin),
    /// `ROOM_USER_LEAVE`.
    RoomUserLeave(RoomUserLeave),
    /// `SFU_OFFER`.
    SfuOffer(SfuOffer),
    /// `FORCE_CLOSE`.
    ForceClose(ForceClose),
}

impl ServerMessage {
    /// An `ERROR` message.
    pub fn error(kind: ErrorType, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error(ErrorMessage {
            kind,
            message: message.into(),
        })
    }

    /// The event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            ServerMessage::Open(_) => event::OPEN,
            ServerMessage::Error(_) => event::ERROR,
            ServerMessage::Offer(_) => event::OFFER,
            ServerMessage::Answer(_) => event::ANSWER,
            ServerMessage::Candidate(_) => event::CANDIDATE,
            ServerMessage::Leave(_) => event::LEAVE,
            ServerMessage::AuthExpiresIn(_) => event::AUTH_EXPIRES_IN,
            ServerMessage::RoomLogs(_) => event::ROOM_LOGS,
            ServerMessage::RoomUsers(_) => event::ROOM_USERS,
            ServerMessage::RoomData(_) => event::ROOM_DATA,
            ServerMessage::RoomUserJoin(_) => event::ROOM_USER_JOIN,
            ServerMessage::RoomUserLeave(_) => event::ROOM_USER_LEAVE,
            ServerMessage::SfuOffer(_) => event::SFU_OFFER,
            ServerMessage::ForceClose(_) => event::FORCE_CLOSE,
        }
    }

    /// The JSON payload as sent (placeholders included for `ROOM_DATA`).
    pub fn payload(&self) -> Value {
        fn to<T: Serialize>(v: &T) -> Value {
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        match self {
            ServerMessage::Open(m) => to(m),
            ServerMessage::Error(m) => to(m),
            ServerMessage::Offer(m) | ServerMessage::Answer(m) | ServerMessage::Candidate(m) => {
                serde_json::from_str(m.0.get()).unwrap_or(Value::Null)
            }
            ServerMessage::Leave(id) => Value::String(id.clone()),
            ServerMessage::AuthExpiresIn(s) => Value::from(*s),
            ServerMessage::RoomLogs(m) => to(m),
            ServerMessage::RoomUsers(m) => to(m),
            ServerMessage::RoomData(m) => to(m),
            ServerMessage::RoomUserJoin(m) => to(m),
            ServerMessage::RoomUserLeave(m) => to(m),
            ServerMessage::SfuOffer(m) => to(m),
            ServerMessage::ForceClose(m) => to(m),
        }
    }

    /// Encodes the message as engine frames (one text frame, plus binary frames for attachments).
    pub fn encode(&self) -> Vec<Frame> {
        let name = self.event_name();
        match self {
            ServerMessage::Open(m) => encode_event(name, m, &[]),
            ServerMessage::Error(m) => encode_event(name, m, &[]),
            ServerMessage::Offer(m) | ServerMessage::Answer(m) | ServerMessage::Candidate(m) => {
                encode_event_sized(name, m, &[], m.get().len())
            }
            ServerMessage::Leave(id) => encode_event(name, id, &[]),
            ServerMessage::AuthExpiresIn(s) => encode_event(name, s, &[]),
            ServerMessage::RoomLogs(m) => encode_event(name, m, &[]),
            ServerMessage::RoomUsers(m) => encode_event(name, m, &[]),
            ServerMessage::RoomData(m) => encode_event_sized(
                name,
                m,
                &m.attachments,
                m.data.get().len() + m.room_name.len() + m.src.len() + 40,
            ),
            ServerMessage::RoomUserJoin(m) => encode_event(name, m, &[]),
            ServerMessage::RoomUserLeave(m) => encode_event(name, m, &[]),
            ServerMessage::SfuOffer(m) => encode_event(name, m, &[]),
            ServerMessage::ForceClose(m) => encode_event(name, m, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn open_matches_trace() {
        let m = ServerMessage::Open(Open {
            peer_id: "alice-mwwcdy5l0".into(),
            turn_credential: None,
            turn_urls: Vec::new(),
            resumed: false,
        });
        assert_eq!(
            m.encode()[0].as_bytes(),
            b"42[\"OPEN\",{\"peerId\":\"alice-mwwcdy5l0\"}]"
        );
    }

    #[test]
    fn leave_and_expiry_are_bare_values() {
        assert_eq!(
            ServerMessage::Leave("bob".into()).encode()[0].as_bytes(),
            b"42[\"LEAVE\",\"bob\"]"
        );
        assert_eq!(
            ServerMessage::AuthExpiresIn(60).encode()[0].as_bytes(),
            b"42[\"AUTH_EXPIRES_IN\",60]"
        );
    }

    #[test]
    fn error_uses_type_string() {
        let m = ServerMessage::error(ErrorType::PeerUnavailable, "no such peer");
        assert_eq!(
            m.payload(),
            json!({"type": "peer-unavailable", "message": "no such peer"})
        );
    }
}
