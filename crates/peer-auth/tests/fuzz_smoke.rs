//! Deterministic fuzz smoke test for credentials: mutated credential JSON through
//! `Credential::from_json` and `verify`, with no fuzzing tool needed.
//!
//! Properties: nothing panics; a credential verifies only when its ttl and time window are valid;
//! a credential issued for the parsed `timestamp` and `ttl` verifies exactly then. The
//! coverage-guided version is the `credential` target of `cargo xtask fuzz`.

use peer_auth::{AuthError, Credential, MAX_TTL, MIN_TTL};
use peer_testkit::Rng;

const SECRET: &[u8] = b"smoke-secret";
const NOW: u64 = 1_700_000_000;

const INTERESTING: &[&str] = &[
    "0",
    "1",
    "9",
    "-",
    ".",
    "e",
    "599",
    "600",
    "90000",
    "90001",
    "18446744073709551615",
    "18446744073709551616",
    "1700000000",
    "\"",
    ",",
    "{",
    "}",
    ":",
    "null",
    " ",
    "=",
    "\\u0000",
    "é",
    "\"peerId\":\"a\",",
];

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut out: Vec<char> = input.chars().collect();
    for _ in 0..1 + rng.below(3) {
        match rng.below(4) {
            0 if !out.is_empty() => {
                let a = rng.below(out.len());
                let b = (a + 1 + rng.below(6)).min(out.len());
                out.drain(a..b);
            }
            1 => {
                let at = rng.below(out.len() + 1);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.chars());
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                if out[i].is_ascii_digit() {
                    out[i] = char::from(b'0' + rng.below(10) as u8);
                } else {
                    out[i] = char::from(rng.below(128) as u8);
                }
            }
            _ => {
                let at = rng.below(out.len() + 1);
                out.insert(at, char::from(b'0' + rng.below(10) as u8));
            }
        }
    }
    out.into_iter().collect()
}

fn in_window(timestamp: u64, ttl: u64, now: u64, skew: u64) -> bool {
    (MIN_TTL..=MAX_TTL).contains(&ttl)
        && timestamp <= now.saturating_add(skew)
        && timestamp.saturating_add(ttl) > now
}

/// Checks one input; returns whether it parsed as a credential.
fn check(text: &str) -> bool {
    let Ok(c) = Credential::from_json(text) else {
        return false;
    };
    for (now, skew) in [(NOW, 30), (0, 0), (u64::MAX, u64::MAX)] {
        let expected = in_window(c.timestamp, c.ttl, now, skew);
        match c.verify(SECRET, "alice", now, skew) {
            Ok(exp) => {
                assert!(expected, "{text:?} verified outside its window");
                assert_eq!(exp, c.expires_at());
            }
            Err(AuthError::BadToken) => assert!(expected, "token checked before the window"),
            Err(_) => assert!(!expected, "{text:?} refused inside its window"),
        }
        let issued = Credential::issue(SECRET, "alice", c.timestamp, c.ttl);
        assert_eq!(
            issued.verify(SECRET, "alice", now, skew).is_ok(),
            expected,
            "issued {issued:?} at now={now} skew={skew}"
        );
        assert!(issued.verify(SECRET, "bob", now, skew).is_err());
    }
    true
}

#[test]
fn credentials_never_panic_and_verify_only_in_window() {
    let good = Credential::issue(SECRET, "alice", NOW - 10, 3600);
    let good_json = format!(
        r#"{{"timestamp":{},"ttl":{},"authToken":"{}"}}"#,
        good.timestamp, good.ttl, good.auth_token
    );
    let seeds = [
        good_json.as_str(),
        r#"{"peerId":"a","timestamp":1,"ttl":600,"authToken":"x"}"#,
        r#"{"timestamp":1700000000,"ttl":3600,"authToken":"dGVzdC1obWFjLXRva2VuLWJhc2U2NA=="}"#,
        r#"{"timestamp":18446744073709551615,"ttl":90000,"authToken":" AAAA "}"#,
    ];
    for s in seeds {
        assert!(check(s), "seed {s} does not parse");
    }
    let mut rng = Rng::new(0x5EED_CAFE_F00D_0001);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        parsed += usize::from(check(&mutate(&mut rng, seed)));
    }
    // Enough mutants must still parse for `verify` to be exercised at all.
    assert!(parsed > 2_000, "only {parsed} mutants parsed");
    // The untouched good credential verifies; it is the anchor that keeps the checks honest.
    assert_eq!(
        Credential::from_json(&good_json)
            .expect("parses")
            .verify(SECRET, "alice", NOW, 30),
        Ok(NOW - 10 + 3600)
    );
}
