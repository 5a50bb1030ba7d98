//! Rust to Rust MediaConnections through the real peer-server: call and answer with tracks
//! both ways, receive-only calls, metadata, forced codecs, replace_stream with renegotiation,
//! close(force), unknown peers.

mod common;

use common::*;
use peer::media::track::LocalTrack;
use peer::{
    AnswerOptions, CallOptions, Codec, ErrorKind, ErrorType, MediaConnection,
    MediaConnectionEvent, MediaKind, MediaStream, Peer, PeerEvent, RemoteTrack,
};
use serde_json::json;
use std::time::Duration;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;

/// Writes a synthetic packet of `track`'s codec every 20 ms until the task is aborted: a
/// keyframe-looking VP8/VP9/H264 frame or an Opus/PCMU frame. (Real media files and RTP
/// sources are covered by peer-media's tests and the conformance suite.)
fn pump(track: LocalTrack) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seq: u16 = 0;
        let mut ts: u32 = 0;
        let payload: Vec<u8> = match track.codec() {
            Codec::Vp8 => vec![0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00],
            Codec::Vp9 => vec![0x8c, 0x00, 0x01, 0x02, 0x03],
            Codec::H264 => vec![0x65, 0x88, 0x84, 0x00, 0x33],
            Codec::Opus => vec![0xfc, 0xff, 0xfe],
            Codec::Pcmu => vec![0xff; 160],
        };
        let step = track.codec().clock_rate() / 50;
        loop {
            let p = Packet {
                header: Header {
                    version: 2,
                    marker: true,
                    payload_type: 100,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc: 1,
                    ..Default::default()
                },
                payload: payload.clone().into(),
            };
            let _ = track.write_rtp(&p).await;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(step);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// A stream with the given codecs, each track pumped; the pumps end with the returned guard.
fn stream(codecs: &[Codec]) -> (MediaStream, Pumps) {
    let mut s = MediaStream::new();
    let mut tasks = Vec::new();
    for &c in codecs {
        tasks.push(pump(s.add_track(c)));
    }
    (s, Pumps(tasks))
}

/// Aborts the pump tasks on drop.
struct Pumps(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Pumps {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

async fn next_call(p: &Peer) -> MediaConnection {
    loop {
        if let PeerEvent::Call(c) = next(p).await {
            return c;
        }
    }
}

/// The next remote track of `conn`, checking that a `Stream` event announced its stream.
async fn next_track(conn: &MediaConnection, seen: &mut Vec<String>) -> RemoteTrack {
    loop {
        match within("remote track", conn.next_event()).await {
            Some(MediaConnectionEvent::Stream(id)) => seen.push(id),
            Some(MediaConnectionEvent::Track(t)) => {
                assert!(
                    seen.contains(&t.stream_id()),
                    "track {t:?} came before its stream event ({seen:?})"
                );
                return t;
            }
            Some(MediaConnectionEvent::Error(e)) => panic!("error event: {e}"),
            Some(MediaConnectionEvent::Close) | None => panic!("closed before a track"),
        }
    }
}

/// Reads `n` packets from `t`; returns the payload types seen.
async fn read_packets(t: &RemoteTrack, n: usize) -> Vec<u8> {
    let mut pts = Vec::new();
    for _ in 0..n {
        let p = within("rtp packet", t.read_rtp()).await.expect("rtp");
        pts.push(p.header.payload_type);
    }
    pts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_and_answer_with_tracks_both_ways() {
    let server = TestServer::start();
    let alice = server.peer("mc-alice").await;
    let bob = server.peer("mc-bob").await;

    let (a_stream, _a_pumps) = stream(&[Codec::Opus, Codec::Vp8]);
    let call = alice
        .call(
            "mc-bob",
            Some(&a_stream),
            CallOptions {
                metadata: Some(json!({"purpose": "test", "n": 1})),
                ..Default::default()
            },
        )
        .await
        .expect("call");
    assert!(call.id().starts_with("mc_"));
    assert!(call.is_originator());

    let incoming = next_call(&bob).await;
    assert_eq!(incoming.id(), call.id());
    assert_eq!(incoming.remote_id(), "mc-alice");
    assert_eq!(
        incoming.metadata(),
        Some(&json!({"purpose": "test", "n": 1}))
    );
    assert!(!incoming.is_open(), "not open before answer()");
    let (b_stream, _b_pumps) = stream(&[Codec::Vp8]);
    incoming
        .answer(Some(&b_stream), AnswerOptions::default())
        .await
        .expect("answer");
    assert!(incoming.is_open());
    within("caller open", call.wait_open()).await.expect("open");
    assert_eq!(bob.connections()["mc-alice"][0].connection_type(), "media");

    // Bob receives alice's two tracks of one stream; alice receives bob's video.
    let mut seen = Vec::new();
    let t1 = next_track(&incoming, &mut seen).await;
    let t2 = next_track(&incoming, &mut seen).await;
    assert_eq!(seen, vec![a_stream.id().to_owned()], "one stream event");
    let mut kinds = [t1.kind(), t2.kind()];
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, [MediaKind::Audio, MediaKind::Video]);
    for t in [&t1, &t2] {
        let want = if t.kind() == MediaKind::Video {
            Codec::Vp8
        } else {
            Codec::Opus
        };
        assert_eq!(t.codec(), Some(want));
        // Sent with payload type 100; received with the negotiated one.
        let pts = read_packets(t, 10).await;
        assert!(pts.iter().all(|&pt| pt == t.payload_type()), "{pts:?}");
        assert_ne!(t.payload_type(), 100, "payload type rewritten");
    }
    let mut seen = Vec::new();
    let back = next_track(&call, &mut seen).await;
    assert_eq!(back.codec(), Some(Codec::Vp8));
    assert_eq!(seen, vec![b_stream.id().to_owned()]);
    read_packets(&back, 10).await;

    // A keyframe request reaches the sending track.
    let before = a_stream.video().map(|t| t.keyframe_requests()).unwrap_or(0);
    let video = if t1.kind() == MediaKind::Video { &t1 } else { &t2 };
    video.request_keyframe().await.expect("pli");
    within("pli delivered", async {
        while a_stream.video().map(|t| t.keyframe_requests()).unwrap_or(0) == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // close(true) closes the remote side at once.
    call.close(true).await;
    within("remote close", incoming.closed()).await;
    within("unregistered", async {
        while !bob.connections().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    alice.destroy().await;
    bob.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_only_call_and_forced_codec() {
    let server = TestServer::start();
    let alice = server.peer("ro-alice").await;
    let bob = server.peer("ro-bob").await;

    // Alice sends nothing and only wants video, H264.
    let call = alice
        .call(
            "ro-bob",
            None,
            CallOptions {
                video_receive_enabled: Some(true),
                video_codec: Some("H264".into()),
                video_bandwidth: Some(500),
                ..Default::default()
            },
        )
        .await
        .expect("call");
    let incoming = next_call(&bob).await;
    let (b_stream, _pumps) = stream(&[Codec::H264, Codec::Opus]);
    incoming
        .answer(Some(&b_stream), AnswerOptions::default())
        .await
        .expect("answer");
    let mut seen = Vec::new();
    let t = next_track(&call, &mut seen).await;
    assert_eq!(t.kind(), MediaKind::Video);
    assert_eq!(t.codec(), Some(Codec::H264));
    read_packets(&t, 10).await;
    // No audio was asked for: nothing else arrives within a second.
    let extra = tokio::time::timeout(Duration::from_secs(1), call.next_event()).await;
    assert!(
        !matches!(extra, Ok(Some(MediaConnectionEvent::Track(_)))),
        "{extra:?}"
    );
    // Bob's side of a receive-only call gets no tracks from alice.
    assert!(incoming.local_tracks().len() == 2);
    call.close(true).await;
    within("closed", incoming.closed()).await;
    alice.destroy().await;
    bob.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_stream_swaps_tracks_and_renegotiates_new_kinds() {
    let server = TestServer::start();
    let alice = server.peer("rs-alice").await;
    let bob = server.peer("rs-bob").await;

    let (first, _p1) = stream(&[Codec::Vp8]);
    let call = alice
        .call("rs-bob", Some(&first), CallOptions::default())
        .await
        .expect("call");
    let incoming = next_call(&bob).await;
    incoming
        .answer(None, AnswerOptions::default())
        .await
        .expect("answer");
    let mut seen = Vec::new();
    let video = next_track(&incoming, &mut seen).await;
    assert_eq!(video.kind(), MediaKind::Video);
    read_packets(&video, 5).await;

    // Same kind: the new track's packets flow on the same remote track, no new track event.
    let (second, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    call.replace_stream(&second).await.expect("replace");
    let audio = next_track(&incoming, &mut seen).await;
    assert_eq!(audio.kind(), MediaKind::Audio);
    assert_eq!(audio.codec(), Some(Codec::Opus));
    read_packets(&audio, 5).await;
    read_packets(&video, 5).await;
    assert_eq!(call.local_tracks().len(), 2);
    assert_eq!(call.id(), incoming.id(), "renegotiated on the same connection");
    assert_eq!(bob.connections()["rs-alice"].len(), 1);

    // The answering side cannot add a kind (only the caller renegotiates).
    let (third, _p3) = stream(&[Codec::Opus]);
    let err = incoming.replace_stream(&third).await.unwrap_err();
    assert!(matches!(err, peer::ConnectionError::Unsupported(_)), "{err}");

    call.close(false).await;
    alice.destroy().await;
    within("closed on leave", incoming.closed()).await;
    bob.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_are_errors() {
    let server = TestServer::start();
    let alice = server.peer("bc-alice").await;

    // A codec option that contradicts the track.
    let (s, _p) = stream(&[Codec::Vp8]);
    let err = alice
        .call(
            "bc-nobody",
            Some(&s),
            CallOptions {
                video_codec: Some("H264".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection);

    // An unknown peer: peer-unavailable, and the call closes.
    let call = alice
        .call("bc-nobody", Some(&s), CallOptions::default())
        .await
        .expect("call");
    loop {
        match next(&alice).await {
            PeerEvent::Error(e) if e.kind == ErrorKind::Server(ErrorType::PeerUnavailable) => break,
            _ => {}
        }
    }
    within("closed", call.closed()).await;
    alice.destroy().await;
}
