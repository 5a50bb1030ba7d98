//! Engine.IO protocol revision 3: packets, WebSocket frames and long-polling payloads.
//!
//! Everything here is pure: bytes in, values out. The transport shells (server and client) own
//! the sockets and timers.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// Content type of a long-polling body that holds only text packets.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=UTF-8";
/// Content type of a long-polling body in the XHR2 binary payload format.
pub const CONTENT_TYPE_BINARY: &str = "application/octet-stream";
/// The largest number of length digits accepted in a binary payload (engine.io-parser allows 310;
/// ten digits already describe more than any body this crate's users accept).
const MAX_LENGTH_DIGITS: usize = 10;

/// An Engine.IO v3 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake, carrying JSON.
    Open(String),
    /// `1`: the transport is closing.
    Close,
    /// `2`: ping, sent by the client in revision 3 (`2probe` during an upgrade).
    Ping(String),
    /// `3`: pong (`3probe` during an upgrade).
    Pong(String),
    /// `4` with text: a Socket.IO packet.
    Message(String),
    /// `4` as a binary frame: a Socket.IO attachment.
    BinaryMessage(Bytes),
    /// `5`: the client switched to the probed transport.
    Upgrade,
    /// `6`: no operation (answers a pending poll during an upgrade).
    Noop,
}

/// Why bytes could not be decoded as Engine.IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input was empty where a packet was expected.
    Empty,
    /// The packet type is not one of `0`..=`6`.
    UnknownType(u8),
    /// A payload length prefix was missing, malformed or larger than the rest of the body.
    BadLength,
    /// A text packet inside a binary payload was not UTF-8.
    NotUtf8,
    /// A base64 (`b4...`) packet did not decode.
    BadBase64,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty engine.io packet"),
            DecodeError::UnknownType(t) => write!(f, "unknown engine.io packet type {t:#04x}"),
            DecodeError::BadLength => write!(f, "malformed engine.io payload length"),
            DecodeError::NotUtf8 => write!(f, "engine.io text packet is not UTF-8"),
            DecodeError::BadBase64 => write!(f, "engine.io base64 packet does not decode"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One encoded packet as it goes on a WebSocket: a text frame or a binary frame.
///
/// `Binary` holds the engine type byte `0x04` followed by the attachment, so a WebSocket writer
/// sends it without copying. `Text` is guaranteed UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text packet, e.g. `42["OPEN",{...}]`.
    Text(Bytes),
    /// A binary packet: `0x04` followed by the data.
    Binary(Bytes),
}

impl Frame {
    /// A text frame from an encoded packet string.
    pub fn text(s: String) -> Frame {
        Frame::Text(Bytes::from(s))
    }

    /// A binary message frame (`0x04` + `data`).
    pub fn binary_message(data: &[u8]) -> Frame {
        let mut buf = BytesMut::with_capacity(data.len() + 1);
        buf.put_u8(b'4' - b'0');
        buf.put_slice(data);
        Frame::Binary(buf.freeze())
    }

    /// The bytes of the frame as sent.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b,
        }
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the frame is empty (never true for a valid frame).
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

impl Packet {
    /// The packet type digit.
    pub fn type_digit(&self) -> u8 {
        match self {
            Packet::Open(_) => 0,
            Packet::Close => 1,
            Packet::Ping(_) => 2,
            Packet::Pong(_) => 3,
            Packet::Message(_) | Packet::BinaryMessage(_) => 4,
            Packet::Upgrade => 5,
            Packet::Noop => 6,
        }
    }

    /// Encodes the packet as a WebSocket frame.
    pub fn encode(&self) -> Frame {
        let data: &str = match self {
            Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) | Packet::Message(s) => s,
            Packet::BinaryMessage(b) => return Frame::binary_message(b),
            Packet::Close | Packet::Upgrade | Packet::Noop => "",
        };
        let mut s = String::with_capacity(data.len() + 1);
        s.push(char::from(b'0' + self.type_digit()));
        s.push_str(data);
        Frame::text(s)
    }

    /// Decodes a text packet (a WebSocket text frame, or one packet of a polling payload).
    /// A `b<type><base64>` packet (the `b64=1` form) decodes to a binary message.
    pub fn decode_text(s: &str) -> Result<Packet, DecodeError> {
        let first = *s.as_bytes().first().ok_or(DecodeError::Empty)?;
        if !first.is_ascii() {
            return Err(DecodeError::UnknownType(first));
        }
        let rest = &s[1..];
        if first == b'b' {
            use base64::Engine as _;
            if !rest.starts_with('4') {
                return Err(DecodeError::UnknownType(
                    rest.as_bytes().first().copied().unwrap_or(0),
                ));
            }
            let body = &rest[1..];
            let data = base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| DecodeError::BadBase64)?;
            return Ok(Packet::BinaryMessage(Bytes::from(data)));
        }
        Ok(match first {
            b'0' => Packet::Open(rest.to_owned()),
            b'1' => Packet::Close,
            b'2' => Packet::Ping(rest.to_owned()),
            b'3' => Packet::Pong(rest.to_owned()),
            b'4' => Packet::Message(rest.to_owned()),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// [`Packet::decode_text`] taking the text by value: a message packet (`4...`, nearly all
    /// traffic) keeps the buffer instead of copying it.
    pub fn decode_text_owned(mut s: String) -> Result<Packet, DecodeError> {
        if s.as_bytes().first() == Some(&b'4') {
            s.remove(0);
            return Ok(Packet::Message(s));
        }
        Packet::decode_text(&s)
    }

    /// Decodes a binary packet (a WebSocket binary frame): type byte `4` then the data.
    pub fn decode_binary(b: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_binary_bytes(Bytes::copy_from_slice(b))
    }

    /// Decodes a WebSocket binary frame without copying the data.
    pub fn decode_binary_bytes(b: Bytes) -> Result<Packet, DecodeError> {
        match b.first() {
            None => Err(DecodeError::Empty),
            Some(4) => Ok(Packet::BinaryMessage(b.slice(1..))),
            Some(&other) => Err(DecodeError::UnknownType(other)),
        }
    }
}

/// Decodes a long-polling request body. `binary` is true when the body was sent as
/// `application/octet-stream` (the XHR2 binary payload format); otherwise it is the text format
/// `<len>:<packet>...` where `len` counts UTF-16 code units.
pub fn decode_payload(body: &[u8], binary: bool) -> Result<Vec<Packet>, DecodeError> {
    if binary {
        decode_binary_payload(body)
    } else {
        let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
        decode_text_payload(text)
    }
}

/// Decodes the text payload format: `<len>:<packet>` repeated, `len` in UTF-16 code units.
pub fn decode_text_payload(mut text: &str) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    while !text.is_empty() {
        let colon = text.find(':').ok_or(DecodeError::BadLength)?;
        let digits = &text[..colon];
        if digits.is_empty()
            || digits.len() > MAX_LENGTH_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DecodeError::BadLength);
        }
        let units: usize = digits.parse().map_err(|_| DecodeError::BadLength)?;
        let rest = &text[colon + 1..];
        let end = utf16_prefix_len(rest, units).ok_or(DecodeError::BadLength)?;
        packets.push(Packet::decode_text(&rest[..end])?);
        text = &rest[end..];
    }
    Ok(packets)
}

/// The byte length of the prefix of `s` that holds exactly `units` UTF-16 code units, if any.
fn utf16_prefix_len(s: &str, units: usize) -> Option<usize> {
    let mut counted = 0usize;
    for (index, ch) in s.char_indices() {
        if counted == units {
            return Some(index);
        }
        counted += ch.len_utf16();
        if counted > units {
            return None;
        }
    }
    (counted == units).then_some(s.len())
}

/// Decodes the XHR2 binary payload format: per packet `[0|1][length digits, one byte each][0xFF]`
/// then the data; `0` marks a UTF-8 text packet, `1` a binary packet (type byte then data).
pub fn decode_binary_payload(mut body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    while !body.is_empty() {
        let is_text = match body[0] {
            0 => true,
            1 => false,
            _ => return Err(DecodeError::BadLength),
        };
        let mut len: usize = 0;
        let mut i = 1;
        loop {
            let b = *body.get(i).ok_or(DecodeError::BadLength)?;
            if b == 0xff {
                break;
            }
            if b > 9 || i > MAX_LENGTH_DIGITS {
                return Err(DecodeError::BadLength);
            }
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(b)))
                .ok_or(DecodeError::BadLength)?;
            i += 1;
        }
        if i == 1 {
            return Err(DecodeError::BadLength);
        }
        let data = body.get(i + 1..i + 1 + len).ok_or(DecodeError::BadLength)?;
        let packet = if is_text {
            Packet::decode_text(std::str::from_utf8(data).map_err(|_| DecodeError::NotUtf8)?)?
        } else {
            Packet::decode_binary(data)?
        };
        packets.push(packet);
        body = &body[i + 1 + len..];
    }
    Ok(packets)
}

/// An encoded long-polling response body with its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPayload {
    /// `text/plain; charset=UTF-8` or `application/octet-stream`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

/// Encodes frames as one long-polling response body: the text format when all frames are text,
/// the XHR2 binary format (what engine.io 3 sends to clients that support binary) otherwise.
pub fn encode_payload(frames: &[Frame]) -> EncodedPayload {
    let any_binary = frames.iter().any(|f| matches!(f, Frame::Binary(_)));
    if any_binary {
        let total: usize = frames.iter().map(|f| f.len() + 12).sum();
        let mut buf = BytesMut::with_capacity(total);
        for frame in frames {
            let (marker, bytes) = match frame {
                Frame::Text(b) => (0u8, b),
                Frame::Binary(b) => (1u8, b),
            };
            buf.put_u8(marker);
            for digit in bytes.len().to_string().bytes() {
                buf.put_u8(digit - b'0');
            }
            buf.put_u8(0xff);
            buf.put_slice(bytes);
        }
        EncodedPayload {
            content_type: CONTENT_TYPE_BINARY,
            body: buf.freeze(),
        }
    } else {
        let mut out = String::with_capacity(frames.iter().map(|f| f.len() + 8).sum());
        for frame in frames {
            // Text frames are UTF-8 by construction; a lossy view never changes valid UTF-8.
            let text = String::from_utf8_lossy(frame.as_bytes());
            let units: usize = text.chars().map(char::len_utf16).sum();
            out.push_str(&units.to_string());
            out.push(':');
            out.push_str(&text);
        }
        EncodedPayload {
            content_type: CONTENT_TYPE_TEXT,
            body: Bytes::from(out),
        }
    }
}

/// The JSON body of the handshake (`0{...}`) packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to.
    pub upgrades: Vec<String>,
    /// How often the client pings, in milliseconds.
    pub ping_interval: u64,
    /// How long the client waits for a pong, in milliseconds.
    pub ping_timeout: u64,
}

impl Handshake {
    /// The open packet carrying this handshake.
    pub fn to_packet(&self) -> Packet {
        // Serializing a struct of strings and integers cannot fail.
        Packet::Open(serde_json::to_string(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payload_counts_utf16_units() {
        let frames = vec![
            Packet::Message("2[\"a\",\"é😀\"]".into()).encode(),
            Packet::Noop.encode(),
        ];
        let encoded = encode_payload(&frames);
        assert_eq!(encoded.content_type, CONTENT_TYPE_TEXT);
        let body = std::str::from_utf8(&encoded.body).unwrap();
        assert_eq!(body, "13:42[\"a\",\"é😀\"]1:6");
        let back = decode_text_payload(body).unwrap();
        assert_eq!(
            back,
            vec![Packet::Message("2[\"a\",\"é😀\"]".into()), Packet::Noop]
        );
    }

    #[test]
    fn trace_handshake_body_decodes() {
        let body = "96:0{\"sid\":\"JPRfYClU-Jyq3LAwAAAA\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}2:40";
        let packets = decode_text_payload(body).unwrap();
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[1], Packet::Message("0".into()));
    }

    #[test]
    fn binary_payload_round_trip() {
        let frames = vec![
            Packet::Message("51-[\"X\",{\"_placeholder\":true,\"num\":0}]".into()).encode(),
            Packet::BinaryMessage(Bytes::from_static(&[1, 2, 3, 255])).encode(),
        ];
        let encoded = encode_payload(&frames);
        assert_eq!(encoded.content_type, CONTENT_TYPE_BINARY);
        let len = frames[0].len();
        assert_eq!(
            &encoded.body[..4],
            &[0, (len / 10) as u8, (len % 10) as u8, 0xff]
        );
        assert_eq!(&encoded.body[4 + len..4 + len + 3], &[1, 5, 0xff]);
        let back = decode_binary_payload(&encoded.body).unwrap();
        assert_eq!(
            back[1],
            Packet::BinaryMessage(Bytes::from_static(&[1, 2, 3, 255]))
        );
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for bad in ["", "5:abc", "x:4", "2:9a", "99999999999:4", "1:"] {
            assert!(decode_text_payload(bad).is_err(), "{bad:?}");
        }
        for bad in [
            &[][..],
            &[2, 1, 0xff, 4],
            &[0, 5, 0xff, b'4'],
            &[1, 0xff],
            &[0, 1, 2],
        ] {
            assert!(decode_binary_payload(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base64_packets_decode() {
        assert_eq!(
            Packet::decode_text("b4AQID").unwrap(),
            Packet::BinaryMessage(Bytes::from_static(&[1, 2, 3]))
        );
        assert!(Packet::decode_text("b4!!").is_err());
    }
}
