//! Cluster mode on the wire: two real `peer-server` nodes on one real `redis-server`, raw
//! signaling clients on each. Relayed messages cross the nodes in order, the receiver's reply
//! finds its way back, `LEAVE` reaches a contact on the other node when a peer goes, an id is
//! unique across the nodes, and a peer on no node is `peer-unavailable`.

mod common;

use common::*;
use peer_testkit::redis::RedisProcess;
use serde_json::json;

#[tokio::test]
async fn signaling_across_two_nodes() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut x, _) = Client::open(&n1, KEY, Some("cx"), "tx").await;
    let (mut y, _) = Client::open(&n2, KEY, Some("cy"), "ty").await;

    // The same id on the other node is refused.
    let mut dup = Client::connect(&n2, &format!("apiKey={KEY}&token=t2&peerId=cx")).await;
    dup.expect_error("unavailable-id").await;

    // Candidates in order, then an answer back.
    for i in 0..50 {
        x.emit(
            "SEND_CANDIDATE",
            &json!({"dst": "cy", "connectionId": "dc_1", "candidate": {"n": i}}),
        )
        .await;
    }
    for i in 0..50 {
        let c = y.expect("CANDIDATE").await;
        assert_eq!(c.payload["src"], "cx");
        assert_eq!(c.payload["candidate"]["n"], i);
    }
    y.emit(
        "SEND_ANSWER",
        &json!({"dst": "cx", "connectionId": "dc_1", "answer": {"sdp": "v=0"}}),
    )
    .await;
    let a = x.expect("ANSWER").await;
    assert_eq!(a.payload["src"], "cy");

    // Nobody anywhere.
    x.emit(
        "SEND_OFFER",
        &json!({"dst": "nobody", "connectionId": "dc_2", "offer": {}}),
    )
    .await;
    x.expect_error("peer-unavailable").await;

    // y goes (cleanly): x, its contact on the other node, hears LEAVE.
    y.destroy().await;
    let leave = x.expect("LEAVE").await;
    assert_eq!(leave.payload, json!("cy"));
}

#[tokio::test]
async fn contacts_hear_leave_when_a_node_dies() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let mut n2 = TestServer::start(&extra);
    let (mut x, _) = Client::open(&n1, KEY, Some("dx"), "tx").await;
    let (mut y, _) = Client::open(&n2, KEY, Some("dy"), "ty").await;
    x.emit(
        "SEND_OFFER",
        &json!({"dst": "dy", "connectionId": "dc_1", "offer": {}}),
    )
    .await;
    y.expect("OFFER").await;
    let killed = std::time::Instant::now();
    n2.kill();
    // Liveness expiry (10 s) plus the 2 s check, with a margin.
    let leave = x
        .expect_within("LEAVE", std::time::Duration::from_secs(20))
        .await;
    assert_eq!(leave.payload, json!("dy"));
    let took = killed.elapsed();
    eprintln!("LEAVE {took:?} after the node was killed");
    assert!(took <= std::time::Duration::from_secs(14), "{took:?}");
}
