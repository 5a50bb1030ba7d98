//! Credentials against the real server: valid, missing, wrong, expired, double-encoded, expiry
//! warning, update and expiry.

mod common;

use common::*;
use peer_auth::Credential;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn encoded(c: &Credential) -> String {
    percent_encoding::utf8_percent_encode(
        &serde_json::to_string(c).expect("json"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

fn query(id: &str, cred: Option<&str>) -> String {
    let mut q = format!("apiKey={AUTH_KEY}&token=tok-{id}&peerId={id}");
    if let Some(c) = cred {
        q.push_str(&format!("&credential={c}"));
    }
    q
}

#[tokio::test]
async fn handshake_credentials() {
    let server = TestServer::start("");
    let secret = AUTH_SECRET.as_bytes();
    let valid = Credential::issue(secret, "alice", now(), 3600);
    let mut c = Client::connect(&server, &query("alice", Some(&encoded(&valid)))).await;
    assert_eq!(c.expect("OPEN").await.payload["peerId"], "alice");
    // Double-encoded, as the SDK sends it after updateCredential().
    let twice = percent_encoding::utf8_percent_encode(
        &encoded(&Credential::issue(secret, "dora", now(), 3600)),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let mut d = Client::connect(&server, &query("dora", Some(&twice))).await;
    d.expect("OPEN").await;
    for (id, cred) in [
        ("bob", None),
        (
            "bob",
            Some(encoded(&Credential::issue(b"wrong", "bob", now(), 3600))),
        ),
        (
            "bob",
            Some(encoded(&Credential::issue(
                secret,
                "someone-else",
                now(),
                3600,
            ))),
        ),
        (
            "bob",
            Some(encoded(&Credential::issue(secret, "bob", now() - 700, 600))),
        ),
        (
            "bob",
            Some(encoded(&Credential::issue(
                secret,
                "bob",
                now() + 3600,
                3600,
            ))),
        ),
        (
            "bob",
            Some(encoded(&Credential::issue(secret, "bob", now(), 100))),
        ),
        ("bob", Some("%7Bnot-json".into())),
    ] {
        let mut c = Client::connect(&server, &query(id, cred.as_deref())).await;
        c.expect_error("authentication").await;
        c.expect_end().await;
    }
    // Without a peer id a credential cannot be checked.
    let mut anon = Client::connect(
        &server,
        &format!("apiKey={AUTH_KEY}&token=x&credential={}", encoded(&valid)),
    )
    .await;
    anon.expect_error("authentication").await;
}

#[tokio::test]
async fn expiry_warning_update_and_expiry() {
    let server = TestServer::start("");
    let secret = AUTH_SECRET.as_bytes();
    // Expires in ~5 s: OPEN then AUTH_EXPIRES_IN at once.
    let soon = Credential::issue(secret, "alice", now() - 595, 600);
    let mut a = Client::connect(&server, &query("alice", Some(&encoded(&soon)))).await;
    a.expect("OPEN").await;
    let secs = a
        .expect("AUTH_EXPIRES_IN")
        .await
        .payload
        .as_u64()
        .expect("seconds");
    assert!(secs <= 5, "{secs}");
    // A bad update is refused, a good one keeps the session past the old expiry.
    a.emit(
        "UPDATE_CREDENTIAL",
        &serde_json::to_value(Credential::issue(b"bad", "alice", now(), 3600)).expect("json"),
    )
    .await;
    a.expect_error("authentication").await;
    a.emit(
        "UPDATE_CREDENTIAL",
        &serde_json::to_value(Credential::issue(secret, "alice", now(), 3600)).expect("json"),
    )
    .await;
    // Another peer without an update is cut off at expiry.
    let mut b = Client::connect(
        &server,
        &query(
            "bob",
            Some(&encoded(&Credential::issue(
                secret,
                "bob",
                now() - 597,
                600,
            ))),
        ),
    )
    .await;
    b.expect("OPEN").await;
    b.expect("AUTH_EXPIRES_IN").await;
    match b.next(Duration::from_secs(6)).await {
        Some(Next::Event(ev)) => assert_eq!(ev.payload["type"], "authentication"),
        other => panic!("expected the expiry error, got {other:?}"),
    }
    b.expect_end().await;
    a.expect_silence(Duration::from_secs(3)).await;
    a.emit("SEND_OFFER", &json!({"offer": {}, "dst": "nobody"}))
        .await;
    a.expect_error("peer-unavailable").await;
}
