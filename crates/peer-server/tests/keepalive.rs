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
