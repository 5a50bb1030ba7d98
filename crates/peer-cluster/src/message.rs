//! [`NodeMessage`]: what one node tells another, and its binary frame.
//!
//! A frame is `"PC"`, a version byte (1), a type byte, the sender's node id, the sender's
//! sequence number (u64, so a receiver sees a gap after a lost message and resynchronizes), then
//! the fields of the type. Strings are a u16 length and UTF-8; payloads (JSON text, room-data
//! attachments) a u32 length and bytes. Decoding never trusts a length: every one is checked
//! against what is left and against [`MAX_FRAME`], strings must be UTF-8, the node id must be
//! one, and nothing may follow the last field.

use crate::keys::NodeId;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The largest frame sent or accepted: a room's 20 MiB of data with room to spare.
pub const MAX_FRAME: usize = 32 * 1024 * 1024;
/// Attachments one room-data message may carry (the server takes 16 from a client).
pub const MAX_ATTACHMENTS: usize = 64;
const MAGIC: &[u8; 2] = b"PC";
const VERSION: u8 = 1;

/// A room's kind, as nodes tell each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// Peer-to-peer calls between members.
    Mesh,
    /// Media through the SFU of the room's node.
    Sfu,
}

/// What one node tells another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeMessage {
    /// Send `event` (`OFFER`, `ANSWER`, `CANDIDATE`, `FORCE_CLOSE`, `LEAVE`, ...) with the JSON
    /// `body` to peer `dst` of `app`, which is open on the receiving node.
    Deliver {
        /// The app key.
        app: String,
        /// The receiving peer.
        dst: String,
        /// The server event name.
        event: String,
        /// The event's JSON payload, as the client will receive it.
        body: Bytes,
    },
    /// `peer` (on the sending node) joined `room` of `app` (broadcast).
    RoomJoin {
        /// The app key.
        app: String,
        /// The room name.
        room: String,
        /// Mesh or SFU.
        kind: RoomKind,
        /// Who joined.
        peer: String,
    },
    /// `peer` left `room` of `app` (broadcast).
    RoomLeave {
        /// The app key.
        app: String,
        /// The room name.
        room: String,
        /// Who left.
        peer: String,
    },
    /// Room data from `src` for the receiving node's members of `room`.
    RoomData {
        /// The app key.
        app: String,
        /// The room name.
        room: String,
        /// The sending member.
        src: String,
        /// The JSON text of `data`, with attachment placeholders.
        data: Bytes,
        /// The binary attachments.
        attachments: Vec<Bytes>,
    },
    /// `peer` of `app` is gone from the sending node (its contacts there get `LEAVE`).
    PeerGone {
        /// The app key.
        app: String,
        /// The peer.
        peer: String,
    },
}

/// A message with its sender and the sender's sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The sending node.
    pub from: NodeId,
    /// The sender's sequence number (one counter per sender, over all its messages).
    pub seq: u64,
    /// What it says.
    pub msg: NodeMessage,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a frame of this protocol (magic or version).
    NotAFrame,
    /// Longer than [`MAX_FRAME`].
    TooLarge(usize),
    /// Ends inside a field.
    Truncated,
    /// A string field is not UTF-8.
    NotUtf8,
    /// The sender's node id is malformed.
    BadNode,
    /// An unknown message type or room kind.
    UnknownType(u8),
    /// More attachments than [`MAX_ATTACHMENTS`].
    TooManyAttachments(usize),
    /// Bytes after the last field.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotAFrame => write!(f, "not a cluster frame"),
            DecodeError::TooLarge(n) => write!(f, "frame of {n} bytes (max {MAX_FRAME})"),
            DecodeError::Truncated => write!(f, "frame ends inside a field"),
            DecodeError::NotUtf8 => write!(f, "a string field is not UTF-8"),
            DecodeError::BadNode => write!(f, "malformed node id"),
            DecodeError::UnknownType(t) => write!(f, "unknown type {t}"),
            DecodeError::TooManyAttachments(n) => {
                write!(f, "{n} attachments (max {MAX_ATTACHMENTS})")
            }
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the last field"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string field longer than 65,535 bytes.
    StringTooLong(usize),
    /// More attachments than [`MAX_ATTACHMENTS`].
    TooManyAttachments(usize),
    /// The frame would pass [`MAX_FRAME`].
    TooLarge(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::StringTooLong(n) => write!(f, "a string field of {n} bytes"),
            EncodeError::TooManyAttachments(n) => write!(f, "{n} attachments"),
            EncodeError::TooLarge(n) => write!(f, "a frame of {n} bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

fn put_str(out: &mut BytesMut, s: &str) -> Result<(), EncodeError> {
    let n = u16::try_from(s.len()).map_err(|_| EncodeError::StringTooLong(s.len()))?;
    out.put_u16(n);
    out.put_slice(s.as_bytes());
    Ok(())
}

fn put_blob(out: &mut BytesMut, b: &[u8]) -> Result<(), EncodeError> {
    let n = u32::try_from(b.len()).map_err(|_| EncodeError::TooLarge(b.len()))?;
    out.put_u32(n);
    out.put_slice(b);
    Ok(())
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        let kind = match &self.msg {
            NodeMessage::Deliver { .. } => 1,
            NodeMessage::RoomJoin { .. } => 2,
            NodeMessage::RoomLeave { .. } => 3,
            NodeMessage::RoomData { .. } => 4,
            NodeMessage::PeerGone { .. } => 5,
        };
        out.put_u8(kind);
        put_str(&mut out, self.from.as_str())?;
        out.put_u64(self.seq);
        match &self.msg {
            NodeMessage::Deliver {
                app,
                dst,
                event,
                body,
            } => {
                put_str(&mut out, app)?;
                put_str(&mut out, dst)?;
                put_str(&mut out, event)?;
                put_blob(&mut out, body)?;
            }
            NodeMessage::RoomJoin {
                app,
                room,
                kind,
                peer,
            } => {
                put_str(&mut out, app)?;
                put_str(&mut out, room)?;
                out.put_u8(match kind {
                    RoomKind::Mesh => 0,
                    RoomKind::Sfu => 1,
                });
                put_str(&mut out, peer)?;
            }
            NodeMessage::RoomLeave { app, room, peer } => {
                put_str(&mut out, app)?;
                put_str(&mut out, room)?;
                put_str(&mut out, peer)?;
            }
            NodeMessage::RoomData {
                app,
                room,
                src,
                data,
                attachments,
            } => {
                if attachments.len() > MAX_ATTACHMENTS {
                    return Err(EncodeError::TooManyAttachments(attachments.len()));
                }
                put_str(&mut out, app)?;
                put_str(&mut out, room)?;
                put_str(&mut out, src)?;
                put_blob(&mut out, data)?;
                out.put_u16(attachments.len() as u16);
                for a in attachments {
                    put_blob(&mut out, a)?;
                }
            }
            NodeMessage::PeerGone { app, peer } => {
                put_str(&mut out, app)?;
                put_str(&mut out, peer)?;
            }
        }
        if out.len() > MAX_FRAME {
            return Err(EncodeError::TooLarge(out.len()));
        }
        Ok(out.freeze())
    }

    /// A frame from `bytes` (a Redis message payload); payloads share `bytes`' buffer.
    pub fn decode(bytes: &Bytes) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_FRAME {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader { buf: bytes, at: 0 };
        if r.take(2)? != MAGIC || r.u8()? != VERSION {
            return Err(DecodeError::NotAFrame);
        }
        let kind = r.u8()?;
        let from = NodeId::parse(&r.string()?).ok_or(DecodeError::BadNode)?;
        let seq = r.u64()?;
        let msg = match kind {
            1 => NodeMessage::Deliver {
                app: r.string()?,
                dst: r.string()?,
                event: r.string()?,
                body: r.blob()?,
            },
            2 => {
                let app = r.string()?;
                let room = r.string()?;
                let kind = match r.u8()? {
                    0 => RoomKind::Mesh,
                    1 => RoomKind::Sfu,
                    other => return Err(DecodeError::UnknownType(other)),
                };
                NodeMessage::RoomJoin {
                    app,
                    room,
                    kind,
                    peer: r.string()?,
                }
            }
            3 => NodeMessage::RoomLeave {
                app: r.string()?,
                room: r.string()?,
                peer: r.string()?,
            },
            4 => {
                let app = r.string()?;
                let room = r.string()?;
                let src = r.string()?;
                let data = r.blob()?;
                let n = usize::from(r.u16()?);
                if n > MAX_ATTACHMENTS {
                    return Err(DecodeError::TooManyAttachments(n));
                }
                let mut attachments = Vec::with_capacity(n);
                for _ in 0..n {
                    attachments.push(r.blob()?);
                }
                NodeMessage::RoomData {
                    app,
                    room,
                    src,
                    data,
                    attachments,
                }
            }
            5 => NodeMessage::PeerGone {
                app: r.string()?,
                peer: r.string()?,
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        let left = bytes.len() - r.at;
        if left > 0 {
            return Err(DecodeError::TrailingBytes(left));
        }
        Ok(Frame { from, seq, msg })
    }
}

/// Reads fields off a frame, checking every length against what is left.
struct Reader<'a> {
    buf: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8)
    }

    fn blob(&mut self) -> Result<Bytes, DecodeError> {
        let b = self.take(4)?;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let start = self.at;
        self.take(n)?;
        Ok(self.buf.slice(start..start + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        NodeId::from_random([7; 16])
    }

    fn samples() -> Vec<NodeMessage> {
        vec![
            NodeMessage::Deliver {
                app: "k".into(),
                dst: "bob".into(),
                event: "OFFER".into(),
                body: Bytes::from_static(br#"{"src":"alice","offer":{}}"#),
            },
            NodeMessage::RoomJoin {
                app: "k".into(),
                room: "lobby".into(),
                kind: RoomKind::Sfu,
                peer: "alice".into(),
            },
            NodeMessage::RoomLeave {
                app: "k".into(),
                room: "lobby".into(),
                peer: "alice".into(),
            },
            NodeMessage::RoomData {
                app: "k".into(),
                room: "lobby".into(),
                src: "alice".into(),
                data: Bytes::from_static(br#"{"_placeholder":true,"num":0}"#),
                attachments: vec![Bytes::from_static(&[0, 1, 2]), Bytes::new()],
            },
            NodeMessage::PeerGone {
                app: "k".into(),
                peer: "日本".into(),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for (i, msg) in samples().into_iter().enumerate() {
            let f = Frame {
                from: node(),
                seq: i as u64 * 1_000_000_007,
                msg,
            };
            let bytes = f.encode().unwrap();
            assert_eq!(Frame::decode(&bytes), Ok(f));
        }
    }

    #[test]
    fn every_prefix_and_every_flip_is_handled() {
        for msg in samples() {
            let bytes = Frame {
                from: node(),
                seq: 1,
                msg,
            }
            .encode()
            .unwrap();
            for n in 0..bytes.len() {
                assert!(Frame::decode(&bytes.slice(..n)).is_err(), "prefix {n}");
            }
            for i in 0..bytes.len() {
                let mut b = bytes.to_vec();
                b[i] ^= 0xff;
                let _ = Frame::decode(&Bytes::from(b));
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert_eq!(
                Frame::decode(&Bytes::from(longer)),
                Err(DecodeError::TrailingBytes(1))
            );
        }
    }

    #[test]
    fn limits_hold() {
        let too_many = Frame {
            from: node(),
            seq: 0,
            msg: NodeMessage::RoomData {
                app: String::new(),
                room: String::new(),
                src: String::new(),
                data: Bytes::new(),
                attachments: vec![Bytes::new(); MAX_ATTACHMENTS + 1],
            },
        };
        assert_eq!(
            too_many.encode(),
            Err(EncodeError::TooManyAttachments(MAX_ATTACHMENTS + 1))
        );
        let long = Frame {
            from: node(),
            seq: 0,
            msg: NodeMessage::PeerGone {
                app: "a".repeat(70_000),
                peer: String::new(),
            },
        };
        assert_eq!(long.encode(), Err(EncodeError::StringTooLong(70_000)));
        // A blob length past the end is refused without allocating it.
        let mut b = b"PC\x01\x01".to_vec();
        b.extend_from_slice(&[0, 2, b'a', b'b']);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Frame::decode(&Bytes::from(b)), Err(DecodeError::Truncated));
    }
}
