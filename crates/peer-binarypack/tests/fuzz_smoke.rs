//! Deterministic fuzz smoke test: random and mutated inputs through the decoder, the chunk
//! decoder and a reassembler, with no fuzzing tool needed.
//!
//! The property is the one of the cargo-fuzz target `binarypack` (`fuzz/src/lib.rs`): nothing
//! panics; a decoded value packs and unpacks to itself (`undefined` becomes nil, an integral
//! float an integer); the prefix
//! decoder agrees with the whole-input decoder; a decoded chunk re-encodes and decodes to
//! itself; the reassembler stays within its limits and frees everything on eviction. Inputs
//! come from a fixed-seed xorshift generator, so every run checks the same inputs.

use bytes::Bytes;
use peer_binarypack::{
    pack, split, unpack, unpack_prefix, Chunk, ChunkMeta, Limits, Reassembler, Value,
};
use peer_testkit::Rng;

const LIMITS: Limits = Limits {
    max_message_bytes: 4096,
    max_total_bytes: 16384,
    max_pending_messages: 8,
    max_parts: 64,
};

fn check_round_trip(v: &Value) {
    let bytes = pack(v);
    let again =
        unpack(&bytes).unwrap_or_else(|e| panic!("packed value does not unpack: {e} {v:?}"));
    assert_eq!(again, v.packed_form(), "pack/unpack changed the value");
}

/// The property (same as `peer_fuzz::binarypack`). Returns whether the whole input decoded.
fn check(data: &[u8]) -> bool {
    let whole = unpack(data);
    if let Ok(v) = &whole {
        check_round_trip(v);
    }
    if let Ok((v, used)) = unpack_prefix(data) {
        assert!(used <= data.len() && used > 0);
        assert_eq!(unpack(&data[..used]).as_ref(), Ok(&v), "{data:02x?}");
        if used == data.len() {
            assert_eq!(whole.as_ref(), Ok(&v));
        }
        check_round_trip(&v);
    } else {
        assert!(whole.is_err());
    }
    if let Ok(c) = Chunk::decode(data) {
        assert_eq!(Chunk::decode(&c.encode()).as_ref(), Ok(&c));
    }

    let mut r = Reassembler::new(LIMITS);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (message, tail) = tail.split_at(len);
        rest = tail;
        if let Ok(chunk) = Chunk::decode(message) {
            if let Ok(Some(done)) = r.push(chunk) {
                assert!(done.payload.len() <= LIMITS.max_message_bytes);
            }
        }
        assert!(r.buffered_bytes() <= LIMITS.max_total_bytes);
        assert!(r.pending_messages() <= LIMITS.max_pending_messages);
        if message.first() == Some(&0xff) {
            r.tick();
            let _ = r.evict_stale(2);
        }
    }
    while r.evict_oldest().is_some() {}
    assert_eq!(r.buffered_bytes(), 0);
    whole.is_ok()
}

/// Byte strings that matter to the format, inserted more often than noise.
const INTERESTING: &[&[u8]] = &[
    &[0xc0],
    &[0xc1],
    &[0xc3],
    &[0xca],
    &[0xcb],
    &[0xcf],
    &[0xd3],
    &[0xd8],
    &[0xd9],
    &[0xda],
    &[0xdb],
    &[0xdc],
    &[0xdd],
    &[0xde],
    &[0xdf],
    &[0xff, 0xff],
    &[0x00, 0x00],
    &[0xf0, 0x9f, 0x98, 0x80],
    &[0xed, 0xa0, 0xbd],
    &[0xed, 0xb8, 0x80],
    &[0xc3, 0xa9],
    &[0xe2, 0x82, 0xac],
    &[0xb2, 0x69, 0x64],
    &[0xb5, 0x69, 0x6e, 0x64, 0x65, 0x78],
    &[
        0xba, 0x74, 0x6f, 0x74, 0x61, 0x6c, 0x50, 0x61, 0x72, 0x74, 0x73,
    ],
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(len + 1);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(at..at, piece.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(8)).min(len);
                input.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                let copy: Vec<u8> = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 if len > 0 => input.truncate(rng.below(len)),
            _ => input.push(rng.next() as u8),
        }
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 7 } else { 9 }) {
        0 => Value::Nil,
        1 => Value::Bool(rng.chance(2)),
        2 => Value::Int(rng.next() as i64 >> rng.below(64)),
        3 => Value::Float(f64::from_bits(rng.next())),
        4 => Value::Str(
            ["", "a", "é€", "😀x", "\u{fffd}", "0123456789abcdefg"][rng.below(6)]
                .repeat(rng.below(4)),
        ),
        5 => Value::Bin(Bytes::from(vec![rng.next() as u8; rng.below(20)])),
        6 => Value::from(rng.next()),
        7 => Value::Array(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Map(
            (0..rng.below(4))
                .map(|_| (random_value(rng, depth + 1), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// Chunk messages of a few interleaved messages, length-prefixed as `check` expects.
fn chunk_stream(rng: &mut Rng) -> Vec<u8> {
    let mut messages = Vec::new();
    for m in 0..1 + rng.below(3) {
        let payload: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let meta = ChunkMeta::new(format!("m{m}"), "ArrayBuffer");
        if let Ok(chunks) = split(payload, &meta, 1 + rng.below(80)) {
            messages.extend(chunks.map(|c| c.encode()));
        }
    }
    for i in (1..messages.len()).rev() {
        messages.swap(i, rng.below(i + 1));
    }
    let mut out = Vec::new();
    for m in messages.iter().filter(|m| m.len() <= 255) {
        out.push(m.len() as u8);
        out.extend_from_slice(m);
    }
    out
}

#[test]
fn random_bytes() {
    let mut rng = Rng::new(11);
    for _ in 0..60_000 {
        let n = rng.below(24);
        let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        check(&data);
    }
}

#[test]
fn mutated_values() {
    let mut rng = Rng::new(12);
    let mut decoded = 0;
    for _ in 0..60_000 {
        let mut data = pack(&random_value(&mut rng, 0));
        mutate(&mut rng, &mut data);
        decoded += usize::from(check(&data));
    }
    assert!(decoded > 5_000, "only {decoded} mutated inputs decoded");
}

#[test]
fn mutated_golden_vectors() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden.json")).expect("golden.json");
    let mut seeds = Vec::new();
    for section in ["vectors", "decode_only", "rust_to_js"] {
        for v in golden[section].as_array().expect("section") {
            if let Some(h) = v["hex"].as_str() {
                seeds.push(unhex(h));
            }
        }
    }
    for m in golden["chunks"].as_array().expect("chunks") {
        for c in m["chunks"].as_array().expect("chunks") {
            if let Some(h) = c["hex"].as_str() {
                seeds.push(unhex(h));
            }
        }
    }
    assert!(seeds.len() > 100);
    let mut rng = Rng::new(13);
    for seed in &seeds {
        assert!(check(seed) || seed.is_empty());
    }
    for _ in 0..20_000 {
        let mut data = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut data);
        check(&data);
    }
}

#[test]
fn mutated_chunk_streams() {
    let mut rng = Rng::new(14);
    let mut completed = 0;
    for _ in 0..3_000 {
        let mut data = chunk_stream(&mut rng);
        // Unmutated streams complete every message.
        let mut r = Reassembler::new(LIMITS);
        let mut rest = &data[..];
        while let Some((&len, tail)) = rest.split_first() {
            let (message, tail) = tail.split_at(usize::from(len));
            rest = tail;
            if let Ok(Some(_)) = r.push(Chunk::decode(message).expect("chunk")) {
                completed += 1;
            }
        }
        assert_eq!(r.pending_messages(), 0);
        if !rng.chance(4) {
            mutate(&mut rng, &mut data);
        }
        check(&data);
    }
    assert!(completed > 3_000, "{completed}");
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
