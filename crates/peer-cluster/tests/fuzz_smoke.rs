//! Deterministic fuzz smoke of the node-to-node frame decoder: random bytes and mutations of
//! valid frames never panic, and whatever decodes encodes back to the same bytes.

use bytes::Bytes;
use peer_cluster::message::{Frame, NodeMessage, RoomNote, WireFrame};
use peer_cluster::NodeId;
use peer_testkit::Rng;

/// `rng.below(n)` random bytes.
fn some_bytes(rng: &mut Rng, n: usize) -> Bytes {
    let len = rng.below(n);
    Bytes::from(rng.bytes(len))
}

fn valid(rng: &mut Rng) -> Bytes {
    let msg = match rng.below(5) {
        3 => NodeMessage::HandOver {
            app: "k".into(),
            peer: "p".into(),
            token: "t".into(),
            request: rng.next(),
        },
        4 => NodeMessage::HandedOver {
            request: rng.next(),
            ok: rng.chance(2),
            contacts: (0..rng.below(3)).map(|i| format!("c{i}")).collect(),
            rooms: (0..rng.below(3)).map(|i| format!("r{i}")).collect(),
        },
        0 => NodeMessage::Deliver {
            app: "k".into(),
            dst: "b".into(),
            event: "CANDIDATE".into(),
            body: some_bytes(rng, 40),
        },
        1 => NodeMessage::Frames {
            app: "k".into(),
            dst: "d".into(),
            event: "ROOM_DATA".into(),
            frames: (0..rng.below(4))
                .map(|i| WireFrame {
                    binary: i > 0,
                    data: some_bytes(rng, 20),
                })
                .collect(),
            note: rng.chance(2).then(|| RoomNote {
                room: "r".into(),
                sfu: rng.chance(2),
                members: (0..rng.below(4)).map(|i| format!("m{i}")).collect(),
            }),
        },
        _ => NodeMessage::RoomInput {
            app: "k".into(),
            room: "r".into(),
            peer: "s".into(),
            event: "ROOM_SEND_DATA".into(),
            body: some_bytes(rng, 30),
            attachments: (0..rng.below(4)).map(|_| some_bytes(rng, 20)).collect(),
        },
    };
    Frame {
        from: NodeId::from_random([3; 16]),
        seq: rng.next(),
        msg,
    }
    .encode()
    .expect("encodes")
}

#[test]
fn random_and_mutated_frames() {
    let mut rng = Rng::new(0x5eed_c105);
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut b = if rng.chance(4) {
            some_bytes(&mut rng, 64).to_vec()
        } else {
            valid(&mut rng).to_vec()
        };
        for _ in 0..rng.below(3) {
            if !b.is_empty() {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
        }
        let bytes = Bytes::from(b);
        if let Ok(f) = Frame::decode(&bytes) {
            decoded += 1;
            assert_eq!(f.encode().expect("re-encodes"), bytes);
        }
    }
    assert!(decoded > 5_000, "only {decoded} decoded");
}

#[test]
fn the_committed_fuzz_seeds_are_valid_frames() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/cluster_frame");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the seeds") {
        let path = entry.expect("a seed").path();
        let bytes = Bytes::from(std::fs::read(&path).expect("readable"));
        let frame = Frame::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            frame.encode().expect("encodes"),
            bytes,
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 6, "{n} seeds");
}
