//! Rust to Rust DataConnections through the real peer-server: every serialization, sizes,
//! label and metadata, close, destroy, unknown peers.

mod common;

use common::*;
use peer::{
    ConnectOptions, Data, DataConnectionEvent, DcInit, ErrorKind, ErrorType, PeerEvent,
    Serialization,
};
use serde_json::json;

/// Echoes every message back on every connection `p` receives.
fn echo(p: peer::Peer) {
    tokio::spawn(async move {
        while let Some(ev) = p.next_event().await {
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
}

async fn open(a: &peer::Peer, b: &str, s: Serialization) -> peer::DataConnection {
    let conn = a
        .connect(b, ConnectOptions::new().serialization(s))
        .await
        .expect("connect");
    within("open", conn.wait_open()).await.expect("open");
    conn
}

async fn roundtrip(conn: &peer::DataConnection, d: Data) {
    conn.send(d.clone()).await.expect("send");
    let got = within("echo", conn.recv())
        .await
        .expect("connection closed");
    assert_eq!(got, d, "over {}", conn.serialization());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_serialization_carries_what_it_supports() {
    let server = TestServer::start();
    let b = server.peer("echo-b").await;
    echo(b);
    let a = server.peer("sender-a").await;
    let texts = [
        "",
        "plain",
        "héllo wörld ñ 日本語",
        "emoji 😀👍🏽 and 🇯🇵",
        &"長い😀".repeat(400),
    ];
    for s in Serialization::ALL {
        let conn = open(&a, "echo-b", s).await;
        for t in texts {
            roundtrip(&conn, Data::Text(t.to_owned())).await;
        }
        if s != Serialization::None {
            roundtrip(
                &conn,
                Data::Json(json!({"n": 1, "f": 2.5, "neg": -70000, "s": "ü😀",
                "list": [true, false, null, {"deep": [1, 2, 3]}]})),
            )
            .await;
            roundtrip(&conn, Data::Json(json!([1, "two", 3.25]))).await;
            roundtrip(&conn, Data::Json(json!(42))).await;
        }
        let sizes: &[usize] = match s {
            Serialization::Binary | Serialization::BinaryUtf8 => &[
                0,
                1,
                15,
                16,
                16_189,
                16_190,
                16_191,
                65_536,
                1 << 20,
                10 << 20,
            ],
            Serialization::None => &[0, 1, 16_384, 65_535],
            Serialization::Json => &[],
        };
        for &n in sizes {
            roundtrip(&conn, Data::Bytes(pattern(n, n as u8).into())).await;
        }
        conn.close(true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_values_are_typed_errors() {
    let server = TestServer::start();
    let b = server.peer("limits-b").await;
    echo(b);
    let a = server.peer("limits-a").await;
    let none = open(&a, "limits-b", Serialization::None).await;
    let err = none.send(pattern(65_536, 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            peer::ConnectionError::MessageTooLarge { size: 65_536, .. }
        ),
        "{err}"
    );
    assert!(none.send(Data::Json(json!({"a": 1}))).await.is_err());
    let json_conn = open(&a, "limits-b", Serialization::Json).await;
    assert!(json_conn.send(vec![1u8, 2, 3]).await.is_err());
    // The connection still works after refused sends.
    roundtrip(&json_conn, Data::Text("still fine".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_metadata_and_dc_init_reach_the_other_side() {
    let server = TestServer::start();
    let b = server.peer("meta-b").await;
    let a = server.peer("meta-a").await;
    let conn = a
        .connect(
            "meta-b",
            ConnectOptions::new()
                .connection_id("dc_custom1")
                .label("telemetry")
                .metadata(json!({"robot": "r2", "n": [1, 2]}))
                .serialization(Serialization::Json)
                .dc_init(DcInit::reliable().ordered(false).max_retransmits(3)),
        )
        .await
        .unwrap();
    // Unreliable dcInit forces binary, as in the SDK.
    assert_eq!(conn.serialization(), Serialization::Binary);
    let remote = next_connection(&b).await;
    assert_eq!(remote.id(), "dc_custom1");
    assert_eq!(remote.remote_id(), "meta-a");
    assert_eq!(remote.label(), "telemetry");
    assert_eq!(
        remote.metadata(),
        Some(&json!({"robot": "r2", "n": [1, 2]}))
    );
    assert_eq!(remote.serialization(), Serialization::Binary);
    assert_eq!(remote.dc_init().max_retransmits, Some(3));
    within("a open", conn.wait_open()).await.unwrap();
    within("b open", remote.wait_open()).await.unwrap();
    assert_eq!(a.connections()["meta-b"].len(), 1);
    assert_eq!(
        b.connections()["meta-a"][0]
            .as_data()
            .map(|c| c.label())
            .unwrap_or_default(),
        "telemetry"
    );
    remote.send("from b").await.unwrap();
    assert_eq!(
        within("recv", conn.recv()).await,
        Some(Data::Text("from b".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_and_destroy_close_the_remote_side() {
    let server = TestServer::start();
    let b = server.peer("close-b").await;
    let a = server.peer("close-a").await;

    let conn = a
        .connect("close-b", ConnectOptions::default())
        .await
        .unwrap();
    let remote = next_connection(&b).await;
    within("open", conn.wait_open()).await.unwrap();
    within("open", remote.wait_open()).await.unwrap();
    conn.close(true).await;
    within("remote closes", remote.closed()).await;
    let mut saw_close = false;
    while let Some(ev) = within("events", remote.next_event()).await {
        saw_close |= ev == DataConnectionEvent::Close;
    }
    assert!(saw_close);
    within("unregistered", async {
        while !b.connections().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;

    let conn = a
        .connect("close-b", ConnectOptions::default())
        .await
        .unwrap();
    let remote = next_connection(&b).await;
    within("open", remote.wait_open()).await.unwrap();
    within("open", conn.wait_open()).await.unwrap();
    b.destroy().await;
    within("LEAVE closes a's side", conn.closed()).await;
    assert!(b.is_destroyed());
    assert!(!b.is_open());
    let mut last = None;
    while let Some(ev) = b.next_event().await {
        last = Some(ev);
    }
    assert!(matches!(last, Some(PeerEvent::Close)), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peer_gives_peer_unavailable() {
    let server = TestServer::start();
    let a = server.peer("lonely-a").await;
    let conn = a
        .connect("nobody-here", ConnectOptions::default())
        .await
        .unwrap();
    let err = loop {
        if let PeerEvent::Error(e) = next(&a).await {
            break e;
        }
    };
    assert_eq!(err.kind, ErrorKind::Server(ErrorType::PeerUnavailable));
    assert_eq!(err.type_str(), "peer-unavailable");
    within("connection closes", conn.closed()).await;
    assert!(conn.send("x").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_for_a_slow_receiver_instead_of_buffering() {
    let server = TestServer::start();
    let b = server.peer("slow-b").await;
    let a = server.peer("fast-a").await;
    let conn = a
        .connect(
            "slow-b",
            ConnectOptions::new().serialization(Serialization::None),
        )
        .await
        .unwrap();
    let remote = next_connection(&b).await;
    within("open", conn.wait_open()).await.unwrap();
    within("open", remote.wait_open()).await.unwrap();
    // 16 MiB in 65,535-byte messages while the receiver reads nothing: more than the sender's
    // buffer, the SCTP window and the receiver's event queue (64 messages) hold together.
    const N: usize = 256;
    let sender = conn.clone();
    let sending = tokio::spawn(async move {
        let chunk = bytes::Bytes::from(pattern(65_535, 3));
        for _ in 0..N {
            sender.send(chunk.clone()).await.expect("send");
        }
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !sending.is_finished(),
        "16 MiB cannot have gone to a receiver that reads nothing"
    );
    let buffered = conn.buffered_amount();
    assert!(
        buffered <= 1024 * 1024 + 65_535,
        "the send buffer stays near its 1 MiB high-water mark, not {buffered} bytes"
    );
    // Once the receiver reads, everything arrives in order.
    let mut got = 0;
    while got < N {
        let d = within("recv", remote.recv()).await.expect("data");
        assert_eq!(d.as_bytes().map(|b| b.len()), Some(65_535));
        got += 1;
    }
    within("sender done", sending).await.unwrap();
}
