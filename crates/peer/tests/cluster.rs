//! Cluster mode, first part: two `peer-server` nodes on one real `redis-server`. A peer id is
//! unique across the nodes and freed when its node dies; Rust peers on different nodes open a
//! data connection and a call to each other (their `OFFER`, `ANSWER` and `CANDIDATE` cross
//! between the nodes); `listAllPeers` and `exists` answer for both nodes; a peer that is on no
//! node is `peer-unavailable`.

mod common;

use common::*;
use peer::{
    CallOptions, Codec, ConnectOptions, Data, ErrorKind, MediaKind, Peer, PeerEvent,
    ReconnectPolicy,
};
use peer_protocol::ErrorType;
use peer_testkit::redis::RedisProcess;
use std::time::Duration;

fn node(redis: &RedisProcess) -> TestServer {
    TestServer::start_with(0, &format!("[cluster]\nredis = \"{}\"\n", redis.url()))
}

/// The error `Peer::new` gives for `id` on `server`.
async fn refused(server: &TestServer, id: &str) -> ErrorKind {
    match Peer::new(Some(id), server.options(KEY)).await {
        Ok(_) => panic!("{id} opened"),
        Err(e) => e.kind,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_two_nodes() {
    let redis = RedisProcess::start();
    let mut n1 = node(&redis);
    let n2 = node(&redis);

    let a = n1.peer("cl-a").await;
    let b = n2.peer("cl-b").await;
    // The id is taken on the cluster, not only on its node.
    assert_eq!(
        refused(&n2, "cl-a").await,
        ErrorKind::Server(ErrorType::UnavailableId)
    );

    // The REST calls answer for the whole cluster (each node publishes its open peers every
    // 2 s).
    within("both listed on both nodes", async {
        loop {
            let l1 = a.list_all_peers().await.unwrap();
            let l2 = b.list_all_peers().await.unwrap();
            if l1.contains(&"cl-b".to_string()) && l2.contains(&"cl-a".to_string()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(a.fetch_peer_exists("cl-b").await.unwrap());
    assert!(b.fetch_peer_exists("cl-a").await.unwrap());
    assert!(!a.fetch_peer_exists("cl-nobody").await.unwrap());

    // A data connection across the nodes.
    let conn = a.connect("cl-b", ConnectOptions::default()).await.unwrap();
    let remote = next_connection(&b).await;
    within("open", conn.wait_open()).await.unwrap();
    within("open", remote.wait_open()).await.unwrap();
    conn.send("from node 1").await.unwrap();
    assert_eq!(
        within("recv", remote.recv()).await,
        Some(Data::Text("from node 1".into()))
    );
    remote.send("from node 2").await.unwrap();
    assert_eq!(
        within("recv", conn.recv()).await,
        Some(Data::Text("from node 2".into()))
    );

    // A call across the nodes, video both ways.
    let (s1, _p1) = stream(&[Codec::Vp8]);
    let (s2, _p2) = stream(&[Codec::Vp8]);
    let call = a.call("cl-b", Some(&s1), CallOptions::new()).await.unwrap();
    let incoming = loop {
        match next(&b).await {
            PeerEvent::Call(c) => break c,
            _ => continue,
        }
    };
    incoming
        .answer(Some(&s2), Default::default())
        .await
        .unwrap();
    for c in [&call, &incoming] {
        within("a remote video track", async {
            loop {
                match c.next_event().await {
                    Some(peer::MediaConnectionEvent::Track(t)) if t.kind() == MediaKind::Video => {
                        t.read_rtp().await.expect("rtp");
                        return;
                    }
                    Some(_) => {}
                    None => panic!("call ended"),
                }
            }
        })
        .await;
    }

    // Nobody anywhere: peer-unavailable, as on one node.
    let _ghost = a
        .connect("cl-nobody", ConnectOptions::default())
        .await
        .unwrap();
    within("peer-unavailable", async {
        loop {
            if let PeerEvent::Error(e) = next(&a).await {
                if e.kind == ErrorKind::Server(ErrorType::PeerUnavailable) {
                    return;
                }
            }
        }
    })
    .await;

    // Node 1 dies: its ids are free once its liveness expires (10 s; a claim of a dead node is
    // taken over) or their claims do (15 s), not before.
    n1.kill();
    assert_eq!(
        refused(&n2, "cl-a").await,
        ErrorKind::Server(ErrorType::UnavailableId)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Peer::new(Some("cl-a"), n2.options(KEY)).await {
            Ok(p) => {
                assert_eq!(p.id(), "cl-a");
                break;
            }
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Server(ErrorType::UnavailableId));
                assert!(std::time::Instant::now() < deadline, "cl-a never freed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_given_two_nodes_reconnects_through_the_other_when_its_node_dies() {
    let redis = RedisProcess::start();
    let mut n1 = node(&redis);
    let n2 = node(&redis);
    let mut options = n1.options(KEY).fallback_server("127.0.0.1", n2.port);
    // Enough attempts to outlast the dead node's claim of the id (its 10 s liveness).
    options.reconnect = ReconnectPolicy {
        attempts: 30,
        delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(2),
    };
    let a = n1.peer_with("fo-a", options).await;
    let b = n2.peer("fo-b").await;

    let killed = std::time::Instant::now();
    n1.kill();
    // Disconnected, then back, with the same id, on node 2.
    tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match a.next_event().await {
                Some(PeerEvent::Reconnected) => return,
                Some(PeerEvent::Close) | None => panic!("fo-a gave up"),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("fo-a reconnected within 40 s");
    eprintln!(
        "fo-a reconnected {:?} after its node was killed",
        killed.elapsed()
    );
    assert!(a.is_open());
    assert_eq!(a.id(), "fo-a");

    // The REST calls follow it to node 2, and peers on node 2 reach it.
    assert!(a.fetch_peer_exists("fo-b").await.unwrap());
    assert!(b.fetch_peer_exists("fo-a").await.unwrap());
    let conn = b.connect("fo-a", ConnectOptions::default()).await.unwrap();
    let remote = next_connection(&a).await;
    within("open", conn.wait_open()).await.unwrap();
    within("open", remote.wait_open()).await.unwrap();
    conn.send("after the failover").await.unwrap();
    assert_eq!(
        within("recv", remote.recv()).await,
        Some(Data::Text("after the failover".into()))
    );
}
