//! What a remote peer can make a Peer create: a connection cap and the application's policy,
//! both applied before anything is created for an incoming offer. A refused offer gets
//! `SEND_FORCE_CLOSE` (the remote's connection closes) and a `PeerEvent::Refused`.

mod common;

use common::*;
use futures::StreamExt;
use peer::{ConnectOptions, ConnectionKind, Data, PeerEvent};

/// Waits for the next `Refused` event of `p`, skipping others.
async fn next_refused(p: &peer::Peer) -> (peer::IncomingRequest, String) {
    loop {
        if let PeerEvent::Refused { request, reason } = next(p).await {
            return (request, reason);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_past_max_connections_are_refused() {
    let server = TestServer::start();
    let bob = server
        .peer_with("cap-bob", server.options(KEY).max_connections(1))
        .await;
    let alice = server.peer("cap-alice").await;
    let first = alice
        .connect("cap-bob", ConnectOptions::new())
        .await
        .expect("connect");
    within("first open", first.wait_open()).await.expect("open");
    let remote = next_connection(&bob).await;
    let second = alice
        .connect("cap-bob", ConnectOptions::new().label("second"))
        .await
        .expect("connect");
    let (request, reason) = next_refused(&bob).await;
    assert_eq!(
        (
            request.remote_id.as_str(),
            request.kind,
            request.label.as_deref()
        ),
        ("cap-alice", ConnectionKind::Data, Some("second"))
    );
    assert!(reason.contains("max_connections"), "{reason}");
    within("refused connection closes", second.closed()).await;
    assert!(second.wait_open().await.is_err());
    // The first one is untouched.
    first.send("still here").await.expect("send");
    assert_eq!(
        within("data", remote.recv()).await,
        Some(Data::Text("still here".into()))
    );
    assert_eq!(bob.connections().values().map(Vec::len).sum::<usize>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incoming_policy_decides_before_anything_is_made() {
    let server = TestServer::start();
    let options = server
        .options(KEY)
        .incoming(|r| r.remote_id != "pol-mallory");
    let bob = server.peer_with("pol-bob", options).await;
    let mallory = server.peer("pol-mallory").await;
    let alice = server.peer("pol-alice").await;
    let data = mallory
        .connect("pol-bob", ConnectOptions::new())
        .await
        .expect("connect");
    let call = mallory
        .call("pol-bob", None, peer::CallOptions::new())
        .await
        .expect("call");
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let (request, _) = next_refused(&bob).await;
        assert_eq!(request.remote_id, "pol-mallory");
        kinds.push(request.kind);
    }
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, vec![ConnectionKind::Data, ConnectionKind::Media]);
    within("refused data connection closes", data.closed()).await;
    within("refused call closes", call.closed()).await;
    assert!(bob.connections().is_empty());
    // Alice is welcome; her connection reaches Bob as an event of the event stream.
    let conn = alice
        .connect("pol-bob", ConnectOptions::new())
        .await
        .expect("connect");
    within("open", conn.wait_open()).await.expect("open");
    let mut events = Box::pin(bob.events());
    let incoming = within("connection event", async {
        loop {
            match events.next().await {
                Some(PeerEvent::Connection(c)) => return c,
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await;
    assert_eq!(incoming.remote_id(), "pol-alice");
}
