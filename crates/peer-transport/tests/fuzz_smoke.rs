//! Random and mutated server input through the client session: it must never panic, and a
//! session that reported an error can be reset and used again.

use bytes::Bytes;
use peer_testkit::Rng;
use peer_transport::session::ClientSession;
use std::time::{Duration, Instant};

const SEEDS: &[&str] = &[
    r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
    "40",
    "41",
    "3",
    "2",
    "6",
    "1",
    r#"42["OPEN",{"peerId":"a","turnCredential":{"username":"u","credential":"c"}}]"#,
    r#"42["ERROR",{"type":"peer-unavailable","message":"peer \"b\" is not available"}]"#,
    r#"42["OFFER",{"src":"b","offer":{"sdp":"v=0"},"connectionId":"dc_1","connectionType":"data"}]"#,
    r#"42["LEAVE","b"]"#,
    r#"42["AUTH_EXPIRES_IN",30]"#,
    r#"451-["ROOM_DATA",{"roomName":"r","src":"b","data":{"_placeholder":true,"num":0}}]"#,
    r#"42["FORCE_CLOSE",{"src":"b","dst":"a","connectionId":"dc_1"}]"#,
];

fn mutate(rng: &mut Rng, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..rng.below(4) {
        match rng.below(4) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            2 => {
                let i = rng.below(b.len() + 1);
                b.insert(i, b"[]{}\",:0-9e\\"[rng.below(12)]);
            }
            _ => b.extend_from_slice(SEEDS[rng.below(SEEDS.len())].as_bytes()),
        }
    }
    b
}

#[test]
fn random_server_input_never_panics() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let t0 = Instant::now();
    for round in 0..3000u64 {
        let mut s = ClientSession::new(t0, Duration::from_secs(25), 16);
        s.transport_connected(t0);
        for step in 0..20u64 {
            let now = t0 + Duration::from_millis((round * 20 + step) * 700);
            let seed = SEEDS[rng.below(SEEDS.len())];
            let input = mutate(&mut rng, seed);
            let result = if rng.below(5) == 0 {
                let mut bin = vec![4u8];
                bin.extend_from_slice(&input);
                s.handle_binary(now, Bytes::from(bin))
            } else {
                s.handle_text(now, &String::from_utf8_lossy(&input))
            };
            let _ = s.handle_timeout(now);
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
            let _ = s.poll_timeout();
            if result.is_err() {
                s.transport_lost();
                s.transport_connected(now);
            }
        }
    }
}
