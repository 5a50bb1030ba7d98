//! Cluster mode on the wire: two real `peer-server` nodes on one real `redis-server`, raw
//! signaling clients on each. Relayed messages cross the nodes in order, the receiver's reply
//! finds its way back, `LEAVE` reaches a contact on the other node when a peer goes, an id is
//! unique across the nodes, and a peer on no node is `peer-unavailable`.

mod common;

use bytes::Bytes;
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

    // A server-assigned id is claimed before OPEN: reachable from the other node at once.
    let (mut z, zid) = Client::open(&n2, KEY, None, "tz").await;
    x.emit(
        "SEND_OFFER",
        &json!({"dst": zid, "connectionId": "dc_3", "offer": {}}),
    )
    .await;
    assert_eq!(z.expect("OFFER").await.payload["src"], "cx");

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

/// Joins `room` and returns the `ROOM_USER_JOIN` the joiner gets.
async fn join(c: &mut Client, room: &str, kind: &str) -> Received {
    c.emit("ROOM_JOIN", &json!({"roomName": room, "roomType": kind}))
        .await;
    c.expect("ROOM_USER_JOIN").await
}

#[tokio::test]
async fn a_mesh_room_spans_two_nodes() {
    let redis = RedisProcess::start();
    let extra = format!(
        "[cluster]\nredis = \"{}\"\n[limits]\nmax_room_members = 3\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
        redis.url()
    );
    let n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut a, _) = Client::open(&n1, KEY, Some("ra"), "ta").await;
    let (mut b, _) = Client::open(&n2, KEY, Some("rb"), "tb").await;
    let (mut c, _) = Client::open(&n1, KEY, Some("rc"), "tc").await;

    // The room's home is n1 (its first joiner's node); b joins from n2.
    let j = join(&mut a, "r", "mesh").await;
    assert_eq!(j.payload["roomMembers"], json!(["ra"]));
    let j = join(&mut b, "r", "mesh").await;
    assert_eq!(j.payload["src"], "rb");
    assert_eq!(j.payload["roomMembers"], json!(["ra", "rb"]));
    assert_eq!(a.expect("ROOM_USER_JOIN").await.payload["src"], "rb");
    join(&mut c, "r", "mesh").await;
    for m in [&mut a, &mut b] {
        let ev = m.expect("ROOM_USER_JOIN").await;
        assert_eq!(ev.payload["roomMembers"], json!(["ra", "rb", "rc"]));
    }

    // The seat limit counts the member on the other node.
    let (mut d, _) = Client::open(&n2, KEY, Some("rd"), "td").await;
    d.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    let full = d.expect_error("room-error").await;
    assert!(full.payload["message"]
        .as_str()
        .unwrap_or("")
        .contains("full"));

    // Room data both ways, binary attachments included, in order.
    let blob = Bytes::from((0..70_000u32).map(|i| (i * 13) as u8).collect::<Vec<u8>>());
    for i in 0..20 {
        b.emit(
            "ROOM_SEND_DATA",
            &json!({"roomName": "r", "data": {"n": i}}),
        )
        .await;
    }
    b.emit_binary(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": {"_placeholder": true, "num": 0}}),
        std::slice::from_ref(&blob),
    )
    .await;
    for m in [&mut a, &mut c] {
        for i in 0..20 {
            let ev = m.expect("ROOM_DATA").await;
            assert_eq!(
                (ev.payload["src"].clone(), ev.payload["data"]["n"].clone()),
                (json!("rb"), json!(i))
            );
        }
        let ev = m.expect("ROOM_DATA").await;
        assert_eq!(ev.attachments, vec![blob.clone()]);
    }
    a.emit(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": "from a"}),
    )
    .await;
    let ev = b.expect("ROOM_DATA").await;
    assert_eq!(
        (ev.payload["src"].clone(), ev.payload["data"].clone()),
        (json!("ra"), json!("from a"))
    );
    c.expect("ROOM_DATA").await;

    // A mesh call between members on the two nodes (the room's relays cross too).
    b.emit(
        "SEND_OFFER",
        &json!({"dst": "ra", "connectionId": "mc_1", "roomName": "r", "offer": {"sdp": "v=0"}}),
    )
    .await;
    assert_eq!(a.expect("OFFER").await.payload["src"], "rb");

    // Users and logs, asked from the other node.
    b.emit("ROOM_GET_USERS", &json!({"roomName": "r", "type": "media"}))
        .await;
    let users = b.expect("ROOM_USERS").await;
    assert_eq!(users.payload["userList"], json!(["ra", "rb", "rc"]));
    b.emit("ROOM_GET_LOGS", &json!({"roomName": "r"})).await;
    let logs = b.expect("ROOM_LOGS").await.payload;
    let log = logs["log"].as_array().expect("log");
    assert_eq!(log.len(), 3 + 21 + 1, "{logs}");

    // Not a member: refused on the other node too.
    d.emit("ROOM_SEND_DATA", &json!({"roomName": "r", "data": 1}))
        .await;
    d.expect_error("room-error").await;

    // b leaves, then joins again, then goes away: the others hear each.
    b.emit("ROOM_LEAVE", &json!({"roomName": "r"})).await;
    for m in [&mut a, &mut c] {
        assert_eq!(m.expect("ROOM_USER_LEAVE").await.payload["src"], "rb");
    }
    join(&mut b, "r", "mesh").await;
    for m in [&mut a, &mut c] {
        m.expect("ROOM_USER_JOIN").await;
    }
    b.destroy().await;
    for m in [&mut a, &mut c] {
        assert_eq!(m.expect("ROOM_USER_LEAVE").await.payload["src"], "rb");
    }
    // The seat is free again for d, on n2.
    let j = join(&mut d, "r", "mesh").await;
    assert_eq!(j.payload["roomMembers"], json!(["ra", "rc", "rd"]));

    // The home counted the room operations it got and the frames it sent; the member's node
    // the other way round; both timed their Redis calls.
    let scrape = |n: &TestServer| {
        peer_testkit::metrics::get(n.metrics_port(), "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let (home, member) = (scrape(&n1), scrape(&n2));
    let at = |body: &str, name: &str| peer_testkit::metrics::sample(body, name).unwrap_or(0.0);
    assert!(
        at(
            &home,
            "peer_cluster_messages_received_total{kind=\"room_input\"}"
        ) >= 25.0
    );
    // To b and d on n2: joins, a's data, users, logs, errors (about ten).
    assert!(at(&home, "peer_cluster_messages_sent_total{kind=\"frames\"}") >= 8.0);
    assert!(
        at(
            &member,
            "peer_cluster_messages_sent_total{kind=\"room_input\"}"
        ) >= 25.0
    );
    assert!(
        at(
            &member,
            "peer_cluster_messages_received_total{kind=\"frames\"}"
        ) >= 8.0
    );
    for body in [&home, &member] {
        assert!(
            at(body, "peer_cluster_redis_seconds_count") >= 10.0,
            "{body}"
        );
        assert_eq!(at(body, "peer_cluster_messages_dropped_total"), 0.0);
    }
}

#[tokio::test]
async fn room_members_on_a_dead_node_leave_their_rooms() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let mut n2 = TestServer::start(&extra);
    let (mut a, _) = Client::open(&n1, KEY, Some("ka"), "ta").await;
    let (mut b, _) = Client::open(&n2, KEY, Some("kb"), "tb").await;
    join(&mut a, "k", "mesh").await;
    join(&mut b, "k", "mesh").await;
    a.expect("ROOM_USER_JOIN").await;
    let killed = std::time::Instant::now();
    n2.kill();
    let leave = a
        .expect_within("ROOM_USER_LEAVE", std::time::Duration::from_secs(20))
        .await;
    assert_eq!(leave.payload, json!({"roomName": "k", "src": "kb"}));
    eprintln!(
        "ROOM_USER_LEAVE {:?} after the node was killed",
        killed.elapsed()
    );
}

#[tokio::test]
async fn a_stopped_node_gives_its_ids_up() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let mut n2 = TestServer::start(&extra);
    let (_x, _) = Client::open(&n2, KEY, Some("sx"), "tx").await;
    n2.terminate();
    // The same peer, with its token, opens on the other node at once.
    let (_x, id) = Client::open(&n1, KEY, Some("sx"), "tx").await;
    assert_eq!(id, "sx");
}

#[tokio::test]
async fn nodes_come_back_after_a_redis_restart() {
    let mut redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut x, _) = Client::open(&n1, KEY, Some("qx"), "tx").await;
    let (mut y, _) = Client::open(&n2, KEY, Some("qy"), "ty").await;

    // Redis goes away for 12 s, longer than the nodes' liveness expiry, and comes back empty.
    let port = redis.port;
    redis.kill();
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let _redis = RedisProcess::start_on(port);

    // The nodes reconnect, register again and claim their peers' ids again at their next
    // renewal (every 2 s; a new peer taking a live peer's id on another node before then is
    // the window a Redis without persistence leaves, see docs/decisions.md).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let mut dup = Client::connect(&n2, &format!("apiKey={KEY}&token=t2&peerId=qx")).await;
    dup.expect_error("unavailable-id").await;
    // ...relay across the nodes again...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    'relayed: loop {
        x.emit(
            "SEND_OFFER",
            &json!({"dst": "qy", "connectionId": "dc_1", "offer": {}}),
        )
        .await;
        while let Some(Next::Event(e)) = y.next(std::time::Duration::from_millis(500)).await {
            if e.name == "OFFER" {
                break 'relayed;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no relay after the restart"
        );
    }
    // ...and take neither for dead: no LEAVE while the liveness keys came back.
    let quiet_until = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while let Some(left) = quiet_until.checked_duration_since(std::time::Instant::now()) {
        match x.next(left).await {
            Some(Next::Event(e)) => assert_ne!(e.name, "LEAVE", "a false LEAVE: {e:?}"),
            Some(other) => panic!("x's session ended: {other:?}"),
            None => break,
        }
    }
}

/// A TCP proxy in front of Redis that can cut every connection off like a network partition:
/// bytes are dropped both ways (nothing is closed) until the cut ends, then the connections
/// are closed, so the clients reconnect.
struct Partition {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Partition {
    async fn start(redis_port: u16) -> Partition {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (c, g) = (cut.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await
                else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (mut from, mut to) in [(cr, sw), (sr, cw)].map(|(r, w)| (r, w)) {
                    let (c, g) = (c.clone(), g.clone());
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = tokio::select! {
                                n = from.read(&mut buf) => n.unwrap_or(0),
                                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                                    if g.load(Ordering::SeqCst) != born { return; }
                                    continue;
                                }
                            };
                            if n == 0 || g.load(Ordering::SeqCst) != born {
                                return;
                            }
                            if !c.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Partition {
            port,
            cut,
            generation,
        }
    }

    /// Drops every byte for `how_long`, then closes the connections of before.
    async fn cut_for(&self, how_long: std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.cut.store(true, Ordering::SeqCst);
        tokio::time::sleep(how_long).await;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cut.store(false, Ordering::SeqCst);
    }
}

// Multi-threaded: the proxy runs while the test thread waits for a server to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_from_redis_longer_than_the_liveness_makes_no_node_dead() {
    let redis = RedisProcess::start();
    let partition = Partition::start(redis.port).await;
    let extra = format!(
        "[cluster]\nredis = \"redis://127.0.0.1:{}\"\n",
        partition.port
    );
    let n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut x, _) = Client::open(&n1, KEY, Some("px"), "tx").await;
    let (mut y, _) = Client::open(&n2, KEY, Some("py"), "ty").await;
    x.emit(
        "SEND_OFFER",
        &json!({"dst": "py", "connectionId": "dc_1", "offer": {}}),
    )
    .await;
    y.expect("OFFER").await;
    // Both nodes are cut off from Redis for 12 s: their liveness keys expire (10 s) while the
    // node list still names both. Once they reach it again, each renews its own key within
    // 3.3 s; neither may take the other for dead before that.
    partition.cut_for(std::time::Duration::from_secs(12)).await;
    let quiet_until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Some(left) = quiet_until.checked_duration_since(std::time::Instant::now()) {
        match x.next(left).await {
            Some(Next::Event(e)) => assert_ne!(e.name, "LEAVE", "a false LEAVE: {e:?}"),
            Some(other) => panic!("x's session ended: {other:?}"),
            None => break,
        }
    }
    x.emit(
        "SEND_OFFER",
        &json!({"dst": "py", "connectionId": "dc_2", "offer": {}}),
    )
    .await;
    y.expect("OFFER").await;
}

#[tokio::test]
async fn a_room_whose_home_dies_goes_on_with_its_living_members() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let mut n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut a, _) = Client::open(&n1, KEY, Some("ha"), "ta").await;
    let (mut b, _) = Client::open(&n2, KEY, Some("hb"), "tb").await;
    let (mut c, _) = Client::open(&n2, KEY, Some("hc"), "tc").await;
    // The room's home is n1, its first joiner's node.
    join(&mut a, "h", "mesh").await;
    join(&mut b, "h", "mesh").await;
    a.expect("ROOM_USER_JOIN").await;
    join(&mut c, "h", "mesh").await;
    a.expect("ROOM_USER_JOIN").await;
    b.expect("ROOM_USER_JOIN").await;

    let killed = std::time::Instant::now();
    n1.kill();
    // The members on n2 hear that a, on the dead home, left...
    for m in [&mut b, &mut c] {
        let leave = m
            .expect_within("ROOM_USER_LEAVE", std::time::Duration::from_secs(20))
            .await;
        assert_eq!(leave.payload, json!({"roomName": "h", "src": "ha"}));
    }
    eprintln!(
        "ROOM_USER_LEAVE {:?} after the room's home was killed",
        killed.elapsed()
    );
    // ...and the room goes on at a new home with them: data, and a newcomer who sees both.
    b.emit(
        "ROOM_SEND_DATA",
        &json!({"roomName": "h", "data": "still here"}),
    )
    .await;
    let data = c.expect("ROOM_DATA").await;
    assert_eq!(data.payload["src"], "hb");
    let (mut d, _) = Client::open(&n2, KEY, Some("hd"), "td").await;
    let j = join(&mut d, "h", "mesh").await;
    let mut members: Vec<String> = j.payload["roomMembers"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    members.sort();
    assert_eq!(members, ["hb", "hc", "hd"]);
    for m in [&mut b, &mut c] {
        assert_eq!(m.expect("ROOM_USER_JOIN").await.payload["src"], "hd");
    }
}

#[tokio::test]
async fn a_client_reconnecting_through_another_node_keeps_its_id_contacts_and_rooms() {
    let redis = RedisProcess::start();
    let extra = format!("[cluster]\nredis = \"{}\"\n", redis.url());
    let n1 = TestServer::start(&extra);
    let n2 = TestServer::start(&extra);
    let (mut x, _) = Client::open(&n1, KEY, Some("hx"), "tx").await;
    let (mut w, _) = Client::open(&n1, KEY, Some("hw"), "tw").await;
    let (mut z, _) = Client::open(&n2, KEY, Some("hz"), "tz").await;
    join(&mut x, "hr", "mesh").await;
    join(&mut w, "hr", "mesh").await;
    x.expect("ROOM_USER_JOIN").await;
    // z, on n2, talks to x: a contact of x's.
    z.emit(
        "SEND_OFFER",
        &json!({"dst": "hx", "connectionId": "dc_1", "offer": {}}),
    )
    .await;
    x.expect("OFFER").await;

    // Someone else cannot take x's id through n2.
    let mut thief = Client::connect(&n2, &format!("apiKey={KEY}&token=nope&peerId=hx")).await;
    thief.expect_error("unavailable-id").await;
    // x's client reconnects through n2 (a load balancer sent it there) with its token: n1
    // hands the peer over and closes its old session.
    let mut x2 = Client::connect(&n2, &format!("apiKey={KEY}&token=tx&peerId=hx")).await;
    let open = x2.expect("OPEN").await;
    assert_eq!(open.payload["peerId"], "hx");
    assert_eq!(open.payload["resumed"], true);
    x.expect_end().await;

    // The room (its home is n1) and its contact reach it on n2.
    w.emit("ROOM_SEND_DATA", &json!({"roomName": "hr", "data": "to x"}))
        .await;
    assert_eq!(x2.expect("ROOM_DATA").await.payload["data"], "to x");
    z.emit(
        "SEND_CANDIDATE",
        &json!({"dst": "hx", "connectionId": "dc_1", "candidate": {}}),
    )
    .await;
    assert_eq!(x2.expect("CANDIDATE").await.payload["src"], "hz");
    // When it goes, both hear it.
    x2.destroy().await;
    assert_eq!(z.expect("LEAVE").await.payload, json!("hx"));
    let left = w.expect("ROOM_USER_LEAVE").await;
    assert_eq!(left.payload, json!({"roomName": "hr", "src": "hx"}));
}

/// What a node holds: RSS and descriptors of its process, and its sessions, peers and rooms
/// (`GET /stats`).
async fn holding(n: &TestServer) -> (u64, usize, serde_json::Value) {
    let p = n.proc();
    let s = n.stats().await;
    (p.rss, p.fds, json!([s["sessions"], s["peers"], s["rooms"]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_coming_and_going_across_nodes_leave_nothing_behind() {
    let redis = RedisProcess::start();
    let extra = format!(
        "[cluster]\nredis = \"{}\"\n[timeouts]\nreconnect_grace_ms = 500\n",
        redis.url()
    );
    let home = TestServer::start(&extra);
    let member = TestServer::start(&extra);
    let (mut host, _) = Client::open(&home, KEY, Some("ch"), "th").await;
    join(&mut host, "churn", "mesh").await;
    // One cycle: a peer on the member node joins the room homed on the other, sends data,
    // asks for the log, and goes (cleanly, or by dropping its transport).
    let cycle = |i: usize| {
        let member = &member;
        async move {
            let id = format!("cm{i}");
            let (mut c, _) = Client::open(member, KEY, Some(&id), "tc").await;
            // A room of its own (homed on its node), and the one homed on the other node.
            join(&mut c, &format!("own{i}"), "mesh").await;
            c.emit(
                "ROOM_JOIN",
                &json!({"roomName": "churn", "roomType": "mesh"}),
            )
            .await;
            c.emit(
                "ROOM_SEND_DATA",
                &json!({"roomName": "churn", "data": "x".repeat(1000)}),
            )
            .await;
            c.emit("ROOM_GET_LOGS", &json!({"roomName": "churn"})).await;
            // Others' joins and leaves (peers of earlier cycles in their grace) may come first.
            loop {
                match c.next(std::time::Duration::from_secs(10)).await {
                    Some(Next::Event(e)) if e.name == "ROOM_LOGS" => break,
                    Some(Next::Event(_)) => {}
                    other => panic!("{id}: no ROOM_LOGS: {other:?}"),
                }
            }
            if i.is_multiple_of(2) {
                c.destroy().await;
            } else {
                c.drop_transport();
            }
        }
    };
    // The host hears every join and leave: `drain` reads them.
    for i in 0..20 {
        cycle(i).await;
    }
    drain(&mut host).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (base_home, base_member) = (holding(&home).await, holding(&member).await);
    for i in 20..320 {
        cycle(i).await;
        if i.is_multiple_of(50) {
            drain(&mut host).await;
        }
    }
    drain(&mut host).await;
    // The grace ends, the leaves cross, the sweeps shrink and release.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (end_home, end_member) = (holding(&home).await, holding(&member).await);
    eprintln!(
        "home: {base_home:?} -> {end_home:?}; member node: {base_member:?} -> {end_member:?}"
    );
    for (base, end) in [(&base_home, &end_home), (&base_member, &end_member)] {
        assert_eq!(end.2, base.2, "sessions, peers and rooms back");
        assert!(end.1 <= base.1 + 5, "descriptors {} -> {}", base.1, end.1);
        assert!(
            end.0 <= base.0 + base.0 / 5,
            "RSS {} -> {} B",
            base.0,
            end.0
        );
    }
}

/// Reads what `c` was sent until it has been quiet for 300 ms.
async fn drain(c: &mut Client) {
    while c
        .next(std::time::Duration::from_millis(300))
        .await
        .is_some()
    {}
}
