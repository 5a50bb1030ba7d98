//! What a message can make the server hold: peak memory per message is a small multiple of its
//! size whatever its shape, and nothing of it stays. Measured on the real process (`VmHWM` and
//! `VmRSS` from `/proc`), with messages shaped to blow up a JSON tree (20 MB of tiny objects,
//! 700,000 binary placeholders), from a member and from a stranger to the room; and values nested
//! 100,000 deep are refused on every path.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const MB: u64 = 1_000_000;
/// Peak resident memory allowed per byte of one message.
const PEAK_FACTOR: u64 = 6;
/// How long a 20 MB message may take through a debug build on a busy 2-core machine.
const BIG: Duration = Duration::from_secs(60);

/// `count` tiny objects in an array: the shape that costs a JSON tree ~90 times its text.
fn tiny_objects(count: usize) -> String {
    let mut s = String::with_capacity(count * 8 + 2);
    s.push('[');
    for i in 0..count {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"a\":0}");
    }
    s.push(']');
    s
}

async fn pair_in_room(server: &TestServer) -> (Client, Client) {
    let (mut alice, _) = Client::open(server, KEY, Some("alice"), "ta").await;
    let (mut bob, _) = Client::open(server, KEY, Some("bob"), "tb").await;
    for c in [&mut alice, &mut bob] {
        c.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
            .await;
        c.expect("ROOM_USER_JOIN").await;
    }
    alice.expect("ROOM_USER_JOIN").await;
    (alice, bob)
}

/// Sends `text` as one engine message (`42[...]` already included) and returns the peak RSS
/// growth over the RSS before it, once `settle` is done.
async fn peak_growth(server: &TestServer, settle: impl std::future::Future<Output = ()>) -> u64 {
    let before = server.proc();
    server.reset_peak();
    settle.await;
    let after = server.proc();
    after.peak_rss.saturating_sub(before.rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_of_tiny_objects_cost_a_small_multiple_of_their_size() {
    let server = TestServer::start("");
    let (mut alice, mut bob) = pair_in_room(&server).await;
    let (mut mallory, _) = Client::open(&server, KEY, Some("mallory"), "tm").await;
    let data = tiny_objects(2_600_000);
    let text = format!("42[\"ROOM_SEND_DATA\",{{\"roomName\":\"r\",\"data\":{data}}}]");
    let size = text.len() as u64;
    assert!(size > 20 * MB, "{size}");
    let baseline = server.proc();

    // A stranger to the room: refused, and the message is never expanded.
    let growth = peak_growth(&server, async {
        mallory.send_raw(Message::Text(text.clone().into())).await;
        let ev = mallory.expect_within("ERROR", BIG).await;
        assert_eq!(ev.payload["type"], "room-error");
    })
    .await;
    eprintln!("stranger: {size} B message, peak growth {growth} B");
    assert!(
        growth < PEAK_FACTOR * size,
        "peak grew {growth} B for {size} B"
    );

    // A member: relayed to the other member as it is.
    let growth = peak_growth(&server, async {
        alice.send_raw(Message::Text(text.clone().into())).await;
        let got = bob.expect_raw("ROOM_DATA", BIG).await;
        assert!(got.payload_len as u64 > size - 100, "{}", got.payload_len);
    })
    .await;
    eprintln!("member: {size} B message, peak growth {growth} B");
    assert!(
        growth < PEAK_FACTOR * size,
        "peak grew {growth} B for {size} B"
    );

    // The log keeps a summary, not the data.
    alice.emit("ROOM_GET_LOGS", &json!({"roomName": "r"})).await;
    let logs = alice.expect("ROOM_LOGS").await;
    let last = logs.payload["log"]
        .as_array()
        .and_then(|l| l.last())
        .cloned();
    let entry: serde_json::Value = serde_json::from_str(
        last.and_then(|l| l.as_str().map(str::to_owned))
            .as_deref()
            .unwrap_or("null"),
    )
    .unwrap();
    assert_eq!(entry["message"]["data"]["_omitted"], true, "{entry}");

    // Nothing of it stays: the RSS goes back near where it was.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let end = server.proc();
    eprintln!("rss: baseline {} B, end {} B", baseline.rss, end.rss);
    assert!(
        end.rss < baseline.rss + 2 * size,
        "RSS {} B after, {} B before",
        end.rss,
        baseline.rss
    );
    alice.emit("PING", &serde_json::Value::Null).await;
    bob.emit(
        "SEND_CANDIDATE",
        &json!({"candidate": {"candidate": "c"}, "dst": "alice", "connectionId": "x"}),
    )
    .await;
    alice.expect("CANDIDATE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_hundred_thousand_placeholders_cost_a_small_multiple_of_their_size() {
    let server = TestServer::start("");
    let (mut alice, mut bob) = pair_in_room(&server).await;
    let mut data = String::from("[");
    for i in 0..700_000 {
        if i > 0 {
            data.push(',');
        }
        data.push_str("{\"_placeholder\":true,\"num\":0}");
    }
    data.push(']');
    let text = format!("451-[\"ROOM_SEND_DATA\",{{\"roomName\":\"r\",\"data\":{data}}}]");
    let size = text.len() as u64;
    let growth = peak_growth(&server, async {
        alice.send_raw(Message::Text(text.clone().into())).await;
        alice
            .send_raw(Message::Binary(Bytes::from_static(b"\x04attachment")))
            .await;
        let got = bob.expect_raw("ROOM_DATA", BIG).await;
        assert_eq!(got.attachments, vec![Bytes::from_static(b"attachment")]);
    })
    .await;
    eprintln!("placeholders: {size} B message, peak growth {growth} B");
    assert!(
        growth < PEAK_FACTOR * size,
        "peak grew {growth} B for {size} B"
    );
}

#[tokio::test]
async fn values_nested_100000_deep_are_refused_on_every_path() {
    let server = TestServer::start("");
    let (mut alice, mut bob) = pair_in_room(&server).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for text in [
        // The relay events (once the fast path), with and without a room.
        format!("42[\"SEND_OFFER\",{{\"offer\":{{\"x\":{deep}}},\"dst\":\"bob\",\"connectionId\":\"mc_1\"}}]"),
        format!("42[\"SEND_CANDIDATE\",{{\"candidate\":{{}},\"dst\":\"bob\",\"roomName\":\"r\",\"x\":{deep}}}]"),
        format!("42[\"ROOM_SEND_DATA\",{{\"roomName\":\"r\",\"data\":{deep}}}]"),
        format!("42[\"ROOM_JOIN\",{{\"roomName\":\"r\",\"roomType\":\"mesh\",\"x\":{deep}}}]"),
        format!("42[\"NO_SUCH_EVENT\",{deep}]"),
    ] {
        alice.send_raw(Message::Text(text.into())).await;
        let ev = alice.expect_error("invalid-message").await;
        assert!(
            ev.payload["message"].as_str().is_some_and(|m| m.contains("deeper")),
            "{:?}",
            ev.payload
        );
    }
    bob.expect_silence(Duration::from_millis(300)).await;
    // Both still talk.
    alice
        .emit(
            "SEND_CANDIDATE",
            &json!({"candidate": {"candidate": "c"}, "dst": "bob", "connectionId": "x"}),
        )
        .await;
    assert_eq!(bob.expect("CANDIDATE").await.payload["src"], "alice");
}
