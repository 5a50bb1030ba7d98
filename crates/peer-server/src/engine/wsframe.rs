//! A server-side WebSocket frame codec (RFC 6455), pure and allocation-frugal.
//!
//! The decoder keeps no buffer while a connection is idle: complete frames are parsed straight
//! from the bytes just read, and only an incomplete tail is kept. Client frames must be masked;
//! fragmented messages are reassembled; control frames are checked. The encoder writes unmasked
//! server frames.

use bytes::Bytes;
use std::fmt;

/// Opcode of a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Buffers above this capacity are released once empty.
const KEEP_CAPACITY: usize = 16 * 1024;

/// A complete message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message (not yet checked for UTF-8), in a buffer of its own.
    Text(Vec<u8>),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload (to be echoed in a pong).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame with its status code, if any.
    Close(Option<u16>),
}

/// Why the client's bytes are not acceptable WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// A protocol violation (close code 1002).
    Protocol(&'static str),
    /// A message larger than the limit (close code 1009).
    TooBig(u64),
}

impl WsError {
    /// The close code to send for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::TooBig(_) => 1009,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Protocol(what) => write!(f, "websocket protocol error: {what}"),
            WsError::TooBig(n) => write!(f, "websocket message of {n} bytes exceeds the limit"),
        }
    }
}

impl std::error::Error for WsError {}

/// Reassembles client messages from the bytes read off the socket.
#[derive(Debug)]
pub struct FrameDecoder {
    tail: Vec<u8>,
    fragments: Option<(u8, Vec<u8>)>,
    max_message: usize,
    /// Most bytes reserved ahead for a frame whose header announced its length, so a header
    /// alone cannot make the decoder reserve a whole message.
    max_reserve: usize,
}

struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    payload_len: u64,
}

fn parse_header(data: &[u8]) -> Result<Option<Header>, WsError> {
    if data.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (data[0], data[1]);
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set"));
    }
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("client frames must be masked"));
    }
    let (payload_len, mut at) = match b1 & 0x7f {
        126 => {
            let Some(b) = data.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = data.get(2..10) else {
                return Ok(None);
            };
            let mut raw = [0u8; 8];
            raw.copy_from_slice(b);
            (u64::from_be_bytes(raw), 10)
        }
        n => (u64::from(n), 2),
    };
    let Some(m) = data.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [m[0], m[1], m[2], m[3]];
    at += 4;
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        mask,
        header_len: at,
        payload_len,
    }))
}

fn unmask(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i & 3])
        .collect()
}

impl FrameDecoder {
    /// A decoder accepting messages up to `max_message` bytes, reserving at most `max_reserve`
    /// bytes ahead of the data.
    pub fn new(max_message: usize, max_reserve: usize) -> FrameDecoder {
        FrameDecoder {
            tail: Vec::new(),
            fragments: None,
            max_message,
            max_reserve,
        }
    }

    /// Bytes held for an incomplete frame or message.
    pub fn buffered(&self) -> usize {
        self.tail.len() + self.fragments.as_ref().map_or(0, |(_, f)| f.len())
    }

    /// Feeds bytes read from the socket; complete messages are appended to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        if self.tail.is_empty() {
            let used = self.parse(data, out)?;
            let rest = &data[used..];
            if !rest.is_empty() {
                if let Ok(Some(h)) = parse_header(rest) {
                    // Reserve the frame once instead of growing step by step (up to a bound:
                    // the announced length is only a claim).
                    let total = h.header_len as u64 + h.payload_len;
                    let total = usize::try_from(total).unwrap_or(0).min(self.max_reserve);
                    self.tail.reserve_exact(total);
                }
                self.tail.extend_from_slice(rest);
            }
            return Ok(());
        }
        self.grow_tail(data.len());
        self.tail.extend_from_slice(data);
        if self.take_whole_frame(out)? {
            return Ok(());
        }
        let tail = std::mem::take(&mut self.tail);
        let used = self.parse(&tail, out)?;
        if used < tail.len() {
            let mut tail = tail;
            tail.drain(..used);
            self.tail = tail;
        } else if tail.capacity() <= KEEP_CAPACITY {
            let mut tail = tail;
            tail.clear();
            self.tail = tail;
        }
        Ok(())
    }

    /// Makes room for `more` bytes in the tail, growing toward the length its frame announced
    /// rather than past it.
    fn grow_tail(&mut self, more: usize) {
        let needed = self.tail.len() + more;
        if needed <= self.tail.capacity() {
            return;
        }
        let frame_total = match parse_header(&self.tail) {
            Ok(Some(h)) => usize::try_from(h.header_len as u64 + h.payload_len).ok(),
            _ => None,
        };
        let doubled = needed.max(self.tail.capacity() * 2);
        let target = match frame_total {
            Some(total) if total >= needed => doubled.min(total),
            _ => doubled,
        };
        self.tail.reserve_exact(target - self.tail.len());
    }

    /// When the tail holds exactly one complete frame (a large message that came in many reads),
    /// unmasks it in place and hands the buffer on without copying it. True if it did.
    fn take_whole_frame(&mut self, out: &mut Vec<WsMessage>) -> Result<bool, WsError> {
        let Some(h) = parse_header(&self.tail)? else {
            return Ok(false);
        };
        self.check_size(&h)?;
        if h.header_len as u64 + h.payload_len != self.tail.len() as u64 {
            return Ok(false);
        }
        let mut payload = std::mem::take(&mut self.tail);
        payload.drain(..h.header_len);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= h.mask[i & 3];
        }
        self.frame(h.fin, h.opcode, payload, out)?;
        Ok(true)
    }

    fn check_size(&self, h: &Header) -> Result<(), WsError> {
        let held = self.fragments.as_ref().map_or(0, |(_, f)| f.len() as u64);
        if h.payload_len.saturating_add(held) > self.max_message as u64 {
            return Err(WsError::TooBig(h.payload_len.saturating_add(held)));
        }
        Ok(())
    }

    /// Parses complete frames from `data`; returns how many bytes were used.
    fn parse(&mut self, data: &[u8], out: &mut Vec<WsMessage>) -> Result<usize, WsError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            let Some(h) = parse_header(rest)? else {
                return Ok(used);
            };
            self.check_size(&h)?;
            let len = h.payload_len as usize;
            let Some(raw) = rest.get(h.header_len..h.header_len + len) else {
                return Ok(used);
            };
            used += h.header_len + len;
            let payload = unmask(raw, h.mask);
            self.frame(h.fin, h.opcode, payload, out)?;
        }
    }

    fn frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
        out: &mut Vec<WsMessage>,
    ) -> Result<(), WsError> {
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || payload.len() > 125 {
                    return Err(WsError::Protocol("fragmented or oversized control frame"));
                }
                out.push(match opcode {
                    OP_PING => WsMessage::Ping(Bytes::from(payload)),
                    OP_PONG => WsMessage::Pong,
                    _ => {
                        let code = (payload.len() >= 2)
                            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                        WsMessage::Close(code)
                    }
                });
            }
            OP_TEXT | OP_BINARY => {
                if self.fragments.is_some() {
                    return Err(WsError::Protocol("new message inside a fragmented one"));
                }
                if fin {
                    out.push(message(opcode, payload));
                } else {
                    self.fragments = Some((opcode, payload));
                }
            }
            OP_CONTINUATION => {
                let Some((first, mut data)) = self.fragments.take() else {
                    return Err(WsError::Protocol("continuation without a message"));
                };
                data.extend_from_slice(&payload);
                if fin {
                    out.push(message(first, data));
                } else {
                    self.fragments = Some((first, data));
                }
            }
            _ => return Err(WsError::Protocol("unknown opcode")),
        }
        Ok(())
    }
}

fn message(opcode: u8, payload: Vec<u8>) -> WsMessage {
    if opcode == OP_TEXT {
        WsMessage::Text(payload)
    } else {
        WsMessage::Binary(Bytes::from(payload))
    }
}

/// The header of an unmasked server frame: bytes and length used.
pub fn frame_header(opcode: u8, payload_len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | (opcode & 0x0f);
    if payload_len < 126 {
        h[1] = payload_len as u8;
        (h, 2)
    } else if payload_len <= usize::from(u16::MAX) {
        h[1] = 126;
        h[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Appends a whole unmasked server frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let (h, n) = frame_header(opcode, payload.len());
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser sends it.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    #[test]
    fn decodes_whole_and_split_frames() {
        let mut bytes = client_frame(true, OP_TEXT, b"2probe");
        bytes.extend(client_frame(true, OP_BINARY, &vec![7u8; 70_000]));
        bytes.extend(client_frame(true, OP_PING, b"hi"));
        for chunk in [1usize, 3, 100, bytes.len()] {
            let mut d = FrameDecoder::new(1 << 20, 1 << 20);
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                d.feed(piece, &mut out).unwrap();
            }
            assert_eq!(out.len(), 3, "chunk {chunk}");
            assert_eq!(out[0], WsMessage::Text(b"2probe".to_vec()));
            assert_eq!(out[1], WsMessage::Binary(Bytes::from(vec![7u8; 70_000])));
            assert_eq!(out[2], WsMessage::Ping(Bytes::from_static(b"hi")));
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn reassembles_fragments_and_allows_interleaved_control() {
        let mut bytes = client_frame(false, OP_TEXT, b"42[");
        bytes.extend(client_frame(true, OP_PING, b""));
        bytes.extend(client_frame(true, OP_CONTINUATION, b"1]"));
        let mut d = FrameDecoder::new(100, 1 << 20);
        let mut out = Vec::new();
        d.feed(&bytes, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                WsMessage::Ping(Bytes::new()),
                WsMessage::Text(b"42[1]".to_vec())
            ]
        );
    }

    #[test]
    fn rejects_violations() {
        let mut d = FrameDecoder::new(10, 1 << 20);
        assert_eq!(
            d.feed(&client_frame(true, OP_BINARY, &[0; 11]), &mut Vec::new()),
            Err(WsError::TooBig(11))
        );
        let unmasked = [0x81, 0x01, b'x'];
        assert!(FrameDecoder::new(10, 1 << 20)
            .feed(&unmasked, &mut Vec::new())
            .is_err());
        assert!(FrameDecoder::new(10, 1 << 20)
            .feed(&client_frame(true, OP_CONTINUATION, b"x"), &mut Vec::new())
            .is_err());
        assert!(FrameDecoder::new(10, 1 << 20)
            .feed(&client_frame(true, 0x3, b"x"), &mut Vec::new())
            .is_err());
        assert!(FrameDecoder::new(200, 1 << 20)
            .feed(&client_frame(false, OP_PING, b"x"), &mut Vec::new())
            .is_err());
        let mut rsv = client_frame(true, OP_TEXT, b"x");
        rsv[0] |= 0x40;
        assert!(FrameDecoder::new(10, 1 << 20)
            .feed(&rsv, &mut Vec::new())
            .is_err());
        // A huge announced length is refused from the header alone.
        let huge = [0x82, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert!(matches!(
            FrameDecoder::new(10, 1 << 20).feed(&huge, &mut Vec::new()),
            Err(WsError::TooBig(_))
        ));
    }

    #[test]
    fn close_code_and_headers() {
        let mut out = Vec::new();
        FrameDecoder::new(10, 1 << 20)
            .feed(&client_frame(true, OP_CLOSE, &[0x03, 0xe8]), &mut out)
            .unwrap();
        assert_eq!(out, vec![WsMessage::Close(Some(1000))]);
        assert_eq!(frame_header(OP_TEXT, 5).1, 2);
        assert_eq!(frame_header(OP_TEXT, 300).1, 4);
        assert_eq!(frame_header(OP_BINARY, 70_000).1, 10);
        let mut f = Vec::new();
        encode_frame(&mut f, OP_TEXT, b"3probe");
        assert_eq!(f, b"\x81\x063probe");
    }
}
