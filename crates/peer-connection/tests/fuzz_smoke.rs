//! Random and mutated channel messages through the per-serialization decoder: no panic, and
//! well-formed messages still decode afterwards.

use peer_binarypack::Limits;
use peer_connection::framing::{encode, FrameDecoder};
use peer_connection::{Data, Serialization};
use peer_testkit::Rng;

#[test]
fn hostile_messages_never_panic_and_good_ones_still_decode() {
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
    let good = Data::Json(serde_json::json!({"k": "v😀", "n": [1, 2.5, null]}));
    let text = Data::Text("plain ü😀".into());
    for s in Serialization::ALL {
        let sample = if s == Serialization::None {
            &text
        } else {
            &good
        };
        let mut dec = FrameDecoder::new(s, Limits::default());
        let msgs = encode(s, sample, "abcdefghij012345", 65_535).expect("encodable");
        for round in 0..2000 {
            let m = &msgs[rng.below(msgs.len())];
            let mut bytes = m.data.to_vec();
            for _ in 0..1 + rng.below(3) {
                if bytes.is_empty() {
                    bytes.push(rng.next() as u8);
                }
                let i = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[i] = rng.next() as u8,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, rng.next() as u8),
                }
            }
            let _ = dec.decode(rng.below(2) == 0, &bytes);
            if round % 100 == 0 {
                let id = format!("id{round:014}");
                let fresh = encode(s, sample, &id, 65_535).expect("encodable");
                let mut out = None;
                for m in &fresh {
                    if let Ok(Some(d)) = dec.decode(m.is_string, &m.data) {
                        out = Some(d);
                    }
                }
                assert_eq!(out.as_ref(), Some(sample), "{s} round {round}");
            }
        }
    }
}
