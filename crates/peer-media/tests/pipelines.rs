//! Checks against real GStreamer and ffmpeg pipelines, ignored by default (CI has neither).
//! Run them with
//!
//! ```text
//! cargo test -p peer-media --test pipelines -- --ignored --nocapture --test-threads=1
//! ```
//!
//! A pipeline sends RTP with payload type 100 into an `RtpUdpSource`; the track goes over a
//! loopback `webrtc` connection; on the far side a `UdpSink` forwards it to a second pipeline,
//! started from `UdpSink::caps()` (GStreamer) or `UdpSink::sdp()` (ffmpeg), which decodes it.
//! Each test prints the exact commands it ran.

mod common;

use common::{connect, temp_path, within};
use peer_media::source::RtpUdpSource;
use peer_media::{Codec, LocalTrack, UdpSink};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free UDP port on loopback whose successor is free too (ffmpeg's RTP input binds both).
fn free_port_pair() -> u16 {
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = s.local_addr().expect("addr").port();
        if p.is_multiple_of(2)
            && p < u16::MAX
            && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

fn spawn(program: &str, args: &[String]) -> Child {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains('(') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect();
    eprintln!("$ {program} {}", shown.join(" "));
    Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Waits for `child` to exit (blocking, off the runtime) and collects its output.
async fn wait(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().expect("output"))
        .await
        .expect("join")
}

/// Splits a pipeline description into arguments (no quoting needed here).
fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// How the far-side pipeline receives what the `UdpSink` sends.
enum Receiver {
    /// `gst-launch-1.0 udpsrc address=127.0.0.1 port=.. caps=<caps()> ! <tail>`; `{out}` in the
    /// tail is a file whose size is the output.
    Gst(&'static str),
    /// `ffmpeg -i <sdp() file> -f framemd5 -`: the output is the number of decoded frames.
    Ffmpeg,
}

/// Sends with `program sender` (`{port}` replaced by the source's port), receives with
/// `receiver`; returns the output measure (bytes or frames).
async fn relay(codec: Codec, program: &str, sender: &str, receiver: Receiver) -> u64 {
    let track = LocalTrack::new(codec, "stream");
    let mut pair = connect(&track).await;
    let source = RtpUdpSource::bind("127.0.0.1:0".parse().expect("addr"), track.clone())
        .await
        .expect("bind");
    let in_port = source.local_addr().port().to_string();
    let sender = spawn(program, &args(&sender.replace("{port}", &in_port)));

    let remote = pair.remote_track().await;
    let out_port = free_port_pair();
    let to: SocketAddr = ([127, 0, 0, 1], out_port).into();
    let out = temp_path("decoded");
    let sdp_path = temp_path("track.sdp");
    let receiver_process = match receiver {
        Receiver::Gst(tail) => {
            let mut a = args(&format!("-q udpsrc address=127.0.0.1 port={out_port}"));
            a.push(format!("caps={}", remote.gstreamer_caps()));
            a.extend(args(&tail.replace("{out}", &out.display().to_string())));
            spawn("gst-launch-1.0", &a)
        }
        Receiver::Ffmpeg => {
            std::fs::write(&sdp_path, remote.sdp_description(to)).expect("sdp");
            spawn(
                "ffmpeg",
                &args(&format!(
                    "-hide_banner -nostats -protocol_whitelist file,udp,rtp -i {} -f framemd5 -",
                    sdp_path.display()
                )),
            )
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sink = UdpSink::start(remote.clone(), to).await.expect("sink");
    assert_eq!(sink.caps(), remote.gstreamer_caps());
    eprintln!("UdpSink::caps(): {}", sink.caps());
    eprintln!("UdpSink::sdp():\n{}", sink.sdp().trim_end());

    let sent = within("sender", wait(sender)).await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut receiver_process = receiver_process;
    let _ = receiver_process.kill();
    let output = wait(receiver_process).await;
    let measure = if out.exists() {
        std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0)
    } else {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count() as u64
    };
    eprintln!(
        "source {:?}\nsink {:?}\noutput {measure}\n{}",
        source.stats(),
        sink.stats(),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&sdp_path);
    assert!(source.stats().packets > 0);
    assert_eq!(source.stats().malformed, 0);
    assert_ne!(sink.payload_type(), 100);
    pair.close().await;
    measure
}

const I420_320X240: u64 = 320 * 240 * 3 / 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gst-launch-1.0"]
async fn gstreamer_vp8() {
    let bytes = relay(
        Codec::Vp8,
        "gst-launch-1.0",
        "-q videotestsrc is-live=true num-buffers=120 \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! vp8enc deadline=1 keyframe-max-dist=30 \
         ! rtpvp8pay pt=100 mtu=1200 ! udpsink host=127.0.0.1 port={port}",
        Receiver::Gst(
            "! rtpjitterbuffer ! rtpvp8depay ! vp8dec ! videoconvert ! video/x-raw,format=I420 \
             ! filesink location={out} buffer-mode=unbuffered",
        ),
    )
    .await;
    assert!(
        bytes / I420_320X240 >= 60,
        "{} frames",
        bytes / I420_320X240
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gst-launch-1.0"]
async fn gstreamer_vp9() {
    let bytes = relay(
        Codec::Vp9,
        "gst-launch-1.0",
        "-q videotestsrc is-live=true num-buffers=120 \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! vp9enc deadline=1 cpu-used=8 keyframe-max-dist=30 \
         ! rtpvp9pay pt=100 mtu=1200 ! udpsink host=127.0.0.1 port={port}",
        Receiver::Gst(
            "! rtpjitterbuffer ! rtpvp9depay ! vp9dec ! videoconvert ! video/x-raw,format=I420 \
             ! filesink location={out} buffer-mode=unbuffered",
        ),
    )
    .await;
    assert!(
        bytes / I420_320X240 >= 60,
        "{} frames",
        bytes / I420_320X240
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gst-launch-1.0 and ffmpeg"]
async fn gstreamer_h264_to_ffmpeg() {
    let frames = relay(
        Codec::H264,
        "gst-launch-1.0",
        "-q videotestsrc is-live=true num-buffers=120 \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
         ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=100 mtu=1200 config-interval=-1 ! udpsink host=127.0.0.1 port={port}",
        Receiver::Ffmpeg,
    )
    .await;
    assert!(frames >= 60, "{frames} frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gst-launch-1.0"]
async fn gstreamer_opus() {
    let bytes = relay(
        Codec::Opus,
        "gst-launch-1.0",
        "-q audiotestsrc is-live=true num-buffers=200 ! audio/x-raw,rate=48000,channels=2 \
         ! opusenc ! rtpopuspay pt=100 ! udpsink host=127.0.0.1 port={port}",
        Receiver::Gst(
            "! rtpjitterbuffer ! rtpopusdepay ! opusdec ! audioconvert \
             ! audio/x-raw,format=S16LE,rate=48000,channels=2 \
             ! filesink location={out} buffer-mode=unbuffered",
        ),
    )
    .await;
    // 200 buffers of 1024 samples: 4.3 s; 2 s of S16 stereo is 384 000 bytes.
    assert!(bytes >= 384_000, "{bytes} bytes of audio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffmpeg_vp8() {
    let frames = relay(
        Codec::Vp8,
        "ffmpeg",
        "-hide_banner -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=30 -t 4 \
         -c:v libvpx -deadline realtime -cpu-used 8 -g 30 -b:v 500k \
         -payload_type 100 -f rtp rtp://127.0.0.1:{port}?pkt_size=1200&rtcpport={port}",
        Receiver::Ffmpeg,
    )
    .await;
    assert!(frames >= 60, "{frames} frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffmpeg_opus() {
    let frames = relay(
        Codec::Opus,
        "ffmpeg",
        "-hide_banner -loglevel error -re -f lavfi -i sine=frequency=440:sample_rate=48000 -t 4 \
         -c:a libopus -ac 2 -b:a 64k -payload_type 100 -f rtp rtp://127.0.0.1:{port}",
        Receiver::Ffmpeg,
    )
    .await;
    // 20 ms packets: 100 in 2 s.
    assert!(frames >= 100, "{frames} frames");
}

/// Records a fixture played over the connection with a `FileSink` and returns what ffprobe
/// reads from the recording: (decoded frames, the last packet's pts in seconds).
async fn record_and_probe(codec: Codec, fixture: &str, ext: &str) -> (u64, f64) {
    use peer_media::source::{FileOptions, FileSource};
    use peer_media::FileSink;
    let track = LocalTrack::new(codec, "stream");
    let mut pair = connect(&track).await;
    let source = FileSource::start(common::fixture(fixture), track, FileOptions::default())
        .await
        .expect("source");
    let remote = pair.remote_track().await;
    let path = temp_path(&format!("recording.{ext}"));
    let sink = FileSink::start(remote, &path).await.expect("sink");
    let sent = within("playback", source.finished()).await.expect("played");
    common::eventually(
        || sink.stats().packets >= sent.packets,
        Duration::from_secs(3),
    )
    .await;
    sink.stop();
    let stats = within("recording", sink.finished())
        .await
        .expect("recorded");
    let probe = |what: &str| {
        spawn(
            "ffprobe",
            &args(&format!(
                "-v error {what} -of default=noprint_wrappers=1 {}",
                path.display()
            )),
        )
    };
    let frames = wait(probe(
        "-count_frames -show_entries stream=codec_name,nb_read_frames",
    ))
    .await;
    let frames = String::from_utf8_lossy(&frames.stdout).into_owned();
    let packets = wait(probe("-show_entries packet=pts_time")).await;
    let packets = String::from_utf8_lossy(&packets.stdout).into_owned();
    let last_pts = packets
        .lines()
        .filter_map(|l| l.strip_prefix("pts_time=")?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    eprintln!("{stats:?}\n{frames}last pts {last_pts}");
    let frames = frames
        .lines()
        .find_map(|l| l.strip_prefix("nb_read_frames=")?.parse().ok())
        .unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    pair.close().await;
    (frames, last_pts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffprobe"]
async fn recordings_decode_in_ffprobe() {
    for (codec, fixture, ext, min_frames) in [
        (Codec::Vp8, "testsrc-vp8.ivf", "ivf", 54),
        (Codec::Vp9, "testsrc-vp9.ivf", "ivf", 54),
        (Codec::Opus, "sine.ogg", "ogg", 90),
    ] {
        let (frames, last_pts) = record_and_probe(codec, fixture, ext).await;
        assert!(frames >= min_frames, "{codec}: {frames} frames decoded");
        // The sender's timing is kept: the last frame is about 2 s in.
        assert!(
            (1.5..2.5).contains(&last_pts),
            "{codec}: last pts {last_pts} s"
        );
    }
}
