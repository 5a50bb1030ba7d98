//! Bad input against the real server: malformed frames, unknown events, wrong types, oversized
//! payloads, forged `src`, floods. Each gets an `ERROR` or a clean close, the server stays up and
//! a bystander pair keeps talking.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A pair that must keep working whatever the attacker does.
async fn bystanders(server: &TestServer) -> (Client, Client) {
    let (x, _) = Client::open(server, KEY, Some("xavier"), "tx").await;
    let (y, _) = Client::open(server, KEY, Some("yvonne"), "ty").await;
    (x, y)
}

async fn still_talking(x: &mut Client, y: &mut Client, n: u32) {
    x.emit("SEND_CANDIDATE", &json!({"candidate": {"candidate": format!("probe{n}")}, "dst": "yvonne", "connectionId": "dc", "connectionType": "data"})).await;
    let ev = y.expect("CANDIDATE").await;
    assert_eq!(ev.payload["candidate"]["candidate"], format!("probe{n}"));
}

#[tokio::test]
async fn malformed_socketio_packets_get_invalid_message_and_session_survives() {
    let server = TestServer::start("");
    let (mut x, mut y) = bystanders(&server).await;
    let (mut a, _) = Client::open(&server, KEY, Some("mallory"), "tm").await;
    for raw in [
        "42[",
        "42{\"a\":1}",
        "42[1,2]",
        "42[]",
        "49",
        "45x-[\"A\"]",
        "42\"str\"",
        "42[\"SEND_OFFER\",\"nope\"]",
        "42[\"NO_SUCH_EVENT\",{}]",
        "42[\"SEND_OFFER\",{\"dst\":5,\"offer\":{}}]",
        "42[\"ROOM_JOIN\",{\"roomName\":\"r\",\"roomType\":\"ring\"}]",
        "42[\"UPDATE_CREDENTIAL\",7]",
        "42/admin,[\"PING\",null]",
    ] {
        a.send_raw(Message::Text(raw.into())).await;
        let ev = a.expect("ERROR").await;
        assert_eq!(
            ev.payload["type"], "invalid-message",
            "for {raw}: {:?}",
            ev.payload
        );
    }
    // A binary attachment without a pending binary event, and a placeholder pointing nowhere.
    a.send_raw(Message::Binary(vec![4, 1, 2, 3].into())).await;
    a.expect_error("invalid-message").await;
    a.send_raw(Message::Text(
        "451-[\"ROOM_SEND_DATA\",{\"roomName\":\"r\",\"data\":{\"_placeholder\":true,\"num\":9}}]"
            .into(),
    ))
    .await;
    a.send_raw(Message::Binary(vec![4, 0].into())).await;
    a.expect_error("invalid-message").await;
    // Attachments on an event that takes none.
    a.send_raw(Message::Text(
        "451-[\"SEND_OFFER\",{\"dst\":\"xavier\",\"offer\":{\"_placeholder\":true,\"num\":0}}]"
            .into(),
    ))
    .await;
    a.send_raw(Message::Binary(vec![4, 0].into())).await;
    a.expect_error("invalid-message").await;
    // The session still works.
    a.emit(
        "SEND_OFFER",
        &json!({"offer": {}, "dst": "xavier", "connectionId": "dc_1", "connectionType": "data"}),
    )
    .await;
    assert_eq!(x.expect("OFFER").await.payload["src"], "mallory");
    still_talking(&mut x, &mut y, 1).await;
}

#[tokio::test]
async fn malformed_engine_packets_close_cleanly() {
    let server = TestServer::start("");
    let (mut x, mut y) = bystanders(&server).await;
    for raw in [
        Message::Text("9hello".into()),
        Message::Text("".into()),
        Message::Text("é".into()),
        Message::Binary(vec![7, 1].into()),
        Message::Binary(vec![].into()),
    ] {
        let (mut a, _) = Client::open(&server, KEY, None, "tm").await;
        a.send_raw(raw.clone()).await;
        a.expect_error("invalid-message").await;
        a.expect_end().await;
        still_talking(&mut x, &mut y, 2).await;
    }
}

#[tokio::test]
async fn forged_src_is_overwritten() {
    let server = TestServer::start("");
    let (mut x, mut y) = bystanders(&server).await;
    let (mut a, _) = Client::open(&server, KEY, Some("mallory"), "tm").await;
    a.emit("SEND_ANSWER", &json!({"answer": {}, "dst": "yvonne", "src": "xavier", "connectionId": "dc", "connectionType": "data"})).await;
    assert_eq!(y.expect("ANSWER").await.payload["src"], "mallory");
    a.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    a.expect("ROOM_USER_JOIN").await;
    y.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    y.expect("ROOM_USER_JOIN").await;
    a.expect("ROOM_USER_JOIN").await;
    a.emit(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": "hi", "src": "xavier"}),
    )
    .await;
    assert_eq!(y.expect("ROOM_DATA").await.payload["src"], "mallory");
    still_talking(&mut x, &mut y, 3).await;
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let server = TestServer::start("[limits]\nmax_payload_bytes = 65536\n");
    let (mut x, mut y) = bystanders(&server).await;
    let (mut a, _) = Client::open(&server, KEY, Some("mallory"), "tm").await;
    let huge = "x".repeat(200_000);
    a.send_raw(Message::Text(
        format!("42[\"ROOM_SEND_DATA\",{{\"roomName\":\"r\",\"data\":\"{huge}\"}}]").into(),
    ))
    .await;
    a.expect_error("invalid-message").await;
    a.expect_end().await;
    // Polling bodies are limited too.
    let (status, _, _) = http(
        &server,
        "POST",
        "/socket.io/?EIO=3&transport=polling&sid=nope",
        &[("Content-Type", "text/plain;charset=UTF-8")],
        huge.as_bytes(),
    )
    .await;
    assert!(status == 413 || status == 400, "status {status}");
    still_talking(&mut x, &mut y, 4).await;
}

#[tokio::test]
async fn floods_are_rate_limited_without_hurting_others() {
    let server = TestServer::start("[limits]\nmessages_per_second = 50\nmessage_burst = 100\n");
    let (mut x, mut y) = bystanders(&server).await;
    let (mut a, _) = Client::open(&server, KEY, Some("mallory"), "tm").await;
    for i in 0..2000 {
        a.send_raw(Message::Text(
            format!("42[\"SEND_CANDIDATE\",{{\"candidate\":{{\"n\":{i}}},\"dst\":\"xavier\"}}]")
                .into(),
        ))
        .await;
    }
    // At most the burst (plus refill) reaches xavier, and mallory hears signaling-limited.
    let mut limited = false;
    let mut relayed = 0;
    while let Some(next) = a.next(Duration::from_millis(500)).await {
        if let Next::Event(ev) = next {
            limited |= ev.payload["type"] == "signaling-limited";
        }
    }
    while let Some(Next::Event(ev)) = x.next(Duration::from_millis(500)).await {
        if ev.name == "CANDIDATE" {
            relayed += 1;
        }
    }
    assert!(limited, "mallory was never told it was limited");
    assert!((100..2000).contains(&relayed), "relayed {relayed}");
    still_talking(&mut x, &mut y, 5).await;
    // Connection floods: many handshakes, the server keeps serving.
    let mut clients = Vec::new();
    for i in 0..200 {
        clients.push(
            Client::open(&server, KEY, Some(&format!("flood{i}")), "tf")
                .await
                .0,
        );
    }
    drop(clients);
    still_talking(&mut x, &mut y, 6).await;
}

#[tokio::test]
async fn garbage_http_requests_get_errors() {
    let mut server = TestServer::start("");
    let (mut x, mut y) = bystanders(&server).await;
    for (method, path, want) in [
        ("GET", "/socket.io/?EIO=4&transport=polling", 400),
        ("GET", "/socket.io/?EIO=3&transport=carrier-pigeon", 400),
        (
            "GET",
            "/socket.io/?EIO=3&transport=polling&sid=unknown",
            400,
        ),
        ("PUT", "/socket.io/?EIO=3&transport=polling", 400),
        ("GET", "/socket.io/?EIO=3&transport=websocket", 400),
        ("GET", "/nope", 404),
        ("POST", "/api/apikeys/x/clients/", 405),
    ] {
        let (status, _, _) = http(&server, method, path, &[], b"").await;
        assert_eq!(status, want, "{method} {path}");
    }
    // Raw garbage on the TCP port.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .expect("connect");
        s.write_all(b"\x00\x01\x02 garbage\r\n\r\n")
            .await
            .expect("write");
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    }
    assert!(server.is_running());
    still_talking(&mut x, &mut y, 7).await;
}
