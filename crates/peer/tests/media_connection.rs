//! Rust to Rust MediaConnections through the real peer-server: call and answer with tracks
//! both ways, receive-only calls, metadata, forced codecs, replace_stream with renegotiation,
//! close(force), unknown peers.

mod common;

use common::*;
use peer::{
    AnswerOptions, CallOptions, Codec, ErrorKind, ErrorType, MediaConnection, MediaConnectionEvent,
    MediaKind, MediaStream, Peer, PeerEvent, RemoteTrack,
};
use serde_json::json;
use std::time::Duration;

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
            Some(other) => panic!("unexpected event {other:?}"),
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
            CallOptions::new().metadata(json!({"purpose": "test", "n": 1})),
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
    let video = if t1.kind() == MediaKind::Video {
        &t1
    } else {
        &t2
    };
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
            CallOptions::new()
                .video_receive_enabled(true)
                .video_codec("H264")
                .video_bandwidth(500),
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
    assert_eq!(
        call.id(),
        incoming.id(),
        "renegotiated on the same connection"
    );
    assert_eq!(bob.connections()["rs-alice"].len(), 1);

    // The answering side cannot add a kind (only the caller renegotiates).
    let (third, _p3) = stream(&[Codec::Opus]);
    let err = incoming.replace_stream(&third).await.unwrap_err();
    assert!(
        matches!(err, peer::ConnectionError::Unsupported(_)),
        "{err}"
    );

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
            CallOptions::new().video_codec("H264"),
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

/// The peer-media fixtures (2 s each, made by the ffmpeg commands in their README).
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../peer-media/tests/fixtures")
        .join(name)
}

/// Sends the VP8 IVF fixture as RTP (payload type 100, 1,200-byte packets) to `to`, paced at
/// the file's frame rate, `passes` times. Returns the frames sent.
async fn send_vp8_rtp(to: std::net::SocketAddr, passes: usize) -> usize {
    use peer::media::source::ivf::IvfReader;
    use webrtc::rtp::codecs::vp8::Vp8Payloader;
    use webrtc::rtp::packetizer::{new_packetizer, Packetizer};
    use webrtc::rtp::sequence::new_random_sequencer;

    let data = std::fs::read(fixture("testsrc-vp8.ivf")).expect("fixture");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let mut packetizer = new_packetizer(
        1200,
        100,
        0x1234_5678,
        Box::new(Vp8Payloader::default()),
        Box::new(new_random_sequencer()),
        90_000,
    );
    let mut frames = 0;
    for _ in 0..passes {
        let mut reader = IvfReader::new(&data).expect("ivf");
        while let Some(frame) = reader.next_frame().expect("frame") {
            let payload = bytes::Bytes::copy_from_slice(frame.data);
            for p in packetizer.packetize(&payload, 3000).expect("packetize") {
                let raw = webrtc::util::Marshal::marshal(&p).expect("marshal");
                socket.send_to(&raw, to).await.expect("send");
            }
            frames += 1;
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_rtp_sources_rust_to_rust() {
    use peer::media::sink::FileSink;
    use peer::media::source::{FileOptions, FileSource, RtpUdpSource};
    use peer::media::FrameCounter;

    let server = TestServer::start();
    let alice = server.peer("fr-alice").await;
    let bob = server.peer("fr-bob").await;

    // Alice sends the VP8 and Opus files, paced in real time, once the call is connected.
    let mut a_stream = MediaStream::new();
    let a_video = a_stream.add_track(Codec::Vp8);
    let a_audio = a_stream.add_track(Codec::Opus);
    // Bob sends what arrives on a UDP port as RTP (as from a GStreamer pipeline).
    let mut b_stream = MediaStream::new();
    let rtp_in = RtpUdpSource::bind(
        "127.0.0.1:0".parse().expect("addr"),
        b_stream.add_track(Codec::Vp8),
    )
    .await
    .expect("rtp source");

    let call = alice
        .call("fr-bob", Some(&a_stream), CallOptions::default())
        .await
        .expect("call");
    let incoming = next_call(&bob).await;
    incoming
        .answer(Some(&b_stream), AnswerOptions::default())
        .await
        .expect("answer");
    within("connected", call.wait_connected())
        .await
        .expect("connected");
    let video = FileSource::start(fixture("testsrc-vp8.ivf"), a_video, FileOptions::default())
        .await
        .expect("video file");
    let audio = FileSource::start(
        fixture("sine.ogg"),
        a_audio,
        FileOptions {
            looped: true,
            ..Default::default()
        },
    )
    .await
    .expect("audio file");

    // Bob records alice's video into an IVF file and counts her audio.
    let dir = std::env::temp_dir().join(format!("peer-media-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("alice.ivf");
    let mut seen = Vec::new();
    let mut recorder = None;
    let mut audio_packets = None;
    for _ in 0..2 {
        let t = next_track(&incoming, &mut seen).await;
        match t.kind() {
            MediaKind::Video => {
                recorder = Some(FileSink::start(t, &path).await.expect("file sink"));
            }
            MediaKind::Audio => {
                assert_eq!(t.codec(), Some(Codec::Opus));
                audio_packets = Some(tokio::spawn(async move {
                    let mut n = 0u32;
                    while n < 50 && t.read_rtp().await.is_ok() {
                        n += 1;
                    }
                    n
                }));
            }
        }
    }
    let recorder = recorder.expect("video track");
    let sent = within("video file played", video.finished())
        .await
        .expect("played");
    // Let the last packets land, then close the file.
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.stop();
    let stats = within("recorder", recorder.finished())
        .await
        .expect("recorded");
    assert!(
        stats.written * 10 >= sent.frames * 9,
        "wrote {} of {} frames: {stats:?}",
        stats.written,
        sent.frames
    );
    assert!(stats.keyframes >= 1, "{stats:?}");
    let file = std::fs::read(&path).expect("recording");
    let mut reader = peer::media::source::ivf::IvfReader::new(&file).expect("valid ivf");
    assert_eq!(reader.header().codec(), Some(Codec::Vp8));
    let mut frames = 0;
    while reader.next_frame().expect("frame").is_some() {
        frames += 1;
    }
    assert_eq!(frames as u64, stats.written);
    let n = within("audio", audio_packets.expect("audio track"))
        .await
        .expect("audio task");
    assert_eq!(n, 50);
    audio.stop();

    // Bob's RTP source: the packets sent to his UDP port reach alice with the negotiated
    // payload type, frame for frame.
    let send = tokio::spawn(send_vp8_rtp(rtp_in.local_addr(), 1));
    let mut seen = Vec::new();
    let back = next_track(&call, &mut seen).await;
    assert_eq!(back.codec(), Some(Codec::Vp8));
    let pt = back.payload_type();
    let mut counter = FrameCounter::new(Codec::Vp8);
    let frames_sent = within("rtp sent", send).await.expect("sender");
    within("frames through the rtp source", async {
        while counter.frames() + 1 < frames_sent as u64 {
            let p = back.read_rtp().await.expect("rtp");
            assert_eq!(p.header.payload_type, pt);
            counter.push(p.header.marker, p.header.timestamp, &p.payload);
        }
    })
    .await;
    assert!(counter.keyframes() >= 1, "{counter:?}");
    assert_eq!(rtp_in.stats().malformed, 0);

    call.close(true).await;
    within("closed", incoming.closed()).await;
    let _ = std::fs::remove_dir_all(&dir);
    alice.destroy().await;
    bob.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_renegotiation_is_an_error_event_and_the_call_goes_on() {
    let server = TestServer::start();
    let alice = server.peer("bo-alice").await;
    let bob = server.peer("bo-bob").await;
    let (s, _p) = stream(&[Codec::Vp8]);
    let call = alice
        .call("bo-bob", Some(&s), CallOptions::default())
        .await
        .expect("call");
    let incoming = next_call(&bob).await;
    incoming
        .answer(None, AnswerOptions::default())
        .await
        .expect("answer");
    let mut seen = Vec::new();
    let video = next_track(&incoming, &mut seen).await;
    read_packets(&video, 5).await;

    // Garbage where the renegotiation offer's SDP should be.
    let err = peer_connection::router::deliver_offer(
        &peer::Connection::Media(incoming.clone()),
        "v=0\r\nthis is not SDP",
    )
    .await;
    assert!(
        matches!(err, Err(peer::ConnectionError::InvalidSignal(_))),
        "{err:?}"
    );
    match within("error event", incoming.next_event()).await {
        Some(MediaConnectionEvent::Error(peer::ConnectionError::InvalidSignal(_))) => {}
        other => panic!("expected an error event, got {other:?}"),
    }
    // Media still flows and the call is open.
    read_packets(&video, 5).await;
    assert!(incoming.is_open());
    call.close(true).await;
    within("closed", incoming.closed()).await;
    alice.destroy().await;
    bob.destroy().await;
}
