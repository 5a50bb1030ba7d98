//! The `wsframe` and `hub` fuzz targets' properties, and the server side of the `sfu_answer`
//! and `room_data` ones (`fuzz/src/*_driver.rs`, included here), run on a few thousand
//! deterministic pseudo-random inputs with every `cargo test`, so they hold between fuzzing
//! campaigns (`cargo xtask fuzz`).

#[path = "../../../fuzz/src/hub_driver.rs"]
mod hub_driver;
#[path = "../../../fuzz/src/room_send_data_driver.rs"]
mod room_send_data_driver;
#[path = "../../../fuzz/src/sfu_answer_driver.rs"]
mod sfu_answer_driver;
#[path = "../../../fuzz/src/sfu_core_driver.rs"]
mod sfu_core_driver;
#[path = "../../../fuzz/src/wsframe_driver.rs"]
mod wsframe_driver;

use peer_testkit::Rng;

fn inputs(seed: u64, count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count).map(move |_| {
        let len = rng.below(max_len);
        rng.bytes(len)
    })
}

#[test]
fn hub_driven_by_random_inputs_keeps_its_invariants() {
    for data in inputs(0x5eed_0001, 3000, 600) {
        hub_driver::hub(&data);
    }
}

#[test]
fn wsframe_decoder_keeps_its_invariants() {
    for data in inputs(0x5eed_0002, 3000, 400) {
        wsframe_driver::wsframe(&data);
    }
    // Valid frames as most of the input, not only noise.
    let mut rng = Rng::new(0x5eed_0003);
    for _ in 0..500 {
        let mut data = vec![rng.next() as u8];
        for _ in 0..rng.below(8) {
            data.push(0x81);
            data.push(0x80 | rng.below(30) as u8);
            data.extend((0..rng.below(40)).map(|_| rng.next() as u8));
        }
        wsframe_driver::wsframe(&data);
    }
}

/// Pieces that matter to JSON, Socket.IO placeholders and SDP, inserted more often than noise.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud83d",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"0",
    b"1",
    b"-",
    b"1e999",
    b"null",
    b"\"_placeholder\":true",
    b"\"num\":",
    b"\xff\x00",
    b"\r\n",
    b"\n",
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111",
    b"a=msid-semantic: WMS s",
    b"\xc3\xa9",
];

/// One to four mutations of a seed (or, one time in eight, random bytes).
fn mutated(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.chance(8) {
        let len = rng.below(64);
        return rng.bytes(len);
    }
    let mut out = rng.pick(seeds).clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => out.insert(at, rng.next() as u8),
            2 => {
                let token = rng.pick(TOKENS);
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            4 => out.truncate(at),
            _ => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
        }
    }
    out
}

const UNIFIED_ANSWER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendrecv\r\na=msid:s t\r\na=rtpmap:96 VP8/90000\r\na=ssrc:1 cname:c\r\n";
const PLAN_B_ANSWER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=msid-semantic: WMS s\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video\r\na=ssrc:1 msid:s t\r\n";

#[test]
fn sfu_answers_reach_the_backend_unchanged() {
    let frame = |room: &str, sdp: &str| {
        let msg = serde_json::json!(["SFU_ANSWER", {"roomName": room, "answer": {"type": "answer", "sdp": sdp}}]);
        format!("42{msg}").into_bytes()
    };
    let seeds = vec![
        frame("r", UNIFIED_ANSWER),
        frame("room b", PLAN_B_ANSWER),
        frame("", UNIFIED_ANSWER),
        frame("r", "v=0\r\n"),
        UNIFIED_ANSWER.as_bytes().to_vec(),
    ];
    let mut rng = Rng::new(0x5eed_0004);
    let mut decoded = 0;
    for i in 0..3000 {
        let input = match seeds.get(i) {
            Some(seed) => seed.clone(),
            None => mutated(&mut rng, &seeds),
        };
        let answers = sfu_answer_driver::sfu_answer(&input);
        decoded += usize::from(answers.len() == 2);
        for a in answers {
            sfu_core_driver::sfu_core(&a.room_name, &a.answer.sdp, |_| Ok(()));
        }
    }
    // The mutations leave enough intact to reach the hub and the core.
    assert!(decoded > 200, "only {decoded} frames reached the SFU");
}

/// Fuzz input as engine frames: split at `0xFF`; a piece starting with `0x00` is an attachment.
fn frames(data: &[u8]) -> Vec<peer_protocol::engineio::Frame> {
    use peer_protocol::engineio::Frame;
    data.split(|&b| b == 0xff)
        .map(|piece| match piece.split_first() {
            Some((0, rest)) => Frame::binary_message(rest),
            _ => Frame::text(format!("4{}", String::from_utf8_lossy(piece))),
        })
        .collect()
}

#[test]
fn room_data_is_relayed_as_sent() {
    let seeds: Vec<Vec<u8>> = [
        &b"51-[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":{\"_placeholder\":true,\"num\":0}}]\xff\x00\x01\x02"[..],
        b"52-[\"ROOM_SEND_DATA\",{\"roomName\":\"room\",\"data\":{\"file\":{\"_placeholder\":true,\"num\":1},\"parts\":[{\"_placeholder\":true,\"num\":0}],\"n\":1.5e300}}]\xff\x00aa\xff\x00bbbb",
        "2[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":\"h\u{e9}\u{1f600}\\ud83d\\ude00\"}]".as_bytes(),
        b"2[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":[1,{\"_placeholder\":false}]}]\xff2[\"ROOM_SEND_DATA\",{\"data\":null,\"roomName\":\"s\"}]",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    let mut rng = Rng::new(0x5eed_0005);
    let mut relayed = 0;
    for i in 0..3000 {
        let input = match seeds.get(i) {
            Some(seed) => seed.clone(),
            None => mutated(&mut rng, &seeds),
        };
        relayed += room_send_data_driver::room_send_data(&frames(&input)).len();
    }
    assert!(relayed > 300, "only {relayed} messages relayed");
}
