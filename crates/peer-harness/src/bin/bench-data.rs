//! The Rust side of `cargo xtask bench data`: data-channel throughput and connect-to-open
//! latency of this library against a bare `webrtc` 0.17.2 data channel pair, in one process on
//! loopback.
//!
//! ```text
//! cargo build --release -p peer-harness --bin bench-data
//! target/release/bench-data --port PORT --key KEY [--mib 256] [--reps 9] \
//!     [--connects 20] [--cases bare,rtt,none,binary,binary-utf8,json] [--bare-message 65535]
//! ```
//!
//! Cases:
//!
//! - `bare`: two `RTCPeerConnection`s of `webrtc` 0.17.2 in this process, SDP and candidates
//!   handed over directly (no server), one reliable ordered channel, detached, configured like
//!   `peer-connection` does it (loopback only, UDP4). Throughput: `--mib` MiB in 65,535-byte
//!   messages (`--bare-message` for another size, a diagnostic) with the library's backpressure (wait above 1 MiB buffered until below 256 KiB),
//!   read with a 256 KiB buffer. Connect-to-open: from `createOffer` to the channel open on both
//!   sides (also reported from the creation of the first `RTCPeerConnection`).
//! - `rtt`: one signaling round trip through peer-server as a connection's offer and answer make
//!   it: peer A relays a candidate-sized message to B, B relays one back to A, both over the
//!   library's signaling transport (`peer-transport`). Median of `--connects`.
//! - `none`, `binary`, `binary-utf8`, `json`: two [`Peer`]s of this library on the peer-server
//!   at `--port`. Throughput: `--mib` MiB of payload (`none`: 65,535-byte byte messages;
//!   `binary`, `binary-utf8`: 1 MiB byte messages, chunked by the library; `json`: 60,000-byte
//!   strings), timed from the first `send` to the last byte received, counted at the receiver.
//!   Connect-to-open: from `Peer::connect` to `wait_open` on the connecting side.
//!
//! Connect-to-open is measured first for every case, then throughput: `--mib` MiB per case in
//! `--reps` runs of `--mib / --reps` MiB, each on a fresh connection, the cases interleaved
//! (bare, none, binary, ..., bare, none, ...) so that a change in the machine's load hits every
//! case alike; the median run is reported, with all runs. CPU is this process's (both ends').
//!
//! Every result is one JSON object on a line of stdout; progress goes to stderr.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use peer::{
    ConnectOptions, Data, DataConnection, LocalAddresses, Peer, PeerEvent, PeerOptions,
    Serialization,
};
use peer_protocol::client::Relay;
use peer_protocol::{ClientMessage, ServerMessage};
use peer_transport::{ServerAddr, Signaling, SignalingEvent, SignalingOptions};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::RTCPeerConnection;

/// `none` and bare-pair message size: the largest message `peer-connection` sends unchunked.
const NONE_MESSAGE: usize = 65_535;
/// `binary` and `binary-utf8` message size (the library chunks it).
const BINARY_MESSAGE: usize = 1 << 20;
/// `json` message: a string of this many ASCII characters (60,002 bytes on the wire).
const JSON_MESSAGE: usize = 60_000;
/// The library's backpressure (`peer-connection`), copied for the bare pair: a write waits while
/// more than this is buffered...
const HIGH_WATER: usize = 1024 * 1024;
/// ... until the buffer drains below this.
const LOW_WATER: usize = 256 * 1024;
/// The library's read buffer.
const READ_BUFFER: usize = 262_145;
/// Longest wait for any one step.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Command-line options.
struct Args {
    port: u16,
    key: String,
    bytes: usize,
    connects: usize,
    reps: usize,
    bare_message: usize,
    cases: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        port: 9000,
        key: String::new(),
        bytes: 256 << 20,
        connects: 20,
        reps: 9,
        bare_message: NONE_MESSAGE,
        cases: ["bare", "rtt", "none", "binary", "binary-utf8", "json"]
            .map(String::from)
            .to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = val()?.parse()?,
            "--key" => a.key = val()?,
            "--mib" => a.bytes = val()?.parse::<usize>()? << 20,
            "--connects" => a.connects = val()?.parse()?,
            "--reps" => a.reps = val()?.parse()?,
            "--bare-message" => a.bare_message = val()?.parse()?,
            "--cases" => a.cases = val()?.split(',').map(|s| s.trim().to_owned()).collect(),
            other => bail!("unknown option {other:?}"),
        }
    }
    if a.connects == 0 || a.bytes == 0 || a.reps == 0 {
        bail!("--mib, --connects and --reps must be at least 1");
    }
    if a.bare_message == 0 || a.bare_message > NONE_MESSAGE {
        bail!("--bare-message must be in 1..={NONE_MESSAGE}");
    }
    Ok(a)
}

fn emit(v: Value) {
    println!("{v}");
}

/// Median in milliseconds.
fn median_ms(v: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    match ms.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

fn all_ms(v: &[Duration]) -> Vec<f64> {
    v.iter()
        .map(|d| (d.as_secs_f64() * 1e5).round() / 100.0)
        .collect()
}

/// User plus system CPU time of this process.
fn cpu_time() -> Duration {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let tck = *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / tck)
}

/// One throughput run.
struct Throughput {
    bytes: usize,
    message_bytes: usize,
    secs: f64,
    /// CPU time of this process (both ends) over the run, in % of one core.
    cpu_pct: f64,
}

impl Throughput {
    fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }

    fn json(&self) -> Value {
        json!({
            "bytes": self.bytes,
            "secs": self.secs,
            "mbps": self.mbps(),
            "cpu_pct": self.cpu_pct,
        })
    }
}

async fn with_timeout<T>(what: &'static str, f: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .with_context(|| format!("{what}: timed out after {STEP_TIMEOUT:?}"))
}

// ---------------------------------------------------------------------------------------------
// Bare webrtc pair
// ---------------------------------------------------------------------------------------------

/// The API object, set up as `peer-connection` does for `LocalAddresses::LoopbackOnly`.
fn bare_api() -> API {
    let mut s = SettingEngine::default();
    s.detach_data_channels();
    s.set_network_types(vec![NetworkType::Udp4]);
    s.set_include_loopback_candidate(true);
    s.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
    APIBuilder::new().with_setting_engine(s).build()
}

/// Two connected peer connections and their detached channels.
struct BarePair {
    a: Arc<RTCPeerConnection>,
    b: Arc<RTCPeerConnection>,
    ca: Arc<RawChannel>,
    cb: Arc<RawChannel>,
    /// From the first `RTCPeerConnection` being created to open on both sides.
    from_pc: Duration,
    /// From `createOffer` to open on both sides.
    from_offer: Duration,
}

impl BarePair {
    async fn close(self) {
        let _ = self.ca.close().await;
        let _ = self.cb.close().await;
        let _ = self.a.close().await;
        let _ = self.b.close().await;
    }
}

/// Sends the channel, detached, on `tx` when it opens.
fn on_open_detached(ch: &Arc<RTCDataChannel>, tx: oneshot::Sender<Arc<RawChannel>>) {
    let c = ch.clone();
    ch.on_open(Box::new(move || {
        Box::pin(async move {
            if let Ok(raw) = c.detach().await {
                let _ = tx.send(raw);
            }
        })
    }));
}

/// Candidates of `pc`, queued until the other side is ready for them.
fn candidates(pc: &RTCPeerConnection) -> mpsc::UnboundedReceiver<RTCIceCandidateInit> {
    let (tx, rx) = mpsc::unbounded_channel();
    pc.on_ice_candidate(Box::new(move |c| {
        if let Some(init) = c.and_then(|c| c.to_json().ok()) {
            let _ = tx.send(init);
        }
        Box::pin(async {})
    }));
    rx
}

/// Adds every candidate of `rx` to `pc`, from now on.
fn forward(mut rx: mpsc::UnboundedReceiver<RTCIceCandidateInit>, pc: Arc<RTCPeerConnection>) {
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            if pc.add_ice_candidate(c).await.is_err() {
                break;
            }
        }
    });
}

async fn bare_connect(api: &API) -> Result<BarePair> {
    let t_pc = Instant::now();
    let a = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let b = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let cand_a = candidates(&a);
    let cand_b = candidates(&b);
    let (tx_a, rx_a) = oneshot::channel();
    let (tx_b, rx_b) = oneshot::channel();
    let tx_b = std::sync::Mutex::new(Some(tx_b));
    b.on_data_channel(Box::new(move |ch| {
        if let Some(tx) = tx_b.lock().ok().and_then(|mut t| t.take()) {
            on_open_detached(&ch, tx);
        }
        Box::pin(async {})
    }));
    let ch = a.create_data_channel("bench", None).await?;
    on_open_detached(&ch, tx_a);
    let t_offer = Instant::now();
    let offer = a.create_offer(None).await?;
    a.set_local_description(offer.clone()).await?;
    b.set_remote_description(offer).await?;
    forward(cand_a, b.clone());
    let answer = b.create_answer(None).await?;
    b.set_local_description(answer.clone()).await?;
    a.set_remote_description(answer).await?;
    forward(cand_b, a.clone());
    let (ca, cb) = with_timeout("bare open", async { tokio::join!(rx_a, rx_b) }).await?;
    let (ca, cb) = (ca.context("a's channel")?, cb.context("b's channel")?);
    Ok(BarePair {
        a,
        b,
        ca,
        cb,
        from_pc: t_pc.elapsed(),
        from_offer: t_offer.elapsed(),
    })
}

async fn bare_throughput(pair: &BarePair, total: usize, size: usize) -> Result<Throughput> {
    let count = total.div_ceil(size);
    let bytes = count * size;
    let rx = pair.cb.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; READ_BUFFER];
        let mut got = 0usize;
        while got < bytes {
            let (n, _) = rx.read_data_channel(&mut buf).await?;
            got += n;
        }
        anyhow::Ok(Instant::now())
    });
    let tx = pair.ca.clone();
    let low = Arc::new(Notify::new());
    tx.set_buffered_amount_low_threshold(LOW_WATER);
    let l = low.clone();
    tx.on_buffered_amount_low(Box::new(move || {
        l.notify_one();
        Box::pin(async {})
    }));
    let msg = Bytes::from(pattern(size));
    let (cpu0, t0) = (cpu_time(), Instant::now());
    for _ in 0..count {
        while tx.buffered_amount() > HIGH_WATER {
            let _ = tokio::time::timeout(Duration::from_millis(50), low.notified()).await;
        }
        tx.write_data_channel(&msg, false).await?;
    }
    let end = with_timeout("bare receive", reader).await???;
    let secs = (end - t0).as_secs_f64();
    Ok(Throughput {
        bytes,
        message_bytes: size,
        secs,
        cpu_pct: (cpu_time() - cpu0).as_secs_f64() / secs * 100.0,
    })
}

/// Connect-to-open of the bare pair: `args.connects` pairs after one warm-up.
async fn bare_opens(args: &Args, api: &API) -> Result<Value> {
    bare_connect(api).await?.close().await;
    let (mut from_offer, mut from_pc) = (Vec::new(), Vec::new());
    for _ in 0..args.connects {
        let pair = bare_connect(api).await?;
        from_offer.push(pair.from_offer);
        from_pc.push(pair.from_pc);
        pair.close().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "bare: connect-to-open median {:.2} ms (from createOffer), {:.2} ms (from new RTCPeerConnection)",
        median_ms(&from_offer),
        median_ms(&from_pc)
    );
    Ok(json!({
        "case": "bare",
        "message_bytes": args.bare_message,
        "open_ms_median": median_ms(&from_offer),
        "open_ms": all_ms(&from_offer),
        "open_from_pc_ms_median": median_ms(&from_pc),
    }))
}

/// One throughput run of the bare pair on a fresh pair.
async fn bare_run(api: &API, bytes: usize, size: usize) -> Result<Throughput> {
    let pair = bare_connect(api).await?;
    let tp = bare_throughput(&pair, bytes, size).await;
    pair.close().await;
    tp
}

// ---------------------------------------------------------------------------------------------
// Library peers through peer-server
// ---------------------------------------------------------------------------------------------

/// A Peer with its incoming connections in a channel.
struct BenchPeer {
    peer: Peer,
    conns: mpsc::UnboundedReceiver<DataConnection>,
}

async fn open_peer(args: &Args, id: &str) -> Result<BenchPeer> {
    let mut o = PeerOptions::new(args.key.clone());
    o.port = args.port;
    o.config.local_addresses = LocalAddresses::LoopbackOnly;
    let peer = Peer::new(Some(id), o)
        .await
        .with_context(|| format!("opening peer {id}"))?;
    match with_timeout("peer open", peer.next_event()).await? {
        Some(PeerEvent::Open(_)) => {}
        other => bail!("expected the open event of {id}, got {other:?}"),
    }
    let (ctx, conns) = mpsc::unbounded_channel();
    let p = peer.clone();
    tokio::spawn(async move {
        while let Some(ev) = p.next_event().await {
            match ev {
                PeerEvent::Connection(c) => {
                    let _ = ctx.send(c);
                }
                PeerEvent::Error(e) => eprintln!("{}: {e}", p.id()),
                _ => {}
            }
        }
    });
    Ok(BenchPeer { peer, conns })
}

fn serialization(name: &str) -> Result<Serialization> {
    Ok(match name {
        "none" => Serialization::None,
        "binary" => Serialization::Binary,
        "binary-utf8" => Serialization::BinaryUtf8,
        "json" => Serialization::Json,
        other => bail!("unknown case {other:?}"),
    })
}

/// Connects `a` to `b`; returns both ends, open, and the connect-to-open time of `a`'s end.
async fn lib_connect(
    a: &BenchPeer,
    b: &mut BenchPeer,
    s: Serialization,
) -> Result<(DataConnection, DataConnection, Duration)> {
    let options = ConnectOptions::new().serialization(s);
    let t0 = Instant::now();
    let conn = a.peer.connect(b.peer.id(), options).await?;
    with_timeout("open", conn.wait_open()).await??;
    let took = t0.elapsed();
    let remote = with_timeout("remote connection", b.conns.recv())
        .await?
        .context("b's events ended")?;
    with_timeout("remote open", remote.wait_open()).await??;
    Ok((conn, remote, took))
}

async fn close_both(conn: DataConnection, remote: DataConnection) {
    conn.close(true).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), remote.closed()).await;
}

async fn lib_throughput(
    conn: &DataConnection,
    remote: DataConnection,
    s: Serialization,
    total: usize,
) -> Result<(Throughput, usize)> {
    let (data, size): (Data, usize) = match s {
        Serialization::None => (Bytes::from(pattern(NONE_MESSAGE)).into(), NONE_MESSAGE),
        Serialization::Binary | Serialization::BinaryUtf8 => {
            (Bytes::from(pattern(BINARY_MESSAGE)).into(), BINARY_MESSAGE)
        }
        Serialization::Json => {
            let text: String = (0..JSON_MESSAGE)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            (Data::Text(text), JSON_MESSAGE)
        }
    };
    let count = total.div_ceil(size);
    let bytes = count * size;
    let reader = tokio::spawn(async move {
        let mut got = 0usize;
        while got < bytes {
            match remote.recv().await {
                Some(Data::Bytes(b)) => got += b.len(),
                Some(Data::Text(t)) => got += t.len(),
                Some(other) => bail!("unexpected message {other:?}"),
                None => bail!("the connection closed after {got} of {bytes} bytes"),
            }
        }
        Ok(Instant::now())
    });
    let (cpu0, t0) = (cpu_time(), Instant::now());
    for _ in 0..count {
        conn.send(data.clone()).await?;
    }
    let end = tokio::time::timeout(Duration::from_secs(600), reader)
        .await
        .context("receiving timed out")???;
    let secs = (end - t0).as_secs_f64();
    Ok((
        Throughput {
            bytes,
            message_bytes: size,
            secs,
            cpu_pct: (cpu_time() - cpu0).as_secs_f64() / secs * 100.0,
        },
        size,
    ))
}

/// Connect-to-open of the library in serialization `name`: `args.connects` connections after
/// one warm-up.
async fn lib_opens(args: &Args, a: &BenchPeer, b: &mut BenchPeer, name: &str) -> Result<Value> {
    let s = serialization(name)?;
    let (c, r, _) = lib_connect(a, b, s).await?;
    close_both(c, r).await;
    let mut opens = Vec::new();
    for _ in 0..args.connects {
        let (c, r, took) = lib_connect(a, b, s).await?;
        opens.push(took);
        close_both(c, r).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{name}: connect-to-open median {:.2} ms", median_ms(&opens));
    Ok(json!({
        "case": name,
        "open_ms_median": median_ms(&opens),
        "open_ms": all_ms(&opens),
    }))
}

/// One throughput run of the library in serialization `name`, on a fresh connection.
async fn lib_run(a: &BenchPeer, b: &mut BenchPeer, name: &str, bytes: usize) -> Result<Throughput> {
    let s = serialization(name)?;
    let (c, r, _) = lib_connect(a, b, s).await?;
    let tp = lib_throughput(&c, r.clone(), s, bytes).await;
    close_both(c, r).await;
    let (tp, size) = tp?;
    Ok(Throughput {
        message_bytes: size,
        ..tp
    })
}

/// Adds the throughput runs of one case to its result: the median run's figures, and all runs.
fn add_runs(v: &mut Value, runs: &[Throughput]) {
    let mut sorted: Vec<&Throughput> = runs.iter().collect();
    sorted.sort_by(|x, y| x.mbps().total_cmp(&y.mbps()));
    let Some(mid) = sorted.get(sorted.len() / 2) else {
        return;
    };
    v["mbps"] = json!(mid.mbps());
    v["cpu_pct"] = json!(mid.cpu_pct);
    v["bytes"] = json!(runs.iter().map(|t| t.bytes).sum::<usize>());
    v["message_bytes"] = json!(mid.message_bytes);
    v["runs"] = Value::Array(runs.iter().map(Throughput::json).collect());
}

/// Opens a bare signaling session (the library's transport) as `id`.
async fn signaling(args: &Args, id: &str) -> Result<(Signaling, mpsc::Receiver<SignalingEvent>)> {
    let server = ServerAddr {
        host: "127.0.0.1".into(),
        port: args.port,
        secure: false,
    };
    let mut o = SignalingOptions::new(server, args.key.clone());
    o.peer_id = Some(id.to_owned());
    let (s, _, events) = Signaling::connect(o)
        .await
        .with_context(|| format!("signaling session {id}"))?;
    Ok((s, events))
}

/// A `SEND_CANDIDATE` to `dst` of the size the library sends.
fn candidate_to(dst: &str, n: usize) -> Result<ClientMessage> {
    let body = json!({
        "dst": dst,
        "connectionId": format!("dc_rtt{n}"),
        "connectionType": "data",
        "candidate": {
            "candidate": "candidate:1234567890 1 udp 2130706431 127.0.0.1 50000 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcdefghijklmnop",
        },
    });
    Relay::from_payload(&body)
        .map(ClientMessage::SendCandidate)
        .context("relay payload")
}

/// Waits for the next relayed `CANDIDATE` on `events`.
async fn next_candidate(events: &mut mpsc::Receiver<SignalingEvent>) -> Result<()> {
    loop {
        match with_timeout("candidate", events.recv()).await? {
            Some(SignalingEvent::Message(ServerMessage::Candidate(_))) => return Ok(()),
            Some(SignalingEvent::Closed { reason }) => bail!("signaling closed: {reason}"),
            Some(_) => {}
            None => bail!("signaling events ended"),
        }
    }
}

/// One signaling round trip as a connection's offer and answer make it: A relays a message to B
/// through peer-server, B relays one back, over the library's own signaling transport.
async fn bench_rtt(args: &Args) -> Result<Value> {
    let run = std::process::id();
    let (ida, idb) = (format!("rtt-a-{run}"), format!("rtt-b-{run}"));
    let (sa, mut ea) = signaling(args, &ida).await?;
    let (sb, mut eb) = signaling(args, &idb).await?;
    let mut rtts = Vec::new();
    for i in 0..=args.connects {
        let t0 = Instant::now();
        sa.send(candidate_to(&idb, i)?).await?;
        next_candidate(&mut eb).await?;
        sb.send(candidate_to(&ida, i)?).await?;
        next_candidate(&mut ea).await?;
        if i > 0 {
            rtts.push(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sa.close().await;
    sb.close().await;
    eprintln!("signaling round trip: median {:.3} ms", median_ms(&rtts));
    Ok(json!({"case": "rtt", "rtt_ms_median": median_ms(&rtts), "rtt_ms": all_ms(&rtts)}))
}

/// Deterministic bytes.
fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + (i >> 8) + 3) & 0xff) as u8)
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let cases: Vec<&str> = args.cases.iter().map(String::as_str).collect();
    let api = bare_api();
    let needs_server = cases.iter().any(|&c| c != "bare");
    if needs_server && args.key.is_empty() {
        bail!("--key is required for the peer-server cases");
    }
    let run = std::process::id();
    let mut peers = None;
    if needs_server {
        let a = open_peer(&args, &format!("bench-a-{run}")).await?;
        let b = open_peer(&args, &format!("bench-b-{run}")).await?;
        peers = Some((a, b));
    }
    // Connect-to-open first, then the throughput runs, interleaved across cases so that a
    // change in the machine's load affects every case alike.
    let mut results: Vec<(String, Value)> = Vec::new();
    for &case in &cases {
        let v = match (case, peers.as_mut()) {
            ("bare", _) => bare_opens(&args, &api).await.context("bare pair")?,
            ("rtt", _) => bench_rtt(&args).await.context("rtt")?,
            (name, Some((a, b))) => lib_opens(&args, a, b, name)
                .await
                .with_context(|| format!("case {name}"))?,
            (name, None) => bail!("case {name} needs the server"),
        };
        results.push((case.to_owned(), v));
    }
    let per_run = args.bytes.div_ceil(args.reps);
    let mut runs: Vec<Vec<Throughput>> = cases.iter().map(|_| Vec::new()).collect();
    for rep in 1..=args.reps {
        for (i, &case) in cases.iter().enumerate() {
            let tp = match (case, peers.as_mut()) {
                ("rtt", _) => continue,
                ("bare", _) => bare_run(&api, per_run, args.bare_message)
                    .await
                    .context("bare pair")?,
                (name, Some((a, b))) => lib_run(a, b, name, per_run)
                    .await
                    .with_context(|| format!("case {name}"))?,
                (name, None) => bail!("case {name} needs the server"),
            };
            eprintln!(
                "{case} run {rep}/{}: {:.1} MB/s ({:.0}% CPU)",
                args.reps,
                tp.mbps(),
                tp.cpu_pct
            );
            runs[i].push(tp);
        }
    }
    for ((_, mut v), r) in results.into_iter().zip(runs) {
        add_runs(&mut v, &r);
        emit(v);
    }
    if let Some((a, b)) = peers {
        a.peer.destroy().await;
        b.peer.destroy().await;
    }
    Ok(())
}
