//! Nodes on a real `redis-server`: peer ids are unique across nodes and freed when their node
//! stops renewing them, messages arrive decoded and in the order sent, liveness lists only
//! live nodes, a Redis restart is survived (the node reconnects and subscribes again), and an
//! unreachable Redis is a clear error in time.

use bytes::Bytes;
use peer_cluster::message::NodeMessage;
use peer_cluster::{Claim, ClusterConfig, ClusterError, Node, NodeId};
use peer_testkit::redis::RedisProcess;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

fn node_id(n: u8) -> NodeId {
    NodeId::from_random([n; 16])
}

fn config(redis: &RedisProcess) -> ClusterConfig {
    let mut c = ClusterConfig::new(redis.url());
    c.node_ttl = Duration::from_millis(900);
    c.id_ttl = Duration::from_millis(900);
    c.timeout = Duration::from_secs(2);
    c
}

fn deliver(i: u32) -> NodeMessage {
    NodeMessage::Deliver {
        app: "k".into(),
        dst: "bob".into(),
        event: "CANDIDATE".into(),
        body: Bytes::from(format!("{{\"n\":{i}}}")),
    }
}

async fn next(rx: &mut Receiver<peer_cluster::message::Frame>) -> peer_cluster::message::Frame {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a frame in time")
        .expect("the inbox is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_messages_and_liveness() {
    let redis = RedisProcess::start();
    let (a, _a_rx) = Node::connect(config(&redis), node_id(1)).await.expect("a");
    let (b, mut b_rx) = Node::connect(config(&redis), node_id(2)).await.expect("b");
    assert_eq!(a.live_nodes().await.unwrap(), vec![node_id(1), node_id(2)]);

    // One node holds an id.
    assert_eq!(a.claim("k", "alice").await.unwrap(), Claim::Claimed);
    assert_eq!(a.claim("k", "alice").await.unwrap(), Claim::Claimed);
    assert_eq!(
        b.claim("k", "alice").await.unwrap(),
        Claim::HeldBy(node_id(1))
    );
    assert_eq!(b.owner("k", "alice").await.unwrap(), Some(node_id(1)));
    // Renewed, it outlives its expiry; released, it is free; b's release of a's id is nothing.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(a.renew("k", "alice").await.unwrap());
    }
    b.release("k", "alice").await.unwrap();
    assert_eq!(b.owner("k", "alice").await.unwrap(), Some(node_id(1)));
    a.release("k", "alice").await.unwrap();
    assert_eq!(b.claim("k", "alice").await.unwrap(), Claim::Claimed);
    assert!(!a.renew("k", "alice").await.unwrap(), "not a's any more");

    // Messages arrive in the order sent, with the sender and its sequence.
    for i in 0..300 {
        a.send(b.id(), deliver(i)).await.unwrap();
    }
    for i in 0..300u64 {
        let f = next(&mut b_rx).await;
        assert_eq!((f.from.clone(), f.seq), (node_id(1), i));
        assert_eq!(f.msg, deliver(i as u32));
    }
    // In pipelined batches too (past one batch of 512), in order with single sends.
    let batch: Vec<_> = (300..1300).map(|i| (b.id().clone(), deliver(i))).collect();
    a.send_many(batch).await.unwrap();
    a.send(b.id(), deliver(1300)).await.unwrap();
    for i in 300..=1300u64 {
        let f = next(&mut b_rx).await;
        assert_eq!((f.seq, f.msg), (i, deliver(i as u32)));
    }
    let stats = a.stats();
    assert_eq!(stats.sent[0], 1301);
    assert!(stats.latency.iter().sum::<u64>() > 0);
    assert_eq!(b.stats().received[0], 1301);

    // a stops: its liveness and its ids expire, and b may take them.
    assert_eq!(a.claim("k", "carol").await.unwrap(), Claim::Claimed);
    drop(a);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.live_nodes().await.unwrap(), vec![node_id(2)]);
    assert_eq!(b.owner("k", "carol").await.unwrap(), None);
    assert_eq!(b.claim("k", "carol").await.unwrap(), Claim::Claimed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_claim_is_taken_over_before_it_expires() {
    let redis = RedisProcess::start();
    let mut slow_ids = config(&redis);
    slow_ids.id_ttl = Duration::from_secs(30);
    let (a, _a_rx) = Node::connect(slow_ids.clone(), node_id(7))
        .await
        .expect("a");
    let (b, _b_rx) = Node::connect(slow_ids, node_id(8)).await.expect("b");
    assert_eq!(a.claim("k", "dora").await.unwrap(), Claim::Claimed);
    assert_eq!(a.claim_room("k", "lobby").await.unwrap(), Claim::Claimed);
    // While a lives, its claims hold.
    assert_eq!(
        b.claim("k", "dora").await.unwrap(),
        Claim::HeldBy(node_id(7))
    );
    // a stops renewing its liveness (900 ms): its claims, good for 30 s, pass to b.
    drop(a);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.claim("k", "dora").await.unwrap(), Claim::Claimed);
    assert_eq!(b.owner("k", "dora").await.unwrap(), Some(node_id(8)));
    assert_eq!(b.claim_room("k", "lobby").await.unwrap(), Claim::Claimed);
    assert_eq!(b.room_home("k", "lobby").await.unwrap(), Some(node_id(8)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_survived() {
    let mut redis = RedisProcess::start();
    let port = redis.port;
    let mut c = config(&redis);
    c.node_ttl = Duration::from_secs(3);
    let (a, _a_rx) = Node::connect(c.clone(), node_id(3)).await.expect("a");
    let (b, mut b_rx) = Node::connect(c, node_id(4)).await.expect("b");
    a.send(b.id(), deliver(0)).await.unwrap();
    assert_eq!(next(&mut b_rx).await.msg, deliver(0));

    redis.kill();
    let _redis = RedisProcess::start_on(port);
    // Commands fail until the managers reconnect; then messages flow again (b subscribed
    // again by itself) and the nodes register again with their next beat.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut i = 1;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message after the restart"
        );
        if a.send(b.id(), deliver(i)).await.is_ok() {
            if let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(300), b_rx.recv()).await
            {
                assert_eq!(f.from, node_id(3));
                break;
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.beat().await.unwrap();
    b.beat().await.unwrap();
    assert_eq!(a.live_nodes().await.unwrap(), vec![node_id(3), node_id(4)]);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_in_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = ClusterConfig::new(format!("redis://127.0.0.1:{port}"));
    c.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = Node::connect(c, node_id(5)).await.err().expect("an error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, ClusterError::Redis(_) | ClusterError::Timeout),
        "{err:?}"
    );
    assert!(!err.to_string().is_empty());
    let bad = Node::connect(ClusterConfig::new("http://nope"), node_id(6))
        .await
        .err()
        .expect("an error");
    assert!(matches!(bad, ClusterError::BadUrl(_)), "{bad:?}");
}
