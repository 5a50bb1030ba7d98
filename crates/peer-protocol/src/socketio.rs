//! Socket.IO protocol revision 4 (the protocol of Socket.IO 2.x) on top of Engine.IO messages.
//!
//! A packet is `<type>[<attachments>-][<nsp>,][<ack id>][<json>]`. Binary events carry
//! `{"_placeholder":true,"num":N}` objects in their JSON and are followed by N engine binary
//! messages. [`Decoder`] reassembles them; [`encode_event`] produces them.

use crate::engineio::Frame;
use crate::json_scan::{self, ScanError};
use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `0`: namespace connect.
    Connect,
    /// `1`: namespace disconnect.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: an acknowledgement.
    Ack,
    /// `4`: an error.
    Error,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck,
}

impl PacketKind {
    fn from_digit(b: u8) -> Option<PacketKind> {
        Some(match b {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::Error,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return None,
        })
    }

    fn is_binary(self) -> bool {
        matches!(self, PacketKind::BinaryEvent | PacketKind::BinaryAck)
    }
}

/// A decoded Socket.IO packet with its attachments. The JSON data is kept as the text it came
/// in (no tree is built); [`SioPacket::into_event`] checks it with [`json_scan::scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// The packet type.
    pub kind: PacketKind,
    /// The namespace (`/` when omitted on the wire).
    pub nsp: String,
    /// The acknowledgement id, if the sender asked for one.
    pub ack_id: Option<u64>,
    /// The engine message text the packet was parsed from; the data is its tail.
    text: String,
    /// Where the JSON data starts in `text` (`text.len()` when there is none).
    data_start: usize,
    /// Binary attachments, in order.
    pub attachments: Vec<Bytes>,
}

/// An event: its name, its first argument (as JSON text) and the attachments its placeholders
/// refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event name, e.g. `SEND_OFFER`.
    pub name: String,
    /// Text that holds the payload at `payload`.
    text: String,
    /// The first argument's place in `text`; `None` when the event has no argument.
    payload: Option<std::ops::Range<usize>>,
    /// Binary attachments referenced by placeholders in the payload.
    pub attachments: Vec<Bytes>,
}

impl Event {
    /// An event with `payload_json` (JSON text, not checked here) as its first argument.
    pub fn new(name: impl Into<String>, payload_json: String, attachments: Vec<Bytes>) -> Event {
        let range = 0..payload_json.len();
        Event {
            name: name.into(),
            text: payload_json,
            payload: Some(range),
            attachments,
        }
    }

    /// The first argument as JSON text (`null` when the event has none).
    pub fn payload_json(&self) -> &str {
        self.payload
            .as_ref()
            .and_then(|r| self.text.get(r.clone()))
            .unwrap_or("null")
    }

    /// The first argument as a JSON tree. Builds the whole tree: for tests and small payloads.
    pub fn payload_value(&self) -> Value {
        serde_json::from_str(self.payload_json()).unwrap_or(Value::Null)
    }
}

/// Why a Socket.IO packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    /// The packet was empty.
    Empty,
    /// Unknown packet type.
    UnknownType,
    /// The attachment count was missing or malformed.
    BadAttachmentCount,
    /// More attachments than the decoder accepts.
    TooManyAttachments(usize),
    /// The namespace was not terminated by a comma.
    BadNamespace,
    /// The JSON data did not parse.
    BadJson(String),
    /// The JSON data nests arrays and objects deeper than [`json_scan::MAX_DEPTH`].
    TooDeep,
    /// A binary message arrived while no binary packet was waiting for attachments.
    UnexpectedBinary,
    /// A text packet arrived while a binary packet was still waiting for attachments.
    UnexpectedText,
    /// A placeholder referred to an attachment that does not exist.
    BadPlaceholder,
    /// An event's data was not an array starting with a string name.
    NotAnEvent,
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SioError::Empty => write!(f, "empty socket.io packet"),
            SioError::UnknownType => write!(f, "unknown socket.io packet type"),
            SioError::BadAttachmentCount => write!(f, "malformed attachment count"),
            SioError::TooManyAttachments(n) => write!(f, "too many attachments ({n})"),
            SioError::BadNamespace => write!(f, "malformed namespace"),
            SioError::BadJson(e) => write!(f, "invalid JSON: {e}"),
            SioError::TooDeep => {
                write!(f, "JSON nested deeper than {} levels", json_scan::MAX_DEPTH)
            }
            SioError::UnexpectedBinary => write!(f, "binary data without a pending binary packet"),
            SioError::UnexpectedText => write!(f, "text packet while attachments were pending"),
            SioError::BadPlaceholder => write!(f, "placeholder refers to a missing attachment"),
            SioError::NotAnEvent => write!(f, "event data is not [name, ...args]"),
        }
    }
}

impl std::error::Error for SioError {}

impl From<ScanError> for SioError {
    fn from(e: ScanError) -> SioError {
        match e {
            ScanError::Syntax(s) => SioError::BadJson(s),
            ScanError::TooDeep => SioError::TooDeep,
            ScanError::BadPlaceholder => SioError::BadPlaceholder,
        }
    }
}

/// Parses the header of one Socket.IO packet from the text of an engine message: the data stays
/// in the text, unchecked until [`SioPacket::into_event`]. Binary packets come back with no
/// attachments yet; use [`Decoder`] to collect them.
pub fn parse_packet(text: &str, max_attachments: usize) -> Result<(SioPacket, usize), SioError> {
    parse_owned(text.to_owned(), max_attachments)
}

fn parse_owned(text: String, max_attachments: usize) -> Result<(SioPacket, usize), SioError> {
    let bytes = text.as_bytes();
    let kind = PacketKind::from_digit(*bytes.first().ok_or(SioError::Empty)?)
        .ok_or(SioError::UnknownType)?;
    let mut i = 1;
    let mut expected = 0usize;
    if kind.is_binary() {
        let dash = text[i..].find('-').ok_or(SioError::BadAttachmentCount)? + i;
        let digits = &text[i..dash];
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SioError::BadAttachmentCount);
        }
        expected = digits.parse().map_err(|_| SioError::BadAttachmentCount)?;
        if expected > max_attachments {
            return Err(SioError::TooManyAttachments(expected));
        }
        i = dash + 1;
    }
    let mut nsp = String::from("/");
    if bytes.get(i) == Some(&b'/') {
        let comma = text[i..].find(',').map(|p| p + i);
        let end = comma.unwrap_or(text.len());
        nsp = text[i..end].to_owned();
        i = match comma {
            Some(c) => c + 1,
            None => end,
        };
    }
    let id_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() && i - id_start < 18 {
        i += 1;
    }
    let ack_id = if i > id_start {
        text[id_start..i].parse().ok()
    } else {
        None
    };
    Ok((
        SioPacket {
            kind,
            nsp,
            ack_id,
            data_start: i,
            text,
            attachments: Vec::new(),
        },
        expected,
    ))
}

/// Reassembles Socket.IO packets from engine messages, in order, one connection at a time.
#[derive(Debug)]
pub struct Decoder {
    max_attachments: usize,
    pending: Option<Box<(SioPacket, usize)>>,
}

impl Decoder {
    /// A decoder that accepts at most `max_attachments` attachments per packet.
    pub fn new(max_attachments: usize) -> Decoder {
        Decoder {
            max_attachments,
            pending: None,
        }
    }

    /// Feeds the text of an engine message. Returns a packet when one is complete.
    pub fn feed_text(&mut self, text: impl Into<String>) -> Result<Option<SioPacket>, SioError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(SioError::UnexpectedText);
        }
        let (packet, expected) = parse_owned(text.into(), self.max_attachments)?;
        if expected == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(Box::new((packet, expected)));
        Ok(None)
    }

    /// Feeds an engine binary message. Returns a packet when its last attachment arrived.
    pub fn feed_binary(&mut self, data: Bytes) -> Result<Option<SioPacket>, SioError> {
        let (mut packet, expected) = *self.pending.take().ok_or(SioError::UnexpectedBinary)?;
        packet.attachments.push(data);
        if packet.attachments.len() == expected {
            if let Some(data) = packet.data() {
                json_scan::scan(data, expected)?;
            }
            return Ok(Some(packet));
        }
        self.pending = Some(Box::new((packet, expected)));
        Ok(None)
    }

    /// Whether no binary packet is waiting for attachments (the next message starts a packet).
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Bytes held for an incomplete binary packet (its text and the attachments so far).
    pub fn pending_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |b| {
            b.0.text.len() + b.0.attachments.iter().map(Bytes::len).sum::<usize>()
        })
    }

    /// Drops an incomplete binary packet.
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

/// Whether every placeholder in `value` refers to an attachment index below `count`.
pub fn placeholders_valid(value: &Value, count: usize) -> bool {
    match value {
        Value::Array(items) => items.iter().all(|v| placeholders_valid(v, count)),
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true)) {
                return map
                    .get("num")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| (n as usize) < count);
            }
            map.values().all(|v| placeholders_valid(v, count))
        }
        _ => true,
    }
}

impl SioPacket {
    /// The JSON data as text, if the packet has any.
    pub fn data(&self) -> Option<&str> {
        self.text.get(self.data_start..).filter(|d| !d.is_empty())
    }

    /// The JSON data as a tree (`None` when absent or not JSON). Builds the whole tree: for tests
    /// and small packets.
    pub fn data_value(&self) -> Option<Value> {
        self.data().and_then(|d| serde_json::from_str(d).ok())
    }

    /// Turns an `EVENT`/`BINARY_EVENT` packet into an [`Event`]. The data is checked first in one
    /// pass that builds nothing ([`json_scan::scan`]: syntax, depth, placeholders against the
    /// attachments), then only the name and the place of the first argument are read.
    pub fn into_event(self) -> Result<Event, SioError> {
        let Some(data) = self.data() else {
            return Err(SioError::NotAnEvent);
        };
        json_scan::scan(data, self.attachments.len())?;
        let (name, payload) = event_parts(data)?;
        let payload = payload.map(|r| r.start + self.data_start..r.end + self.data_start);
        Ok(Event {
            name,
            text: self.text,
            payload,
            attachments: self.attachments,
        })
    }
}

/// Reads `["NAME", payload, ...]` from checked JSON text: the name and where the payload lies.
fn event_parts(data: &str) -> Result<(String, Option<std::ops::Range<usize>>), SioError> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    struct Parts<'t>(&'t str);
    impl<'de> Visitor<'de> for Parts<'de> {
        type Value = Option<(String, Option<std::ops::Range<usize>>)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("[name, ...args]")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let Some(name) = seq.next_element::<std::borrow::Cow<'de, str>>()? else {
                return Ok(None);
            };
            let payload = seq.next_element::<&'de RawValue>()?.map(|raw| {
                let start = raw.get().as_ptr() as usize - self.0.as_ptr() as usize;
                start..start + raw.get().len()
            });
            json_scan::skip_rest(&mut seq)?;
            Ok(Some((name.into_owned(), payload)))
        }
    }
    let mut de = serde_json::Deserializer::from_str(data);
    match de.deserialize_seq(Parts(data)) {
        Ok(Some(parts)) => Ok(parts),
        _ => Err(SioError::NotAnEvent),
    }
}

/// The engine frame of a Socket.IO `CONNECT` to the root namespace (`40`).
pub fn connect_frame() -> Frame {
    Frame::Text(Bytes::from_static(b"40"))
}

/// The engine frame of a Socket.IO `DISCONNECT` from the root namespace (`41`).
pub fn disconnect_frame() -> Frame {
    Frame::Text(Bytes::from_static(b"41"))
}

/// Encodes an event on the root namespace as engine frames: `42["NAME",payload]`, or with
/// attachments `45N-["NAME",payload]` followed by N binary frames. `payload` must already hold
/// the placeholders for `attachments`.
pub fn encode_event<T: Serialize + ?Sized>(
    name: &str,
    payload: &T,
    attachments: &[Bytes],
) -> Vec<Frame> {
    encode_event_sized(name, payload, attachments, 0)
}

/// [`encode_event`] with the payload's expected JSON size, so a large payload (room data, a
/// room's log) is written once into a buffer of the right size instead of a growing one.
pub fn encode_event_sized<T: Serialize + ?Sized>(
    name: &str,
    payload: &T,
    attachments: &[Bytes],
    payload_len_hint: usize,
) -> Vec<Frame> {
    let mut text: Vec<u8> = Vec::with_capacity(name.len() + payload_len_hint + 16);
    if attachments.is_empty() {
        text.extend_from_slice(b"42[");
    } else {
        text.extend_from_slice(b"45");
        text.extend_from_slice(attachments.len().to_string().as_bytes());
        text.extend_from_slice(b"-[");
    }
    // Event names are plain uppercase ASCII; serde_json escapes anything else correctly.
    if serde_json::to_writer(&mut text, name).is_err() {
        text.extend_from_slice(b"\"\"");
    }
    text.push(b',');
    let before = text.len();
    if serde_json::to_writer(&mut text, payload).is_err() {
        text.truncate(before);
        text.extend_from_slice(b"null");
    }
    text.push(b']');
    let mut frames = Vec::with_capacity(1 + attachments.len());
    // serde_json writes UTF-8 only.
    frames.push(Frame::Text(Bytes::from(text)));
    frames.extend(attachments.iter().map(|a| Frame::binary_message(a)));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_plain_event() {
        let (p, n) = parse_packet("2[\"PING\",null]", 8).unwrap();
        assert_eq!(n, 0);
        let ev = p.into_event().unwrap();
        assert_eq!(ev.name, "PING");
        assert_eq!(ev.payload_json(), "null");
        let ev = parse_packet("2[\"PING\"]", 8)
            .unwrap()
            .0
            .into_event()
            .unwrap();
        assert_eq!(ev.payload_json(), "null");
        let ev = parse_packet("2[\"X\", {\"a\" : [1]} ,\"extra\"]", 8)
            .unwrap()
            .0
            .into_event()
            .unwrap();
        assert_eq!(ev.payload_json(), "{\"a\" : [1]}");
    }

    #[test]
    fn parses_namespace_and_ack() {
        let (p, _) = parse_packet("2/chat,17[\"X\",1]", 8).unwrap();
        assert_eq!(p.nsp, "/chat");
        assert_eq!(p.ack_id, Some(17));
        let (p, _) = parse_packet("1", 8).unwrap();
        assert_eq!(p.kind, PacketKind::Disconnect);
        assert!(p.data().is_none());
    }

    #[test]
    fn reassembles_binary_event_from_trace() {
        let mut d = Decoder::new(4);
        let first = d
            .feed_text("51-[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":{\"_placeholder\":true,\"num\":0}}]")
            .unwrap();
        assert!(first.is_none());
        let p = d
            .feed_binary(Bytes::from_static(b"\x03\x0a"))
            .unwrap()
            .unwrap();
        let ev = p.into_event().unwrap();
        assert_eq!(ev.attachments, vec![Bytes::from_static(b"\x03\x0a")]);
        assert_eq!(
            ev.payload_value()["data"],
            json!({"_placeholder": true, "num": 0})
        );
    }

    #[test]
    fn rejects_bad_sequences() {
        let mut d = Decoder::new(4);
        assert_eq!(d.feed_binary(Bytes::new()), Err(SioError::UnexpectedBinary));
        assert!(d.feed_text("55-[\"X\"]").is_err());
        assert!(d.feed_text("5x-[\"X\"]").is_err());
        d.feed_text("51-[\"X\",{\"_placeholder\":true,\"num\":3}]")
            .unwrap();
        assert_eq!(d.feed_binary(Bytes::new()), Err(SioError::BadPlaceholder));
        d.feed_text("51-[\"X\",1]").unwrap();
        assert_eq!(d.feed_text("2[\"Y\"]"), Err(SioError::UnexpectedText));
        let deep = format!("2[\"X\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        let r = parse_packet(&deep, 4).and_then(|(p, _)| p.into_event());
        assert_eq!(r, Err(SioError::TooDeep));
        let plain_placeholder = "2[\"X\",{\"_placeholder\":true,\"num\":0}]";
        let r = parse_packet(plain_placeholder, 4).and_then(|(p, _)| p.into_event());
        assert_eq!(r, Err(SioError::BadPlaceholder));
        for bad in ["", "9", "2[", "2{\"a\":1", "2\"x\"", "2[1]", "2[]", "2"] {
            let r = parse_packet(bad, 4).and_then(|(p, _)| p.into_event());
            assert!(r.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encodes_events() {
        let frames = encode_event("OPEN", &json!({"peerId": "a"}), &[]);
        assert_eq!(
            frames,
            vec![Frame::text("42[\"OPEN\",{\"peerId\":\"a\"}]".into())]
        );
        let frames = encode_event(
            "ROOM_DATA",
            &json!({"data": {"_placeholder": true, "num": 0}}),
            &[Bytes::from_static(b"x")],
        );
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].as_bytes(),
            b"451-[\"ROOM_DATA\",{\"data\":{\"_placeholder\":true,\"num\":0}}]"
        );
        assert_eq!(frames[1].as_bytes(), b"\x04x");
    }
}
