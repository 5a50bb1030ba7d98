//! Clients that stop reading while another member floods their room, over WebSocket and over
//! long-polling: the server cuts them off (outbox limit or write deadline), the room hears
//! `ROOM_USER_LEAVE` without waiting for the ping timeout and the reconnect grace, and their
//! queue, task and socket are freed: the process's RSS, open file descriptors and task count go
//! back to where they were before the slow client came.

mod common;

use common::*;
use peer_protocol::engineio::encode_payload;
use peer_protocol::socketio::encode_event;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The ping timeout plus the reconnect grace: how long members waited before these fixes.
const OLD_LEAVE: Duration = Duration::from_secs(55);

async fn member(server: &TestServer, id: &str) -> Client {
    let (mut c, _) = Client::open(server, KEY, Some(id), &format!("t{id}")).await;
    c.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    c.expect("ROOM_USER_JOIN").await;
    c
}

/// What the process holds, by its own count and by `/proc`.
struct Held {
    sessions: u64,
    connections: u64,
    tasks: u64,
    fds: usize,
    rss: u64,
}

async fn held(server: &TestServer) -> Held {
    let s = server.stats().await;
    let p = server.proc();
    let n = |k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    Held {
        sessions: n("sessions"),
        connections: n("open_connections"),
        tasks: n("tasks"),
        fds: p.fds,
        rss: p.rss,
    }
}

/// Floods room `r` from `flooder` with `size`-byte strings, `per_second` of them, while `watcher`
/// reads, until `watcher` sees `leaver` leave. Returns how long that took.
async fn flood_until_leave(
    flooder: &mut Client,
    watcher: &mut Client,
    leaver: &str,
    size: usize,
    per_second: u32,
) -> Duration {
    let data = "x".repeat(size);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
    loop {
        tick.tick().await;
        assert!(start.elapsed() < OLD_LEAVE, "{leaver} never left");
        flooder
            .emit("ROOM_SEND_DATA", &json!({"roomName": "r", "data": data}))
            .await;
        // The watcher reads all it has (it is not the slow one).
        while let Some(next) = watcher.next_raw(Duration::from_millis(1)).await {
            match next {
                Ok(ev) if ev.name == "ROOM_USER_LEAVE" => return start.elapsed(),
                Ok(_) => {}
                Err(other) => panic!("the watcher lost its session: {other:?}"),
            }
        }
    }
}

async fn assert_released(server: &TestServer, before: &Held) {
    // Give the freed buffers a moment to go back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = held(server).await;
    eprintln!(
        "before: sessions {} connections {} tasks {} fds {} rss {}; after: sessions {} connections {} tasks {} fds {} rss {}",
        before.sessions, before.connections, before.tasks, before.fds, before.rss,
        after.sessions, after.connections, after.tasks, after.fds, after.rss
    );
    assert_eq!(after.sessions, before.sessions, "sessions");
    assert_eq!(after.connections, before.connections, "connections");
    assert!(after.tasks <= before.tasks + 2, "tasks");
    assert!(after.fds <= before.fds + 1, "file descriptors");
    assert!(after.rss < before.rss + 16_000_000, "RSS");
}

/// Bob joins a room with Alice and Carol, then never reads again (the client object is kept,
/// its socket stays open) while Alice floods the room with `size`-byte messages, `per_second`
/// of them. Checks that Bob is cut off for `why` (a word of the server's log line) and that
/// what he held is released.
async fn websocket_reader_stops(config: &str, size: usize, per_second: u32, why: &str) {
    let server = TestServer::start(config);
    let mut alice = member(&server, "alice").await;
    let mut carol = member(&server, "carol").await;
    alice.expect("ROOM_USER_JOIN").await;
    let before = held(&server).await;
    let bob = member(&server, "bob").await;
    alice.expect("ROOM_USER_JOIN").await;
    carol.expect("ROOM_USER_JOIN").await;
    let took = flood_until_leave(&mut alice, &mut carol, "bob", size, per_second).await;
    eprintln!("bob left after {took:?}");
    assert!(took < OLD_LEAVE);
    assert!(server
        .log_lines()
        .iter()
        .any(|l| l.contains("session cut off") && l.contains(why)));
    assert_released(&server, &before).await;
    drop(bob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_over_its_outbox_is_cut_off_at_once() {
    websocket_reader_stops(
        "[limits]\nmax_outbox_bytes = 4194304\n",
        100_000,
        50,
        "outbox",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_reading_meets_the_write_deadline() {
    // The default 64 MiB outbox never fills at 500 kB/s: the write deadline ends it.
    websocket_reader_stops(
        "[timeouts]\nwrite_ms = 3000\n",
        50_000,
        10,
        "write deadline",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_that_stops_reading_is_cut_off() {
    let server = TestServer::start("[timeouts]\nwrite_ms = 3000\n");
    let mut alice = member(&server, "alice").await;
    let mut carol = member(&server, "carol").await;
    alice.expect("ROOM_USER_JOIN").await;
    let before = held(&server).await;

    // Dave opens a polling session, joins the room, then sends one long-poll and never reads
    // its answer.
    let (base, sid) = polling_session(&server, "dave", "td").await;
    let join = encode_event(
        "ROOM_JOIN",
        &json!({"roomName": "r", "roomType": "mesh"}),
        &[],
    );
    let (status, _, _) = http(
        &server,
        "POST",
        &format!("{base}&sid={sid}"),
        &[("Content-Type", "text/plain;charset=UTF-8")],
        &encode_payload(&join).body,
    )
    .await;
    assert_eq!(status, 200);
    alice.expect("ROOM_USER_JOIN").await;
    carol.expect("ROOM_USER_JOIN").await;
    let mut unread = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    unread
        .write_all(format!("GET {base}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");

    let took = flood_until_leave(&mut alice, &mut carol, "dave", 50_000, 10).await;
    eprintln!("dave left after {took:?}");
    assert!(took < OLD_LEAVE);
    drop(unread);
    assert_released(&server, &before).await;
}
