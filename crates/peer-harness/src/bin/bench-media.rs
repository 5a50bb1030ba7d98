//! The processes of `cargo xtask bench media`: what one Rust peer costs per forwarded video
//! stream, and how many RTP packets per second it carries, beside a bare `webrtc` 0.17.2 pair.
//!
//! ```text
//! cargo build --release -p peer-server -p peer-harness --bin peer-server --bin bench-media
//! target/release/bench-media sink      --port PORT --key KEY --id SINK
//! target/release/bench-media forwarder --port PORT --key KEY --id FWD --sink SINK --streams N
//! target/release/bench-media bare      --streams N
//! target/release/bench-media gen       --ports P1,P2,... [--payload 1100] [--fps 30]
//! ```
//!
//! Each role runs in its own process so that the forwarding peer's CPU time can be read alone
//! from `/proc/<pid>/stat`:
//!
//! - `sink`: a [`Peer`] that answers every call receive-only (`answer(None, ..)`) and reads
//!   every remote track (`read_rtp`), counting packets, payload bytes, frames and the packets
//!   expected from the RTP sequence numbers (so loss is measured where the media ends).
//! - `forwarder`: a [`Peer`] that calls the sink `--streams` times, each call sending one VP8
//!   [`LocalTrack`](peer::LocalTrack) fed by an [`RtpUdpSource`] bound on `127.0.0.1:0`: RTP in
//!   over UDP as from a GStreamer pipeline, out over WebRTC (SRTP) to the sink. This is the
//!   "forwarded stream" whose cost is measured.
//! - `bare`: the dependency's own ceiling, the same path without this library: per stream two
//!   `RTCPeerConnection`s of `webrtc` 0.17.2 in this process (SDP with all candidates handed
//!   over directly), a `TrackLocalStaticRTP` fed from a UDP socket on one side and the
//!   `TrackRemote` read on the other, with a loopback-only `SettingEngine` as
//!   `peer-connection`'s `config.rs` builds it, the default `MediaEngine` codecs and the default
//!   interceptors. The sending side runs on one tokio runtime (threads named `bare-tx`), the
//!   receiving side on another (`bare-rx`), so that the harness can read each side's CPU time
//!   from `/proc/<pid>/task/*/stat`.
//! - `gen`: the RTP generator: VP8-like packets (valid RTP version 2 headers, payload type 96,
//!   `--payload` bytes of payload starting with a VP8 payload descriptor, a keyframe every 2 s,
//!   the marker bit on the last packet of each frame) to each port of `--ports`, one stream per
//!   port. `burst` pacing sends each frame's packets back to back at `--fps` frames per second,
//!   as an encoder and `rtpvp8pay ! udpsink` do; `smooth` pacing spreads the packets evenly (in
//!   batches of at most 1 ms), for the capacity ramp.
//!
//! Control: every role prints one JSON object on a line of stdout when it is ready, then reads
//! commands on stdin, one per line, and answers each with one JSON line:
//!
//! - `stats`: counters so far (`streams` on receiving sides, `sources` on forwarding sides,
//!   `sent` for the generator);
//! - `rate PPS burst|smooth` (generator): PPS packets per second per stream from now on (0 stops);
//! - `quit`, or the end of stdin: exit.
//!
//! Diagnostics go to stderr.

use anyhow::{bail, Context, Result};
use peer::media::source::RtpUdpSource;
use peer::media::FrameCounter;
use peer::{
    AnswerOptions, CallOptions, Codec, MediaConnection, MediaConnectionEvent, MediaStream, Peer,
    PeerEvent,
};
use peer_harness::{commands, reply};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_VP8};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp::packet::Packet;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::TrackLocalWriter;
use webrtc::util::Unmarshal;

const USAGE: &str = "usage: bench_media sink|forwarder|bare|gen [--port P] [--key K] [--id ID] \
[--sink ID] [--streams N] [--ports P1,P2,...] [--payload BYTES] [--fps N]";

/// Longest wait for a call, a connection or a peer to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// RTP payload type the generator writes (the forwarding stack replaces it).
const GEN_PAYLOAD_TYPE: u8 = 96;
/// The VP8 RTP clock.
const VIDEO_CLOCK: f64 = 90_000.0;
/// A keyframe every this many frames.
const KEYFRAME_EVERY: u64 = 60;
/// The generator's shortest sleep in `smooth` pacing: packets due within it go out together.
const SMOOTH_TICK: Duration = Duration::from_millis(1);

/// Command-line options of every role.
#[derive(Debug, Clone)]
struct Opts {
    port: u16,
    key: String,
    id: String,
    sink: String,
    streams: usize,
    ports: Vec<u16>,
    payload: usize,
    fps: f64,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts> {
        let mut o = Opts {
            port: 9000,
            key: String::new(),
            id: format!("bench-media-{}", std::process::id()),
            sink: String::new(),
            streams: 1,
            ports: Vec::new(),
            payload: 1100,
            fps: 30.0,
        };
        let mut it = args;
        while let Some(flag) = it.next() {
            let mut val = || {
                it.next()
                    .with_context(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag.as_str() {
                "--port" => o.port = val()?.parse()?,
                "--key" => o.key = val()?,
                "--id" => o.id = val()?,
                "--sink" => o.sink = val()?,
                "--streams" => o.streams = val()?.parse()?,
                "--ports" => {
                    o.ports = val()?
                        .split(',')
                        .map(|p| p.trim().parse::<u16>())
                        .collect::<Result<_, _>>()?
                }
                "--payload" => o.payload = val()?.parse()?,
                "--fps" => o.fps = val()?.parse()?,
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if o.streams == 0 || o.streams > 1000 {
            bail!("--streams must be in 1..=1000");
        }
        if !(16..=1400).contains(&o.payload) || !(1.0..=120.0).contains(&o.fps) {
            bail!("--payload must be in 16..=1400 and --fps in 1..=120");
        }
        Ok(o)
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let role = args.next().context(USAGE)?;
    let o = Opts::parse(args)?;
    let result = match role.as_str() {
        "sink" => runtime("sink")?.block_on(sink(o)),
        "forwarder" => runtime("forwarder")?.block_on(forwarder(o)),
        "bare" => bare(o),
        "gen" => generator(o),
        other => bail!("unknown role {other:?}\n{USAGE}"),
    };
    if let Err(e) = &result {
        eprintln!("bench_media {role}: {e:#}");
    }
    // Exit without waiting for the runtimes' remaining tasks (closing peer connections).
    std::process::exit(i32::from(result.is_err()));
}

/// A multi-threaded runtime with two workers (this machine's and a small server's core count)
/// whose threads are named `name`.
fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

// ---------------------------------------------------------------------------------------------
// Receiving: counters shared by the sink and the bare pair's receiving side
// ---------------------------------------------------------------------------------------------

/// What one receiving track counted, readable while it runs.
#[derive(Debug, Default)]
struct RxCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Packets the sender sent from the first received one to the highest received sequence
    /// number (extended over wrap-arounds).
    expected: AtomicU64,
    frames: AtomicU64,
    keyframes: AtomicU64,
}

impl RxCounters {
    fn json(&self, id: &str) -> Value {
        json!({
            "id": id,
            "packets": self.packets.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
            "expected": self.expected.load(Ordering::Relaxed),
            "frames": self.frames.load(Ordering::Relaxed),
            "keyframes": self.keyframes.load(Ordering::Relaxed),
        })
    }
}

/// The receiving state of one track: extended sequence numbers and frames.
struct Receiving {
    counters: Arc<RxCounters>,
    frames: FrameCounter,
    /// Extended sequence number of the first packet and of the highest one so far.
    first: i64,
    highest: i64,
    /// The 16-bit sequence number of `highest`.
    highest_seq: u16,
    started: bool,
}

impl Receiving {
    fn new(counters: Arc<RxCounters>) -> Receiving {
        Receiving {
            counters,
            frames: FrameCounter::new(Codec::Vp8),
            first: 0,
            highest: 0,
            highest_seq: 0,
            started: false,
        }
    }

    fn on_packet(&mut self, p: &Packet) {
        let seq = p.header.sequence_number;
        if !self.started {
            self.started = true;
            self.first = i64::from(seq);
            self.highest = self.first;
            self.highest_seq = seq;
        } else {
            // The distance from the highest so far, as a signed 16-bit step.
            let ext = self.highest + i64::from(seq.wrapping_sub(self.highest_seq) as i16);
            if ext > self.highest {
                self.highest = ext;
                self.highest_seq = seq;
            }
        }
        self.frames
            .push(p.header.marker, p.header.timestamp, &p.payload);
        let c = &self.counters;
        c.packets.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(p.payload.len() as u64, Ordering::Relaxed);
        c.expected
            .store((self.highest - self.first + 1) as u64, Ordering::Relaxed);
        c.frames.store(self.frames.frames(), Ordering::Relaxed);
        c.keyframes
            .store(self.frames.keyframes(), Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// sink and forwarder: this library
// ---------------------------------------------------------------------------------------------

async fn open_peer(o: &Opts) -> Result<Peer> {
    peer_harness::open_peer(o.port, &o.key, &o.id).await
}

type Streams = Arc<Mutex<BTreeMap<String, Arc<RxCounters>>>>;

/// The `sink` role.
async fn sink(o: Opts) -> Result<()> {
    let peer = open_peer(&o).await?;
    let streams: Streams = Arc::default();
    let (p, st) = (peer.clone(), streams.clone());
    tokio::spawn(async move {
        while let Some(ev) = p.next_event().await {
            match ev {
                PeerEvent::Call(call) => {
                    tokio::spawn(receive_call(call, st.clone()));
                }
                PeerEvent::Error(e) => eprintln!("sink: {e}"),
                PeerEvent::Close => break,
                _ => {}
            }
        }
    });
    reply(json!({"ready": true, "id": peer.id(), "pid": std::process::id()}));
    let mut cmds = commands();
    while let Some(cmd) = cmds.recv().await {
        match cmd.as_str() {
            "stats" => {
                let list: Vec<Value> = streams
                    .lock()
                    .map(|s| s.iter().map(|(id, c)| c.json(id)).collect())
                    .unwrap_or_default();
                reply(json!({"streams": list}));
            }
            "quit" => break,
            other => reply(json!({"error": format!("unknown command {other:?}")})),
        }
    }
    peer.destroy().await;
    Ok(())
}

/// Answers a call receive-only and counts what each of its tracks brings.
async fn receive_call(call: MediaConnection, streams: Streams) {
    if let Err(e) = call.answer(None, AnswerOptions::default()).await {
        eprintln!("sink: answering {}: {e}", call.id());
        return;
    }
    while let Some(track) = call.next_track().await {
        let counters = Arc::new(RxCounters::default());
        if let Ok(mut s) = streams.lock() {
            s.insert(track.stream_id(), counters.clone());
        }
        tokio::spawn(async move {
            let mut rx = Receiving::new(counters);
            while let Ok(p) = track.read_rtp().await {
                rx.on_packet(&p);
            }
        });
    }
}

/// The `forwarder` role.
async fn forwarder(o: Opts) -> Result<()> {
    if o.sink.is_empty() {
        bail!("--sink is required");
    }
    let peer = open_peer(&o).await?;
    let p = peer.clone();
    tokio::spawn(async move {
        while let Some(ev) = p.next_event().await {
            match ev {
                PeerEvent::Error(e) => eprintln!("forwarder: {e}"),
                PeerEvent::Close => break,
                _ => {}
            }
        }
    });
    let mut sources = Vec::with_capacity(o.streams);
    let mut calls = Vec::with_capacity(o.streams);
    for i in 0..o.streams {
        let mut stream = MediaStream::with_id(&stream_id(i));
        let track = stream.add_track(Codec::Vp8);
        let source = RtpUdpSource::bind(SocketAddr::from(([127, 0, 0, 1], 0)), track)
            .await
            .context("binding the RTP source")?;
        let call = peer
            .call(&o.sink, Some(&stream), CallOptions::default())
            .await
            .with_context(|| format!("calling {}", o.sink))?;
        let c = call.clone();
        tokio::spawn(async move {
            while let Some(ev) = c.next_event().await {
                match ev {
                    MediaConnectionEvent::Error(e) => eprintln!("forwarder: call {}: {e}", c.id()),
                    MediaConnectionEvent::Close => eprintln!("forwarder: call {} closed", c.id()),
                    _ => {}
                }
            }
        });
        sources.push(source);
        calls.push(call);
    }
    for c in &calls {
        tokio::time::timeout(OPEN_TIMEOUT, c.wait_open())
            .await
            .context("a call did not open in time")?
            .context("a call closed before it opened")?;
    }
    let ports: Vec<u16> = sources.iter().map(|s| s.local_addr().port()).collect();
    reply(json!({"ready": true, "ports": ports, "pid": std::process::id()}));
    let mut cmds = commands();
    while let Some(cmd) = cmds.recv().await {
        match cmd.as_str() {
            "stats" => {
                let list: Vec<Value> = sources
                    .iter()
                    .map(|s| {
                        let st = s.stats();
                        json!({
                            "packets": st.packets,
                            "bytes": st.bytes,
                            "malformed": st.malformed,
                            "write_errors": st.write_errors,
                            "finished": s.is_finished(),
                        })
                    })
                    .collect();
                let open = calls.iter().filter(|c| c.is_open()).count();
                reply(json!({"sources": list, "open_calls": open}));
            }
            "quit" => break,
            other => reply(json!({"error": format!("unknown command {other:?}")})),
        }
    }
    for s in &sources {
        s.stop();
    }
    for c in &calls {
        c.close(true).await;
    }
    peer.destroy().await;
    Ok(())
}

/// The stream id of stream `i` (sorts in order as text).
fn stream_id(i: usize) -> String {
    format!("s{i:03}")
}

// ---------------------------------------------------------------------------------------------
// bare: two webrtc 0.17.2 peer connections per stream, no library
// ---------------------------------------------------------------------------------------------

/// Counters of one bare sending side (as `RtpUdpStats`).
#[derive(Debug, Default)]
struct TxCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    malformed: AtomicU64,
    write_errors: AtomicU64,
}

/// The API object as `peer-connection`'s `RtcContext` builds the media one for
/// `LocalAddresses::LoopbackOnly`: loopback UDP4 candidates, the default codecs and
/// interceptors.
fn bare_api() -> Result<API> {
    let mut s = SettingEngine::default();
    s.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
    s.set_network_types(vec![NetworkType::Udp4]);
    s.set_include_loopback_candidate(true);
    s.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    Ok(APIBuilder::new()
        .with_setting_engine(s)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build())
}

/// Sets `pc`'s local description and waits for ICE gathering to finish, so that the
/// description carries every candidate (no trickle needed between the two sides).
async fn local_with_candidates(
    pc: &RTCPeerConnection,
    desc: RTCSessionDescription,
) -> Result<RTCSessionDescription> {
    let mut done = pc.gathering_complete_promise().await;
    pc.set_local_description(desc).await?;
    let _ = tokio::time::timeout(OPEN_TIMEOUT, done.recv()).await;
    pc.local_description().await.context("no local description")
}

/// The receiving side of one bare stream (runs on the `bare-rx` runtime): answers `offer`
/// receive-only and counts what the remote track brings.
async fn bare_receiver(
    api: Arc<API>,
    offer: RTCSessionDescription,
    counters: Arc<RxCounters>,
) -> Result<(Arc<RTCPeerConnection>, RTCSessionDescription)> {
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    pc.on_track(Box::new(move |track, _receiver, _transceiver| {
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut rx = Receiving::new(counters);
            while let Ok((p, _)) = track.read_rtp().await {
                rx.on_packet(&p);
            }
        });
        Box::pin(async {})
    }));
    pc.set_remote_description(offer).await?;
    let answer = pc.create_answer(None).await?;
    let answer = local_with_candidates(&pc, answer).await?;
    Ok((pc, answer))
}

/// One bare stream: the sending peer connection (on the current, `bare-tx`, runtime) with a
/// VP8 `TrackLocalStaticRTP` fed from a UDP socket, the receiving one on `rx`. Returns the
/// socket's port once the sending side's peer connection is connected.
async fn bare_stream(
    i: usize,
    api_tx: &API,
    api_rx: Arc<API>,
    rx: &tokio::runtime::Handle,
    rx_counters: Arc<RxCounters>,
    tx_counters: Arc<TxCounters>,
    keep: &mut Vec<Arc<RTCPeerConnection>>,
) -> Result<u16> {
    let pc = Arc::new(
        api_tx
            .new_peer_connection(RTCConfiguration::default())
            .await?,
    );
    let (state_tx, mut state_rx) = watch::channel(RTCPeerConnectionState::New);
    pc.on_peer_connection_state_change(Box::new(move |s| {
        let _ = state_tx.send(s);
        Box::pin(async {})
    }));
    let track = Arc::new(TrackLocalStaticRTP::new(
        RTCRtpCodecCapability {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            ..Default::default()
        },
        format!("video-{i}"),
        stream_id(i),
    ));
    let sender = pc.add_track(track.clone()).await?;
    // Read the sender's RTCP so that the interceptors make progress, as every webrtc-rs
    // sender does.
    tokio::spawn(async move { while sender.read_rtcp().await.is_ok() {} });
    let offer = pc.create_offer(None).await?;
    let offer = local_with_candidates(&pc, offer).await?;
    let (remote, answer) = rx
        .spawn(bare_receiver(api_rx, offer, rx_counters))
        .await??;
    pc.set_remote_description(answer).await?;
    tokio::time::timeout(
        OPEN_TIMEOUT,
        state_rx.wait_for(|s| *s == RTCPeerConnectionState::Connected),
    )
    .await
    .context("the bare pair did not connect in time")??;
    let socket = tokio::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = socket.local_addr()?.port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = socket.recv_from(&mut buf).await {
            match Packet::unmarshal(&mut &buf[..n]) {
                Ok(p) => {
                    tx_counters.packets.fetch_add(1, Ordering::Relaxed);
                    tx_counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if track.write_rtp(&p).await.is_err() {
                        tx_counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    tx_counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    keep.push(pc);
    keep.push(remote);
    Ok(port)
}

/// The `bare` role.
fn bare(o: Opts) -> Result<()> {
    let tx = runtime("bare-tx")?;
    let rx = runtime("bare-rx")?;
    let rx_handle = rx.handle().clone();
    let rx_counters: Vec<Arc<RxCounters>> = (0..o.streams).map(|_| Arc::default()).collect();
    let tx_counters: Vec<Arc<TxCounters>> = (0..o.streams).map(|_| Arc::default()).collect();
    tx.block_on(async {
        let api_tx = bare_api()?;
        let api_rx = Arc::new(bare_api()?);
        let mut keep = Vec::new();
        let mut ports = Vec::new();
        for i in 0..o.streams {
            ports.push(
                bare_stream(
                    i,
                    &api_tx,
                    api_rx.clone(),
                    &rx_handle,
                    rx_counters[i].clone(),
                    tx_counters[i].clone(),
                    &mut keep,
                )
                .await
                .with_context(|| format!("bare stream {i}"))?,
            );
        }
        reply(json!({"ready": true, "ports": ports, "pid": std::process::id()}));
        let mut cmds = commands();
        while let Some(cmd) = cmds.recv().await {
            match cmd.as_str() {
                "stats" => {
                    let streams: Vec<Value> = rx_counters
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.packets.load(Ordering::Relaxed) > 0)
                        .map(|(i, c)| c.json(&stream_id(i)))
                        .collect();
                    let sources: Vec<Value> = tx_counters
                        .iter()
                        .map(|c| {
                            json!({
                                "packets": c.packets.load(Ordering::Relaxed),
                                "bytes": c.bytes.load(Ordering::Relaxed),
                                "malformed": c.malformed.load(Ordering::Relaxed),
                                "write_errors": c.write_errors.load(Ordering::Relaxed),
                            })
                        })
                        .collect();
                    reply(json!({"streams": streams, "sources": sources}));
                }
                "quit" => break,
                other => reply(json!({"error": format!("unknown command {other:?}")})),
            }
        }
        anyhow::Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// gen: the RTP generator
// ---------------------------------------------------------------------------------------------

/// How the generator spaces packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// Each frame's packets back to back, `fps` frames per second.
    Burst,
    /// Packets evenly spaced, in batches of at most [`SMOOTH_TICK`].
    Smooth,
}

/// What the generator is told to do.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Packets per second per stream; 0 sends nothing.
    pps: f64,
    pacing: Pacing,
    /// Bumped on every change, so the sender restarts its schedule.
    epoch: u64,
    quit: bool,
}

/// One generated stream.
struct GenStream {
    to: SocketAddr,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    /// Frames started since the stream began (for keyframes).
    frame_count: u64,
    /// Packets sent and frames finished since the last rate change.
    sent_local: u64,
    frame_local: u64,
    /// Where this stream's schedule sits within one period, in [0, 1).
    offset: f64,
    sent: AtomicU64,
    bytes: AtomicU64,
}

/// The generator's counters, shared with the command loop.
struct GenShared {
    rate: Mutex<Rate>,
    streams: Vec<Mutex<GenStream>>,
    errors: AtomicU64,
}

/// The `gen` role.
fn generator(o: Opts) -> Result<()> {
    if o.ports.is_empty() {
        bail!("--ports is required");
    }
    let socket = StdUdpSocket::bind("127.0.0.1:0")?;
    let n = o.ports.len();
    let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let shared = Arc::new(GenShared {
        rate: Mutex::new(Rate {
            pps: 0.0,
            pacing: Pacing::Burst,
            epoch: 0,
            quit: false,
        }),
        streams: o
            .ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let r = seed
                    .wrapping_add(i as u64)
                    .wrapping_mul(0xbf58_476d_1ce4_e5b9);
                Mutex::new(GenStream {
                    to: SocketAddr::from(([127, 0, 0, 1], port)),
                    ssrc: (r >> 32) as u32 | 1,
                    seq: r as u16,
                    timestamp: (r >> 16) as u32,
                    frame_count: 0,
                    sent_local: 0,
                    frame_local: 0,
                    offset: i as f64 / n as f64,
                    sent: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                })
            })
            .collect(),
        errors: AtomicU64::new(0),
    });
    let s = shared.clone();
    let (payload, fps) = (o.payload, o.fps);
    let sender = std::thread::spawn(move || send_loop(&socket, &s, payload, fps));
    reply(json!({"ready": true, "pid": std::process::id()}));
    let mut cmds = commands();
    while let Some(cmd) = cmds.blocking_recv() {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["stats"] => {
                let (mut sent, mut bytes) = (Vec::new(), Vec::new());
                for st in &shared.streams {
                    if let Ok(st) = st.lock() {
                        sent.push(st.sent.load(Ordering::Relaxed));
                        bytes.push(st.bytes.load(Ordering::Relaxed));
                    }
                }
                reply(json!({
                    "sent": sent,
                    "bytes": bytes,
                    "errors": shared.errors.load(Ordering::Relaxed),
                }));
            }
            ["rate", pps, pacing] => {
                let pacing = match *pacing {
                    "burst" => Pacing::Burst,
                    "smooth" => Pacing::Smooth,
                    other => {
                        reply(json!({"error": format!("unknown pacing {other:?}")}));
                        continue;
                    }
                };
                match pps.parse::<f64>() {
                    Ok(pps) if pps.is_finite() && pps >= 0.0 => {
                        if let Ok(mut r) = shared.rate.lock() {
                            r.pps = pps;
                            r.pacing = pacing;
                            r.epoch += 1;
                        }
                        reply(json!({"ok": true, "pps": pps}));
                    }
                    _ => reply(json!({"error": format!("bad rate {pps:?}")})),
                }
            }
            ["quit"] => break,
            _ => reply(json!({"error": format!("unknown command {cmd:?}")})),
        }
    }
    if let Ok(mut r) = shared.rate.lock() {
        r.quit = true;
    }
    let _ = sender.join();
    Ok(())
}

/// Sends every stream's packets on schedule until told to quit.
fn send_loop(socket: &StdUdpSocket, shared: &GenShared, payload: usize, max_fps: f64) {
    let mut buf = vec![0u8; 12 + payload];
    for (i, b) in buf.iter_mut().enumerate().skip(12) {
        *b = (i * 7 + 3) as u8;
    }
    let mut epoch = u64::MAX;
    let mut t0 = Instant::now();
    loop {
        let Ok(rate) = shared.rate.lock().map(|r| *r) else {
            return;
        };
        if rate.quit {
            return;
        }
        if rate.epoch != epoch {
            epoch = rate.epoch;
            t0 = Instant::now();
            for st in &shared.streams {
                if let Ok(mut st) = st.lock() {
                    st.restart(max_fps.min(rate.pps.max(1.0)));
                }
            }
        }
        if rate.pps <= 0.0 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        // At low rates a frame is one packet: never fewer than one packet per frame.
        let fps = max_fps.min(rate.pps);
        let per_frame = rate.pps / fps;
        let elapsed = t0.elapsed().as_secs_f64();
        let mut next = f64::INFINITY;
        for st in &shared.streams {
            let Ok(mut st) = st.lock() else {
                return;
            };
            let (due, next_at) = match rate.pacing {
                Pacing::Burst => {
                    let t = elapsed * fps - st.offset;
                    let frames = if t < 0.0 { 0 } else { t.floor() as u64 + 1 };
                    (
                        (frames as f64 * per_frame).floor() as u64,
                        (frames as f64 + st.offset) / fps,
                    )
                }
                Pacing::Smooth => {
                    let t = elapsed * rate.pps - st.offset;
                    let due = if t < 0.0 { 0 } else { t.floor() as u64 + 1 };
                    (due, (due as f64 + st.offset) / rate.pps)
                }
            };
            while st.sent_local < due {
                let len = st.next_packet(&mut buf, per_frame, fps);
                match socket.send_to(&buf[..len], st.to) {
                    Ok(n) => {
                        st.sent.fetch_add(1, Ordering::Relaxed);
                        st.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            next = next.min(next_at);
        }
        let wait = (next - t0.elapsed().as_secs_f64()).clamp(0.0, 0.005);
        let wait = Duration::from_secs_f64(wait);
        std::thread::sleep(match rate.pacing {
            Pacing::Smooth => wait.max(SMOOTH_TICK),
            Pacing::Burst => wait,
        });
    }
}

impl GenStream {
    /// A new schedule: the next packet starts a new frame.
    fn restart(&mut self, fps: f64) {
        if self.sent_local > 0 {
            self.timestamp = self
                .timestamp
                .wrapping_add((VIDEO_CLOCK / fps).round() as u32);
        }
        self.sent_local = 0;
        self.frame_local = 0;
    }

    /// Writes the next packet into `buf` and returns its length: RTP header, then a VP8
    /// payload descriptor (S=1 on a frame's first packet) and, on a frame's first packet, a
    /// VP8 payload header (a keyframe's with its start code every [`KEYFRAME_EVERY`] frames).
    fn next_packet(&mut self, buf: &mut [u8], per_frame: f64, fps: f64) -> usize {
        let start = (self.frame_local as f64 * per_frame).floor() as u64;
        let end = ((self.frame_local + 1) as f64 * per_frame).floor() as u64;
        let first = self.sent_local == start;
        let last = self.sent_local + 1 >= end;
        let key = self.frame_count.is_multiple_of(KEYFRAME_EVERY);
        buf[0] = 0x80;
        buf[1] = (u8::from(last) << 7) | GEN_PAYLOAD_TYPE;
        buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        if first {
            buf[12] = 0x10;
            if key {
                // Frame tag (P=0, show_frame=1), start code, 640x480.
                buf[13..23]
                    .copy_from_slice(&[0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
            } else {
                buf[13] = 0x11;
            }
        } else {
            buf[12] = 0x00;
        }
        self.seq = self.seq.wrapping_add(1);
        self.sent_local += 1;
        if last {
            self.frame_local += 1;
            self.frame_count += 1;
            self.timestamp = self
                .timestamp
                .wrapping_add((VIDEO_CLOCK / fps).round() as u32);
        }
        buf.len()
    }
}
