//! `peer-cli call` and `peer-cli answer`: two real `peer-cli` processes and the real
//! peer-server, with media over real WebRTC on loopback: a VP8 file recorded on the far side,
//! and RTP sent into one side's UDP port coming out of the other side's.

mod common;

use common::*;
use peer::media::sink::vpx::frame_info;
use peer::media::source::ivf::IvfReader;
use peer::Codec;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Polls `f` until it holds; panics after [`WAIT`].
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What an IVF file holds.
#[derive(Debug, Default)]
struct Ivf {
    fourcc: [u8; 4],
    width: u16,
    height: u16,
    header_frames: u32,
    frames: usize,
    keyframes: usize,
    first_is_keyframe: bool,
}

/// Reads the complete frames of an IVF file (a file being written may end in a partial frame,
/// or have no header yet).
fn read_ivf(path: &Path) -> Option<Ivf> {
    let data = std::fs::read(path).ok()?;
    let mut reader = IvfReader::new(&data).ok()?;
    let h = *reader.header();
    let mut ivf = Ivf {
        fourcc: h.fourcc,
        width: h.width,
        height: h.height,
        header_frames: h.frame_count,
        ..Ivf::default()
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let key = frame_info(Codec::Vp8, frame.data).is_some_and(|i| i.keyframe);
        if ivf.frames == 0 {
            ivf.first_is_keyframe = key;
        }
        ivf.frames += 1;
        ivf.keyframes += usize::from(key);
    }
    Some(ivf)
}

#[test]
fn answer_records_the_vp8_file_the_caller_sends() {
    let server = TestServer::start();
    let bob = unique("bob");
    let dir = temp_dir("peer-cli-media");
    let out = dir.join("from-caller.ivf");
    let out_arg = out.to_str().expect("utf-8 temp path");
    let video = fixture("testsrc-vp8.ivf");

    let answer = server.cli(&["answer", "--id", &bob, "--record-video", out_arg]);
    answer.wait_for(Stream::Err, "listening as");
    let mut call = server.cli(&[
        "call",
        &bob,
        "--video-file",
        video.to_str().expect("utf-8 fixture path"),
        "--loop",
        "--metadata",
        r#"{"purpose":"test"}"#,
    ]);
    let sending = call.wait_for(Stream::Out, "sending video from file");
    assert!(
        sending.contains("(VP8, 60 frames of 2.00 s, looped)"),
        "{sending}"
    );
    call.wait_for(Stream::Err, &format!("call with \"{bob}\" open"));
    answer.wait_for(Stream::Err, "metadata: {\"purpose\":\"test\"}");
    let track = answer.wait_for(Stream::Out, "video ");
    assert!(track.starts_with("video VP8 pt="), "{track}");
    assert!(track.ends_with(&format!(" -> file {out_arg}")), "{track}");

    // Frames reach the disk while the call goes on (the writer buffers a little).
    wait_until("25 frames recorded", || {
        read_ivf(&out).is_some_and(|i| i.frames >= 25)
    });

    // The end of the caller's stdin closes the call; the answering side sees it and exits too,
    // after finalizing the file.
    call.close_stdin();
    let called = call.finish();
    assert_eq!(called.code, 0, "{called:?}");
    assert!(
        called
            .stderr
            .contains(&format!("end of input; closed the call with \"{bob}\"")),
        "{called:?}"
    );
    assert!(called.stderr.contains("video: sent "), "{called:?}");
    let answered = answer.finish();
    assert_eq!(answered.code, 0, "{answered:?}");
    assert!(answered.stderr.contains("closed the call"), "{answered:?}");
    assert!(answered.stderr.contains("video: recorded "), "{answered:?}");

    let ivf = read_ivf(&out).expect("a complete IVF file");
    assert_eq!(&ivf.fourcc, b"VP80");
    assert_eq!((ivf.width, ivf.height), (320, 240));
    assert!(ivf.frames >= 20, "{ivf:?}");
    // Finalized: the header counts the frames the file holds.
    assert_eq!(ivf.header_frames as usize, ivf.frames, "{ivf:?}");
    assert!(ivf.first_is_keyframe && ivf.keyframes >= 1, "{ivf:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The RTP packets of a VP8 IVF file, as a payloader makes them (RFC 7741, one-byte payload
/// descriptor), with payload type `pt`.
struct Packetizer {
    frames: Vec<Vec<u8>>,
    next_frame: usize,
    seq: u16,
    timestamp: u32,
    pt: u8,
}

/// The largest VP8 payload per packet.
const MAX_PAYLOAD: usize = 1000;
const SSRC: u32 = 0x5eed_1234;

impl Packetizer {
    fn new(ivf: &Path, pt: u8) -> Packetizer {
        let data = std::fs::read(ivf).expect("read the fixture");
        let mut reader = IvfReader::new(&data).expect("fixture header");
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame().expect("fixture frame") {
            frames.push(f.data.to_vec());
        }
        Packetizer {
            frames,
            next_frame: 0,
            seq: 1000,
            timestamp: 90_000,
            pt,
        }
    }

    /// The packets of the next frame (the file loops): (sequence number, timestamp, datagram).
    fn next_frame(&mut self) -> Vec<(u16, u32, Vec<u8>)> {
        let frame = &self.frames[self.next_frame % self.frames.len()];
        self.next_frame += 1;
        let chunks: Vec<&[u8]> = frame.chunks(MAX_PAYLOAD).collect();
        let last = chunks.len() - 1;
        let mut out = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut p = Vec::with_capacity(13 + chunk.len());
            p.push(0x80);
            p.push(if i == last { 0x80 | self.pt } else { self.pt });
            p.extend_from_slice(&self.seq.to_be_bytes());
            p.extend_from_slice(&self.timestamp.to_be_bytes());
            p.extend_from_slice(&SSRC.to_be_bytes());
            // VP8 payload descriptor: S (start of partition) on the first packet.
            p.push(if i == 0 { 0x10 } else { 0x00 });
            p.extend_from_slice(chunk);
            out.push((self.seq, self.timestamp, p));
            self.seq = self.seq.wrapping_add(1);
        }
        self.timestamp = self.timestamp.wrapping_add(3000);
        out
    }
}

/// The packets sent, by sequence number: (timestamp, payload).
type Sent = HashMap<u16, (u32, Vec<u8>)>;

/// A received RTP packet's header fields and payload.
#[derive(Debug)]
struct Rtp {
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

/// Parses an RTP datagram (CSRCs, header extension and padding skipped).
fn parse_rtp(d: &[u8]) -> Option<Rtp> {
    if d.len() < 12 || d[0] >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(d[0] & 0x0f);
    let mut at = 12 + 4 * csrcs;
    if d[0] & 0x10 != 0 {
        let words = usize::from(u16::from_be_bytes([*d.get(at + 2)?, *d.get(at + 3)?]));
        at += 4 + 4 * words;
    }
    let mut end = d.len();
    if d[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*d.last()?))?;
    }
    Some(Rtp {
        pt: d[1] & 0x7f,
        seq: u16::from_be_bytes([d[2], d[3]]),
        timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        payload: d.get(at..end)?.to_vec(),
    })
}

/// The value of `key=` in a line (up to the next space or comma).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    Some(rest.split([' ', ',', '"']).next().unwrap_or(rest))
}

#[test]
fn rtp_into_the_caller_comes_out_of_the_answerers_udp_port() {
    let server = TestServer::start();
    let bob = unique("bob");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind the receiving socket");
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let to = receiver.local_addr().expect("receiver address").to_string();

    let mut answer = server.cli(&["answer", "--id", &bob, "--video-out", &to]);
    answer.wait_for(Stream::Err, "listening as");
    let call = server.cli(&["call", &bob, "--video-rtp", "127.0.0.1:0", "--no-audio"]);
    // The bound port is printed.
    let sending = call.wait_for(Stream::Out, "sending video from udp ");
    let source: SocketAddr = sending
        .split_whitespace()
        .nth(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {sending:?}"));
    assert_ne!(source.port(), 0, "{sending}");
    call.wait_for(Stream::Err, &format!("call with \"{bob}\" open"));

    // Send RTP with payload type 100 (as ffmpeg would) until stopped; remember each packet.
    let sent: Arc<Mutex<Sent>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, stop) = (sent.clone(), stop.clone());
        let mut packetizer = Packetizer::new(&fixture("testsrc-vp8.ivf"), 100);
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the sending socket");
            while !stop.load(Ordering::Relaxed) {
                for (seq, ts, datagram) in packetizer.next_frame() {
                    sent.lock()
                        .expect("sent map")
                        .insert(seq, (ts, datagram[12..].to_vec()));
                    let _ = socket.send_to(&datagram, source);
                }
                std::thread::sleep(Duration::from_millis(33));
            }
        })
    };

    // The answering side prints the negotiated payload type and forwards the packets with it.
    let track = answer.wait_for(Stream::Out, "video ");
    assert!(track.starts_with("video VP8 pt="), "{track}");
    assert!(track.contains(&format!("-> udp {to} caps=\"")), "{track}");
    let pt: u8 = field(&track, "pt=")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pt= in {track:?}"));
    assert_eq!(field(&track, "payload="), Some(pt.to_string().as_str()));

    let mut buf = [0u8; 2048];
    let mut matched = 0;
    let mut ssrc = None;
    let deadline = Instant::now() + WAIT;
    while matched < 60 {
        assert!(
            Instant::now() < deadline,
            "only {matched} packets arrived within {WAIT:?}"
        );
        let n = match receiver.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(_) => continue, // read timeout: look at the deadline again
        };
        let rtp = parse_rtp(&buf[..n]).unwrap_or_else(|| panic!("not RTP: {:?}", &buf[..n]));
        assert_eq!(rtp.pt, pt, "payload type of {rtp:?}");
        assert_eq!(*ssrc.get_or_insert(rtp.ssrc), rtp.ssrc, "one SSRC");
        // Sequence numbers, timestamps and payloads pass through.
        let sent = sent.lock().expect("sent map");
        let Some((ts, payload)) = sent.get(&rtp.seq) else {
            panic!("packet {} was never sent: {rtp:?}", rtp.seq);
        };
        assert_eq!(rtp.timestamp, *ts, "timestamp of packet {}", rtp.seq);
        assert!(
            rtp.payload == *payload,
            "payload of packet {} differs",
            rtp.seq
        );
        matched += 1;
    }
    assert_ne!(ssrc, Some(SSRC), "the SSRC is the connection's own");

    // Ending the answering side (its stdin) closes the call for both.
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    answer.close_stdin();
    let answered = answer.finish();
    assert_eq!(answered.code, 0, "{answered:?}");
    assert!(
        answered.stderr.contains("video: forwarded "),
        "{answered:?}"
    );
    call.wait_for(Stream::Err, "closed the call");
    let called = call.finish();
    assert_eq!(called.code, 0, "{called:?}");
    assert!(called.stderr.contains("video: sent "), "{called:?}");
}

#[test]
fn calling_an_unknown_peer_is_peer_unavailable() {
    let server = TestServer::start();
    let call = server.cli(&["call", "nobody-is-here"]);
    // stdin stays open until the error (its end would cancel the call).
    call.wait_for(Stream::Err, "error: ");
    let called = call.finish();
    assert_eq!(called.code, 1, "{called:?}");
    assert!(
        called
            .stderr
            .contains("error: peer-unavailable: peer \"nobody-is-here\" is not available"),
        "{called:?}"
    );
}

#[test]
fn bad_media_inputs_fail_before_calling() {
    let server = TestServer::start();
    let missing = std::env::temp_dir().join(unique("no-such-file.ivf"));
    let r = server
        .cli(&["call", "anyone", "--video-file", missing.to_str().unwrap()])
        .finish();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("error: cannot read {}", missing.display())),
        "{r:?}"
    );
    assert!(!r.stderr.contains("calling"), "{r:?}");

    // A VP9 file on a VP8 track.
    let vp9 = fixture("testsrc-vp9.ivf");
    let r = server
        .cli(&[
            "call",
            "anyone",
            "--video-file",
            vp9.to_str().unwrap(),
            "--video-codec",
            "vp8",
        ])
        .finish();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("as VP8"), "{r:?}");
    assert!(r.stderr.contains("VP90"), "{r:?}");

    // A port that is taken.
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let r = server.cli(&["answer", "--video-rtp", &addr]).finish();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("error: cannot receive the video RTP on {addr}")),
        "{r:?}"
    );
}

#[test]
fn media_usage_errors_exit_2() {
    for bad in [
        &["call"][..],
        &["call", "bob", "--video-codec", "AV1", "--video-rtp", "5004"],
        &[
            "call",
            "bob",
            "--video-codec",
            "opus",
            "--video-rtp",
            "5004",
        ],
        &["call", "bob", "--video-rtp", "nowhere"],
        &["call", "bob", "--video-out", "127.0.0.1:0"],
        &["call", "bob", "--audio-out", "300.1.1.1:5"],
        &["call", "bob", "--video-bandwidth", "fast"],
        &["call", "bob", "--metadata", "{not json"],
        &["call", "bob", "--no-video", "--no-audio"],
        &["answer", "--no-video"],
        &["answer", "--metadata", "{}"],
        &["answer", "--loop"],
        &["receive", "--video-out", "6004"],
    ] {
        let r = run(bad);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
        assert!(r.stderr.starts_with("error: "), "{bad:?}: {r:?}");
        assert!(r.stderr.contains("usage: peer-cli"), "{bad:?}: {r:?}");
    }
    for sub in ["call", "answer"] {
        let h = run(&[sub, "--help"]);
        assert_eq!(h.code, 0, "{h:?}");
        assert!(
            h.stdout.contains(&format!("usage: peer-cli {sub}")),
            "{h:?}"
        );
        assert!(
            h.stdout.contains("gst-launch-1.0 udpsrc port=6004"),
            "{h:?}"
        );
        assert!(h.stdout.contains("--record-video"), "{h:?}");
    }
}
