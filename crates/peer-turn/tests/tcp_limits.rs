//! TURN over TCP holds nothing for clients that misbehave: a stream that is not TURN is closed
//! at once (or, when its first bytes read as a ChannelData header, at the first-message
//! deadline), a connection that sends nothing is closed after the first-message deadline, and
//! past `max_tcp_connections` new connections are closed at once; the server keeps serving.

use peer_turn::{TurnConfig, TurnServer};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(max_tcp_connections: usize) -> TurnServer {
    TurnServer::start(TurnConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        secret: b"tcp-secret".to_vec(),
        max_tcp_connections,
        ..TurnConfig::default()
    })
    .await
    .expect("TURN server")
}

/// Waits until the server closes `s`; returns how long that took.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(t0.elapsed()),
        _ => None,
    }
}

/// A STUN Binding request over TCP gets its response: the server is serving.
async fn serves(turn: &TurnServer) {
    let mut s = TcpStream::connect(turn.local_addr())
        .await
        .expect("connect");
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(&[7; 12]);
    s.write_all(&req).await.expect("write");
    let mut head = [0u8; 20];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .expect("a response in time")
        .expect("a response");
    assert_eq!(&head[..2], &[0x01, 0x01], "Binding success response");
    assert_eq!(&head[8..20], &[7; 12], "the same transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_cut_off_and_the_server_keeps_serving() {
    let turn = server(100).await;
    // Not TURN from the first byte (RTP; TLS, whose header has no magic cookie): closed at once.
    let tls = [
        0x16, 0x03, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    for garbage in [&[0x80, 0x60, 0, 1][..], &tls[..]] {
        let mut s = TcpStream::connect(turn.local_addr())
            .await
            .expect("connect");
        s.write_all(garbage).await.expect("write");
        assert!(
            closed_within(&mut s, Duration::from_secs(3))
                .await
                .is_some(),
            "closed after {garbage:?}"
        );
    }
    // "GE" (0x4745) is a channel number: an HTTP request reads as the start of a 21,536-byte
    // ChannelData message, which never completes; closed at the first-message deadline.
    let mut s = TcpStream::connect(turn.local_addr())
        .await
        .expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
    let t = closed_within(&mut s, Duration::from_secs(15)).await;
    assert!(t.is_some_and(|t| t >= Duration::from_secs(9)), "{t:?}");
    serves(&turn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_and_those_past_the_limit_are_closed() {
    let turn = server(2).await;
    let mut a = TcpStream::connect(turn.local_addr())
        .await
        .expect("connect");
    let mut b = TcpStream::connect(turn.local_addr())
        .await
        .expect("connect");
    // Past the limit: closed at once.
    let mut c = TcpStream::connect(turn.local_addr())
        .await
        .expect("connect");
    assert!(closed_within(&mut c, Duration::from_secs(2))
        .await
        .is_some());
    // The two silent ones: closed at the first-message deadline (10 s), not before 9 s.
    let ta = closed_within(&mut a, Duration::from_secs(15))
        .await
        .expect("a closed");
    assert!(ta >= Duration::from_secs(9), "{ta:?}");
    assert!(closed_within(&mut b, Duration::from_secs(2))
        .await
        .is_some());
    // Their slots are free again.
    serves(&turn).await;
}
