//! Signaling against the real server process: open, ids, relays, force close, LEAVE, isolation.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn open_with_given_and_assigned_ids() {
    let server = TestServer::start("");
    let (_a, id) = Client::open(&server, KEY, Some("alice"), "t1").await;
    assert_eq!(id, "alice");
    let (_b, assigned) = Client::open(&server, KEY, None, "t2").await;
    assert!(
        peer_protocol::ids::is_valid_peer_id(&assigned),
        "{assigned}"
    );
    assert_ne!(assigned, "alice");
    let (_c, spaced) = Client::open(&server, KEY, Some("ABCD%200123"), "t3").await;
    assert_eq!(spaced, "ABCD 0123");
}

#[tokio::test]
async fn unavailable_id_leaves_holder_alone() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let mut intruder =
        Client::connect(&server, &format!("apiKey={KEY}&token=other&peerId=alice")).await;
    intruder.expect_error("unavailable-id").await;
    intruder.expect_end().await;
    let (mut b, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    b.emit("SEND_OFFER", &json!({"offer": {"type": "offer", "sdp": "x"}, "dst": "alice", "connectionId": "dc_1", "connectionType": "data"})).await;
    assert_eq!(a.expect("OFFER").await.payload["src"], "bob");
}

#[tokio::test]
async fn invalid_key_and_invalid_id_are_rejected() {
    let server = TestServer::start("");
    let mut c = Client::connect(
        &server,
        "apiKey=99999999-2222-3333-4444-555555555555&token=t",
    )
    .await;
    c.expect_error("invalid-key").await;
    c.expect_end().await;
    let mut c = Client::connect(&server, &format!("apiKey={KEY}&token=t&peerId=bad%2Fid")).await;
    c.expect_error("invalid-id").await;
}

#[tokio::test]
async fn relays_keep_every_field_and_stamp_src() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let (mut b, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    let offer = json!({"offer": {"type": "offer", "sdp": "v=0\r\n"}, "dst": "bob", "connectionId": "dc_x", "connectionType": "data",
        "metadata": {"k": ["é", 1]}, "serialization": "binary", "label": "chat", "dcInit": {"ordered": false}, "src": "forged"});
    a.emit("SEND_OFFER", &offer).await;
    let got = b.expect("OFFER").await.payload;
    let mut expected = offer.clone();
    expected["src"] = json!("alice");
    assert_eq!(got, expected);
    b.emit("SEND_ANSWER", &json!({"answer": {"type": "answer", "sdp": "y"}, "dst": "alice", "connectionId": "dc_x", "connectionType": "data"})).await;
    assert_eq!(a.expect("ANSWER").await.payload["src"], "bob");
    // Candidates keep their order.
    for i in 0..50 {
        a.emit("SEND_CANDIDATE", &json!({"candidate": {"candidate": format!("c{i}"), "sdpMid": "0", "sdpMLineIndex": 0}, "dst": "bob", "connectionId": "dc_x", "connectionType": "data"})).await;
    }
    for i in 0..50 {
        assert_eq!(
            b.expect("CANDIDATE").await.payload["candidate"]["candidate"],
            format!("c{i}")
        );
    }
    a.emit(
        "SEND_FORCE_CLOSE",
        &json!({"dst": "bob", "connectionId": "dc_x"}),
    )
    .await;
    assert_eq!(
        b.expect("FORCE_CLOSE").await.payload,
        json!({"src": "alice", "dst": "bob", "connectionId": "dc_x"})
    );
}

#[tokio::test]
async fn unknown_destination_is_peer_unavailable() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    a.emit(
        "SEND_OFFER",
        &json!({"offer": {}, "dst": "nobody", "connectionId": "dc_1", "connectionType": "data"}),
    )
    .await;
    a.expect_error("peer-unavailable").await;
    a.emit(
        "SEND_FORCE_CLOSE",
        &json!({"dst": "nobody", "connectionId": "dc_1"}),
    )
    .await;
    a.expect_error("peer-unavailable").await;
}

#[tokio::test]
async fn apps_cannot_see_each_other() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let (mut b, _) = Client::open(&server, NOREST_KEY, Some("bob"), "t2").await;
    a.emit("SEND_OFFER", &json!({"offer": {}, "dst": "bob"}))
        .await;
    a.expect_error("peer-unavailable").await;
    b.expect_silence(Duration::from_millis(300)).await;
    // The same id may exist under another key.
    let (_c, id) = Client::open(&server, NOREST_KEY, Some("alice"), "t3").await;
    assert_eq!(id, "alice");
}

#[tokio::test]
async fn destroy_sends_leave_to_contacts_only() {
    let server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let (mut b, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    let (mut c, _) = Client::open(&server, KEY, Some("carol"), "t3").await;
    a.emit(
        "SEND_OFFER",
        &json!({"offer": {}, "dst": "bob", "connectionId": "dc_1", "connectionType": "data"}),
    )
    .await;
    b.expect("OFFER").await;
    a.destroy().await;
    assert_eq!(b.expect("LEAVE").await.payload, json!("alice"));
    c.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn reconnect_with_same_token_keeps_id_rooms_and_contacts() {
    let server = TestServer::start("[timeouts]\nreconnect_grace_ms = 1500\n");
    let (a, _) = Client::open(&server, KEY, Some("alice"), "tok-a").await;
    let (mut b, _) = Client::open(&server, KEY, Some("bob"), "tok-b").await;
    b.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    b.expect("ROOM_USER_JOIN").await;
    let mut a = a;
    a.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    a.expect("ROOM_USER_JOIN").await;
    b.expect("ROOM_USER_JOIN").await;
    a.drop_transport();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another token cannot take the id during the grace period; the same token can.
    let mut thief =
        Client::connect(&server, &format!("apiKey={KEY}&token=evil&peerId=alice")).await;
    thief.expect_error("unavailable-id").await;
    let (mut a2, id) = Client::open(&server, KEY, Some("alice"), "tok-a").await;
    assert_eq!(id, "alice");
    b.emit(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": "still here?"}),
    )
    .await;
    assert_eq!(a2.expect("ROOM_DATA").await.payload["data"], "still here?");
    // A drop without reconnect ends in ROOM_USER_LEAVE after the grace period.
    a2.drop_transport();
    let ev = b.next(Duration::from_secs(5)).await;
    match ev {
        Some(Next::Event(e)) => assert_eq!(
            (e.name.as_str(), e.payload),
            ("ROOM_USER_LEAVE", json!({"roomName": "r", "src": "alice"}))
        ),
        other => panic!("expected ROOM_USER_LEAVE, got {other:?}"),
    }
}
