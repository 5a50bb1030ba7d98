//! Property tests with a fixed-seed generator (no proptest): random values survive
//! pack → unpack exactly, strings written the way js-binarypack writes them (with its length
//! quirk) decode to the intended string, and random payloads survive split → shuffle and
//! interleave → reassemble.

use bytes::Bytes;
use peer_binarypack::{
    pack, split, unpack, unpack_prefix, Chunk, ChunkMeta, Limits, Reassembler, Value,
    MAX_ENCODED_CHUNK,
};
use peer_testkit::Rng;

/// Lengths near the format's boundaries, or small random ones.
fn length(rng: &mut Rng) -> usize {
    const EDGES: &[usize] = &[0, 1, 15, 16, 17, 255, 256, 599, 600, 601];
    if rng.chance(3) {
        EDGES[rng.below(EDGES.len())]
    } else {
        rng.below(40)
    }
}

fn random_char(rng: &mut Rng) -> char {
    const PALETTE: &[char] = &[
        'a',
        'z',
        '0',
        ' ',
        '\0',
        '\u{7f}',
        'é',
        '\u{7ff}',
        '€',
        '日',
        '\u{ffff}',
        '\u{fffd}',
        '😀',
        '🎉',
        '\u{10000}',
        '\u{10ffff}',
    ];
    if rng.chance(2) {
        PALETTE[rng.below(PALETTE.len())]
    } else {
        char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x')
    }
}

fn random_string(rng: &mut Rng) -> String {
    let n = length(rng);
    if rng.chance(2) {
        // Mostly ASCII with some others, so lengths around 600 units are common.
        (0..n)
            .map(|_| if rng.chance(8) { random_char(rng) } else { 'q' })
            .collect()
    } else {
        (0..n).map(|_| random_char(rng)).collect()
    }
}

fn random_int(rng: &mut Rng) -> Value {
    const EDGES: &[i64] = &[
        0,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        4_294_967_295,
        4_294_967_296,
        i64::MAX,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        -2_147_483_648,
        -2_147_483_649,
        i64::MIN,
    ];
    match rng.below(4) {
        0 => Value::Int(EDGES[rng.below(EDGES.len())].wrapping_add(rng.below(3) as i64 - 1)),
        1 => Value::Int(rng.next() as i64),
        2 => Value::Int(rng.below(300) as i64 - 150),
        _ => Value::from(rng.next() | (1 << 63)),
    }
}

fn random_float(rng: &mut Rng) -> Value {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        1.5,
        3.0,
    ];
    if rng.chance(3) {
        Value::Float(SPECIAL[rng.below(SPECIAL.len())])
    } else {
        Value::Float(f64::from_bits(rng.next()))
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth >= 4 { 8 } else { 10 };
    match rng.below(kinds) {
        0 => Value::Nil,
        1 => Value::Bool(rng.chance(2)),
        2 => random_int(rng),
        3 => random_float(rng),
        4 | 5 => Value::Str(random_string(rng)),
        6 => {
            let n = if rng.chance(300) {
                65_536 + rng.below(3)
            } else {
                length(rng)
            };
            Value::Bin(Bytes::from(rng.bytes(n)))
        }
        7 => {
            if rng.chance(2) {
                Value::Undefined
            } else {
                random_int(rng)
            }
        }
        8 => {
            let n = rng.below(10);
            Value::Array((0..n).map(|_| random_value(rng, depth + 1)).collect())
        }
        _ => {
            let n = rng.below(10);
            Value::Map(
                (0..n)
                    .map(|_| {
                        let k = if rng.chance(4) {
                            random_value(rng, depth + 1)
                        } else {
                            Value::Str(random_string(rng))
                        };
                        (k, random_value(rng, depth + 1))
                    })
                    .collect(),
            )
        }
    }
}

#[test]
fn random_values_round_trip() {
    let mut rng = Rng::new(1);
    for case in 0..4000 {
        let value = random_value(&mut rng, 0);
        let bytes = pack(&value);
        let back = unpack(&bytes).unwrap_or_else(|e| panic!("case {case}: {e} for {value:?}"));
        assert_eq!(back, value.packed_form(), "case {case}");
        assert_eq!(unpack_prefix(&bytes).map(|(_, n)| n), Ok(bytes.len()));
        // Our output never contains 4-byte UTF-8 sequences (astral characters are CESU-8).
        if let Value::Str(_) = &value {
            let header = match bytes[0] {
                0xd8 => 3,
                0xd9 => 5,
                _ => 1,
            };
            assert!(bytes[header..].iter().all(|&b| b < 0xf0), "case {case}");
        }
    }
}

/// Packs a string exactly as js-binarypack 0.0.9 does: the announced length counts 1/2/3 bytes
/// per UTF-16 unit up to 600 units (the length of the real UTF-8 above), the bytes are real
/// UTF-8.
fn js_pack_str(s: &str, out: &mut Vec<u8>) {
    let units: Vec<u16> = s.encode_utf16().collect();
    let announced = if units.len() <= 600 {
        units
            .iter()
            .map(|&u| match u {
                0..=0x7f => 1,
                0x80..=0x7ff => 2,
                _ => 3,
            })
            .sum()
    } else {
        s.len()
    };
    if announced <= 15 {
        out.push(0xb0 + announced as u8);
    } else if announced <= 0xffff {
        out.push(0xd8);
        out.extend_from_slice(&(announced as u16).to_be_bytes());
    } else {
        out.push(0xd9);
        out.extend_from_slice(&(announced as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

#[test]
fn js_quirk_strings_decode() {
    let mut rng = Rng::new(2);
    for case in 0..3000 {
        let a = random_string(&mut rng);
        let b = random_string(&mut rng);
        // Contexts js-binarypack produces: alone, as object values followed by the next key,
        // and in arrays followed by strings, maps and nil.
        let (bytes, expected) = match case % 3 {
            0 => {
                let mut out = Vec::new();
                js_pack_str(&a, &mut out);
                (out, Value::Str(a))
            }
            1 => {
                let mut out = vec![0x82];
                js_pack_str("k", &mut out);
                js_pack_str(&a, &mut out);
                js_pack_str("n", &mut out);
                js_pack_str(&b, &mut out);
                let expected = Value::Map(vec![
                    ("k".into(), Value::Str(a)),
                    ("n".into(), Value::Str(b)),
                ]);
                (out, expected)
            }
            _ => {
                let mut out = vec![0x94];
                js_pack_str(&a, &mut out);
                js_pack_str(&b, &mut out);
                out.push(0x80);
                out.push(0xc0);
                let expected = Value::Array(vec![
                    Value::Str(a),
                    Value::Str(b),
                    Value::Map(vec![]),
                    Value::Nil,
                ]);
                (out, expected)
            }
        };
        match unpack(&bytes) {
            Ok(v) => assert_eq!(v, expected, "case {case}"),
            Err(e) => panic!("case {case}: {e} for {expected:?}"),
        }
    }
}

#[test]
fn chunked_messages_reassemble() {
    let mut rng = Rng::new(3);
    let mut reassembler = Reassembler::new(Limits::default());
    let mut chunks_seen = 0usize;
    for round in 0..400 {
        let messages = 1 + rng.below(5);
        let mut originals = Vec::new();
        let mut all = Vec::new();
        for m in 0..messages {
            let len = match rng.below(4) {
                0 => rng.below(4),
                1 => rng.below(100),
                2 => rng.below(5_000),
                _ => rng.below(70_000),
            };
            let payload = rng.bytes(len);
            let mut meta = ChunkMeta::new(format!("r{round}m{m}"), "ArrayBuffer");
            if rng.chance(3) {
                meta.name = Some(random_string(&mut rng));
                meta.mime_type = Some("application/octet-stream".into());
            }
            // Keep the chunk count modest, with some tiny and some oversized chunk sizes.
            let size = match rng.below(3) {
                0 => 1 + len / (1 + rng.below(50)),
                1 => 1 + rng.below(20_000),
                _ => 70_000 + rng.below(100_000),
            }
            .max(len / 300);
            let split = split(payload.clone(), &meta, size).expect("splits");
            assert!(split.total_parts() >= 1);
            for chunk in split {
                let encoded = chunk.encode();
                assert!(
                    encoded.len() <= MAX_ENCODED_CHUNK,
                    "{} bytes",
                    encoded.len()
                );
                all.push(encoded);
            }
            originals.push((meta, payload));
        }
        rng.shuffle(&mut all);
        chunks_seen += all.len();
        let mut done = Vec::new();
        for encoded in &all {
            let chunk = Chunk::decode(encoded).expect("decodes");
            if let Some(a) = reassembler.push(chunk).expect("accepted") {
                done.push(a);
            }
        }
        assert_eq!(done.len(), originals.len(), "round {round}");
        for (meta, payload) in originals {
            let a = done
                .iter()
                .find(|a| a.id == meta.id)
                .expect("message completed");
            assert_eq!(a.payload, payload);
            assert_eq!(a.type_name, meta.type_name);
            assert_eq!(a.name, meta.name);
            assert_eq!(a.mime_type, meta.mime_type);
        }
        assert_eq!(reassembler.pending_messages(), 0);
        assert_eq!(reassembler.buffered_bytes(), 0);
    }
    assert!(chunks_seen > 5_000, "{chunks_seen} chunks");
}

#[test]
fn values_survive_chunking() {
    let mut rng = Rng::new(4);
    let mut reassembler = Reassembler::new(Limits::default());
    for case in 0..300 {
        let value = Value::Array(
            (0..rng.below(8))
                .map(|_| random_value(&mut rng, 2))
                .collect(),
        );
        let meta = ChunkMeta::new(format!("v{case}"), "Array");
        let mut chunks: Vec<Chunk> = split(pack(&value), &meta, 1 + rng.below(2_000))
            .expect("splits")
            .collect();
        rng.shuffle(&mut chunks);
        let mut out = None;
        for c in chunks {
            if let Some(a) = reassembler.push(c).expect("accepted") {
                out = Some(a);
            }
        }
        let a = out.expect("complete");
        assert_eq!(unpack(&a.payload), Ok(value.packed_form()), "case {case}");
    }
}
