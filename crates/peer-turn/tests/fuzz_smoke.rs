//! Deterministic fuzz smoke test of the TURN server's decoders of remote bytes, with no
//! fuzzing tool needed: mutated STUN messages through `peek` (and the error responses built
//! from them), mutated TCP streams through `TcpFramer` in random pieces, and mutated usernames
//! through `parse_turn_username`. Nothing panics, and what decodes keeps its invariants. The
//! coverage-guided version is the `turn` target of `cargo xtask fuzz`.

use peer_auth::turn::parse_turn_username;
use peer_testkit::Rng;
use peer_turn::framing::{pad_for_tcp, TcpFramer, MAX_FRAME};
use peer_turn::peek::{error_response, peek, Class};

/// A CreatePermission request with a USERNAME and two XOR-PEER-ADDRESSes.
fn seed() -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut attr = |t: u16, v: &[u8]| {
        attrs.extend_from_slice(&t.to_be_bytes());
        attrs.extend_from_slice(&(v.len() as u16).to_be_bytes());
        attrs.extend_from_slice(v);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    };
    attr(0x0006, b"1700000600:key$alice");
    attr(0x0012, &[0, 1, 0x21, 0x12, 0x5e, 0x12, 0xa4, 0x43]);
    attr(
        0x0012,
        &[
            0, 2, 0x21, 0x13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
    );
    let mut m = vec![0x00, 0x08];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[3; 12]);
    m.extend_from_slice(&attrs);
    m
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut m = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            1 if !m.is_empty() => {
                let i = rng.below(m.len());
                m.truncate(i);
            }
            2 => {
                let i = rng.below(m.len() + 1);
                m.insert(i, rng.next() as u8);
            }
            3 if m.len() > 3 => {
                // A length field set to something arbitrary.
                let i = if rng.below(2) == 0 {
                    2
                } else {
                    rng.below(m.len() - 1)
                };
                let v = (rng.next() as u16).to_be_bytes();
                m[i] = v[0];
                m[i + 1] = v[1];
            }
            _ => m.extend_from_slice(&input[..rng.below(input.len() + 1)]),
        }
    }
    m
}

#[test]
fn turn_decoders_never_panic_and_keep_their_invariants() {
    let mut rng = Rng::new(0x7572_6e21);
    let base = seed();
    let channel = pad_for_tcp(&[0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]).into_owned();
    let mut peeked = 0;
    let mut frames = 0;
    for _ in 0..20_000 {
        let m = mutate(&mut rng, &base);
        if let Some(p) = peek(&m) {
            peeked += 1;
            if p.class == Class::Request {
                let back = peek(&error_response(&p, 486, "Allocation Quota Reached")).unwrap();
                assert_eq!((back.method, back.class), (p.method, Class::Error));
            }
        }
        // A stream of a few messages, mutated, fed in random pieces.
        let mut stream = Vec::new();
        for _ in 0..=rng.below(3) {
            stream.extend_from_slice(if rng.below(2) == 0 { &base } else { &channel });
        }
        let stream = mutate(&mut rng, &stream);
        let mut f = TcpFramer::new();
        let mut rest = &stream[..];
        'feed: while !rest.is_empty() {
            let n = f.push(&rest[..rest.len().min(1 + rng.below(64))]);
            rest = &rest[n..];
            loop {
                match f.next_frame() {
                    Ok(Some(fr)) => {
                        assert!(fr.bytes().len() <= MAX_FRAME);
                        frames += 1;
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        let name = String::from_utf8_lossy(&mutate(&mut rng, b"1700000600:key$alice")).into_owned();
        if let Ok(u) = parse_turn_username(&name) {
            assert_eq!(Some(u.user), name.split_once(':').map(|x| x.1));
        }
    }
    // The mutations leave enough intact to reach the decoders' inner paths.
    assert!(
        peeked > 2_000 && frames > 2_000,
        "{peeked} peeked, {frames} frames"
    );
}
