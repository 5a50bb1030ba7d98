//! 2,000 slowloris connections against the real server, half trickling a request head and half a
//! polling POST body, a byte every two seconds, while a bystander pair keeps relaying. The
//! server cuts each off at its deadline (request head, body), and afterwards its connections,
//! inbound bytes, tasks, file descriptors and RSS are back where they were.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_HEADS: usize = 1000;
const SLOW_BODIES: usize = 1000;
const BYTE_EVERY: Duration = Duration::from_secs(2);

/// How a slow connection ended.
#[derive(Debug, PartialEq, Eq, Hash)]
enum End {
    /// The server answered (with this status) and closed.
    Answered(u16),
    /// The server closed (or reset) without an answer.
    Closed,
    /// Still open when the test gave up.
    StillOpen,
}

/// Sends `prefix`, then `trickle` a byte at a time, reading whatever the server says.
async fn slow_client(port: u16, prefix: String, trickle: Vec<u8>, give_up: Duration) -> End {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return End::Closed;
    };
    if stream.write_all(prefix.as_bytes()).await.is_err() {
        return End::Closed;
    }
    let deadline = tokio::time::Instant::now() + give_up;
    let mut answer = Vec::new();
    let mut next = trickle.into_iter();
    loop {
        let mut buf = [0u8; 512];
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(BYTE_EVERY) => {
                if let Some(b) = next.next() {
                    if stream.write_all(&[b]).await.is_err() {
                        break;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => return End::StillOpen,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    match text.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(status) => End::Answered(status),
        None => End::Closed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slowloris_connections_are_cut_off_and_leave_nothing() {
    // The test process holds 2,000 sockets too.
    let _ = rlimit::increase_nofile_limit(8192);
    // Room for all of them at once: this test is about deadlines (the fd-limit test refuses).
    let server = TestServer::start(
        "[limits]\nmax_unbound_connections = 4096\n[timeouts]\nhead_ms = 4000\nbody_ms = 6000\n",
    );
    let (mut x, _) = Client::open(&server, KEY, Some("xavier"), "tx").await;
    let (mut y, _) = Client::open(&server, KEY, Some("yvonne"), "ty").await;

    // One polling session whose sid the slow POSTs name.
    let (base, sid) = polling_session(&server, "zed", "tz").await;

    let before_stats = server.stats().await;
    let before = server.proc();
    eprintln!("before: {before_stats} {before:?}");

    let give_up = Duration::from_secs(40);
    let mut slow = Vec::new();
    for i in 0..SLOW_HEADS {
        let prefix = format!("GET /socket.io/?EIO=3&transport=polling&n={i} HTTP/1.1\r\n");
        let trickle = b"Host: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n".to_vec();
        slow.push(tokio::spawn(slow_client(
            server.port,
            prefix,
            trickle,
            give_up,
        )));
    }
    for _ in 0..SLOW_BODIES {
        let prefix = format!(
            "POST {base}&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 100000\r\n\r\n"
        );
        slow.push(tokio::spawn(slow_client(
            server.port,
            prefix,
            vec![b'1'; 100],
            give_up,
        )));
    }

    // The bystanders keep relaying meanwhile.
    let start = Instant::now();
    let mut relayed = 0;
    while slow.iter().any(|t| !t.is_finished()) && start.elapsed() < give_up {
        x.emit(
            "SEND_CANDIDATE",
            &json!({"candidate": {"candidate": format!("c{relayed}")}, "dst": "yvonne", "connectionId": "dc"}),
        )
        .await;
        let ev = y.expect("CANDIDATE").await;
        assert_eq!(ev.payload["candidate"]["candidate"], format!("c{relayed}"));
        relayed += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ends = std::collections::HashMap::new();
    for t in slow {
        *ends.entry(t.await.expect("task")).or_insert(0usize) += 1;
    }
    eprintln!(
        "after {:?}: {ends:?}, {relayed} relayed meanwhile",
        start.elapsed()
    );
    assert!(!ends.contains_key(&End::StillOpen), "{ends:?}");
    assert_eq!(
        ends.get(&End::Answered(408)),
        Some(&SLOW_BODIES),
        "{ends:?}"
    );
    assert!(relayed > 10);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_stats = server.stats().await;
    let after = server.proc();
    eprintln!("after: {after_stats} {after:?}");
    for key in ["inbound_bytes", "sessions"] {
        assert_eq!(after_stats[key], before_stats[key], "{key}");
    }
    // The `/stats` request's own connection may or may not still count in either reading:
    // nothing may be left over, but one fewer is no leak.
    let n = |s: &Value, key: &str| s[key].as_u64().unwrap_or(u64::MAX);
    for key in ["open_connections", "unbound_connections"] {
        assert!(
            n(&after_stats, key) <= n(&before_stats, key),
            "{key}: {} -> {}",
            before_stats[key],
            after_stats[key]
        );
    }
    let tasks = |s: &Value| s["tasks"].as_u64().unwrap_or(u64::MAX);
    assert!(tasks(&after_stats) <= tasks(&before_stats) + 2, "tasks");
    assert!(
        after.fds <= before.fds + 2,
        "fds {} -> {}",
        before.fds,
        after.fds
    );
    assert!(
        after.rss < before.rss + 16_000_000,
        "rss {} -> {}",
        before.rss,
        after.rss
    );
    // And the server still opens new sessions.
    let (_, id) = Client::open(&server, KEY, Some("late"), "tl").await;
    assert_eq!(id, "late");
}
