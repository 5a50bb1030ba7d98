//! TURN over TCP (RFC 5766 §2.1, RFC 8656 §3.1): the byte stream carries STUN messages and
//! ChannelData messages back to back, told apart by their first two bits. A STUN message is its
//! 20-byte header plus the length in the header (a multiple of 4). A ChannelData message is its
//! 4-byte header plus the length in the header, and over TCP it is padded to a multiple of 4;
//! the padding is not part of the message.
//!
//! [`TcpFramer`] cuts messages out of what a connection reads, holding at most one message's
//! worth of bytes; anything else (a first byte of RTP, DTLS or TLS, a STUN header without the
//! magic cookie) is a [`FramingError`] and the connection should be closed.

use std::fmt;

/// The STUN magic cookie (RFC 5389 §6).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The largest message: a header and a 16-bit length, padded.
pub const MAX_FRAME: usize = 20 + 0xffff + 3;

/// One message cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A STUN message (request, indication or response), header included.
    Stun(Vec<u8>),
    /// A ChannelData message, its 4-byte header included, the TCP padding left out.
    ChannelData(Vec<u8>),
}

impl Frame {
    /// The message's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Frame::Stun(b) | Frame::ChannelData(b) => b,
        }
    }
}

/// Why the stream cannot be a TURN connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// The first byte of a message is neither STUN (`0b00`) nor ChannelData (`0b01`).
    NotTurn(u8),
    /// A STUN header without the magic cookie.
    NoMagicCookie,
    /// A STUN length that is not a multiple of 4.
    UnalignedStun(u16),
    /// A ChannelData channel number outside 0x4000..=0x7FFF (0x8000.. never reach here).
    BadChannel(u16),
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::NotTurn(b) => {
                write!(
                    f,
                    "byte 0x{b:02x} starts neither a STUN nor a ChannelData message"
                )
            }
            FramingError::NoMagicCookie => write!(f, "a STUN header without the magic cookie"),
            FramingError::UnalignedStun(n) => {
                write!(f, "a STUN length of {n}, not a multiple of 4")
            }
            FramingError::BadChannel(c) => write!(f, "channel number 0x{c:04x} is out of range"),
        }
    }
}

impl std::error::Error for FramingError {}

/// Cuts TURN messages out of a TCP byte stream.
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
    failed: Option<FramingError>,
}

impl TcpFramer {
    /// An empty framer.
    pub fn new() -> TcpFramer {
        TcpFramer::default()
    }

    /// How many more bytes [`TcpFramer::push`] may take now: the rest of the message being
    /// read, so that a connection never holds more than [`MAX_FRAME`] bytes.
    pub fn room(&self) -> usize {
        MAX_FRAME.saturating_sub(self.buf.len())
    }

    /// Adds bytes read from the connection, at most [`TcpFramer::room`] of them; returns how
    /// many it took (the caller keeps the rest for after [`TcpFramer::next_frame`], or reads
    /// no more than `room()` at a time).
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// The next complete message, `Ok(None)` while one is incomplete. After an error every
    /// call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.cut() {
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                Err(e)
            }
            ok => ok,
        }
    }

    fn cut(&mut self) -> Result<Option<Frame>, FramingError> {
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        match first >> 6 {
            0b00 => {
                if self.buf.len() < 20 {
                    return Ok(None);
                }
                let len = u16::from_be_bytes([self.buf[2], self.buf[3]]);
                if !len.is_multiple_of(4) {
                    return Err(FramingError::UnalignedStun(len));
                }
                let cookie =
                    u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
                if cookie != MAGIC_COOKIE {
                    return Err(FramingError::NoMagicCookie);
                }
                let total = 20 + usize::from(len);
                if self.buf.len() < total {
                    return Ok(None);
                }
                let rest = self.buf.split_off(total);
                Ok(Some(Frame::Stun(std::mem::replace(&mut self.buf, rest))))
            }
            0b01 => {
                if self.buf.len() < 4 {
                    return Ok(None);
                }
                let channel = u16::from_be_bytes([self.buf[0], self.buf[1]]);
                if !(0x4000..=0x7fff).contains(&channel) {
                    return Err(FramingError::BadChannel(channel));
                }
                let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                let message = 4 + len;
                let padded = message.next_multiple_of(4);
                if self.buf.len() < padded {
                    return Ok(None);
                }
                let rest = self.buf.split_off(padded);
                let mut frame = std::mem::replace(&mut self.buf, rest);
                frame.truncate(message);
                Ok(Some(Frame::ChannelData(frame)))
            }
            _ => Err(FramingError::NotTurn(first)),
        }
    }
}

/// The bytes to write for `message` on a TCP connection: ChannelData padded to a multiple of 4
/// (STUN messages are aligned already).
pub fn pad_for_tcp(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_channel_data = message.first().is_some_and(|b| b >> 6 == 0b01);
    if is_channel_data && !message.len().is_multiple_of(4) {
        let mut v = message.to_vec();
        v.resize(message.len().next_multiple_of(4), 0);
        std::borrow::Cow::Owned(v)
    } else {
        std::borrow::Cow::Borrowed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend(std::iter::repeat_n(0xab, body));
        m
    }

    fn channel_data(channel: u16, len: usize) -> Vec<u8> {
        let mut m = channel.to_be_bytes().to_vec();
        m.extend_from_slice(&(len as u16).to_be_bytes());
        m.extend(std::iter::repeat_n(0xcd, len));
        m
    }

    #[test]
    fn messages_come_out_whole_whatever_the_reads() {
        let a = stun(8);
        let b = channel_data(0x4001, 5); // padded with 3 bytes on TCP
        let c = stun(0);
        let mut stream = a.clone();
        stream.extend_from_slice(&pad_for_tcp(&b));
        stream.extend_from_slice(&c);
        assert_eq!(pad_for_tcp(&b).len(), 12);
        // Byte by byte, and all at once.
        for chunk in [1, stream.len()] {
            let mut f = TcpFramer::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(m) = f.next_frame().unwrap() {
                    out.push(m);
                }
            }
            assert_eq!(
                out,
                vec![
                    Frame::Stun(a.clone()),
                    Frame::ChannelData(b.clone()),
                    Frame::Stun(c.clone())
                ]
            );
        }
    }

    #[test]
    fn what_is_not_turn_fails_the_connection() {
        // RTP or DTLS: first bits 0b10 or 0b11.
        let mut f = TcpFramer::new();
        f.push(&[0x80, 0x60, 0, 0]);
        assert_eq!(f.next_frame(), Err(FramingError::NotTurn(0x80)));
        f.push(&stun(0));
        assert_eq!(
            f.next_frame(),
            Err(FramingError::NotTurn(0x80)),
            "stays failed"
        );
        // TLS (0x16) starts like STUN; its "header" has no magic cookie.
        let mut f = TcpFramer::new();
        f.push(&[0x16, 0x03, 0x01, 0x00, 0x04]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&[0; 20]);
        assert_eq!(f.next_frame(), Err(FramingError::NoMagicCookie));
        let mut f = TcpFramer::new();
        let mut odd = stun(4);
        odd[3] = 3;
        f.push(&odd);
        assert_eq!(f.next_frame(), Err(FramingError::UnalignedStun(3)));
    }

    #[test]
    fn a_connection_holds_at_most_one_message() {
        let mut f = TcpFramer::new();
        let big = channel_data(0x7fff, 0xffff);
        f.push(&big[..40_000]);
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.room(), MAX_FRAME - 40_000);
        assert_eq!(f.push(&vec![0xcd; 100_000]), MAX_FRAME - 40_000);
        assert_eq!(f.room(), 0);
        let m = f.next_frame().unwrap().expect("complete");
        assert_eq!(m.bytes().len(), 4 + 0xffff);
    }
}
