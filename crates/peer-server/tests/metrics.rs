//! The operations listener (`[metrics] listen`): `/healthz`, `/readyz` and `/metrics` on their
//! own port, against the real server. The numbers follow what clients do (sessions, peers,
//! relayed messages by type, errors by type, rooms and members by kind, room-data bytes, rate
//! limits, TURN), the public port does not serve them, and garbage on the operations port is
//! closed without disturbing anyone.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` on `port`: status, head and body.
async fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_owned(), body.to_owned())
}

use peer_testkit::metrics::sample;

/// Scrapes until `name` has `want`, or fails with the last scrape.
async fn until_sample(port: u16, name: &str, want: f64) -> String {
    let mut body = String::new();
    for _ in 0..100 {
        body = get(port, "/metrics").await.2;
        if sample(&body, name) == Some(want) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {want}:\n{body}");
}

#[tokio::test]
async fn metrics_health_and_readiness_on_their_own_port() {
    let server = TestServer::start(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [turn]\nlisten = \"127.0.0.1:0\"\n\
         [limits]\nmessages_per_second = 5\nmessage_burst = 5\n",
    );
    let ops = server.metrics_port();
    assert_ne!(ops, server.port);

    let (status, _, body) = get(ops, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = get(ops, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let (status, head, body) = get(ops, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(
        sample(&body, "peer_sessions{transport=\"websocket\"}"),
        Some(0.0)
    );
    assert_eq!(sample(&body, "peer_turn_allocations"), Some(0.0));
    assert_eq!(sample(&body, "peer_sfu_forwarded_tracks"), Some(0.0));
    assert_eq!(get(ops, "/nothing").await.0, 404);
    // Not on the public port.
    assert_eq!(get(server.port, "/metrics").await.0, 404);

    let (mut a, _) = Client::open(&server, KEY, Some("m-a"), "ta").await;
    let (mut b, _) = Client::open(&server, KEY, Some("m-b"), "tb").await;
    until_sample(ops, "peer_peers{state=\"open\"}", 2.0).await;
    until_sample(ops, "peer_sessions{transport=\"websocket\"}", 2.0).await;

    a.emit(
        "SEND_OFFER",
        &json!({"dst": "m-b", "connectionId": "dc_1", "offer": {"type": "offer", "sdp": "v=0"}}),
    )
    .await;
    b.expect("OFFER").await;
    a.emit(
        "SEND_OFFER",
        &json!({"dst": "nobody", "connectionId": "dc_2", "offer": {"type": "offer", "sdp": "v=0"}}),
    )
    .await;
    a.expect_error("peer-unavailable").await;
    let join = json!({"roomName": "r", "roomType": "mesh"});
    a.emit("ROOM_JOIN", &join).await;
    a.expect("ROOM_USER_JOIN").await;
    b.emit("ROOM_JOIN", &join).await;
    b.expect("ROOM_USER_JOIN").await;
    a.expect("ROOM_USER_JOIN").await;
    a.emit(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": "0123456789"}),
    )
    .await;
    b.expect("ROOM_DATA").await;

    let body = until_sample(ops, "peer_messages_relayed_total{type=\"OFFER\"}", 1.0).await;
    assert_eq!(
        sample(&body, "peer_errors_sent_total{type=\"peer-unavailable\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(sample(&body, "peer_rooms{kind=\"mesh\"}"), Some(1.0));
    assert_eq!(sample(&body, "peer_room_members{kind=\"mesh\"}"), Some(2.0));
    assert_eq!(
        sample(&body, "peer_messages_relayed_total{type=\"ROOM_DATA\"}"),
        Some(1.0)
    );
    // The JSON text `"0123456789"`, quotes included.
    assert_eq!(sample(&body, "peer_room_data_bytes_total"), Some(12.0));

    // Past the rate limit (5 a second): dropped messages are counted.
    for i in 0..30 {
        a.emit(
            "ROOM_GET_USERS",
            &json!({"roomName": "r", "type": "media", "i": i}),
        )
        .await;
    }
    let mut limited = 0.0;
    for _ in 0..100 {
        let body = get(ops, "/metrics").await.2;
        limited = sample(&body, "peer_rate_limited_total").unwrap_or(0.0);
        if limited > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(limited >= 1.0, "rate-limit hits counted");

    // Garbage on the operations port is closed; everyone else goes on.
    let mut junk = TcpStream::connect(("127.0.0.1", ops))
        .await
        .expect("connect");
    junk.write_all(b"\x16\x03\x01garbage\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), junk.read_to_end(&mut buf)).await;
    assert_eq!(get(ops, "/healthz").await.0, 200);
    a.destroy().await;
    b.destroy().await;
    until_sample(ops, "peer_peers{state=\"open\"}", 0.0).await;
}
