//! Messages the SDK sends to the server (`MESSAGE_TYPES.CLIENT`), parsed from Socket.IO events.

use crate::socketio::Event;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
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
    let Value::Object(mut body) = payload else {
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
    // A client never chooses its `src`: the server sets it.
    body.remove("src");
    let body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
    Ok(Relay {
        dst,
        room_name,
        body,
    })
}

/// The fields of a relay payload the server looks at, borrowed from the JSON text.
#[derive(Deserialize)]
struct RelayHead<'a> {
    #[serde(borrow)]
    dst: Cow<'a, str>,
    #[serde(rename = "roomName", default, borrow)]
    room_name: Option<Cow<'a, str>>,
    #[serde(rename = "connectionId", default, borrow)]
    connection_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    src: Option<&'a RawValue>,
    #[serde(default, borrow)]
    offer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    answer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    candidate: Option<&'a RawValue>,
}

/// The fast path for the hot messages, `SEND_OFFER`, `SEND_ANSWER` and `SEND_CANDIDATE`, sent as
/// a plain event (`2["NAME",{...}]`, the text of an engine message): the payload is validated
/// and its routing fields read without building a JSON tree, and its text is kept for the relay.
///
/// Returns `None` whenever the general path must decide (another event, a binary event, an ack
/// id, a namespace, a client-sent `src`, or anything malformed); when it returns a message, the
/// general path ([`crate::socketio::parse_packet`] then [`ClientMessage::parse`]) would return
/// the same one.
pub fn parse_relay_fast(sio_text: &str) -> Option<ClientMessage> {
    let json = sio_text.strip_prefix('2')?;
    // Binary placeholders (which a plain event must not carry) are the general path's to judge;
    // `\u` escapes could spell `_placeholder`, so texts with them go there too.
    if !json.starts_with('[') || json.contains("_placeholder") || json.contains("\\u") {
        return None;
    }
    let (name, payload): (Cow<'_, str>, &RawValue) = serde_json::from_str(json).ok()?;
    let required = match name.as_ref() {
        event::SEND_OFFER => "offer",
        event::SEND_ANSWER => "answer",
        event::SEND_CANDIDATE => "candidate",
        _ => return None,
    };
    if !payload.get().starts_with('{') {
        return None;
    }
    let head: RelayHead<'_> = serde_json::from_str(payload.get()).ok()?;
    let required_value = match required {
        "offer" => head.offer,
        "answer" => head.answer,
        _ => head.candidate,
    };
    let is_object = |raw: Option<&RawValue>| raw.is_some_and(|r| r.get().starts_with('{'));
    let is_string = |raw: Option<&RawValue>| raw.is_none_or(|r| r.get().starts_with('"'));
    if head.src.is_some() || !is_object(required_value) || !is_string(head.connection_id) {
        return None;
    }
    let relay = Relay {
        dst: head.dst.into_owned(),
        room_name: head.room_name.map(Cow::into_owned),
        body: payload.get().to_owned(),
    };
    Some(match required {
        "offer" => ClientMessage::SendOffer(relay),
        "answer" => ClientMessage::SendAnswer(relay),
        _ => ClientMessage::SendCandidate(relay),
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
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap(), payload);
        let mut expected = payload;
        expected["src"] = json!("alice");
        assert_eq!(
            serde_json::from_str::<Value>(r.with_src("alice").get()).unwrap(),
            expected
        );
    }

    #[test]
    fn fast_path_agrees_with_general_path() {
        let cases = [
            r#"2["SEND_OFFER",{"offer":{"type":"offer","sdp":"v=0\r\n"},"dst":"bob","connectionId":"dc_1","connectionType":"data","metadata":{"é":[1.5e300]}}]"#,
            r#"2["SEND_CANDIDATE",{ "candidate" : {"candidate":"c"} , "dst":"b c", "roomName":"r" }]"#,
            r#"2["SEND_ANSWER",{"answer":{},"dst":"x","roomName":null}]"#,
        ];
        for text in cases {
            let fast = parse_relay_fast(text).expect("fast path applies");
            let (packet, _) = crate::socketio::parse_packet(text, 0).unwrap();
            let slow = ClientMessage::parse(packet.into_event().unwrap()).unwrap();
            let (ClientMessage::SendOffer(f)
            | ClientMessage::SendAnswer(f)
            | ClientMessage::SendCandidate(f)) = &fast
            else {
                panic!()
            };
            let (ClientMessage::SendOffer(g)
            | ClientMessage::SendAnswer(g)
            | ClientMessage::SendCandidate(g)) = &slow
            else {
                panic!()
            };
            assert_eq!(fast.event_name(), slow.event_name());
            assert_eq!((&f.dst, &f.room_name), (&g.dst, &g.room_name));
            let fv: Value = serde_json::from_str(f.with_src("s").get()).unwrap();
            let gv: Value = serde_json::from_str(g.with_src("s").get()).unwrap();
            assert_eq!(fv, gv, "{text}");
        }
        // Declined: the general path decides (and reports errors).
        for text in [
            r#"2["SEND_OFFER",{"offer":{},"dst":"b","src":"forged"}]"#,
            r#"2["SEND_OFFER",["b"]]"#,
            r#"2["SEND_OFFER",{"offer":1,"dst":"b"}]"#,
            r#"2["SEND_OFFER",{"offer":{},"dst":5}]"#,
            r#"2["SEND_OFFER",{"offer":{},"dst":"b","connectionId":7}]"#,
            r#"2["ROOM_JOIN",{"roomName":"r","roomType":"mesh"}]"#,
            r#"21["SEND_OFFER",{"offer":{},"dst":"b"}]"#,
            r#"2/x,["SEND_OFFER",{"offer":{},"dst":"b"}]"#,
            r#"2["SEND_OFFER",{"offer":{},"dst":"b"}"#,
            r#"2["SEND_OFFER",{"offer":{},"dst":"b"},"extra"]"#,
            r#"2["SEND_OFFER",{"offer":{"_placeholder":true,"num":0},"dst":"b"}]"#,
            r#"2["SEND_OFFER",{"offer":{"\u005fplaceholder":true,"num":0},"dst":"b"}]"#,
        ] {
            assert!(parse_relay_fast(text).is_none(), "{text}");
        }
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
