//! Messages the SDK sends to the server (`MESSAGE_TYPES.CLIENT`), parsed from Socket.IO events.

use crate::raw::RawJson;
use crate::rtc::{IceCandidate, SessionDescription};
use crate::socketio::Event;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The destination peer id.
    pub dst: String,
    /// The room the relay belongs to (mesh rooms), if any.
    pub room_name: Option<String>,
    /// The payload object as JSON text, every field kept except a client-sent `src`.
    pub body: String,
}

impl Relay {
    /// The payload with `src` set, as the JSON text to relay. `body` is an object without `src`,
    /// so `src` is spliced in before the closing brace without re-encoding the rest.
    pub fn with_src(&self, src: &str) -> Box<RawValue> {
        let body = self.body.trim();
        let inner = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .unwrap_or("")
            .trim();
        let src = serde_json::to_string(src).unwrap_or_else(|_| "\"\"".into());
        let text = if inner.is_empty() {
            format!("{{\"src\":{src}}}")
        } else {
            format!("{{{inner},\"src\":{src}}}")
        };
        // `inner` comes from a JSON object and `src` is a JSON string: the result is JSON.
        RawValue::from_string(text).unwrap_or_else(|_| empty_object())
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
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
    /// The data as JSON text, placeholders included (relayed as it is, never built into a tree
    /// by the server).
    pub data: RawJson,
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
    pub answer: SessionDescription,
}

/// `SFU_CANDIDATE {roomName, candidate}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SfuCandidate {
    /// The room name.
    pub room_name: String,
    /// `{candidate, sdpMid, sdpMLineIndex, usernameFragment?}`.
    pub candidate: IceCandidate,
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
    /// `UPDATE_CREDENTIAL`: the credential object as the app passed it, as JSON text.
    UpdateCredential(RawJson),
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
    /// Parses an event. Attachments are accepted only by `ROOM_SEND_DATA`. No JSON tree is
    /// built: relays keep their payload text (minus a client-sent `src`), room data is kept as
    /// text, and the other events are read into typed structs. The event's text must have
    /// passed [`crate::json_scan::scan`] (as [`crate::socketio::SioPacket::into_event`] does).
    pub fn parse(event: Event) -> Result<ClientMessage, MessageError> {
        let payload = event.payload_json();
        let name = event.name.as_str();
        let err = |reason: String| MessageError {
            event: name.to_owned(),
            reason,
        };
        if !event.attachments.is_empty() && name != event::ROOM_SEND_DATA {
            return Err(err(
                "binary attachments are accepted only by ROOM_SEND_DATA".into(),
            ));
        }
        fn typed<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        let msg = match name {
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
                if !is_object(payload) {
                    return Err(err("payload must be an object".into()));
                }
                #[derive(Deserialize)]
                struct Wire<'a> {
                    #[serde(rename = "roomName")]
                    room_name: Option<Cow<'a, str>>,
                    #[serde(borrow, default)]
                    data: Option<&'a RawValue>,
                }
                let wire: Wire<'_> = typed(payload).map_err(err)?;
                let Some(room_name) = wire.room_name else {
                    return Err(err("roomName must be a string".into()));
                };
                let data = match wire.data {
                    Some(raw) => RawJson(raw.to_owned()),
                    None => RawJson::null(),
                };
                ClientMessage::RoomSendData(RoomSendData {
                    room_name: room_name.into_owned(),
                    data,
                    attachments: event.attachments.clone(),
                })
            }
            event::SFU_GET_OFFER => ClientMessage::SfuGetOffer(typed(payload).map_err(err)?),
            event::SFU_ANSWER => ClientMessage::SfuAnswer(typed(payload).map_err(err)?),
            event::SFU_CANDIDATE => ClientMessage::SfuCandidate(typed(payload).map_err(err)?),
            event::PING => ClientMessage::Ping,
            event::UPDATE_CREDENTIAL => {
                if !is_object(payload) {
                    return Err(err("credential must be an object".into()));
                }
                ClientMessage::UpdateCredential(
                    RawJson::from_text(payload.to_owned()).map_err(|e| err(e.to_string()))?,
                )
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

fn is_object(json: &str) -> bool {
    json.trim_start().starts_with('{')
}

/// Reads a relay payload in one pass over its top-level entries: the routing fields are checked
/// and every entry but `src` is copied, as text and in order, into the body to relay. Values are
/// never parsed beyond their extent.
fn parse_relay(payload: &str, required: &'static str) -> Result<Relay, String> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    if !is_object(payload) {
        return Err("payload must be an object".into());
    }
    struct Entries {
        required: &'static str,
    }
    #[derive(Default)]
    struct Found {
        body: String,
        dst: Option<String>,
        room_name: Option<String>,
        dst_problem: bool,
        required_is_object: bool,
        problem: Option<String>,
    }
    impl<'de> Visitor<'de> for Entries {
        type Value = Found;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
            let mut found = Found {
                body: String::from("{"),
                ..Found::default()
            };
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let value: &'de RawValue = map.next_value()?;
                let text = value.get();
                match key.as_ref() {
                    // A client never chooses its `src`: the server sets it.
                    "src" => continue,
                    "dst" => match serde_json::from_str::<String>(text) {
                        Ok(dst) => found.dst = Some(dst),
                        Err(_) => found.dst_problem = true,
                    },
                    "roomName" => match serde_json::from_str::<Option<String>>(text) {
                        Ok(room) => found.room_name = room,
                        Err(_) => found.problem = Some("roomName must be a string".into()),
                    },
                    "connectionId" if !text.starts_with('"') => {
                        found.problem = Some("connectionId must be a string".into());
                    }
                    k if k == self.required => found.required_is_object = text.starts_with('{'),
                    _ => {}
                }
                if found.body.len() > 1 {
                    found.body.push(',');
                }
                // Keys are re-escaped; values are copied as they came.
                found.body.push_str(
                    &serde_json::to_string(key.as_ref()).map_err(serde::de::Error::custom)?,
                );
                found.body.push(':');
                found.body.push_str(text);
            }
            found.body.push('}');
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(payload);
    let found = de
        .deserialize_map(Entries { required })
        .map_err(|e| e.to_string())?;
    let (Some(dst), false) = (found.dst, found.dst_problem) else {
        return Err("dst must be a string".into());
    };
    if !found.required_is_object {
        return Err(format!("{required} must be an object"));
    }
    if let Some(problem) = found.problem {
        return Err(problem);
    }
    Ok(Relay {
        dst,
        room_name: found.room_name,
        body: found.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ev(name: &str, payload: Value) -> Event {
        Event::new(name, payload.to_string(), vec![])
    }

    fn parse_text(text: &str) -> Result<ClientMessage, String> {
        let (packet, _) = crate::socketio::parse_packet(text, 4).map_err(|e| e.to_string())?;
        let event = packet.into_event().map_err(|e| e.to_string())?;
        ClientMessage::parse(event).map_err(|e| e.to_string())
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
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap(), payload);
        let mut expected = payload;
        expected["src"] = json!("alice");
        assert_eq!(
            serde_json::from_str::<Value>(r.with_src("alice").get()).unwrap(),
            expected
        );
    }

    #[test]
    fn relays_keep_text_order_and_numbers_and_drop_src() {
        let text = r#"2["SEND_CANDIDATE",{ "candidate" : {"candidate":"c"} , "src":"forged", "dst":"b c", "roomName":"r", "n": 1.50e300, "é":"\u00e9" }]"#;
        let Ok(ClientMessage::SendCandidate(r)) = parse_text(text) else {
            panic!("not a candidate")
        };
        assert_eq!((r.dst.as_str(), r.room_name.as_deref()), ("b c", Some("r")));
        assert_eq!(
            r.body,
            r#"{"candidate":{"candidate":"c"},"dst":"b c","roomName":"r","n":1.50e300,"é":"\u00e9"}"#
        );
        let Ok(ClientMessage::SendAnswer(r)) =
            parse_text(r#"2["SEND_ANSWER",{"answer":{},"dst":"x","roomName":null}]"#)
        else {
            panic!("not an answer")
        };
        assert_eq!(r.room_name, None);
    }

    #[test]
    fn deep_values_are_refused_everywhere() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for event in ["SEND_OFFER", "ROOM_SEND_DATA", "ROOM_JOIN", "NOPE"] {
            let text = format!(
                r#"2["{event}",{{"offer":{{}},"dst":"b","roomName":"r","data":{deep},"x":{deep}}}]"#
            );
            assert!(parse_text(&text).unwrap_err().contains("deeper"), "{event}");
        }
    }

    #[test]
    fn room_data_is_kept_as_text() {
        let text = r#"2["ROOM_SEND_DATA",{"roomName":"r","data":[{"a":1},{"b":2}],"extra":true}]"#;
        let Ok(ClientMessage::RoomSendData(d)) = parse_text(text) else {
            panic!("not room data")
        };
        assert_eq!(
            (d.room_name.as_str(), d.data.get()),
            ("r", r#"[{"a":1},{"b":2}]"#)
        );
        let Ok(ClientMessage::RoomSendData(d)) =
            parse_text(r#"2["ROOM_SEND_DATA",{"roomName":"r"}]"#)
        else {
            panic!("not room data")
        };
        assert_eq!(d.data.get(), "null");
    }

    #[test]
    fn rejects_wrong_types() {
        for (name, payload) in [
            ("SEND_OFFER", json!({"dst": 1, "offer": {}})),
            ("SEND_OFFER", json!({"dst": "a"})),
            ("SEND_OFFER", json!({"dst": "a", "offer": 1})),
            (
                "SEND_OFFER",
                json!({"dst": "a", "offer": {}, "connectionId": 7}),
            ),
            (
                "SEND_OFFER",
                json!({"dst": "a", "offer": {}, "roomName": 7}),
            ),
            ("SEND_OFFER", json!(["b"])),
            ("SEND_ANSWER", json!("x")),
            ("ROOM_JOIN", json!({"roomName": "r", "roomType": "star"})),
            ("ROOM_JOIN", json!({"roomName": 5, "roomType": "mesh"})),
            ("ROOM_SEND_DATA", json!({"data": 1})),
            ("ROOM_SEND_DATA", json!({"roomName": 1, "data": 1})),
            (
                "SFU_ANSWER",
                json!({"roomName": "r", "answer": {"type": "answer"}}),
            ),
            ("SFU_CANDIDATE", json!({"roomName": "r", "candidate": 5})),
            ("UPDATE_CREDENTIAL", json!(3)),
            ("NOPE", json!({})),
        ] {
            assert!(
                ClientMessage::parse(ev(name, payload.clone())).is_err(),
                "{name} {payload}"
            );
        }
    }

    #[test]
    fn attachments_only_for_room_data() {
        let mut e = ev("SEND_OFFER", json!({"dst": "a", "offer": {}}));
        e.attachments.push(Bytes::from_static(b"x"));
        assert!(ClientMessage::parse(e).is_err());
    }
}
