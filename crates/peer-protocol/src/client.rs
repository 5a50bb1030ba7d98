//! Messages the SDK sends to the server (`MESSAGE_TYPES.CLIENT`), parsed from Socket.IO events.

use crate::socketio::Event;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Event names of client messages.
pub mod event {
    /// Offer relay.
    pub const SEND_OFFER: &str = "SEND_OFFER";
    /// Answer relay.
    pub const SEND_ANSWER: &str = "SEND_ANSWER";
    /// ICE candidate relay.
    pub const SEND_CANDIDATE: &str = "SEND_CANDIDATE";
    /// Defined by the SDK, never sent.
    pub const SEND_LEAVE: &str = "SEND_LEAVE";
    /// Join a room.
    pub const ROOM_JOIN: &str = "ROOM_JOIN";
    /// Leave a room.
    pub const ROOM_LEAVE: &str = "ROOM_LEAVE";
    /// Ask for a room's log.
    pub const ROOM_GET_LOGS: &str = "ROOM_GET_LOGS";
    /// Ask for a room's members.
    pub const ROOM_GET_USERS: &str = "ROOM_GET_USERS";
    /// Send data to the other members of a room.
    pub const ROOM_SEND_DATA: &str = "ROOM_SEND_DATA";
    /// Ask the SFU for an offer.
    pub const SFU_GET_OFFER: &str = "SFU_GET_OFFER";
    /// Answer an SFU offer.
    pub const SFU_ANSWER: &str = "SFU_ANSWER";
    /// ICE candidate for the SFU.
    pub const SFU_CANDIDATE: &str = "SFU_CANDIDATE";
    /// Application keepalive.
    pub const PING: &str = "PING";
    /// Renew the credential.
    pub const UPDATE_CREDENTIAL: &str = "UPDATE_CREDENTIAL";
    /// Close a connection on the remote side too.
    pub const SEND_FORCE_CLOSE: &str = "SEND_FORCE_CLOSE";
}

/// The room topology requested by `ROOM_JOIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    /// Full mesh: members connect to each other P2P.
    Mesh,
    /// Selective forwarding unit: members connect to the server.
    Sfu,
}

impl RoomType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomType::Mesh => "mesh",
            RoomType::Sfu => "sfu",
        }
    }
}

/// `SEND_OFFER`, `SEND_ANSWER`, `SEND_CANDIDATE`: relayed to `dst` with every field kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    /// The destination peer id.
    pub dst: String,
    /// The room the relay belongs to (mesh rooms), if any.
    pub room_name: Option<String>,
    /// The whole payload object as received; the server adds `src` before relaying.
    pub body: Map<String, Value>,
}

/// `ROOM_JOIN {roomName, roomType}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomJoin {
    /// The room name.
    pub room_name: String,
    /// `mesh` or `sfu`.
    pub room_type: RoomType,
}

/// A payload that names only a room: `ROOM_LEAVE`, `ROOM_GET_LOGS`, `SFU_GET_OFFER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef {
    /// The room name.
    pub room_name: String,
}

/// `ROOM_GET_USERS {roomName, type}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomGetUsers {
    /// The room name.
    pub room_name: String,
    /// `media` or `data`: echoed in `ROOM_USERS`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `ROOM_SEND_DATA {roomName, data}`: data is any JSON, with binary placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSendData {
    /// The room name.
    pub room_name: String,
    /// The data, placeholders included.
    pub data: Value,
    /// The binary attachments the placeholders refer to.
    pub attachments: Vec<Bytes>,
}

/// `SFU_ANSWER {roomName, answer}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SfuAnswer {
    /// The room name.
    pub room_name: String,
    /// `{type:"answer", sdp}`.
    pub answer: Value,
}

/// `SFU_CANDIDATE {roomName, candidate}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SfuCandidate {
    /// The room name.
    pub room_name: String,
    /// `{candidate, sdpMid, sdpMLineIndex, usernameFragment?}`.
    pub candidate: Value,
}

/// `SEND_FORCE_CLOSE {dst, connectionId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForceCloseRequest {
    /// The remote peer.
    pub dst: String,
    /// The connection to close.
    #[serde(default)]
    pub connection_id: Option<String>,
}

/// A message from the SDK.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `SEND_OFFER`.
    SendOffer(Relay),
    /// `SEND_ANSWER`.
    SendAnswer(Relay),
    /// `SEND_CANDIDATE`.
    SendCandidate(Relay),
    /// `SEND_LEAVE` (never sent by 4.4.5; accepted and ignored).
    SendLeave,
    /// `ROOM_JOIN`.
    RoomJoin(RoomJoin),
    /// `ROOM_LEAVE`.
    RoomLeave(RoomRef),
    /// `ROOM_GET_LOGS`.
    RoomGetLogs(RoomRef),
    /// `ROOM_GET_USERS`.
    RoomGetUsers(RoomGetUsers),
    /// `ROOM_SEND_DATA`.
    RoomSendData(RoomSendData),
    /// `SFU_GET_OFFER`.
    SfuGetOffer(RoomRef),
    /// `SFU_ANSWER`.
    SfuAnswer(SfuAnswer),
    /// `SFU_CANDIDATE`.
    SfuCandidate(SfuCandidate),
    /// `PING`.
    Ping,
    /// `UPDATE_CREDENTIAL`: the credential object as the app passed it.
    UpdateCredential(Value),
    /// `SEND_FORCE_CLOSE`.
    SendForceClose(ForceCloseRequest),
}

/// Why an event is not a valid client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// The event name as received.
    pub event: String,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.event, self.reason)
    }
}

impl std::error::Error for MessageError {}

impl ClientMessage {
    /// Parses an event. Attachments are accepted only by `ROOM_SEND_DATA`.
    pub fn parse(event: Event) -> Result<ClientMessage, MessageError> {
        let Event {
            name,
            payload,
            attachments,
        } = event;
        let err = |reason: String| MessageError {
            event: name.clone(),
            reason,
        };
        if !attachments.is_empty() && name != event::ROOM_SEND_DATA {
            return Err(err(
                "binary attachments are accepted only by ROOM_SEND_DATA".into(),
            ));
        }
        fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let msg = match name.as_str() {
            event::SEND_OFFER => {
                ClientMessage::SendOffer(parse_relay(payload, "offer").map_err(err)?)
            }
            event::SEND_ANSWER => {
                ClientMessage::SendAnswer(parse_relay(payload, "answer").map_err(err)?)
            }
            event::SEND_CANDIDATE => {
                ClientMessage::SendCandidate(parse_relay(payload, "candidate").map_err(err)?)
            }
            event::SEND_LEAVE => ClientMessage::SendLeave,
            event::ROOM_JOIN => ClientMessage::RoomJoin(typed(payload).map_err(err)?),
            event::ROOM_LEAVE => ClientMessage::RoomLeave(typed(payload).map_err(err)?),
            event::ROOM_GET_LOGS => ClientMessage::RoomGetLogs(typed(payload).map_err(err)?),
            event::ROOM_GET_USERS => ClientMessage::RoomGetUsers(typed(payload).map_err(err)?),
            event::ROOM_SEND_DATA => {
                let Value::Object(mut map) = payload else {
                    return Err(err("payload must be an object".into()));
                };
                let room_name = match map.remove("roomName") {
                    Some(Value::String(s)) => s,
                    _ => return Err(err("roomName must be a string".into())),
                };
                let data = map.remove("data").unwrap_or(Value::Null);
                ClientMessage::RoomSendData(RoomSendData {
                    room_name,
                    data,
                    attachments,
                })
            }
            event::SFU_GET_OFFER => ClientMessage::SfuGetOffer(typed(payload).map_err(err)?),
            event::SFU_ANSWER => ClientMessage::SfuAnswer(typed(payload).map_err(err)?),
            event::SFU_CANDIDATE => ClientMessage::SfuCandidate(typed(payload).map_err(err)?),
            event::PING => ClientMessage::Ping,
            event::UPDATE_CREDENTIAL => {
                if !payload.is_object() {
                    return Err(err("credential must be an object".into()));
                }
                ClientMessage::UpdateCredential(payload)
            }
            event::SEND_FORCE_CLOSE => ClientMessage::SendForceClose(typed(payload).map_err(err)?),
            _ => return Err(err("unknown event".into())),
        };
        Ok(msg)
    }

    /// The event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            ClientMessage::SendOffer(_) => event::SEND_OFFER,
            ClientMessage::SendAnswer(_) => event::SEND_ANSWER,
            ClientMessage::SendCandidate(_) => event::SEND_CANDIDATE,
            ClientMessage::SendLeave => event::SEND_LEAVE,
            ClientMessage::RoomJoin(_) => event::ROOM_JOIN,
            ClientMessage::RoomLeave(_) => event::ROOM_LEAVE,
            ClientMessage::RoomGetLogs(_) => event::ROOM_GET_LOGS,
            ClientMessage::RoomGetUsers(_) => event::ROOM_GET_USERS,
            ClientMessage::RoomSendData(_) => event::ROOM_SEND_DATA,
            ClientMessage::SfuGetOffer(_) => event::SFU_GET_OFFER,
            ClientMessage::SfuAnswer(_) => event::SFU_ANSWER,
            ClientMessage::SfuCandidate(_) => event::SFU_CANDIDATE,
            ClientMessage::Ping => event::PING,
            ClientMessage::UpdateCredential(_) => event::UPDATE_CREDENTIAL,
            ClientMessage::SendForceClose(_) => event::SEND_FORCE_CLOSE,
        }
    }
}

fn parse_relay(payload: Value, required: &str) -> Result<Relay, String> {
    let Value::Object(body) = payload else {
        return Err("payload must be an object".into());
    };
    let dst = match body.get("dst") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("dst must be a string".into()),
    };
    if !body.get(required).is_some_and(Value::is_object) {
        return Err(format!("{required} must be an object"));
    }
    let room_name = match body.get("roomName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("roomName must be a string".into()),
    };
    match body.get("connectionId") {
        None | Some(Value::String(_)) => {}
        Some(_) => return Err("connectionId must be a string".into()),
    }
    Ok(Relay {
        dst,
        room_name,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(name: &str, payload: Value) -> Event {
        Event {
            name: name.into(),
            payload,
            attachments: vec![],
        }
    }

    #[test]
    fn parses_relays_and_keeps_fields() {
        let payload = json!({"offer": {"type": "offer", "sdp": "v=0"}, "dst": "bob", "connectionId": "dc_1",
            "connectionType": "data", "metadata": {"x": 1}, "serialization": "binary", "label": "l", "dcInit": {}});
        let ClientMessage::SendOffer(r) =
            ClientMessage::parse(ev("SEND_OFFER", payload.clone())).unwrap()
        else {
            panic!("not an offer")
        };
        assert_eq!(r.dst, "bob");
        assert_eq!(Value::Object(r.body), payload);
    }

    #[test]
    fn rejects_wrong_types() {
        for (name, payload) in [
            ("SEND_OFFER", json!({"dst": 1, "offer": {}})),
            ("SEND_OFFER", json!({"dst": "a"})),
            ("SEND_ANSWER", json!("x")),
            ("ROOM_JOIN", json!({"roomName": "r", "roomType": "star"})),
            ("ROOM_JOIN", json!({"roomName": 5, "roomType": "mesh"})),
            ("ROOM_SEND_DATA", json!({"data": 1})),
            ("UPDATE_CREDENTIAL", json!(3)),
            ("NOPE", json!({})),
        ] {
            assert!(ClientMessage::parse(ev(name, payload)).is_err(), "{name}");
        }
    }

    #[test]
    fn attachments_only_for_room_data() {
        let mut e = ev("SEND_OFFER", json!({"dst": "a", "offer": {}}));
        e.attachments.push(Bytes::from_static(b"x"));
        assert!(ClientMessage::parse(e).is_err());
    }
}
