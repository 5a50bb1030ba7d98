//! Rust peers through peer-server's embedded TURN server: peers with `turn: true` ask for a
//! credential (`turn=1`), get one in `OPEN` with the server's TURN URLs, and relay-only
//! connections (`IceTransportPolicy::Relay`) carry data through the relay. The server's test
//! configuration allows relaying to loopback (`relay_allow`), as one machine needs.

mod common;

use common::*;
use peer::{ConnectOptions, Data, IceTransportPolicy, PeerEvent};

const TURN: &str = "[turn]\nlisten = \"127.0.0.1:0\"\nrelay_allow = [\"127.0.0.0/8\"]\n";

/// Opens peer `id` with relay candidates only, asking for TURN or not.
async fn relay_only(server: &TestServer, id: &str, turn: bool) -> peer::Peer {
    let mut o = server.options(KEY);
    o.turn = turn;
    o.config = o.config.ice_transport_policy(IceTransportPolicy::Relay);
    server.peer_with(id, o).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_peers_exchange_data_through_the_servers_turn() {
    let server = TestServer::start_with(0, TURN);
    let b = relay_only(&server, "turn-b", true).await;
    let a = relay_only(&server, "turn-a", true).await;
    tokio::spawn(async move {
        while let Some(ev) = b.next_event().await {
            if let PeerEvent::Connection(conn) = ev {
                tokio::spawn(async move {
                    while let Some(d) = conn.recv().await {
                        if conn.send(d).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    let conn = a
        .connect("turn-b", ConnectOptions::default())
        .await
        .expect("connect");
    within("open through TURN", conn.wait_open())
        .await
        .expect("open");
    for i in 0..10 {
        let d = Data::from(format!("relayed {i}"));
        conn.send(d.clone()).await.expect("send");
        assert_eq!(within("echo", conn.recv()).await.expect("echo"), d);
    }
    a.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_turn_a_relay_only_peer_cannot_connect() {
    // The same relay-only peers, but they do not ask for TURN: no relay candidate, no
    // connection (so the test above cannot pass without the relay).
    let server = TestServer::start_with(0, TURN);
    let _b = relay_only(&server, "noturn-b", false).await;
    let a = relay_only(&server, "noturn-a", false).await;
    let conn = a
        .connect("noturn-b", ConnectOptions::default())
        .await
        .expect("connect");
    let opened = tokio::time::timeout(std::time::Duration::from_secs(8), conn.wait_open()).await;
    assert!(
        !matches!(opened, Ok(Ok(()))),
        "a relay-only connection opened without TURN"
    );
    a.destroy().await;
}
