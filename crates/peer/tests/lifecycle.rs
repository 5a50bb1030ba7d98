//! A Peer's life as an application sees it: an application that does not read its events
//! keeps its Peer (keepalive goes on), dropping the last handle destroys the Peer as
//! `destroy()` does, and connections report what they carried.

mod common;

use common::*;
use peer::{ConnectOptions, Data, PeerEvent};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_does_not_read_events_keeps_its_peer() {
    // Pings every second and a one-second timeout: a blocked socket task would be dropped in
    // two seconds.
    let server = TestServer::start_with(
        0,
        "[timeouts]\nping_interval_ms = 1000\nping_timeout_ms = 1000\n",
    );
    let slow = server.peer("slow-app").await;
    let watcher = server.peer("watcher").await;
    // Each connect to nobody gets an `ERROR peer-unavailable` event; the app reads none of them.
    let flood = 400;
    for i in 0..flood {
        let _ = slow
            .connect(&format!("nobody-{i}"), ConnectOptions::new())
            .await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(slow.is_open(), "the Peer stayed connected");
    assert!(watcher.fetch_peer_exists("slow-app").await.expect("exists"));
    // Everything is still there to read, in order.
    let mut errors = 0;
    while errors < flood {
        match tokio::time::timeout(Duration::from_secs(10), slow.next_event()).await {
            Ok(Some(PeerEvent::Error(e))) if e.type_str() == "peer-unavailable" => errors += 1,
            Ok(Some(PeerEvent::Reconnecting { .. })) => panic!("the socket dropped"),
            Ok(Some(_)) => {}
            other => panic!("after {errors} errors: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_destroys_the_peer() {
    let server = TestServer::start();
    let alice = server.peer("drop-alice").await;
    let bob = server.peer("drop-bob").await;
    let conn = alice
        .connect("drop-bob", ConnectOptions::new())
        .await
        .expect("connect");
    within("open", conn.wait_open()).await.expect("open");
    let remote = next_connection(&bob).await;
    let clone = bob.clone();
    drop(bob);
    assert!(clone.is_open(), "a clone keeps the Peer");
    drop(clone);
    drop(remote);
    within("the remote side closes", conn.closed()).await;
    let gone = within("the id is released", async {
        loop {
            if !alice.fetch_peer_exists("drop-bob").await.expect("exists") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(gone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_stats_count_what_was_carried() {
    let server = TestServer::start();
    let alice = server.peer("stats-alice").await;
    let bob = server.peer("stats-bob").await;
    let conn = alice
        .connect("stats-bob", ConnectOptions::new())
        .await
        .expect("connect");
    within("open", conn.wait_open()).await.expect("open");
    let remote = next_connection(&bob).await;
    let payload = pattern(200_000, 7);
    conn.send(payload.clone()).await.expect("send");
    assert_eq!(
        within("data", remote.recv()).await,
        Some(Data::Bytes(payload.into()))
    );
    let sent = conn.stats().await;
    let received = remote.stats().await;
    assert!(sent.bytes_sent > 200_000, "{sent:?}");
    assert!(received.bytes_received > 200_000, "{received:?}");
    // 200 kB in `binary` chunks of about 16 kB.
    assert!(sent.messages_sent >= 12, "{sent:?}");
    assert_eq!(
        received.messages_received, sent.messages_sent,
        "{received:?}"
    );
    let listed = alice
        .connections()
        .values()
        .flatten()
        .next()
        .cloned()
        .expect("listed");
    assert!(listed.stats().await.bytes_sent >= sent.bytes_sent);
}
