//! `FileSource`: the fixture files played in real time over a real loopback `webrtc` connection,
//! received and recorded on the far side; and malformed files.

mod common;

use common::{connect, eventually, fixture, read_ivf, read_ogg, temp_path, within};
use peer_media::source::opus::packet_samples;
use peer_media::source::{FileOptions, FileSource};
use peer_media::{Codec, FileSink, FrameCounter, LocalTrack, MediaError, RemoteTrack};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DRAIN: Duration = Duration::from_secs(3);

/// Plays a video fixture into a track, records it with a `FileSink` on the far side, and checks
/// the IVF file.
async fn ivf_round_trip(codec: Codec, name: &str) {
    let track = LocalTrack::new(codec, "stream");
    let mut pair = connect(&track).await;
    // on_track fires on the first packet: start the source first.
    let source = FileSource::start(fixture(name), track.clone(), FileOptions::default())
        .await
        .expect("source");
    assert_eq!(source.frames_per_pass(), 60);
    assert_eq!(source.duration(), Duration::from_secs(2));
    let remote = pair.remote_track().await;
    assert_eq!(remote.codec(), Some(codec));
    let out = temp_path(&format!("{codec}.ivf"));
    let sink = FileSink::start(remote, &out).await.expect("sink");

    let sent = within("playback", source.finished()).await.expect("played");
    assert_eq!(sent.frames, 60);
    assert_eq!(sent.loops, 1);
    assert_eq!(sent.write_errors, 0);
    assert!(source.is_finished());
    eventually(|| sink.stats().packets >= sent.packets, DRAIN).await;
    // The sink asked the sender for a keyframe.
    assert!(eventually(|| track.keyframe_requests() >= 1, DRAIN).await);
    sink.stop();
    let got = within("recording", sink.finished())
        .await
        .expect("recorded");

    let ivf = read_ivf(&out);
    assert_eq!(ivf.codec, Some(codec));
    assert_eq!((ivf.width, ivf.height), (320, 240));
    assert_eq!(ivf.header_frames as usize, ivf.frames);
    assert_eq!(ivf.frames as u64, got.written);
    assert!(
        ivf.frames * 10 >= 60 * 9,
        "{codec}: {} of 60 frames recorded ({got:?})",
        ivf.frames
    );
    assert!(ivf.keyframes >= 1);
    assert!(ivf.first_is_keyframe);
    // The pts are the RTP timestamps: 3000 ticks of 90 kHz per frame at 30 fps.
    assert!(ivf.pts.windows(2).all(|w| w[0] < w[1]));
    assert!(ivf.pts.iter().all(|p| p % 3000 == 0), "{:?}", ivf.pts);
    assert!(got.frames * 10 >= 60 * 9 && got.keyframes >= 1, "{got:?}");
    // The fixture has keyframes at frames 0 and 30 only; the payload descriptors say so (a
    // PLI cannot make a file produce more).
    assert!(got.keyframes <= 2, "{codec}: {got:?}");
    let _ = std::fs::remove_file(&out);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp8_ivf_is_recorded_on_the_far_side() {
    ivf_round_trip(Codec::Vp8, "testsrc-vp8.ivf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp9_ivf_is_recorded_on_the_far_side() {
    ivf_round_trip(Codec::Vp9, "testsrc-vp9.ivf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_is_recorded_on_the_far_side() {
    let track = LocalTrack::new(Codec::Opus, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("sine.ogg"), track.clone(), FileOptions::default())
        .await
        .expect("source");
    assert_eq!(source.frames_per_pass(), 101);
    let remote = pair.remote_track().await;
    assert_eq!(remote.codec(), Some(Codec::Opus));
    let out = temp_path("opus.ogg");
    let sink = FileSink::start(remote, &out).await.expect("sink");
    let sent = within("playback", source.finished()).await.expect("played");
    assert_eq!(sent.frames, 101);
    assert_eq!(sent.packets, 101);
    eventually(|| sink.stats().packets >= sent.packets, DRAIN).await;
    sink.stop();
    let got = within("recording", sink.finished())
        .await
        .expect("recorded");

    let packets = read_ogg(&out);
    assert!(packets[0].starts_with(b"OpusHead"));
    assert!(packets[1].starts_with(b"OpusTags"));
    // OggWriter repeats the last packet on its end-of-stream page.
    let audio = &packets[2..];
    assert_eq!(audio.len() as u64, got.written + 1);
    assert!(
        got.written * 10 >= sent.frames * 9,
        "{} of {} packets recorded",
        got.written,
        sent.frames
    );
    assert!(audio.iter().all(|p| packet_samples(p) == Ok(960)));
    let _ = std::fs::remove_file(&out);
    pair.close().await;
}

/// Counts what arrives on `remote` in the background.
fn count(remote: RemoteTrack, codec: Codec) -> Arc<Mutex<FrameCounter>> {
    let counter = Arc::new(Mutex::new(FrameCounter::new(codec)));
    let c = counter.clone();
    tokio::spawn(async move {
        while let Ok(p) = remote.read_rtp().await {
            if let Ok(mut c) = c.lock() {
                c.push(p.header.marker, p.header.timestamp, &p.payload);
            }
        }
    });
    counter
}

fn packets(c: &Mutex<FrameCounter>) -> u64 {
    c.lock().map(|c| c.packets()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_annexb_arrives_with_keyframes() {
    let track = LocalTrack::new(Codec::H264, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("testsrc.h264"), track, FileOptions::default())
        .await
        .expect("source");
    assert_eq!(source.frames_per_pass(), 60);
    let remote = pair.remote_track().await;
    assert_eq!(remote.codec(), Some(Codec::H264));
    let counter = count(remote, Codec::H264);
    let sent = within("playback", source.finished()).await.expect("played");
    assert_eq!(sent.frames, 60);
    eventually(|| packets(&counter) >= sent.packets, DRAIN).await;
    let c = counter.lock().expect("counter").clone();
    assert!(c.frames() * 10 >= 60 * 9, "{c:?}");
    assert!(c.keyframes() >= 1, "{c:?}");
    assert!(c.packets() * 10 >= sent.packets * 9, "{c:?} of {sent:?}");
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_arrives_in_20ms_packets() {
    let track = LocalTrack::new(Codec::Pcmu, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(fixture("sine.ulaw"), track, FileOptions::default())
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    // PCMU's static payload type; RemoteTrack fills in the codec webrtc 0.17.2 leaves empty
    // for payload type 0.
    assert_eq!(remote.payload_type(), 0);
    assert_eq!(remote.codec(), Some(Codec::Pcmu));
    assert_eq!(remote.clock_rate(), 8_000);
    assert!(remote
        .gstreamer_caps()
        .contains("encoding-name=PCMU,payload=0,clock-rate=8000"));
    let counter = count(remote, Codec::Pcmu);
    let sent = within("playback", source.finished()).await.expect("played");
    assert_eq!((sent.frames, sent.packets, sent.bytes), (100, 100, 16_000));
    eventually(|| packets(&counter) >= 100, DRAIN).await;
    let c = counter.lock().expect("counter").clone();
    assert!(c.packets() >= 90, "{c:?}");
    assert_eq!(c.bytes(), c.packets() * 160);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looped_playback_keeps_timestamps_continuous() {
    // The first ten frames of the VP8 fixture, looped.
    let data = std::fs::read(fixture("testsrc-vp8.ivf")).expect("fixture");
    let mut reader = peer_media::source::ivf::IvfReader::new(&data).expect("ivf");
    for _ in 0..10 {
        reader.next_frame().expect("frame").expect("frame");
    }
    let ten = data[..reader.position()].to_vec();
    let track = LocalTrack::new(Codec::Vp8, "stream");
    let mut pair = connect(&track).await;
    let options = FileOptions {
        looped: true,
        ..Default::default()
    };
    let source = FileSource::start_bytes(ten, track, options).expect("source");
    assert_eq!(source.frames_per_pass(), 10);
    let remote = pair.remote_track().await;
    let out = temp_path("looped.ivf");
    let sink = FileSink::start(remote, &out).await.expect("sink");
    assert!(eventually(|| source.stats().loops >= 3, Duration::from_secs(10)).await);
    source.stop();
    let sent = within("playback", source.finished()).await.expect("played");
    assert!(sent.frames >= 30);
    eventually(|| sink.stats().packets >= sent.packets, DRAIN).await;
    sink.stop();
    within("recording", sink.finished())
        .await
        .expect("recorded");
    let ivf = read_ivf(&out);
    assert!(ivf.frames >= 25, "{} frames", ivf.frames);
    // Across the restarts, the timestamps go on at 3000 ticks per frame.
    assert!(ivf
        .pts
        .windows(2)
        .all(|w| w[1] > w[0] && (w[1] - w[0]) % 3000 == 0));
    let steps = ivf.pts.windows(2).filter(|w| w[1] - w[0] == 3000).count();
    assert!(steps * 10 >= (ivf.frames - 1) * 9);
    // Each pass starts with the keyframe.
    assert!(ivf.keyframes >= 3);
    let _ = std::fs::remove_file(&out);
    pair.close().await;
}

#[tokio::test]
async fn the_file_must_match_the_codec() {
    let vp8 = LocalTrack::new(Codec::Vp8, "s");
    let e = FileSource::start(
        fixture("testsrc-vp9.ivf"),
        vp8.clone(),
        FileOptions::default(),
    )
    .await
    .expect_err("VP9 file on a VP8 track");
    match e {
        MediaError::InvalidFormat(m) => assert!(m.contains("VP90") && m.contains("VP8"), "{m}"),
        other => panic!("{other:?}"),
    }
    let h264 = LocalTrack::new(Codec::H264, "s");
    assert!(
        FileSource::start(fixture("testsrc-vp8.ivf"), h264, FileOptions::default())
            .await
            .is_err()
    );
    let opus = LocalTrack::new(Codec::Opus, "s");
    assert!(
        FileSource::start(fixture("testsrc.h264"), opus, FileOptions::default())
            .await
            .is_err()
    );
    let e = FileSource::start(fixture("missing.ivf"), vp8, FileOptions::default())
        .await
        .expect_err("missing file");
    assert!(matches!(e, MediaError::Io(_)), "{e:?}");
}

#[tokio::test]
async fn truncated_files_play_their_complete_part() {
    let data = std::fs::read(fixture("testsrc-vp8.ivf")).expect("fixture");
    let mut reader = peer_media::source::ivf::IvfReader::new(&data).expect("ivf");
    for _ in 0..3 {
        reader.next_frame().expect("frame").expect("frame");
    }
    // Three frames and half of the fourth.
    let cut = reader.position() + 100;
    let path = temp_path("truncated.ivf");
    std::fs::write(&path, &data[..cut]).expect("write");
    let track = LocalTrack::new(Codec::Vp8, "s");
    let source = FileSource::start(&path, track, FileOptions::default())
        .await
        .expect("plays the complete frames");
    let stats = within("playback", source.finished()).await.expect("played");
    assert_eq!(stats.frames, 3);
    assert_eq!(stats.skipped, 1);
    // Header only, and a header cut short: errors.
    for len in [32, 20, 0] {
        std::fs::write(&path, &data[..len]).expect("write");
        let track = LocalTrack::new(Codec::Vp8, "s");
        let e = FileSource::start(&path, track, FileOptions::default())
            .await
            .expect_err("no frames");
        assert!(matches!(e, MediaError::InvalidFormat(_)), "{e:?}");
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn damaged_and_random_files_never_panic() {
    let path = temp_path("random.bin");
    let fixtures = [
        ("testsrc-vp8.ivf", Codec::Vp8),
        ("testsrc-vp9.ivf", Codec::Vp9),
        ("testsrc.h264", Codec::H264),
        ("sine.ogg", Codec::Opus),
        ("sine.ulaw", Codec::Pcmu),
    ];
    let mut rng = peer_testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut rand = move || rng.next();
    for (name, codec) in fixtures {
        let original = std::fs::read(fixture(name)).expect("fixture");
        for round in 0..12 {
            let data: Vec<u8> = match round % 4 {
                // Random bytes.
                0 => (0..(rand() % 3000)).map(|_| rand() as u8).collect(),
                // Truncated anywhere.
                1 => original[..(rand() as usize % original.len())].to_vec(),
                // Bytes flipped here and there.
                2 => {
                    let mut d = original.clone();
                    for _ in 0..20 {
                        let i = rand() as usize % d.len();
                        d[i] = rand() as u8;
                    }
                    d
                }
                // A valid start followed by garbage.
                _ => {
                    let mut d = original[..original.len().min(200)].to_vec();
                    d.extend((0..2000).map(|_| rand() as u8));
                    d
                }
            };
            std::fs::write(&path, &data).expect("write");
            let track = LocalTrack::new(codec, "s");
            match FileSource::start(&path, track, FileOptions::default()).await {
                Ok(source) => {
                    source.stop();
                    within("stop", source.finished()).await.expect("stopped");
                }
                Err(e) => assert!(
                    matches!(e, MediaError::InvalidFormat(_)),
                    "{name} round {round}: {e:?}"
                ),
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn dropping_the_source_stops_it() {
    let track = LocalTrack::new(Codec::Opus, "s");
    let options = FileOptions {
        looped: true,
        ..Default::default()
    };
    let source = FileSource::start(fixture("sine.ogg"), track.clone(), options)
        .await
        .expect("source");
    assert!(eventually(|| track.packets_written() >= 3, Duration::from_secs(5)).await);
    drop(source);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = track.packets_written();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(track.packets_written(), after);
}
