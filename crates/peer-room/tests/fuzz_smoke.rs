//! Deterministic fuzz smoke test of room data as a Rust peer receives it, with no fuzzing tool
//! needed: mutated `ROOM_DATA` messages (binary ones with their attachments) through the
//! client side of the `room_data` fuzz target (`fuzz/src/room_data_driver.rs`, included here):
//! the Socket.IO decoder, `ServerMessage::parse`, `RoomInput::from_server` and `RoomPayload`.
//! Nothing panics, and decoded data re-encodes to itself; the coverage-guided version is
//! `cargo xtask fuzz 60 room_data`.

#[path = "../../../fuzz/src/room_data_driver.rs"]
mod room_data_driver;

use peer_protocol::engineio::Frame;
use peer_testkit::Rng;

const SEEDS: &[&[u8]] = &[
    b"51-[\"ROOM_DATA\",{\"roomName\":\"r\",\"src\":\"bob\",\"data\":{\"_placeholder\":true,\"num\":0}}]\xff\x00\x01\x02\x03",
    b"52-[\"ROOM_DATA\",{\"roomName\":\"s\",\"src\":\"c\",\"data\":[{\"_placeholder\":true,\"num\":1},{\"k\":{\"_placeholder\":true,\"num\":0}}]}]\xff\x00x\xff\x00yz",
    b"2[\"ROOM_DATA\",{\"roomName\":\"r\",\"src\":\"b\",\"data\":{\"k\":[1,null,{\"_placeholder\":false,\"num\":9}],\"big\":18446744073709551616,\"f\":1.15e300}}]",
    b"2[\"ROOM_DATA\",{\"src\":\"b\",\"data\":\"h\\u00e9\\ud83d\\ude00\",\"roomName\":\"r\"}]\xff2[\"ROOM_USER_JOIN\",{\"roomName\":\"r\",\"src\":\"c\",\"roomMembers\":[\"a\",\"c\"]}]",
    b"2[\"ROOM_DATA\",{\"roomName\":\"r\",\"src\":\"b\",\"data\":null}]\xff2[\"SFU_OFFER\",{\"roomName\":\"r\",\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\"},\"msids\":{\"s\":\"b\"}}]",
];

/// Pieces that matter to JSON and placeholders, inserted more often than noise.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"0",
    b"-0",
    b"1.0",
    b"null",
    b"true",
    b"\"_placeholder\":true,",
    b"\"num\":",
    b"\xff\x00",
    b"\\u0000",
    b"\xc3\xa9",
];

/// One to four mutations of a seed.
fn mutated(rng: &mut Rng) -> Vec<u8> {
    let mut out = SEEDS[rng.below(SEEDS.len())].to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] = rng.next() as u8,
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(12)).min(out.len());
                out.drain(at..end);
            }
            3 => out.truncate(at),
            _ => {
                if let Some(i) = (at..out.len()).find(|&i| out[i].is_ascii_digit()) {
                    out[i] = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
    out
}

/// Fuzz input as engine frames: split at `0xFF`; a piece starting with `0x00` is an attachment.
fn frames(data: &[u8]) -> Vec<Frame> {
    data.split(|&b| b == 0xff)
        .map(|piece| match piece.split_first() {
            Some((0, rest)) => Frame::binary_message(rest),
            _ => Frame::text(format!("4{}", String::from_utf8_lossy(piece))),
        })
        .collect()
}

#[test]
fn received_room_data_decodes_and_re_encodes_to_itself() {
    for seed in SEEDS {
        assert!(
            !room_data_driver::room_data(&frames(seed)).is_empty(),
            "seed {:?} decodes to no room data",
            String::from_utf8_lossy(seed)
        );
    }
    let mut rng = Rng::new(0x726f_6f6d_6461_7461);
    let mut payloads = 0;
    for _ in 0..10_000 {
        payloads += room_data_driver::room_data(&frames(&mutated(&mut rng))).len();
    }
    // The mutations leave enough intact to reach the payload.
    assert!(payloads > 1_200, "only {payloads} payloads decoded");
}
