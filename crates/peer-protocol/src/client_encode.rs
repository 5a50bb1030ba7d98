//! Encoding of client messages, for clients (the Rust `Peer`, test drivers) that speak to a server.

use crate::client::{event, ClientMessage, Relay};
use crate::engineio::Frame;
use crate::socketio::encode_event;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

impl Relay {
    /// A relay whose payload is `body` (an object holding `dst`). Returns `None` when `body` is
    /// not an object with a string `dst`.
    pub fn from_payload(body: &Value) -> Option<Relay> {
        let obj = body.as_object()?;
        let dst = obj.get("dst")?.as_str()?.to_owned();
        let room_name = obj
            .get("roomName")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut without_src = obj.clone();
        without_src.remove("src");
        Some(Relay {
            dst,
            room_name,
            body: serde_json::to_string(&without_src).ok()?,
        })
    }
}

impl ClientMessage {
    /// The JSON payload as the SDK sends it (binary attachments stay placeholders).
    pub fn payload(&self) -> Value {
        fn to<T: Serialize>(v: &T) -> Value {
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        match self {
            ClientMessage::SendOffer(r)
            | ClientMessage::SendAnswer(r)
            | ClientMessage::SendCandidate(r) => {
                serde_json::from_str(&r.body).unwrap_or(Value::Null)
            }
            ClientMessage::SendLeave | ClientMessage::Ping => Value::Null,
            ClientMessage::RoomJoin(m) => to(m),
            ClientMessage::RoomLeave(m)
            | ClientMessage::RoomGetLogs(m)
            | ClientMessage::SfuGetOffer(m) => to(m),
            ClientMessage::RoomGetUsers(m) => to(m),
            ClientMessage::RoomSendData(m) => {
                serde_json::json!({"roomName": m.room_name, "data": m.data})
            }
            ClientMessage::SfuAnswer(m) => to(m),
            ClientMessage::SfuCandidate(m) => to(m),
            ClientMessage::UpdateCredential(v) => v.to_value().unwrap_or(Value::Null),
            ClientMessage::SendForceClose(m) => to(m),
        }
    }

    /// Encodes the message as engine frames: one text frame, plus one binary frame per
    /// attachment of `ROOM_SEND_DATA`.
    pub fn encode(&self) -> Vec<Frame> {
        let name = self.event_name();
        match self {
            ClientMessage::SendOffer(r)
            | ClientMessage::SendAnswer(r)
            | ClientMessage::SendCandidate(r) => match RawValue::from_string(r.body.clone()) {
                Ok(raw) => encode_event(name, &raw, &[]),
                Err(_) => encode_event(name, &Value::Null, &[]),
            },
            ClientMessage::RoomSendData(m) => {
                #[derive(Serialize)]
                #[serde(rename_all = "camelCase")]
                struct Wire<'a> {
                    room_name: &'a str,
                    data: &'a crate::raw::RawJson,
                }
                let wire = Wire {
                    room_name: &m.room_name,
                    data: &m.data,
                };
                encode_event(event::ROOM_SEND_DATA, &wire, &m.attachments)
            }
            ClientMessage::UpdateCredential(v) => encode_event(name, v, &[]),
            other => encode_event(name, &other.payload(), &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::Decoder;
    use serde_json::json;

    fn roundtrip(msg: &ClientMessage) -> ClientMessage {
        let frames = msg.encode();
        let mut dec = Decoder::new(8);
        let mut out = None;
        for f in frames {
            let p = match f {
                Frame::Text(t) => {
                    let s = std::str::from_utf8(&t[1..]).unwrap().to_owned();
                    dec.feed_text(&s).unwrap()
                }
                Frame::Binary(b) => dec.feed_binary(b.slice(1..)).unwrap(),
            };
            if let Some(p) = p {
                out = Some(ClientMessage::parse(p.into_event().unwrap()).unwrap());
            }
        }
        out.unwrap()
    }

    #[test]
    fn relay_roundtrips_and_drops_src() {
        let body = json!({"dst": "bob", "src": "forged", "offer": {"type": "offer", "sdp": "v=0"},
            "connectionId": "dc_1", "connectionType": "data"});
        let msg = ClientMessage::SendOffer(Relay::from_payload(&body).unwrap());
        let back = roundtrip(&msg);
        assert_eq!(back, msg);
        assert!(back.payload().get("src").is_none());
    }

    #[test]
    fn ping_is_null_payload() {
        let f = ClientMessage::Ping.encode();
        assert_eq!(f[0].as_bytes(), b"42[\"PING\",null]");
    }

    #[test]
    fn room_data_with_attachment_roundtrips() {
        let msg = ClientMessage::RoomSendData(crate::client::RoomSendData {
            room_name: "r".into(),
            data: crate::RawJson::from_value(&json!({"_placeholder": true, "num": 0})).unwrap(),
            attachments: vec![bytes::Bytes::from_static(b"\x00\x01")],
        });
        assert_eq!(roundtrip(&msg), msg);
    }
}
