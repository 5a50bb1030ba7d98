//! `RtpUdpSource`: RTP sent to a UDP port (as a GStreamer or ffmpeg pipeline would) goes out on
//! a real loopback `webrtc` connection with the negotiated payload type; the far side forwards
//! it with a `UdpSink` to a test socket.

mod common;

use common::{connect, eventually, fixture, within};
use peer_media::source::ivf::IvfReader;
use peer_media::source::RtpUdpSource;
use peer_media::{Codec, LocalTrack, UdpSink};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use webrtc::rtp::codecs::vp8::Vp8Payloader;
use webrtc::rtp::packet::Packet;
use webrtc::rtp::packetizer::{new_packetizer, Packetizer};
use webrtc::rtp::sequence::new_random_sequencer;
use webrtc::util::{Marshal, Unmarshal};

/// The payload type the test's "pipeline" uses: not the negotiated one.
const PIPELINE_PT: u8 = 100;

/// The VP8 fixture as RTP packets with payload type 100, one `Vec` per frame.
fn vp8_fixture_packets() -> Vec<Vec<Packet>> {
    let data = std::fs::read(fixture("testsrc-vp8.ivf")).expect("fixture");
    let mut reader = IvfReader::new(&data).expect("ivf");
    let mut packetizer = new_packetizer(
        1200,
        PIPELINE_PT,
        0x1234_5678,
        Box::<Vp8Payloader>::default(),
        Box::new(new_random_sequencer()),
        90_000,
    );
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().expect("frame") {
        let payload = bytes::Bytes::copy_from_slice(frame.data);
        frames.push(packetizer.packetize(&payload, 3000).expect("packetize"));
    }
    frames
}

/// Sends the frames' packets to `to` at 30 frames per second.
async fn send_paced(socket: &UdpSocket, to: SocketAddr, frames: &[Vec<Packet>]) -> u64 {
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    for (i, frame) in frames.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_millis(i as u64 * 1000 / 30)).await;
        for p in frame {
            socket
                .send_to(&p.marshal().expect("marshal"), to)
                .await
                .expect("send");
            sent += 1;
        }
    }
    sent
}

/// What the test socket received from the sink.
#[derive(Default)]
struct Received {
    packets: AtomicU64,
    markers: AtomicU64,
    wrong_pt: AtomicU64,
    not_rtp: AtomicU64,
}

fn receive(socket: UdpSocket, expected_pt: u8) -> Arc<Received> {
    let r = Arc::new(Received::default());
    let rx = r.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, _)) = socket.recv_from(&mut buf).await {
            match Packet::unmarshal(&mut &buf[..n]) {
                Ok(p) => {
                    rx.packets.fetch_add(1, Ordering::Relaxed);
                    if p.header.marker {
                        rx.markers.fetch_add(1, Ordering::Relaxed);
                    }
                    if p.header.payload_type != expected_pt {
                        rx.wrong_pt.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    rx.not_rtp.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_on_udp_reaches_the_far_side_with_the_negotiated_payload_type() {
    let track = LocalTrack::new(Codec::Vp8, "stream");
    let mut pair = connect(&track).await;
    let source = RtpUdpSource::bind("127.0.0.1:0".parse().expect("addr"), track.clone())
        .await
        .expect("bind");
    let to = source.local_addr();
    assert!(to.port() != 0);
    let pipeline = UdpSocket::bind("127.0.0.1:0").await.expect("socket");

    // Garbage and RTCP first: dropped and counted, the source keeps going.
    pipeline.send_to(b"not RTP at all", to).await.expect("send");
    pipeline.send_to(&[0x80, 96, 0, 1], to).await.expect("send");
    pipeline
        .send_to(&[0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2], to)
        .await
        .expect("send");
    assert!(
        eventually(
            || source.stats().malformed == 2 && source.stats().rtcp == 1,
            Duration::from_secs(5)
        )
        .await,
        "{:?}",
        source.stats()
    );
    assert_eq!(source.stats().packets, 0);

    let frames = vp8_fixture_packets();
    let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let sending = {
        let frames = frames.clone();
        tokio::spawn(async move { send_paced(&pipeline, to, &frames).await })
    };

    let remote = pair.remote_track().await;
    assert_eq!(remote.codec(), Some(Codec::Vp8));
    let negotiated = remote.payload_type();
    assert_eq!(negotiated, 96);
    assert_ne!(negotiated, PIPELINE_PT);
    let test_socket = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let sink_to = test_socket.local_addr().expect("addr");
    let received = receive(test_socket, negotiated);
    let sink = UdpSink::start(remote, sink_to).await.expect("sink");
    assert_eq!(sink.payload_type(), 96);
    assert_eq!(sink.to(), sink_to);
    assert!(sink
        .caps()
        .contains("media=video,encoding-name=VP8,payload=96,clock-rate=90000"));
    assert!(sink
        .sdp()
        .contains(&format!("m=video {} RTP/AVP 96", sink_to.port())));
    assert!(sink.sdp().contains("a=rtpmap:96 VP8/90000"));

    let sent = within("sending", sending).await.expect("sender");
    assert_eq!(sent, total);
    eventually(
        || received.packets.load(Ordering::Relaxed) >= total,
        Duration::from_secs(3),
    )
    .await;

    let stats = source.stats();
    assert_eq!(stats.packets, total, "{stats:?}");
    assert_eq!(stats.malformed, 2);
    assert_eq!(stats.write_errors, 0);
    let got = received.packets.load(Ordering::Relaxed);
    assert!(got * 10 >= total * 9, "{got} of {total} packets forwarded");
    assert_eq!(received.wrong_pt.load(Ordering::Relaxed), 0);
    assert_eq!(received.not_rtp.load(Ordering::Relaxed), 0);
    assert!(received.markers.load(Ordering::Relaxed) * 10 >= 60 * 9);
    // The sink counts a packet once its `send_to` has returned, which can be after the
    // receiver here has read it.
    assert!(
        eventually(|| sink.stats().packets >= got, Duration::from_secs(3)).await,
        "{:?} < {got}",
        sink.stats()
    );
    let sink_stats = sink.stats();
    assert!(
        sink_stats.frames * 10 >= 60 * 9 && sink_stats.keyframes >= 1,
        "{sink_stats:?}"
    );

    // More garbage after the media: still counted, never fatal.
    let late = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    late.send_to(&[0x40; 40], to).await.expect("send");
    assert!(eventually(|| source.stats().malformed == 3, Duration::from_secs(5)).await);
    assert!(!source.is_finished());

    source.stop();
    let final_stats = within("stop", source.finished()).await.expect("stopped");
    assert_eq!(final_stats.packets, total);
    sink.stop();
    within("sink stop", sink.finished()).await.expect("sink");
    pair.close().await;
}

#[tokio::test]
async fn bind_errors_are_reported() {
    let track = LocalTrack::new(Codec::Vp8, "s");
    let first = RtpUdpSource::bind("127.0.0.1:0".parse().expect("addr"), track.clone())
        .await
        .expect("bind");
    // The same port again.
    let e = RtpUdpSource::bind(first.local_addr(), track)
        .await
        .expect_err("port in use");
    assert!(matches!(e, peer_media::MediaError::Io(_)), "{e:?}");
}

#[tokio::test]
async fn dropping_the_source_frees_the_port() {
    let track = LocalTrack::new(Codec::Opus, "s");
    let source = RtpUdpSource::bind("127.0.0.1:0".parse().expect("addr"), track.clone())
        .await
        .expect("bind");
    let addr = source.local_addr();
    drop(source);
    // The task ends and closes its socket; the port can be bound again.
    assert!(
        eventually(
            || std::net::UdpSocket::bind(addr).is_ok(),
            Duration::from_secs(5)
        )
        .await
    );
}
