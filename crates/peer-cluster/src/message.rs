//! [`NodeMessage`]: what one node tells another, and its binary frame.
//!
//! A frame is `"PC"`, a version byte (1), a type byte, the sender's node id, the sender's
//! sequence number on the channel it is published on (u64, so a receiver counts the messages
//! it lost), then the fields of the type. Strings are a u16 length and UTF-8; payloads (JSON text, room-data
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

/// One engine frame of a message for a client, as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// A binary frame (a room-data attachment) rather than a text one.
    pub binary: bool,
    /// The frame's bytes.
    pub data: Bytes,
}

/// What a room's home node tells a member's node about the room, with a membership message
/// for the member: the members now (the member's node keeps them, to tell its members who
/// left should the home die).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomNote {
    /// The room.
    pub room: String,
    /// An SFU room (else mesh).
    pub sfu: bool,
    /// The members, in join order.
    pub members: Vec<String>,
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
    /// A room operation of `peer` (on the sending node) for `room`, whose home is the
    /// receiving node: the client event `event` (`ROOM_JOIN`, `ROOM_SEND_DATA`, `SFU_ANSWER`,
    /// ...) with its JSON payload and binary attachments, as the client sent it.
    RoomInput {
        /// The app key.
        app: String,
        /// The room name.
        room: String,
        /// The member.
        peer: String,
        /// The client event name.
        event: String,
        /// The event's JSON payload (attachment placeholders included).
        body: Bytes,
        /// The binary attachments.
        attachments: Vec<Bytes>,
    },
    /// A message from a room's home node for member `dst` of `app`, open on the receiving
    /// node: the encoded engine frames of server event `event`, queued on its session as they
    /// are; `note` changes what the receiving node records of `dst`'s rooms.
    Frames {
        /// The app key.
        app: String,
        /// The receiving peer.
        dst: String,
        /// The server event name (for logging and metrics).
        event: String,
        /// The frames, in order.
        frames: Vec<WireFrame>,
        /// A membership change that comes with the message.
        note: Option<RoomNote>,
    },
    /// A client reconnecting through the sending node asks for `peer` of `app`, which the
    /// receiving node holds, presenting `token`: if it is
    /// the peer's, the receiver lets the peer go quietly, gives its id up and answers with a
    /// [`NodeMessage::HandedOver`].
    HandOver {
        /// The app key.
        app: String,
        /// The peer id.
        peer: String,
        /// The session token the client presented.
        token: String,
        /// The asking node's number for this request.
        request: u64,
    },
    /// The answer to a [`NodeMessage::HandOver`].
    HandedOver {
        /// The request answered.
        request: u64,
        /// Whether the peer was handed over (the token was its token).
        ok: bool,
        /// The peer's contacts (they hear `LEAVE` when it goes).
        contacts: Vec<String>,
        /// The rooms the peer is in.
        rooms: Vec<String>,
    },
}

/// A message with its sender and the sender's sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The sending node.
    pub from: NodeId,
    /// The sender's sequence number, one counter per channel it publishes on (a gap is a lost
    /// message).
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
            NodeMessage::RoomInput { .. } => 2,
            NodeMessage::Frames { .. } => 3,
            NodeMessage::HandOver { .. } => 4,
            NodeMessage::HandedOver { .. } => 5,
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
            NodeMessage::RoomInput {
                app,
                room,
                peer,
                event,
                body,
                attachments,
            } => {
                if attachments.len() > MAX_ATTACHMENTS {
                    return Err(EncodeError::TooManyAttachments(attachments.len()));
                }
                put_str(&mut out, app)?;
                put_str(&mut out, room)?;
                put_str(&mut out, peer)?;
                put_str(&mut out, event)?;
                put_blob(&mut out, body)?;
                out.put_u16(attachments.len() as u16);
                for a in attachments {
                    put_blob(&mut out, a)?;
                }
            }
            NodeMessage::Frames {
                app,
                dst,
                event,
                frames,
                note,
            } => {
                if frames.len() > MAX_ATTACHMENTS + 1 {
                    return Err(EncodeError::TooManyAttachments(frames.len()));
                }
                put_str(&mut out, app)?;
                put_str(&mut out, dst)?;
                put_str(&mut out, event)?;
                match note {
                    None => out.put_u8(0),
                    Some(n) => {
                        out.put_u8(if n.sfu { 2 } else { 1 });
                        put_str(&mut out, &n.room)?;
                        let count = u16::try_from(n.members.len())
                            .map_err(|_| EncodeError::TooLarge(n.members.len()))?;
                        out.put_u16(count);
                        for m in &n.members {
                            put_str(&mut out, m)?;
                        }
                    }
                }
                out.put_u16(frames.len() as u16);
                for f in frames {
                    out.put_u8(u8::from(f.binary));
                    put_blob(&mut out, &f.data)?;
                }
            }
            NodeMessage::HandOver {
                app,
                peer,
                token,
                request,
            } => {
                put_str(&mut out, app)?;
                put_str(&mut out, peer)?;
                put_str(&mut out, token)?;
                out.put_u64(*request);
            }
            NodeMessage::HandedOver {
                request,
                ok,
                contacts,
                rooms,
            } => {
                out.put_u64(*request);
                out.put_u8(u8::from(*ok));
                for list in [contacts, rooms] {
                    let n =
                        u16::try_from(list.len()).map_err(|_| EncodeError::TooLarge(list.len()))?;
                    out.put_u16(n);
                    for item in list {
                        put_str(&mut out, item)?;
                    }
                }
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
                let peer = r.string()?;
                let event = r.string()?;
                let body = r.blob()?;
                let n = usize::from(r.u16()?);
                if n > MAX_ATTACHMENTS {
                    return Err(DecodeError::TooManyAttachments(n));
                }
                let mut attachments = Vec::with_capacity(n);
                for _ in 0..n {
                    attachments.push(r.blob()?);
                }
                NodeMessage::RoomInput {
                    app,
                    room,
                    peer,
                    event,
                    body,
                    attachments,
                }
            }
            3 => {
                let app = r.string()?;
                let dst = r.string()?;
                let event = r.string()?;
                let note = match r.u8()? {
                    0 => None,
                    k @ (1 | 2) => {
                        let room = r.string()?;
                        let members = r.strings()?;
                        Some(RoomNote {
                            room,
                            sfu: k == 2,
                            members,
                        })
                    }
                    other => return Err(DecodeError::UnknownType(other)),
                };
                let n = usize::from(r.u16()?);
                if n > MAX_ATTACHMENTS + 1 {
                    return Err(DecodeError::TooManyAttachments(n));
                }
                let mut frames = Vec::with_capacity(n);
                for _ in 0..n {
                    let binary = match r.u8()? {
                        0 => false,
                        1 => true,
                        other => return Err(DecodeError::UnknownType(other)),
                    };
                    frames.push(WireFrame {
                        binary,
                        data: r.blob()?,
                    });
                }
                NodeMessage::Frames {
                    app,
                    dst,
                    event,
                    frames,
                    note,
                }
            }
            4 => NodeMessage::HandOver {
                app: r.string()?,
                peer: r.string()?,
                token: r.string()?,
                request: r.u64()?,
            },
            5 => {
                let request = r.u64()?;
                let ok = match r.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(DecodeError::UnknownType(other)),
                };
                let contacts = r.strings()?;
                let rooms = r.strings()?;
                NodeMessage::HandedOver {
                    request,
                    ok,
                    contacts,
                    rooms,
                }
            }
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
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

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

    /// A u16 count, then that many strings.
    fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = usize::from(self.u16()?);
        // Each takes at least its 2-byte length: no more than what is left.
        let mut out = Vec::with_capacity(n.min(self.left() / 2));
        for _ in 0..n {
            out.push(self.string()?);
        }
        Ok(out)
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
            NodeMessage::RoomInput {
                app: "k".into(),
                room: "lobby".into(),
                peer: "alice".into(),
                event: "ROOM_SEND_DATA".into(),
                body: Bytes::from_static(
                    br#"{"roomName":"lobby","data":{"_placeholder":true,"num":0}}"#,
                ),
                attachments: vec![Bytes::from_static(&[0, 1, 2]), Bytes::new()],
            },
            NodeMessage::Frames {
                app: "k".into(),
                dst: "日本".into(),
                event: "ROOM_DATA".into(),
                frames: vec![
                    WireFrame {
                        binary: false,
                        data: Bytes::from_static(b"451-[\"ROOM_DATA\",{}]"),
                    },
                    WireFrame {
                        binary: true,
                        data: Bytes::from_static(&[4, 1, 2]),
                    },
                ],
                note: Some(RoomNote {
                    room: "lobby".into(),
                    sfu: true,
                    members: vec!["alice".into(), "日本".into()],
                }),
            },
            NodeMessage::Frames {
                app: "k".into(),
                dst: "bob".into(),
                event: "ROOM_USER_LEAVE".into(),
                frames: Vec::new(),
                note: None,
            },
            NodeMessage::HandOver {
                app: "k".into(),
                peer: "bob".into(),
                token: "t0k3n".into(),
                request: u64::MAX,
            },
            NodeMessage::HandedOver {
                request: 7,
                ok: true,
                contacts: vec!["alice".into(), "carol".into()],
                rooms: vec!["lobby".into()],
            },
            NodeMessage::HandedOver {
                request: 8,
                ok: false,
                contacts: Vec::new(),
                rooms: Vec::new(),
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
            msg: NodeMessage::RoomInput {
                app: String::new(),
                room: String::new(),
                peer: String::new(),
                event: String::new(),
                body: Bytes::new(),
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
            msg: NodeMessage::Deliver {
                app: "a".repeat(70_000),
                dst: String::new(),
                event: String::new(),
                body: Bytes::new(),
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
