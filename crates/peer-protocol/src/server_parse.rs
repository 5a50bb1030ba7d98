//! Decoding of server messages, for clients: the inverse of [`ServerMessage::encode`].

use crate::client::MessageError;
use crate::error_type::ErrorType;
use crate::server::{event, ErrorMessage, ForceClose, RawJson, ServerMessage};
use crate::socketio::Event;
use serde::Deserialize;
use std::borrow::Cow;

impl ErrorType {
    /// The error type for a wire string, e.g. `peer-unavailable`.
    pub fn from_wire(s: &str) -> Option<ErrorType> {
        ErrorType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl ServerMessage {
    /// Parses an event from a server. Relayed payloads (`OFFER`, `ANSWER`, `CANDIDATE`) must be
    /// objects with a string `src`; they are kept as JSON text. An `ERROR` whose type this crate
    /// does not know becomes `server-error` with the original type in the message.
    pub fn parse(event: Event) -> Result<ServerMessage, MessageError> {
        let payload = event.payload_json();
        let name = event.name.as_str();
        let err = |reason: String| MessageError {
            event: name.to_owned(),
            reason,
        };
        if !event.attachments.is_empty() && name != event::ROOM_DATA {
            return Err(err(
                "binary attachments are expected only in ROOM_DATA".into()
            ));
        }
        fn typed<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        fn relayed(text: &str) -> Result<RawJson, String> {
            #[derive(Deserialize)]
            struct Head<'a> {
                #[serde(borrow)]
                src: Option<Cow<'a, str>>,
            }
            if !text.trim_start().starts_with('{') {
                return Err("payload must be an object".into());
            }
            match typed::<Head<'_>>(text) {
                Ok(Head { src: Some(_) }) => {}
                _ => return Err("src must be a string".into()),
            }
            RawJson::from_text(text.to_owned()).map_err(|e| e.to_string())
        }
        let msg = match name {
            event::OPEN => ServerMessage::Open(typed(payload).map_err(err)?),
            event::ERROR => {
                #[derive(Deserialize)]
                struct Wire {
                    #[serde(rename = "type", default)]
                    kind: Option<String>,
                    #[serde(default)]
                    message: Option<String>,
                }
                let wire: Wire = typed(payload).unwrap_or(Wire {
                    kind: None,
                    message: None,
                });
                let kind = wire.kind.unwrap_or_default();
                let message = wire.message.unwrap_or_default();
                match ErrorType::from_wire(&kind) {
                    Some(kind) => ServerMessage::Error(ErrorMessage { kind, message }),
                    None => ServerMessage::Error(ErrorMessage {
                        kind: ErrorType::ServerError,
                        message: format!("{kind}: {message}"),
                    }),
                }
            }
            event::OFFER => ServerMessage::Offer(relayed(payload).map_err(err)?),
            event::ANSWER => ServerMessage::Answer(relayed(payload).map_err(err)?),
            event::CANDIDATE => ServerMessage::Candidate(relayed(payload).map_err(err)?),
            event::LEAVE => match typed::<String>(payload) {
                Ok(id) => ServerMessage::Leave(id),
                Err(_) => return Err(err("payload must be a peer id string".into())),
            },
            event::AUTH_EXPIRES_IN => match typed::<f64>(payload) {
                Ok(s) if s >= 0.0 => ServerMessage::AuthExpiresIn(s as u64),
                _ => return Err(err("payload must be a number of seconds".into())),
            },
            event::ROOM_LOGS => ServerMessage::RoomLogs(typed(payload).map_err(err)?),
            event::ROOM_USERS => ServerMessage::RoomUsers(typed(payload).map_err(err)?),
            event::ROOM_DATA => {
                let mut data: crate::server::RoomData = typed(payload).map_err(err)?;
                data.attachments = event.attachments.clone();
                ServerMessage::RoomData(data)
            }
            event::ROOM_USER_JOIN => ServerMessage::RoomUserJoin(typed(payload).map_err(err)?),
            event::ROOM_USER_LEAVE => ServerMessage::RoomUserLeave(typed(payload).map_err(err)?),
            event::SFU_OFFER => ServerMessage::SfuOffer(typed(payload).map_err(err)?),
            event::FORCE_CLOSE => {
                ServerMessage::ForceClose(typed::<ForceClose>(payload).map_err(err)?)
            }
            _ => return Err(err("unknown event".into())),
        };
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engineio::Frame;
    use crate::server::Open;
    use crate::socketio::Decoder;
    use serde_json::json;

    fn roundtrip(msg: &ServerMessage) -> ServerMessage {
        let mut dec = Decoder::new(8);
        let mut out = None;
        for f in msg.encode() {
            let p = match f {
                Frame::Text(t) => dec
                    .feed_text(std::str::from_utf8(&t[1..]).unwrap())
                    .unwrap(),
                Frame::Binary(b) => dec.feed_binary(b.slice(1..)).unwrap(),
            };
            if let Some(p) = p {
                out = Some(ServerMessage::parse(p.into_event().unwrap()).unwrap());
            }
        }
        out.unwrap()
    }

    #[test]
    fn every_kind_roundtrips() {
        let raw = |v: serde_json::Value| RawJson::from_text(v.to_string()).unwrap();
        let msgs = vec![
            ServerMessage::Open(Open {
                peer_id: "a".into(),
                turn_credential: None,
                turn_urls: Vec::new(),
                resumed: false,
            }),
            ServerMessage::error(ErrorType::PeerUnavailable, "gone"),
            ServerMessage::Offer(raw(json!({"src": "a", "offer": {"sdp": "v=0"}}))),
            ServerMessage::Answer(raw(json!({"src": "a", "answer": {}}))),
            ServerMessage::Candidate(raw(json!({"src": "a", "candidate": {}}))),
            ServerMessage::Leave("a".into()),
            ServerMessage::AuthExpiresIn(60),
            ServerMessage::ForceClose(ForceClose {
                src: "a".into(),
                dst: "b".into(),
                connection_id: Some("dc_1".into()),
            }),
        ];
        for m in msgs {
            assert_eq!(roundtrip(&m), m);
        }
    }

    #[test]
    fn unknown_error_type_is_kept_in_message() {
        let ev = Event::new(
            "ERROR",
            json!({"type": "quota", "message": "over"}).to_string(),
            vec![],
        );
        let ServerMessage::Error(e) = ServerMessage::parse(ev).unwrap() else {
            panic!()
        };
        assert_eq!(e.kind, ErrorType::ServerError);
        assert_eq!(e.message, "quota: over");
    }

    #[test]
    fn relays_need_src() {
        let ev = Event::new("OFFER", json!({"offer": {}}).to_string(), vec![]);
        assert!(ServerMessage::parse(ev).is_err());
    }
}
