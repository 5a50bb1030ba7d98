//! SFU rooms against the real server process: the server's offer (upstream sections, candidates
//! inside, the msids map), refusals (Plan-B answers, a full room, the SFU switched off), and
//! that members who come and go leave no tasks or descriptors behind. Media through the SFU is
//! checked with browsers in the conformance suite ("SFU room").

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn join_sfu(c: &mut Client, room: &str) {
    c.emit("ROOM_JOIN", &json!({"roomName": room, "roomType": "sfu"}))
        .await;
    c.expect("ROOM_USER_JOIN").await;
}

/// Asks for the server's offer and returns `SFU_OFFER`'s payload.
async fn offer(c: &mut Client, room: &str) -> Value {
    c.emit("SFU_GET_OFFER", &json!({"roomName": room})).await;
    c.expect_within("SFU_OFFER", Duration::from_secs(10))
        .await
        .payload
}

#[tokio::test]
async fn the_server_offers_upstream_sections_with_its_candidates() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    join_sfu(&mut a, "s").await;
    let p = offer(&mut a, "s").await;
    assert_eq!(p["roomName"], "s");
    assert_eq!(p["offer"]["type"], "offer");
    assert_eq!(p["msids"], json!({}), "nobody publishes yet");
    let sdp = p["offer"]["sdp"].as_str().expect("sdp");
    let sections: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(sections.len(), 2, "{sdp}");
    assert!(sections[0].starts_with("m=audio") && sections[1].starts_with("m=video"));
    assert_eq!(sdp.matches("a=recvonly").count(), 2, "{sdp}");
    assert!(
        sdp.contains("VP8/90000") && sdp.contains("opus/48000/2"),
        "{sdp}"
    );
    assert!(
        sdp.lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" 127.0.0.1 ")),
        "candidates inside the offer: {sdp}"
    );
    assert!(sdp.contains("a=group:BUNDLE") && sdp.contains("a=setup:actpass"));
}

#[tokio::test]
async fn plan_b_answers_and_full_rooms_are_refused_with_sfu_limited() {
    let server = TestServer::start("[sfu]\nmax_members_per_room = 1\n");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let (mut b, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    join_sfu(&mut a, "s").await;
    join_sfu(&mut b, "s").await;
    a.expect("ROOM_USER_JOIN").await;
    // bob is a member of the room (signaling, data) but the SFU is full.
    let refused = b.expect_error("sfu-limited").await;
    assert!(
        refused.payload["message"]
            .as_str()
            .is_some_and(|m| m.contains("full")),
        "{:?}",
        refused.payload
    );
    b.emit("SFU_GET_OFFER", &json!({"roomName": "s"})).await;
    b.expect_error("sfu-limited").await;
    // alice answers in Plan B (no `WMS *`): refused, and her session ends.
    offer(&mut a, "s").await;
    let plan_b = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=msid-semantic: WMS stream\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    a.emit(
        "SFU_ANSWER",
        &json!({"roomName": "s", "answer": {"type": "answer", "sdp": plan_b}}),
    )
    .await;
    let refused = a.expect_error("sfu-limited").await;
    assert!(
        refused.payload["message"]
            .as_str()
            .is_some_and(|m| m.contains("Plan-B")),
        "{:?}",
        refused.payload
    );
    // The session can be asked for again.
    let again = offer(&mut a, "s").await;
    assert_eq!(again["offer"]["type"], "offer");
}

#[tokio::test]
async fn without_the_sfu_offers_are_refused() {
    let server = TestServer::start("[sfu]\nenabled = false\n");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    join_sfu(&mut a, "s").await;
    a.emit("SFU_GET_OFFER", &json!({"roomName": "s"})).await;
    a.expect_error("sfu-limited").await;
}

/// Members that join, get an offer and leave (or vanish) leave nothing in the process: no
/// task, no descriptor, and no memory beyond allocator slack.
#[tokio::test]
async fn members_that_come_and_go_leave_no_tasks_or_descriptors() {
    let server = TestServer::start("[timeouts]\nreconnect_grace_ms = 200\n");
    // Warm up once, so that lazily created runtime parts do not count.
    let (mut w, _) = Client::open(&server, KEY, Some("warm"), "tw").await;
    join_sfu(&mut w, "s").await;
    offer(&mut w, "s").await;
    w.destroy().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = (server.proc(), server.stats().await);
    for round in 0..3 {
        let mut clients = Vec::new();
        for i in 0..10 {
            let id = format!("m{round}x{i}");
            let (mut c, _) = Client::open(&server, KEY, Some(&id), &format!("t{id}")).await;
            join_sfu(&mut c, "s").await;
            offer(&mut c, "s").await;
            clients.push(c);
        }
        for (i, c) in clients.into_iter().enumerate() {
            if i % 2 == 0 {
                c.destroy().await;
            } else {
                c.drop_transport();
            }
        }
    }
    // The dropped ones leave after the grace period; sessions close in the background.
    let mut after = (server.proc(), server.stats().await);
    for _ in 0..50 {
        if after.1["tasks"].as_u64() <= before.1["tasks"].as_u64() && after.0.fds <= before.0.fds {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = (server.proc(), server.stats().await);
    }
    assert_eq!(after.1["peers"], json!(0), "{}", after.1);
    assert!(
        after.0.fds <= before.0.fds,
        "descriptors: {} before, {} after",
        before.0.fds,
        after.0.fds
    );
    assert!(
        after.1["tasks"].as_u64() <= before.1["tasks"].as_u64(),
        "tasks: {} before, {} after",
        before.1["tasks"],
        after.1["tasks"]
    );
    assert!(
        after.0.rss < before.0.rss + 16_000_000,
        "rss {} -> {} after 30 members came and went",
        before.0.rss,
        after.0.rss
    );
}
