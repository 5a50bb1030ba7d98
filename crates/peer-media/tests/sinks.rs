//! `UdpSink` and `FileSink` on tracks received over a real loopback `webrtc` connection: codecs,
//! caps and SDP, the file being finalized on stop, on drop and when the track ends, and write
//! errors (a full disk) ending the recording with the error.

mod common;

use common::{connect, eventually, fixture, read_ivf, temp_path, within};
use peer_media::source::ivf::IvfReader;
use peer_media::source::{FileOptions, FileSource};
use peer_media::{Codec, FileSink, LocalTrack, MediaError, UdpSink};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use webrtc::rtp::packet::Packet;
use webrtc::util::Unmarshal;

const LOOPED: FileOptions = FileOptions {
    looped: true,
    fps: None,
};

/// Counts RTP packets with payload type `pt` arriving on `socket` (and any others apart).
fn count_rtp(socket: UdpSocket, pt: u8) -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    let (good, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (g, b) = (good.clone(), bad.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, _)) = socket.recv_from(&mut buf).await {
            match Packet::unmarshal(&mut &buf[..n]) {
                Ok(p) if p.header.payload_type == pt => g.fetch_add(1, Ordering::Relaxed),
                _ => b.fetch_add(1, Ordering::Relaxed),
            };
        }
    });
    (good, bad)
}

/// Whether `path` is a finalized IVF file: the header's frame count matches the frames, and at
/// least `min` of them (never panics on a file still being written).
fn finalized_ivf(path: &Path, min: u32) -> bool {
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    let Ok(mut r) = IvfReader::new(&data) else {
        return false;
    };
    let declared = r.header().frame_count;
    let mut n = 0;
    loop {
        match r.next_frame() {
            Ok(Some(_)) => n += 1,
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    n >= min && declared == n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_goes_to_a_udp_sink() {
    let track = LocalTrack::new(Codec::H264, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("testsrc.h264"), track, FileOptions::default())
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let to = socket.local_addr().expect("addr");
    let pt = remote.payload_type();
    let (good, bad) = count_rtp(socket, pt);
    let sink = UdpSink::start(remote, to).await.expect("sink");
    assert!(sink.caps().starts_with(&format!(
        "application/x-rtp,media=video,encoding-name=H264,payload={pt},clock-rate=90000"
    )));
    assert!(sink
        .sdp()
        .contains(&format!("a=rtpmap:{pt} H264/90000\r\n")));
    assert!(sink.sdp().contains("packetization-mode=1"));
    let sent = within("playback", source.finished()).await.expect("played");
    eventually(
        || good.load(Ordering::Relaxed) >= sent.packets,
        Duration::from_secs(3),
    )
    .await;
    let forwarded = good.load(Ordering::Relaxed);
    assert!(
        forwarded * 10 >= sent.packets * 9,
        "{forwarded} of {sent:?}"
    );
    assert_eq!(bad.load(Ordering::Relaxed), 0);
    let stats = sink.stats();
    assert!(
        stats.frames * 10 >= 60 * 9 && stats.keyframes >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.send_errors, 0);
    sink.stop();
    let last = within("sink", sink.finished()).await.expect("sink");
    assert!(last.packets >= stats.packets);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_udp_sink_caps_and_sdp() {
    let track = LocalTrack::new(Codec::Opus, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("sine.ogg"), track, LOOPED)
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let to = socket.local_addr().expect("addr");
    let (good, _) = count_rtp(socket, 111);
    let sink = UdpSink::start(remote, to).await.expect("sink");
    assert_eq!(sink.payload_type(), 111);
    assert_eq!(
        sink.caps(),
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2"
    );
    assert!(sink
        .sdp()
        .contains(&format!("m=audio {} RTP/AVP 111\r\n", to.port())));
    assert!(sink.sdp().contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert!(
        eventually(
            || good.load(Ordering::Relaxed) >= 20,
            Duration::from_secs(5)
        )
        .await
    );
    source.stop();
    sink.stop();
    let stats = within("sink", sink.finished()).await.expect("sink");
    assert!(stats.packets >= 20);
    assert_eq!(stats.keyframes, 0);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_is_finalized_on_stop_and_on_drop() {
    let track = LocalTrack::new(Codec::Vp9, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("testsrc-vp9.ivf"), track, LOOPED)
        .await
        .expect("source");
    let remote = pair.remote_track().await;

    // Stop.
    let first = temp_path("stopped.ivf");
    let sink = FileSink::start(remote.clone(), &first).await.expect("sink");
    assert_eq!(sink.path(), first.as_path());
    assert_eq!(sink.codec(), Codec::Vp9);
    assert!(eventually(|| sink.stats().written >= 10, Duration::from_secs(10)).await);
    sink.stop();
    let stats = within("stop", sink.finished()).await.expect("finished");
    assert!(sink.is_finished());
    let ivf = read_ivf(&first);
    assert_eq!(ivf.frames as u64, stats.written);
    assert_eq!(ivf.header_frames as u64, stats.written);
    assert!(ivf.first_is_keyframe);
    // The same result again.
    assert_eq!(sink.finished().await, Ok(stats));

    // Drop: a second recording of the same track (the first no longer reads it).
    let second = temp_path("dropped.ivf");
    let sink = FileSink::start(remote, &second).await.expect("sink");
    assert!(eventually(|| sink.stats().written >= 5, Duration::from_secs(10)).await);
    drop(sink);
    assert!(eventually(|| finalized_ivf(&second, 5), Duration::from_secs(5)).await);
    assert!(read_ivf(&second).first_is_keyframe);

    source.stop();
    let _ = std::fs::remove_file(&first);
    let _ = std::fs::remove_file(&second);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_finishes_when_the_track_ends() {
    let track = LocalTrack::new(Codec::Vp8, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("testsrc-vp8.ivf"), track, LOOPED)
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let path = temp_path("ended.ivf");
    let sink = FileSink::start(remote, &path).await.expect("sink");
    assert!(eventually(|| sink.stats().written >= 10, Duration::from_secs(10)).await);
    // The receiving connection closes: its tracks end.
    let _ = pair.receiver.close().await;
    let stats = within("track end", sink.finished())
        .await
        .expect("a clean end");
    assert!(stats.written >= 10);
    let ivf = read_ivf(&path);
    assert_eq!(ivf.header_frames as u64, stats.written);
    assert_eq!(ivf.frames as u64, stats.written);
    source.stop();
    let _ = std::fs::remove_file(&path);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_reports_an_unwritable_path() {
    let track = LocalTrack::new(Codec::Opus, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("sine.ogg"), track, LOOPED)
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let e = FileSink::start(remote, "/nonexistent-directory/x.ogg")
        .await
        .expect_err("no such directory");
    assert!(matches!(e, MediaError::Io(_)), "{e:?}");
    source.stop();
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_reports_a_full_disk() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let track = LocalTrack::new(Codec::Opus, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("sine.ogg"), track, LOOPED)
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    // Creating works (it is a device); every write fails with ENOSPC.
    let sink = FileSink::start(remote, full).await.expect("sink");
    // The recording ends by itself, with the error, while the track still sends.
    let e = within("the write error", sink.finished())
        .await
        .expect_err("disk full");
    assert!(
        matches!(&e, MediaError::Io(m) if m.contains("/dev/full")),
        "{e:?}"
    );
    assert!(sink.is_finished());
    assert!(!source.is_finished());
    assert_eq!(sink.finished().await, Err(e));
    source.stop();
    pair.close().await;
}

/// Plays the fixture `name` once on a `codec` track over a loopback pair, records the far side
/// with a `FileSink` into a temporary file, and returns the recording and the sink's counters.
async fn record_fixture(codec: Codec, name: &str) -> (Vec<u8>, peer_media::sink::FileSinkStats) {
    let track = LocalTrack::new(codec, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture(name), track, FileOptions::default())
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let out = temp_path(&format!("recorded-{name}"));
    let sink = FileSink::start(remote, &out).await.expect("sink");
    let sent = within("playback", source.finished()).await.expect("played");
    eventually(
        || sink.stats().packets >= sent.packets,
        Duration::from_secs(3),
    )
    .await;
    sink.stop();
    let got = within("recording", sink.finished())
        .await
        .expect("recorded");
    let data = std::fs::read(&out).expect("recording");
    let _ = std::fs::remove_file(&out);
    pair.close().await;
    (data, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_is_recorded_as_annex_b() {
    use peer_media::source::annexb::access_units;
    let (data, got) = record_fixture(Codec::H264, "testsrc.h264").await;
    let aus: Vec<_> = access_units(&data).collect();
    let pictures = aus.iter().filter(|a| a.has_picture()).count();
    assert!(pictures * 10 >= 60 * 9, "{pictures} pictures: {got:?}");
    assert_eq!(pictures as u64, got.written);
    assert!(
        aus[0].is_keyframe(),
        "starts at a keyframe: {:?}",
        aus[0].nal_types
    );
    assert!(aus.iter().filter(|a| a.is_keyframe()).count() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_is_recorded_as_raw_mulaw() {
    let (data, got) = record_fixture(Codec::Pcmu, "sine.ulaw").await;
    let original = std::fs::read(fixture("sine.ulaw")).expect("fixture");
    assert!(
        data.len() * 10 >= original.len() * 9,
        "{} bytes: {got:?}",
        data.len()
    );
    assert_eq!(data.len() % 160, 0);
    // What was recorded is the file's own audio, in order.
    assert!(
        original.windows(data.len()).any(|w| w == data.as_slice()),
        "the recording is a contiguous part of the source"
    );
}
