//! The `wsframe` fuzz target's driver: `peer-server`'s WebSocket frame decoder fed arbitrary
//! bytes and well-formed client frames, split at arbitrary points, with invariants:
//!
//! - no input panics, and an error is final for the bytes it covers;
//! - the messages decoded do not depend on how the bytes were split into reads;
//! - what the decoder holds stays within its message limit plus one frame header;
//! - well-formed masked frames (fragmented or not, with control frames between fragments)
//!   come back as the messages they encode.
//!
//! Self-contained (only the workspace crates), so `peer-server`'s smoke test includes this file.

use peer_server::engine::wsframe::{
    FrameDecoder, WsMessage, OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT,
};

const MAX_MESSAGE: usize = 2048;
const MAX_RESERVE: usize = 512;

/// Feeds `data` in pieces whose sizes come from `sizes` (cycled; 0 means 1); returns the
/// messages and whether (and after how many messages) an error stopped it.
fn decode_split(data: &[u8], sizes: &[u8]) -> (Vec<WsMessage>, bool) {
    let mut d = FrameDecoder::new(MAX_MESSAGE, MAX_RESERVE);
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0)).max(1);
        i += 1;
        let end = (at + n).min(data.len());
        if d.feed(&data[at..end], &mut out).is_err() {
            return (out, true);
        }
        assert!(
            d.buffered() <= MAX_MESSAGE + 14 + n,
            "decoder holds {} bytes",
            d.buffered()
        );
        at = end;
    }
    (out, false)
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
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

/// Drives the decoder with `data`; panics when an invariant breaks.
pub fn wsframe(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // Arbitrary bytes: split or whole, the same messages up to the same error.
    let whole = decode_split(rest, &[255]);
    let pieces = decode_split(rest, &[split, split / 3, 1]);
    let one_by_one = decode_split(rest, &[1]);
    assert_eq!(whole.1, pieces.1);
    assert_eq!(whole.1, one_by_one.1);
    if !whole.1 {
        assert_eq!(whole.0, pieces.0);
        assert_eq!(whole.0, one_by_one.0);
    }

    // Well-formed frames built from the input: each chunk is (kind, len, bytes...).
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for chunk in rest.chunks(40) {
        let Some((&kind, body)) = chunk.split_first() else {
            continue;
        };
        let mask = [kind, kind ^ 0x5a, split, 0x33];
        let opcode = if kind & 1 == 0 { OP_TEXT } else { OP_BINARY };
        let message: Vec<u8> = body.to_vec();
        if kind & 2 == 0 {
            wire.extend(client_frame(true, opcode, &message, mask));
        } else {
            // Two fragments with a ping between them.
            let (a, b) = message.split_at(message.len() / 2);
            wire.extend(client_frame(false, opcode, a, mask));
            wire.extend(client_frame(true, OP_PING, b"p", mask));
            expected.push(WsMessage::Ping(bytes::Bytes::from_static(b"p")));
            wire.extend(client_frame(true, OP_CONTINUATION, b, mask));
        }
        expected.push(if opcode == OP_TEXT {
            WsMessage::Text(message)
        } else {
            WsMessage::Binary(bytes::Bytes::from(message))
        });
    }
    for sizes in [&[255u8][..], &[split, 7, 1], &[1]] {
        let (got, failed) = decode_split(&wire, sizes);
        assert!(!failed, "well-formed frames refused");
        assert_eq!(got, expected);
    }
}
