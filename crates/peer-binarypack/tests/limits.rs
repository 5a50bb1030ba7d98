//! Hostile inputs: huge declared lengths, deep nesting, absurd chunk headers and memory
//! exhaustion across many messages. Each must fail with a typed error, allocate little (a
//! per-thread counting allocator measures the peak), and leave other messages working.

use bytes::Bytes;
use peer_binarypack::{
    pack, split, unpack, unpack_with, Chunk, ChunkError, ChunkMeta, DecodeError, DecodeOptions,
    Limits, Reassembler, ReassemblyErrorKind, SplitError, Value, DEFAULT_MAX_DEPTH,
    MAX_ENCODED_CHUNK,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes allocated by the current thread (tests run on several threads).
struct Counting;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = CURRENT.try_with(|c| {
            let now = c.get() + layout.size();
            c.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = CURRENT.try_with(|c| c.set(c.get().saturating_sub(layout.size())));
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the peak bytes it had allocated at once.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

#[test]
fn huge_declared_lengths_fail_without_allocating() {
    let inputs: &[&[u8]] = &[
        &[0xdb, 0xff, 0xff, 0xff, 0xff],       // raw32
        &[0xd9, 0xff, 0xff, 0xff, 0xff, 0x61], // str32
        &[0xdd, 0xff, 0xff, 0xff, 0xff],       // array32
        &[0xdf, 0xff, 0xff, 0xff, 0xff, 0x01], // map32
        &[0xda, 0xff, 0xff],                   // raw16
        &[0xdc, 0xff, 0xff, 0xc0],             // array16
        &[0xde, 0x00, 0x02, 0x01, 0x02, 0x03], // map16: 2 entries need 4 bytes
        &[0xcb, 0x00],                         // float64 cut short
        &[],
    ];
    for input in inputs {
        let (result, peak) = peak_during(|| unpack(input));
        assert!(
            matches!(result, Err(DecodeError::Truncated { .. })),
            "{input:02x?}: {result:?}"
        );
        assert!(peak < 1024, "{input:02x?} allocated {peak} bytes");
    }
}

#[test]
fn nested_huge_arrays_stay_small() {
    // 200 levels of arrays each announcing 65535 items, with just enough bytes to pass each
    // level's check: capacity must not be reserved per announced item (that would be
    // 200 x 65535 values, about 0.5 GB). What remains is the tree itself: the innermost array
    // really holds 65535 nils, about 40 bytes of memory per input byte.
    let mut input = Vec::new();
    for _ in 0..200 {
        input.extend_from_slice(&[0xdc, 0xff, 0xff]);
    }
    input.resize(input.len() + 70_000, 0xc0);
    let (result, peak) = peak_during(|| unpack(&input));
    assert!(result.is_err());
    assert!(
        peak < 100 * input.len(),
        "allocated {peak} bytes for {} input bytes",
        input.len()
    );
}

#[test]
fn deep_nesting_is_refused() {
    let mut input = vec![0x91; 100_000];
    input.push(0x00);
    assert_eq!(
        unpack(&input),
        Err(DecodeError::TooDeep {
            offset: DEFAULT_MAX_DEPTH,
            max_depth: DEFAULT_MAX_DEPTH
        })
    );
    let mut maps = [0x81, 0x00].repeat(50_000);
    maps.push(0x00);
    assert!(matches!(unpack(&maps), Err(DecodeError::TooDeep { .. })));

    // Exactly at the limit is fine.
    let mut ok = vec![0x91; DEFAULT_MAX_DEPTH];
    ok.push(0x07);
    assert!(unpack(&ok).is_ok());
    let options = DecodeOptions {
        max_depth: 3,
        ..DecodeOptions::default()
    };
    assert!(unpack_with(&[0x91, 0x91, 0x91, 0x00], &options).is_ok());
    assert!(unpack_with(&[0x91, 0x91, 0x91, 0x91, 0x00], &options).is_err());
}

#[test]
fn bad_strings_and_types() {
    assert_eq!(
        unpack(&[0xb2, 0xff, 0xfe]),
        Err(DecodeError::InvalidString { offset: 0 })
    );
    assert_eq!(
        unpack(&[0x92, 0x01, 0xb1, 0x80]),
        Err(DecodeError::InvalidString { offset: 2 })
    );
    for byte in [0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7] {
        assert_eq!(
            unpack(&[0x91, byte]),
            Err(DecodeError::ReservedType { offset: 1, byte })
        );
    }
    let lenient = DecodeOptions {
        allow_trailing_bytes: true,
        ..DecodeOptions::default()
    };
    assert_eq!(unpack_with(&[0xc3, 0xff], &lenient), Ok(Value::Bool(true)));
}

fn chunk(id: &str, total_parts: u32, index: u32, data: &[u8]) -> Chunk {
    Chunk {
        id: id.into(),
        type_name: "ArrayBuffer".into(),
        size: 0,
        total_parts,
        name: None,
        mime_type: None,
        index,
        data: Bytes::copy_from_slice(data),
    }
}

#[test]
fn absurd_total_parts() {
    let mut r = Reassembler::new(Limits::default());
    let (result, peak) = peak_during(|| r.push(chunk("a", 4_000_000_000, 5, b"x")));
    let err = result.expect_err("refused");
    assert_eq!(
        err.kind,
        ReassemblyErrorKind::TooManyParts {
            total_parts: 4_000_000_000,
            max: Limits::default().max_parts
        }
    );
    assert!(peak < 4096, "allocated {peak}");
    // Later chunks of that message are discarded, not restarted.
    let again = r.push(chunk("a", 2, 0, b"x")).expect_err("discarded");
    assert_eq!(again.kind, ReassemblyErrorKind::Discarded);
    assert_eq!(r.pending_messages(), 0);

    // Within max_parts, storage still grows with the parts received only.
    let mut r = Reassembler::new(Limits {
        max_parts: u32::MAX,
        ..Limits::default()
    });
    let (result, peak) = peak_during(|| r.push(chunk("b", 4_000_000_000, 3_999_999_999, b"x")));
    assert_eq!(result, Ok(None));
    assert!(peak < 4096, "allocated {peak}");
}

#[test]
fn index_and_total_parts_errors_drop_only_that_message() {
    let mut r = Reassembler::new(Limits::default());
    assert_eq!(r.push(chunk("good", 2, 0, b"he")), Ok(None));
    assert_eq!(r.push(chunk("bad", 3, 0, b"..")), Ok(None));
    let e = r.push(chunk("bad", 3, 3, b"..")).expect_err("out of range");
    assert_eq!(
        e.kind,
        ReassemblyErrorKind::IndexOutOfRange {
            index: 3,
            total_parts: 3
        }
    );
    assert_eq!(r.push(chunk("mix", 3, 0, b"..")), Ok(None));
    let e = r.push(chunk("mix", 4, 1, b"..")).expect_err("mismatch");
    assert_eq!(
        e.kind,
        ReassemblyErrorKind::TotalPartsMismatch {
            expected: 3,
            got: 4
        }
    );
    assert_eq!(r.pending_messages(), 1);
    assert_eq!(
        r.push(chunk("zero", 0, 0, b"")).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::ZeroParts)
    );
    let done = r
        .push(chunk("good", 2, 1, b"llo"))
        .expect("ok")
        .expect("complete");
    assert_eq!(done.payload, b"hello");
    assert_eq!(r.pending_messages(), 0);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn duplicates_are_ignored() {
    let mut r = Reassembler::new(Limits::default());
    assert_eq!(r.push(chunk("d", 3, 1, b"b")), Ok(None));
    assert_eq!(r.push(chunk("d", 3, 1, b"X")), Ok(None));
    assert_eq!(r.push(chunk("d", 3, 0, b"a")), Ok(None));
    let done = r
        .push(chunk("d", 3, 2, b"c"))
        .expect("ok")
        .expect("complete");
    assert_eq!(done.payload, b"abc");
}

#[test]
fn total_bytes_limit_across_many_ids() {
    let limits = Limits {
        max_message_bytes: 10_000,
        max_total_bytes: 50_000,
        max_pending_messages: 1000,
        max_parts: 100,
    };
    let mut r = Reassembler::new(limits);
    // A legitimate message starts first.
    assert_eq!(r.push(chunk("keep", 2, 0, &[1; 1000])), Ok(None));
    // Then an attacker opens many partial messages.
    let mut refused = 0;
    for i in 0..200 {
        match r.push(chunk(&format!("junk{i}"), 2, 0, &[0; 1000])) {
            Ok(None) => {}
            Err(e) => {
                assert!(
                    matches!(
                        e.kind,
                        ReassemblyErrorKind::TotalBytesExceeded { max: 50_000, .. }
                    ),
                    "{e}"
                );
                refused += 1;
            }
            Ok(Some(_)) => panic!("completed a junk message"),
        }
        assert!(r.buffered_bytes() <= limits.max_total_bytes);
    }
    assert!(refused > 100, "{refused}");
    // The legitimate message still completes: a completing chunk is never refused for the
    // total, as completing frees the buffers.
    let done = r.push(chunk("keep", 2, 1, &[2; 1000])).expect("ok");
    assert_eq!(done.expect("complete").payload.len(), 2000);
    // The junk goes stale and is evicted.
    r.tick();
    r.tick();
    let stale = r.evict_stale(1);
    assert_eq!(stale.len(), 200 - refused);
    assert_eq!(r.pending_messages(), 0);
    assert_eq!(r.buffered_bytes(), 0);
    // Evicted ids are remembered.
    assert_eq!(
        r.push(chunk(&stale[0], 2, 1, b"x")).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::Discarded)
    );
    // With room again, messages complete.
    assert_eq!(r.push(chunk("next", 2, 1, b"b")), Ok(None));
    assert!(r.push(chunk("next", 2, 0, b"a")).expect("ok").is_some());
}

#[test]
fn message_size_limits() {
    let limits = Limits {
        max_message_bytes: 100,
        ..Limits::default()
    };
    let mut r = Reassembler::new(limits);
    let mut declared = chunk("declared", 2, 0, b"x");
    declared.size = 1 << 40;
    assert!(matches!(
        r.push(declared).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::MessageTooLarge { .. })
    ));
    assert_eq!(r.push(chunk("grow", 3, 0, &[0; 60])), Ok(None));
    assert!(matches!(
        r.push(chunk("grow", 3, 1, &[0; 60])).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::MessageTooLarge {
            bytes: 120,
            max: 100
        })
    ));
    assert!(matches!(
        r.push(chunk("single", 1, 0, &[0; 101])).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::MessageTooLarge { .. })
    ));
    assert_eq!(r.pending_messages(), 0);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn pending_message_limit() {
    let limits = Limits {
        max_pending_messages: 3,
        ..Limits::default()
    };
    let mut r = Reassembler::new(limits);
    for id in ["a", "b", "c"] {
        assert_eq!(r.push(chunk(id, 2, 0, id.as_bytes())), Ok(None));
    }
    assert_eq!(
        r.push(chunk("d", 2, 0, b"d")).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::TooManyPending { max: 3 })
    );
    // Single-chunk messages need no slot.
    assert!(r.push(chunk("e", 1, 0, b"e")).expect("ok").is_some());
    assert!(r.push(chunk("b", 2, 1, b"!")).expect("ok").is_some());
    assert_eq!(r.evict_oldest().as_deref(), Some("a"));
    assert_eq!(
        r.push(chunk("a", 2, 1, b"!")).map_err(|e| e.kind),
        Err(ReassemblyErrorKind::Discarded)
    );
    assert_eq!(r.pending_messages(), 1);
}

#[test]
fn hostile_chunk_maps() {
    let map = |entries: Vec<(&str, Value)>| {
        pack(&Value::Map(
            entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    };
    let full = |size: Value, index: Value| {
        vec![
            ("id", "x".into()),
            ("type", "String".into()),
            ("size", size),
            ("totalParts", 1.into()),
            ("index", index),
            ("data", Value::Bin(Bytes::from_static(b"\xc0"))),
        ]
    };
    assert_eq!(Chunk::decode(&pack(&Value::Nil)), Err(ChunkError::NotAMap));
    assert!(Chunk::decode(&map(full(6.into(), 0.into()))).is_ok());
    assert!(Chunk::decode(&map(full(Value::Float(6.0), Value::Float(0.0)))).is_ok());
    assert_eq!(
        Chunk::decode(&map(full(Value::Float(6.5), 0.into()))),
        Err(ChunkError::InvalidField("size"))
    );
    assert_eq!(
        Chunk::decode(&map(full((-1).into(), 0.into()))),
        Err(ChunkError::InvalidField("size"))
    );
    assert_eq!(
        Chunk::decode(&map(full(6.into(), (1_i64 << 32).into()))),
        Err(ChunkError::InvalidField("index"))
    );
    let mut no_data = full(6.into(), 0.into());
    no_data.pop();
    assert_eq!(
        Chunk::decode(&map(no_data)),
        Err(ChunkError::MissingField("data"))
    );
    let mut text_data = full(6.into(), 0.into());
    text_data[5].1 = "abc".into();
    assert_eq!(
        Chunk::decode(&map(text_data)),
        Err(ChunkError::InvalidField("data"))
    );
    // Keys in another order, unknown keys, nil name: fine.
    let mut shuffled = full(6.into(), 0.into());
    shuffled.reverse();
    shuffled.push(("extra", Value::Array(vec![])));
    shuffled.push(("name", Value::Nil));
    let c = Chunk::decode(&map(shuffled)).expect("decodes");
    assert_eq!((c.size, c.index, c.name), (6, 0, None));
    assert!(matches!(
        Chunk::decode(&[0xdf, 0xff, 0xff, 0xff, 0xff]),
        Err(ChunkError::Decode(DecodeError::Truncated { .. }))
    ));
}

#[test]
fn split_respects_the_message_size_limit() {
    let meta = ChunkMeta {
        name: Some("n".repeat(70_000)),
        ..ChunkMeta::new("id", "File")
    };
    assert!(matches!(
        split(vec![1u8; 10], &meta, 100),
        Err(SplitError::MetaTooLarge { .. })
    ));
    let meta = ChunkMeta {
        name: Some("😀".repeat(5_000)),
        mime_type: Some("text/plain".into()),
        ..ChunkMeta::new("id", "File")
    };
    let payload = vec![7u8; 300_000];
    let chunks: Vec<Chunk> = split(payload.clone(), &meta, usize::MAX)
        .expect("splits")
        .collect();
    assert!(chunks.len() > 5);
    let mut r = Reassembler::new(Limits::default());
    let mut done = None;
    for c in chunks {
        let encoded = c.encode();
        assert!(encoded.len() <= MAX_ENCODED_CHUNK, "{}", encoded.len());
        done = r
            .push(Chunk::decode(&encoded).expect("decodes"))
            .expect("ok");
    }
    assert_eq!(done.expect("complete").payload, payload);
    // Chunk size 0 counts as 1.
    assert_eq!(
        split(vec![1u8, 2, 3], &ChunkMeta::new("z", "ArrayBuffer"), 0)
            .expect("splits")
            .total_parts(),
        3
    );
}
