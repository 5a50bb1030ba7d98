//! The server under a small open-file limit (`prlimit --nofile=128`): it keeps headroom under
//! the limit, answers clients past its connection limit with a prompt `503` instead of leaving
//! them unanswered in the kernel's queue, logs the refusals once per interval rather than once
//! per attempt, keeps serving the clients it has, and takes new ones once others leave.

mod common;

use common::*;
use peer_testkit::Launch;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The file-descriptor limit; the connection limit is then 128 - 64 (headroom) = 64.
const NOFILE: u64 = 128;
const CONNECTION_LIMIT: usize = 64;

/// Opens a connection and sends a request head; returns the stream and the status of an
/// answer that came within `wait`, if any.
async fn request(port: u16, wait: Duration) -> (TcpStream, Option<u16>) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let _ = s
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let mut buf = vec![0u8; 1024];
    let status = match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&buf[..n])
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok()),
        _ => None,
    };
    (s, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_clients_get_a_prompt_503() {
    let server = TestServer::start_with(
        "",
        Launch {
            nofile: Some(NOFILE),
        },
    );
    let (mut x, _) = Client::open(&server, KEY, Some("xavier"), "tx").await;
    let (mut y, _) = Client::open(&server, KEY, Some("yvonne"), "ty").await;
    // Keep-alive connections that answered 200 hold their slots.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..120 {
        let (stream, status) = request(server.port, Duration::from_secs(5)).await;
        match status {
            Some(200) => held.push(stream),
            Some(503) => refused += 1,
            other => panic!("no prompt answer: {other:?}"),
        }
    }
    eprintln!("{} held, {refused} refused", held.len());
    // Two bystanders and the held ones fill the limit; nothing waited unanswered.
    assert_eq!(held.len() + 2, CONNECTION_LIMIT);
    assert_eq!(refused, 120 - held.len());
    assert!(server.proc().fds < NOFILE as usize);
    // The bystanders keep talking.
    x.emit(
        "SEND_CANDIDATE",
        &json!({"candidate": {"candidate": "c"}, "dst": "yvonne", "connectionId": "dc"}),
    )
    .await;
    assert_eq!(y.expect("CANDIDATE").await.payload["src"], "xavier");
    // Refusals are logged once per interval, with their count.
    let lines: Vec<String> = server
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("refusing clients"))
        .collect();
    assert!(!lines.is_empty() && lines.len() <= 2, "{lines:?}");
    // Once some leave, new clients are served.
    held.truncate(held.len() - 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, status) = request(server.port, Duration::from_secs(5)).await;
    assert_eq!(status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_limit_follows_the_connection_limit() {
    let server = TestServer::start_with(
        "",
        Launch {
            nofile: Some(NOFILE),
        },
    );
    // `max_sessions` (100,000 by default) is clamped to the connection limit: polling
    // handshakes past it get 503, not a session the server cannot serve.
    let mut ok = 0;
    let mut unavailable = 0;
    for i in 0..80 {
        let (status, _, _) = http(
            &server,
            "GET",
            &format!("/socket.io/?apiKey={KEY}&token=t{i}&peerId=p{i}&EIO=3&transport=polling"),
            &[],
            b"",
        )
        .await;
        match status {
            200 => ok += 1,
            503 => unavailable += 1,
            other => panic!("status {other}"),
        }
    }
    eprintln!("{ok} sessions, {unavailable} refused");
    assert_eq!(ok, CONNECTION_LIMIT);
    assert_eq!(unavailable, 80 - CONNECTION_LIMIT);
}
