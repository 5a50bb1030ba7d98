//! Deterministic fuzz smoke test: a few hundred thousand random and mutated inputs through every
//! decoder of `peer-protocol`, with no fuzzing tool needed.
//!
//! Inputs come from a small xorshift generator with fixed seeds, so every run checks the same
//! inputs. Properties: nothing panics; whatever decodes re-encodes and decodes to the same value;
//! the peer id and API key rules agree with reference matchers written from their regexes. The
//! coverage-guided version of these checks is `cargo xtask fuzz` (see `fuzz/README.md`).

use bytes::Bytes;
use peer_protocol::engineio::{self, Frame, Packet, CONTENT_TYPE_BINARY};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::socketio::{self, Decoder, Event};
use peer_protocol::{ids, ClientMessage};
use peer_testkit::Rng;
use serde_json::Value;

/// Bytes that matter to the formats under test, inserted more often than uniform noise.
const INTERESTING: &[&[u8]] = &[
    b"0",
    b"1",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
    b"9",
    b":",
    b"-",
    b",",
    b"/",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"b",
    b"b4",
    b"%",
    b"%2",
    b"%25",
    b"&",
    b"=",
    b" ",
    b"_",
    b"null",
    b"true",
    b"\"_placeholder\":true",
    b"\"num\":",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\x00",
    b"\x01",
    b"\x04",
    b"\x09",
    b"\x0a",
    b"\xff",
    b"99999999999",
    b"18446744073709551616",
];

/// Applies one to four random mutations to `input`, sometimes splicing in another seed.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(9) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.next() as u8);
            }
            3 => {
                let i = rng.below(out.len() + 1);
                let piece = rng.pick(INTERESTING);
                out.splice(i..i, piece.iter().copied());
            }
            4 if !out.is_empty() => {
                let a = rng.below(out.len());
                let b = (a + 1 + rng.below(8)).min(out.len());
                out.drain(a..b);
            }
            5 if !out.is_empty() => {
                let a = rng.below(out.len());
                let b = (a + 1 + rng.below(16)).min(out.len());
                let copy = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, copy);
            }
            6 => out.truncate(rng.below(out.len() + 1)),
            7 => {
                let other = rng.pick(seeds);
                let cut = rng.below(other.len() + 1);
                let at = rng.below(out.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[cut..]);
            }
            _ => {
                // Change an ASCII number to another number.
                if let Some(i) = (0..out.len()).find(|&i| out[i].is_ascii_digit() && rng.chance(3))
                {
                    out[i] = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
    out
}

/// A seed mutated, or (one time in eight) plain random bytes.
fn next_input(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    if rng.chance(8) {
        let len = rng.below(24);
        (0..len).map(|_| rng.next() as u8).collect()
    } else {
        let seed = *rng.pick(seeds);
        mutate(rng, seed, seeds)
    }
}

fn decode_frame(frame: &Frame) -> Packet {
    let decoded = match frame {
        Frame::Text(b) => Packet::decode_text(std::str::from_utf8(b).expect("text frame UTF-8")),
        Frame::Binary(b) => Packet::decode_binary(b),
    };
    decoded.unwrap_or_else(|e| panic!("encoded frame {frame:?} does not decode: {e:?}"))
}

fn check_payload_round_trip(packets: &[Packet]) {
    let frames: Vec<Frame> = packets.iter().map(Packet::encode).collect();
    for (p, f) in packets.iter().zip(&frames) {
        assert_eq!(&decode_frame(f), p, "packet round trip");
    }
    let encoded = engineio::encode_payload(&frames);
    let binary = encoded.content_type == CONTENT_TYPE_BINARY;
    let again = engineio::decode_payload(&encoded.body, binary)
        .unwrap_or_else(|e| panic!("re-encoded payload {encoded:?} does not decode: {e:?}"));
    assert_eq!(again, packets, "payload round trip");
}

/// Returns whether a payload decoded.
fn check_engineio(data: &[u8]) -> bool {
    let mut decoded = false;
    for binary in [false, true] {
        if let Ok(packets) = engineio::decode_payload(data, binary) {
            assert!(!packets.is_empty());
            check_payload_round_trip(&packets);
            decoded = true;
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = Packet::decode_text(text) {
            check_payload_round_trip(&[p]);
        }
    }
    let a = Packet::decode_binary(data);
    assert_eq!(a, Packet::decode_binary_bytes(Bytes::copy_from_slice(data)));
    if let Ok(p) = a {
        check_payload_round_trip(&[p]);
    }
    decoded
}

const MAX_ATTACHMENTS: usize = 8;

fn check_event_round_trip(event: &Event) {
    let payload: Box<serde_json::value::RawValue> =
        serde_json::from_str(event.payload_json()).expect("an event's payload is JSON");
    let frames = socketio::encode_event(&event.name, &payload, &event.attachments);
    let mut decoder = Decoder::new(MAX_ATTACHMENTS);
    let mut done = None;
    for frame in &frames {
        assert!(done.is_none(), "decoder finished early on {frames:?}");
        let fed = match decode_frame(frame) {
            Packet::Message(text) => decoder.feed_text(text),
            Packet::BinaryMessage(b) => decoder.feed_binary(b),
            other => panic!("encode_event produced {other:?}"),
        };
        done = fed.unwrap_or_else(|e| panic!("re-encoded {frames:?} does not decode: {e:?}"));
    }
    let again = done
        .expect("complete after the last frame")
        .into_event()
        .expect("an event");
    assert!(
        again.name == event.name
            && again.attachments == event.attachments
            && again.payload_json() == event.payload_json(),
        "event round trip: {event:?} came back as {again:?}"
    );
}

/// JSON equality that lets a float differ in its last bit: serde_json, without its
/// `float_roundtrip` feature, parses some decimals one ULP off (see
/// `json_floats_survive_a_relay`), so a float need not survive serialize-then-parse exactly.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || x.to_bits().abs_diff(y.to_bits()) <= 1,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

/// Messages are separated by `0xFF`; a message starting with `0x00` is binary. Returns whether
/// a client message parsed.
/// A relay keeps every top-level field of its payload but `src`, value for value, and its text
/// with `src` spliced in is JSON whose `src` is the server's.
fn check_relay(event: &Event, msg: &ClientMessage) {
    let (ClientMessage::SendOffer(r)
    | ClientMessage::SendAnswer(r)
    | ClientMessage::SendCandidate(r)) = msg
    else {
        return;
    };
    let mut expected: Value = serde_json::from_str(event.payload_json()).expect("payload is JSON");
    if let Some(obj) = expected.as_object_mut() {
        obj.remove("src");
    }
    let body: Value = serde_json::from_str(&r.body).expect("relay body is JSON");
    assert!(
        same_json(&body, &expected),
        "relay of {event:?} kept {body}"
    );
    let relayed: Value = serde_json::from_str(r.with_src("s").get()).expect("relayed text is JSON");
    assert_eq!(relayed["src"], "s");
}

fn check_socketio(data: &[u8]) -> bool {
    let mut parsed = false;
    let mut decoder = Decoder::new(MAX_ATTACHMENTS);
    let mut waiting = false;
    for chunk in data.split(|&b| b == 0xff) {
        let fed = match chunk.split_first() {
            Some((0, rest)) => decoder.feed_binary(Bytes::copy_from_slice(rest)),
            _ => {
                let text = String::from_utf8_lossy(chunk);
                let fed = decoder.feed_text(text.as_ref());
                if !waiting {
                    let parsed = socketio::parse_packet(&text, MAX_ATTACHMENTS)
                        .map(|(p, n)| (n == 0).then_some(p));
                    assert_eq!(fed, parsed, "Decoder and parse_packet disagree on {text:?}");
                }
                fed
            }
        };
        waiting = matches!(fed, Ok(None));
        if !waiting {
            assert_eq!(decoder.pending_bytes(), 0);
        }
        if let Ok(Some(packet)) = fed {
            if let Ok(event) = packet.into_event() {
                check_event_round_trip(&event);
                if let Ok(msg) = ClientMessage::parse(event.clone()) {
                    check_relay(&event, &msg);
                    parsed = true;
                }
            }
        }
    }
    parsed
}

/// `^[A-Za-z0-9_-]+(?:[ _-][A-Za-z0-9]+)*$`, matched by backtracking as the regex reads.
fn reference_peer_id(s: &[u8]) -> bool {
    fn groups(s: &[u8]) -> bool {
        if s.is_empty() {
            return true;
        }
        if !matches!(s[0], b' ' | b'_' | b'-') {
            return false;
        }
        let run = s[1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        (1..=run).any(|n| groups(&s[1 + n..]))
    }
    let head = s
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        .count();
    (1..=head).any(|n| groups(&s[n..]))
}

/// `^[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}$`, position by position.
fn reference_api_key(s: &[u8]) -> bool {
    const PATTERN: &[u8] = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    s.len() == PATTERN.len()
        && s.iter().zip(PATTERN).all(|(&b, &p)| {
            if p == b'-' {
                b == b'-'
            } else {
                b.is_ascii_lowercase() || b.is_ascii_digit()
            }
        })
}

/// Returns whether `data` is a valid peer id.
fn check_ids(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let valid = ids::is_valid_peer_id(&text);
    assert_eq!(
        valid,
        reference_peer_id(text.as_bytes()),
        "peer id rule disagrees with the regex on {text:?}"
    );
    assert_eq!(
        ids::is_valid_api_key(&text),
        reference_api_key(text.as_bytes()),
        "API key rule disagrees with the regex on {text:?}"
    );
    valid
}

/// Returns whether a peer id was found.
fn check_handshake(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let q = HandshakeQuery::parse(&text);
    let _ = q.transport_kind();
    if let Some(id) = &q.peer_id {
        assert!(!id.is_empty());
        check_ids(id.as_bytes());
    }
    if let Some(key) = &q.api_key {
        check_ids(key.as_bytes());
    }
    q.peer_id.is_some()
}

const ENGINEIO_SEEDS: &[&[u8]] = &[
    b"96:0{\"sid\":\"x\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}2:40",
    b"13:42[\"a\",\"\xc3\xa9\xf0\x9f\x98\x80\"]1:6",
    b"\x00\x02\xff40",
    b"\x00\x01\xff6\x01\x03\xff\x04\x01\x02",
    b"\x00\x05\x04\xff451-[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":{\"_placeholder\":true,\"num\":0}}]\x01\x03\xff\x04\x03\x0a",
    b"b4AQID",
    b"8:b4AQIDBA1:6",
    b"2probe",
    b"3probe",
    b"5",
    b"1",
    b"\x04\xff\x00",
];

const SOCKETIO_SEEDS: &[&[u8]] = &[
    b"451-[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":{\"_placeholder\":true,\"num\":0}}]\xff\x00\x03\x0a",
    b"2[\"SEND_OFFER\",{\"dst\":\"bob\",\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\"},\"connectionId\":\"dc_1\"}]",
    b"2[\"SEND_CANDIDATE\",{\"dst\":\"bob\",\"candidate\":{},\"roomName\":null}]",
    b"2[\"ROOM_JOIN\",{\"roomName\":\"r\",\"roomType\":\"mesh\"}]\xff2[\"ROOM_GET_USERS\",{\"roomName\":\"r\",\"type\":\"data\"}]",
    b"2[\"PING\"]\xff2[\"UPDATE_CREDENTIAL\",{\"timestamp\":1,\"ttl\":600,\"authToken\":\"x\"}]",
    b"2/chat,17[\"SFU_ANSWER\",{\"roomName\":\"r\",\"answer\":{\"type\":\"answer\",\"sdp\":\"v=0\"}}]",
    b"2[\"SEND_FORCE_CLOSE\",{\"dst\":\"a\",\"connectionId\":\"c\"}]\xff2[\"SFU_CANDIDATE\",{\"roomName\":\"r\",\"candidate\":{}}]",
    b"452-[\"X\",[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]]\xff\x00a\xff\x00b",
    b"0\xff1\xff3[\"x\"]\xff4\"err\"\xff2[\"ROOM_LEAVE\",{\"roomName\":\"r\"}]",
    b"2[\"X\",1.5e300,-0.0,12345678901234567890]",
    b"2[\"SEND_ANSWER\",{ \"answer\" : {\"sdp\":\"\\u00e9\"}, \"dst\":\"b c\", \"src\":\"forged\", \"roomName\":\"r\" }]",
    b"2[\"SEND_CANDIDATE\",{\"candidate\":{\"candidate\":\"c\"},\"dst\":\"\\ud83d\\ude00\",\"metadata\":[1,{\"k\":null}]}]",
];

const QUERY_SEEDS: &[&[u8]] = &[
    b"apiKey=11111111-2222-3333-4444-555555555555&token=dodntass3y7&platform=javascript&sdk_version=4.4.5&peerId=carol-mwwcbuyv0&credential=%7B%22timestamp%22%3A1700000000%2C%22ttl%22%3A3600%2C%22authToken%22%3A%22dGVzdC1obWFjLXRva2VuLWJhc2U2NA%3D%3D%22%7D&EIO=3&transport=polling&t=Q8JY_sA",
    b"credential=%257B%2522ttl%2522%253A600%257D&peerId=a%20b",
    b"peerId=%FF%FE&token&b64=1&transport=websocket&sid=abc&EIO=3",
    b"peerId=ABCD-0123------------abcd-7890&apiKey=abcdefgh-ijkl-mnop-qrst-uvwxyz012345",
    b"peerId=a%20b%20c&peerId=a%20%20b&peerId=a%20b-&peerId=_x",
];

/// Runs `check` on `count` inputs drawn from `seeds`, with the seeds themselves first, and
/// fails unless at least `min_hits` of the generated inputs got past the decoder (`check`
/// returned true): mutants that all bounce off the first check would test nothing.
fn drive(seed: u64, count: usize, min_hits: usize, seeds: &[&[u8]], check: fn(&[u8]) -> bool) {
    for s in seeds {
        check(s);
    }
    let mut rng = Rng::new(seed);
    let mut hits = 0;
    for _ in 0..count {
        let input = next_input(&mut rng, seeds);
        hits += usize::from(check(&input));
    }
    eprintln!("{hits} of {count} inputs decoded");
    assert!(hits >= min_hits, "only {hits} of {count} inputs decoded");
}

#[test]
fn engineio_decoders_never_panic_and_round_trip() {
    drive(1, 100_000, 1_000, ENGINEIO_SEEDS, check_engineio);
}

/// Random packet lists, encoded as polling bodies, then decoded as they are or lightly mutated:
/// the mutated-seed inputs above mostly break a length prefix, these mostly do not.
#[test]
fn engineio_encoded_payloads_round_trip() {
    let mut rng = Rng::new(5);
    let mut hits = 0;
    for _ in 0..30_000 {
        let packets: Vec<Packet> = (0..1 + rng.below(4))
            .map(|_| {
                let mut text = String::new();
                for _ in 0..rng.below(4) {
                    let piece: &[u8] = INTERESTING[rng.below(INTERESTING.len())];
                    text.push_str(&String::from_utf8_lossy(piece));
                }
                match rng.below(8) {
                    0 => Packet::Open(text),
                    1 => Packet::Close,
                    2 => Packet::Ping(text),
                    3 => Packet::Pong(text),
                    4 => Packet::Message(text),
                    5 => Packet::BinaryMessage(Bytes::from(text.into_bytes())),
                    6 => Packet::Upgrade,
                    _ => Packet::Noop,
                }
            })
            .collect();
        check_payload_round_trip(&packets);
        let frames: Vec<Frame> = packets.iter().map(Packet::encode).collect();
        let body = engineio::encode_payload(&frames).body;
        let input = if rng.chance(2) {
            body.to_vec()
        } else {
            mutate(&mut rng, &body, ENGINEIO_SEEDS)
        };
        hits += usize::from(check_engineio(&input));
    }
    assert!(hits >= 15_000, "only {hits} of 30000 payloads decoded");
}

#[test]
fn socketio_decoder_never_panics_and_round_trips() {
    drive(2, 80_000, 4_000, SOCKETIO_SEEDS, check_socketio);
}

#[test]
fn handshake_query_never_panics() {
    drive(3, 50_000, 10_000, QUERY_SEEDS, check_handshake);
}

#[test]
fn id_rules_match_their_regexes() {
    let seeds: &[&[u8]] = &[
        b"ABCD 0123",
        b"a b c",
        b"a_-b",
        b"x-",
        b"--",
        b"a b -c",
        b"11111111-2222-3333-4444-555555555555",
        b"abcdefgh-ijkl-mnop-qrst-uvwxyz012345",
        b"peer_0123456789abcdef",
    ];
    drive(4, 80_000, 10_000, seeds, check_ids);
    // Every short string over the alphabet that matters: exhaustive, not random.
    let alphabet = b"a-_ A.";
    let mut buf = Vec::new();
    for len in 1..=6u32 {
        for mut n in 0..alphabet.len().pow(len) {
            buf.clear();
            for _ in 0..len {
                buf.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            check_ids(&buf);
        }
    }
}

/// A number relayed in `ROOM_SEND_DATA` (or any payload) must reach the other side as the same
/// IEEE double the sender's `JSON.stringify` wrote. serde_json's default float parser is not
/// correctly rounded: `1.15e300` parses to `1.1499999999999999e300`, which it then serializes as
/// such, so the receiver's `JSON.parse` gets a different number. Enabling serde_json's
/// `float_roundtrip` feature fixes it.
#[test]
fn json_floats_survive_a_relay() {
    for (text, exact) in [
        ("1.15e300", 1.15e300_f64),
        ("1.7976931348623157e308", f64::MAX),
    ] {
        let wire = format!("2[\"ROOM_SEND_DATA\",{{\"roomName\":\"r\",\"data\":{text}}}]");
        let (packet, _) = socketio::parse_packet(&wire, MAX_ATTACHMENTS).expect("parses");
        let event = packet.into_event().expect("an event");
        let Ok(ClientMessage::RoomSendData(data)) = ClientMessage::parse(event) else {
            panic!("not ROOM_SEND_DATA")
        };
        assert_eq!(
            data.data.get().parse::<f64>().ok(),
            Some(exact),
            "{text} was changed"
        );
        let relayed = serde_json::to_string(&data.data).expect("serializes");
        assert_eq!(
            relayed.parse::<f64>().ok(),
            Some(exact),
            "{text} relayed as {relayed}"
        );
    }
}
