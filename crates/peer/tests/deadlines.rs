//! Every wait of the client has a deadline and a typed error: a server that accepts and never
//! answers, one that upgrades to WebSocket and then says nothing, and a REST endpoint that never
//! answers. A failed `Peer::new` leaves no task behind.

mod common;

use common::KEY;
use peer::{ErrorKind, LocalAddresses, Peer, PeerOptions};
use peer_transport::{rest, ServerAddr, TransportError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// A listener that accepts connections and holds them without a byte of answer, or upgrades
/// them to WebSocket and then stays silent.
async fn silent_server(upgrade: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held: Vec<TcpStream> = Vec::new();
        let mut upgraded = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if upgrade {
                if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                    upgraded.push(ws);
                }
            } else {
                held.push(stream);
            }
        }
    });
    port
}

fn options(port: u16) -> PeerOptions {
    let mut o = PeerOptions::new(KEY)
        .server("127.0.0.1", port, false)
        .timeouts(
            Duration::from_secs(20),
            Duration::from_millis(500),
            Duration::from_millis(500),
        );
    o.config.local_addresses = LocalAddresses::LoopbackOnly;
    o.reconnect.attempts = 0;
    o
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_upgrade_is_a_timeout() {
    let port = silent_server(false).await;
    let before = alive_tasks();
    let err = Peer::new(Some("patient"), options(port))
        .await
        .expect_err("no server answer");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("connecting"), "{err}");
    // The typed cause is kept.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        matches!(
            source.downcast_ref::<TransportError>(),
            Some(TransportError::Timeout { .. })
        ),
        "{source:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alive_tasks(), before, "the socket task is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_upgrades_and_says_nothing_is_a_handshake_timeout() {
    let port = silent_server(true).await;
    let before = alive_tasks();
    let err = Peer::new(Some("patient"), options(port))
        .await
        .expect_err("no handshake");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("handshake"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alive_tasks(), before, "the socket task is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_timeout_stops_a_dial_that_is_still_waiting() {
    let port = silent_server(false).await;
    let before = alive_tasks();
    let mut o = options(port);
    // The open timeout fires while the dial (with its own longer deadline) still waits.
    o.open_timeout = Duration::from_millis(300);
    o.connect_timeout = Duration::from_secs(30);
    let err = Peer::new(Some("patient"), o).await.expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alive_tasks(), before, "the dial was stopped with its task");
}

#[tokio::test]
async fn rest_calls_to_a_server_that_never_answers_time_out() {
    let port = silent_server(false).await;
    let server = ServerAddr {
        host: "127.0.0.1".into(),
        port,
        secure: false,
    };
    let timeout = Duration::from_millis(300);
    let list = rest::list_all_peers(&server, KEY, &[], timeout).await;
    assert!(
        matches!(list, Err(TransportError::Timeout { .. })),
        "{list:?}"
    );
    let exists = rest::peer_exists(&server, KEY, "x", &[], timeout).await;
    assert!(
        matches!(exists, Err(TransportError::Timeout { .. })),
        "{exists:?}"
    );
}
