//! Keepalive: engine pings are answered, and a client silent for longer than
//! `pingInterval + pingTimeout` is dropped (its peer then leaves after the grace period).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn silent_clients_time_out_and_pinging_clients_stay() {
    let server = TestServer::start(
        "[timeouts]\nping_interval_ms = 1000\nping_timeout_ms = 1000\nreconnect_grace_ms = 500\n",
    );
    let (mut silent, _) = Client::open(&server, KEY, Some("silent"), "t1").await;
    let (mut chatty, _) = Client::open(&server, KEY, Some("chatty"), "t2").await;
    chatty
        .emit(
            "SEND_OFFER",
            &json!({"offer": {}, "dst": "silent", "connectionId": "dc", "connectionType": "data"}),
        )
        .await;
    silent.expect("OFFER").await;
    // chatty pings every 500 ms for 4 s; silent says nothing.
    let mut left = false;
    for _ in 0..8 {
        chatty.send_raw(Message::Text("2".into())).await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Some(next) = chatty
            .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if let Next::Event(ev) = next {
                if ev.name == "LEAVE" && ev.payload == json!("silent") {
                    left = true;
                }
            }
        }
    }
    assert!(
        left,
        "the silent peer's contact was told LEAVE after the timeout and grace period"
    );
    match silent.next(Duration::from_secs(1)).await {
        Some(Next::Closed) | Some(Next::Disconnect) => {}
        other => panic!("the silent client should have been disconnected, got {other:?}"),
    }
    // chatty is still served.
    chatty
        .emit("SEND_OFFER", &json!({"offer": {}, "dst": "silent"}))
        .await;
    chatty.expect_error("peer-unavailable").await;
}

#[tokio::test]
async fn abandoned_long_poll_still_times_out() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(
        "[timeouts]\nping_interval_ms = 1000\nping_timeout_ms = 1000\nreconnect_grace_ms = 0\n",
    );
    let base = format!("/socket.io/?apiKey={KEY}&token=t&peerId=ghost&EIO=3&transport=polling");
    let (status, _, body) = http(&server, "GET", &base, &[], b"").await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body).to_string();
    let sid = text
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("sid")
        .to_owned();
    // Start a long-poll and vanish while it is pending.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    s.write_all(format!("GET {base}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
    let list = format!("/api/apikeys/{KEY}/peers/ghost/exists");
    assert_eq!(
        http(&server, "GET", &list, &[], b"").await.2,
        br#"{"exists":true}"#
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        http(&server, "GET", &list, &[], b"").await.2,
        br#"{"exists":false}"#,
        "the silent polling session was reaped"
    );
}
