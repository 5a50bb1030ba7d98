//! `cargo xtask bench media`: CPU per forwarded stream and packets per second a single Rust
//! peer can carry, beside a bare `webrtc` 0.17.2 pair in the same run.
//!
//! The processes are the roles of `crates/peer-harness/src/bin/bench-media.rs` (release build), driven
//! over their stdin and stdout, with a release `peer-server` for signaling:
//!
//! - **library**: a `sink` peer (answers every call receive-only, counts what arrives), a
//!   `forwarder` peer (N calls to the sink, each sending one VP8 track fed by an
//!   `RtpUdpSource`), and the `gen` RTP generator sending to the forwarder's N ports. The
//!   forwarder's CPU is read from `/proc/<pid>/stat`.
//! - **bare**: the `bare` role (per stream two `webrtc` peer connections in one process, the
//!   sending side on threads named `bare-tx`, the receiving side on `bare-rx`) fed by the same
//!   generator. The sending side's CPU is read from `/proc/<pid>/task/*/stat`.
//!
//! Measurements, each over a window after a warm-up, from counters read at both ends of the
//! window (generator: packets sent; forwarding side: packets taken from UDP; receiving side:
//! packets received and packets expected from the RTP sequence numbers):
//!
//! 1. **Paced**: `--streams` streams at each `--rates` bitrate (frame bursts at 30 fps, as an
//!    encoder and `rtpvp8pay ! udpsink` send), with the CPU of each side, loss, and a
//!    least-squares fit of the forwarding side's CPU against the number of streams (the slope is
//!    the cost of one stream).
//! 2. **Capacity**: for each of `--capacity-streams`, a ramp of the total packet rate (evenly
//!    paced) from `--ramp-start`, times `--ramp-factor` per step; a step that loses 1% or more
//!    is measured once more, and the ramp ends when it fails again. The capacity is the highest
//!    rate with less than 1% loss.
//!
//! The report (markdown, also written to `target/bench/media.md`) gives the library's figures
//! as ratios to the bare pair's. The command exits 0 unless a process crashed or could not
//! start.

use super::args::Args;
use super::capture;
use super::server::{self, Kind, Server};
use crate::util::root;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Usage of `cargo xtask bench media`.
pub const USAGE: &str =
    "usage: cargo xtask bench media [--streams 1,4,16] [--rates 1.5,2.5] [--seconds S] \
[--warmup S] [--capacity-streams 1,16] [--ramp-start PPS] [--ramp-factor F] [--ramp-max PPS] \
[--ramp-seconds S] [--payload BYTES] [--no-bare] [--no-capacity] [--no-build]";

/// A step with this much loss or more fails the capacity ramp.
const LOSS_LIMIT: f64 = 0.01;
/// How long a role may take to report ready (the forwarder opens its calls first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a role may take to answer a command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long every stream may take to reach the receiving side after the generator starts.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Warm-up of each ramp step.
const RAMP_WARMUP: Duration = Duration::from_secs(1);

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    streams: Vec<usize>,
    rates: Vec<f64>,
    seconds: f64,
    warmup: f64,
    capacity_streams: Vec<usize>,
    ramp_start: f64,
    ramp_factor: f64,
    ramp_max: f64,
    ramp_seconds: f64,
    payload: usize,
    bare: bool,
    capacity: bool,
    build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            streams: vec![1, 4, 16],
            rates: vec![1.5, 2.5],
            seconds: 10.0,
            warmup: 2.0,
            capacity_streams: vec![1, 16],
            ramp_start: 2000.0,
            ramp_factor: 1.25,
            ramp_max: 500_000.0,
            ramp_seconds: 4.0,
            payload: 1100,
            bare: true,
            capacity: true,
            build: true,
        };
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--streams" => o.streams = a.list()?,
                "--rates" => o.rates = a.list()?,
                "--seconds" => o.seconds = a.parse()?,
                "--warmup" => o.warmup = a.parse()?,
                "--capacity-streams" => o.capacity_streams = a.list()?,
                "--ramp-start" => o.ramp_start = a.parse()?,
                "--ramp-factor" => o.ramp_factor = a.parse()?,
                "--ramp-max" => o.ramp_max = a.parse()?,
                "--ramp-seconds" => o.ramp_seconds = a.parse()?,
                "--payload" => o.payload = a.parse()?,
                "--no-bare" => o.bare = false,
                "--no-capacity" => o.capacity = false,
                "--no-build" => o.build = false,
                _ => return Err(a.unknown()),
            }
        }
        // In (0, hi]; false for NaN.
        let positive_upto = |x: f64, hi: f64| x > 0.0 && x <= hi;
        let streams_ok = |v: &[usize]| v.iter().all(|&n| (1..=256).contains(&n));
        if !streams_ok(&o.streams) || !streams_ok(&o.capacity_streams) {
            bail!("stream counts must be in 1..=256");
        }
        if o.rates.iter().any(|&r| !positive_upto(r, 100.0)) {
            bail!("--rates are Mbit/s per stream in (0, 100]");
        }
        if !positive_upto(o.seconds, 600.0)
            || !(0.0..=60.0).contains(&o.warmup)
            || !positive_upto(o.ramp_seconds, 600.0)
        {
            bail!("--seconds and --ramp-seconds must be in (0, 600], --warmup in [0, 60]");
        }
        if !(o.ramp_start >= 1.0 && o.ramp_factor > 1.0 && o.ramp_max >= o.ramp_start) {
            bail!("--ramp-start must be at least 1, --ramp-factor above 1, --ramp-max at least --ramp-start");
        }
        if !(16..=1400).contains(&o.payload) {
            bail!("--payload must be in 16..=1400");
        }
        Ok(o)
    }

    /// Packets per second of one stream at `mbps` Mbit/s of payload.
    fn pps(&self, mbps: f64) -> f64 {
        mbps * 1e6 / 8.0 / self.payload as f64
    }
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    let command = format!("cargo xtask bench media {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.build {
        super::build_harness(&["bench-media"])?;
    }
    let exe = super::harness_exe("bench-media")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut srv = rt.block_on(Server::start(Kind::PeerServer, &root, &out_dir))?;
    eprintln!(
        "peer-server (release) pid {} listening on 127.0.0.1:{}",
        srv.pid, srv.port
    );
    let env = Env {
        exe,
        port: srv.port,
        logs: out_dir.clone(),
        tck: server::clk_tck() as f64,
    };
    for role in ["sink", "forwarder", "bare", "gen"] {
        let _ = std::fs::write(env.log(role), "");
    }
    let started = Instant::now();
    let load_before = loadavg();
    let mut results = Results::default();
    measure(&opts, &env, &mut results);
    results.load = (load_before, loadavg());
    results.minutes = started.elapsed().as_secs_f64() / 60.0;
    let server_alive = srv.running();
    rt.block_on(srv.stop());
    if !server_alive {
        results
            .crashes
            .push("peer-server exited during the run; see target/bench/peer-server.log".into());
    }
    let md = report(&opts, &command, &results);
    super::publish(&md, &out_dir.join("media.md"))?;
    if !results.crashes.is_empty() {
        bail!("{}", results.crashes.join("; "));
    }
    Ok(())
}

/// What every rig needs.
struct Env {
    exe: PathBuf,
    port: u16,
    logs: PathBuf,
    tck: f64,
}

impl Env {
    fn log(&self, role: &str) -> PathBuf {
        self.logs.join(format!("media-{role}.log"))
    }
}

/// Which stack forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// This library: `forwarder` and `sink` peers through peer-server.
    Library,
    /// The bare `webrtc` pair.
    Bare,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Library => "library",
            Case::Bare => "bare webrtc",
        }
    }
}

/// Everything measured.
#[derive(Debug, Default)]
struct Results {
    paced: Vec<Paced>,
    ramps: Vec<Ramp>,
    crashes: Vec<String>,
    problems: Vec<String>,
    load: (String, String),
    minutes: f64,
}

/// One paced window.
#[derive(Debug, Clone)]
struct Paced {
    case: Case,
    streams: usize,
    mbps: f64,
    w: Window,
}

/// One capacity ramp.
#[derive(Debug, Clone)]
struct Ramp {
    case: Case,
    streams: usize,
    steps: Vec<Window>,
    /// Why the ramp ended.
    end: String,
}

impl Ramp {
    /// The highest step with less than 1% loss (steps only go up; a failed step is measured
    /// once more before the ramp ends).
    fn capacity(&self) -> Option<&Window> {
        self.steps
            .iter()
            .filter(|w| w.loss() < LOSS_LIMIT)
            .max_by(|a, b| a.target_pps.total_cmp(&b.target_pps))
    }

    /// The two measurements of the rate that lost 1% or more twice, when the ramp ended so.
    fn failure(&self) -> Option<(&Window, &Window)> {
        match self.steps.as_slice() {
            [.., a, b]
                if a.target_pps == b.target_pps
                    && a.loss() >= LOSS_LIMIT
                    && b.loss() >= LOSS_LIMIT =>
            {
                Some((a, b))
            }
            _ => None,
        }
    }

    /// Median packets per forwarding CPU-second over the passing steps from half the capacity
    /// up (where the fixed costs no longer dominate).
    fn per_cpu_second(&self) -> Option<f64> {
        let cap = self.capacity()?.target_pps;
        let mut x: Vec<f64> = self
            .steps
            .iter()
            .filter(|w| w.loss() < LOSS_LIMIT && w.target_pps >= cap / 2.0)
            .map(Window::per_cpu_second)
            .collect();
        x.sort_by(f64::total_cmp);
        x.get(x.len() / 2).copied()
    }
}

/// Counters at one instant.
#[derive(Debug, Clone, Default)]
struct Snap {
    at: Option<Instant>,
    sent: u64,
    gen_errors: u64,
    taken: u64,
    write_errors: u64,
    received: u64,
    expected: u64,
    bytes: u64,
    live: usize,
    cpu_fwd: u64,
    cpu_rx: u64,
    cpu_gen: u64,
    cpu_procs: u64,
    machine: u64,
    rcvbuf_errors: u64,
}

/// Rates and CPU over one window.
#[derive(Debug, Clone, Default)]
struct Window {
    /// The rate asked of the generator (all streams).
    target_pps: f64,
    sent_pps: f64,
    /// Taken from UDP by the forwarding side.
    taken_pps: f64,
    delivered_pps: f64,
    delivered_mbps: f64,
    /// 1 - received / expected from the RTP sequence numbers, at the receiving side.
    seq_loss: f64,
    /// 1 - received / sent by the generator.
    end_loss: f64,
    /// % of one core.
    cpu_fwd: f64,
    cpu_rx: f64,
    cpu_gen: f64,
    cpu_other: f64,
    live: usize,
    streams: usize,
    write_errors: u64,
    gen_errors: u64,
    rcvbuf_errors: u64,
}

impl Window {
    /// Loss: the larger of the sequence-number loss at the receiver and the shortfall against
    /// what the generator sent (which also catches a stream that never arrived).
    fn loss(&self) -> f64 {
        self.seq_loss.max(self.end_loss).max(0.0)
    }

    /// Packets delivered per second of the forwarding side's CPU time.
    fn per_cpu_second(&self) -> f64 {
        if self.cpu_fwd > 0.0 {
            self.delivered_pps / (self.cpu_fwd / 100.0)
        } else {
            0.0
        }
    }

    fn cpu_fwd_per_stream(&self) -> f64 {
        self.cpu_fwd / self.streams.max(1) as f64
    }
}

/// One process of the bench example, driven over stdin and stdout.
struct Proc {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    pid: u32,
    /// The line it printed when ready.
    ready: Value,
}

impl Proc {
    fn spawn(env: &Env, role: &str, args: &[String]) -> Result<Proc> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.log(role))?;
        let mut child = Command::new(&env.exe)
            .arg(role)
            .args(args)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {} {role}", env.exe.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = child.id();
        let mut p = Proc {
            name: role.to_owned(),
            child,
            stdin,
            lines,
            pid,
            ready: Value::Null,
        };
        p.ready = p.next_json(READY_TIMEOUT)?;
        if p.ready.get("ready").and_then(Value::as_bool) != Some(true) {
            bail!("{role} did not report ready: {}", p.ready);
        }
        Ok(p)
    }

    /// The next JSON object the process prints.
    fn next_json(&mut self, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => return Ok(v),
                    _ => eprintln!("{}: {line}", self.name),
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} did not answer within {timeout:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    bail!(
                        "{} exited ({status}); see target/bench/media-{}.log",
                        self.name,
                        self.name
                    )
                }
            }
        }
    }

    /// Sends `cmd` and returns the answer.
    fn request(&mut self, cmd: &str) -> Result<Value> {
        writeln!(self.stdin, "{cmd}")
            .and_then(|_| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.name))?;
        let v = self.next_json(REPLY_TIMEOUT)?;
        if let Some(e) = v.get("error") {
            bail!("{}: {e}", self.name);
        }
        Ok(v)
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks it to quit, then kills it after 3 s.
    fn stop(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The processes of one case with N streams.
struct Rig {
    case: Case,
    streams: usize,
    /// The sink (library only).
    sink: Option<Proc>,
    /// The forwarder, or the bare process.
    fwd: Proc,
    gen: Proc,
    tck: f64,
}

impl Rig {
    fn start(env: &Env, case: Case, streams: usize, payload: usize) -> Result<Rig> {
        // Fresh peer ids for every rig: the server keeps a closed peer's id for a while.
        static RIGS: AtomicUsize = AtomicUsize::new(0);
        let run = format!(
            "{}-{}",
            std::process::id(),
            RIGS.fetch_add(1, Ordering::Relaxed)
        );
        let (sink, fwd) = match case {
            Case::Library => {
                let sink_id = format!("media-sink-{run}-{streams}");
                let common = |id: &str| {
                    vec![
                        "--port".to_owned(),
                        env.port.to_string(),
                        "--key".into(),
                        server::API_KEY.into(),
                        "--id".into(),
                        id.to_owned(),
                    ]
                };
                let sink = Proc::spawn(env, "sink", &common(&sink_id))?;
                let mut args = common(&format!("media-fwd-{run}-{streams}"));
                args.extend([
                    "--sink".into(),
                    sink_id,
                    "--streams".into(),
                    streams.to_string(),
                ]);
                (Some(sink), Proc::spawn(env, "forwarder", &args)?)
            }
            Case::Bare => (
                None,
                Proc::spawn(env, "bare", &["--streams".into(), streams.to_string()])?,
            ),
        };
        let ports = fwd_ports(&fwd, streams)?;
        let gen = Proc::spawn(
            env,
            "gen",
            &[
                "--ports".into(),
                ports,
                "--payload".into(),
                payload.to_string(),
            ],
        )?;
        Ok(Rig {
            case,
            streams,
            sink,
            fwd,
            gen,
            tck: env.tck,
        })
    }

    fn set_rate(&mut self, total_pps: f64, pacing: &str) -> Result<()> {
        let per_stream = total_pps / self.streams as f64;
        self.gen
            .request(&format!("rate {per_stream:.3} {pacing}"))?;
        Ok(())
    }

    /// Waits until every stream reaches the receiving side.
    fn wait_live(&mut self) -> Result<()> {
        let until = Instant::now() + LIVE_TIMEOUT;
        loop {
            let s = self.snapshot()?;
            if s.live >= self.streams {
                return Ok(());
            }
            if Instant::now() > until {
                bail!(
                    "{} with {} streams: only {} stream(s) reached the receiving side within {LIVE_TIMEOUT:?}",
                    self.case.label(),
                    self.streams,
                    s.live
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn snapshot(&mut self) -> Result<Snap> {
        let mut s = Snap {
            at: Some(Instant::now()),
            ..Default::default()
        };
        let g = self.gen.request("stats")?;
        s.sent = sum(&g, "sent", None);
        s.gen_errors = g.get("errors").and_then(Value::as_u64).unwrap_or(0);
        let f = self.fwd.request("stats")?;
        s.taken = sum(&f, "sources", Some("packets"));
        s.write_errors = sum(&f, "sources", Some("write_errors"));
        let r = match &mut self.sink {
            Some(sink) => sink.request("stats")?,
            None => f,
        };
        s.received = sum(&r, "streams", Some("packets"));
        s.expected = sum(&r, "streams", Some("expected"));
        s.bytes = sum(&r, "streams", Some("bytes"));
        s.live = r
            .get("streams")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|x| x.get("packets").and_then(Value::as_u64).unwrap_or(0) > 0)
                    .count()
            })
            .unwrap_or(0);
        s.cpu_gen = server::cpu_ticks(self.gen.pid)?;
        match &self.sink {
            Some(sink) => {
                s.cpu_fwd = server::cpu_ticks(self.fwd.pid)?;
                s.cpu_rx = server::cpu_ticks(sink.pid)?;
                s.cpu_procs = s.cpu_fwd + s.cpu_rx;
            }
            None => {
                s.cpu_fwd = thread_ticks(self.fwd.pid, "bare-tx")?;
                s.cpu_rx = thread_ticks(self.fwd.pid, "bare-rx")?;
                s.cpu_procs = server::cpu_ticks(self.fwd.pid)?;
            }
        }
        s.cpu_procs += s.cpu_gen;
        s.machine = server::machine_busy_ticks()?;
        s.rcvbuf_errors = udp_rcvbuf_errors();
        Ok(s)
    }

    /// Measures `secs` seconds from now.
    fn window(&mut self, secs: f64, target_pps: f64) -> Result<Window> {
        let a = self.snapshot()?;
        std::thread::sleep(Duration::from_secs_f64(secs));
        let b = self.snapshot()?;
        let el = match (a.at, b.at) {
            (Some(x), Some(y)) => (y - x).as_secs_f64(),
            _ => secs,
        };
        let d = |f: fn(&Snap) -> u64| f(&b).saturating_sub(f(&a)) as f64;
        let pct = |ticks: f64| ticks / self.tck / el * 100.0;
        let (sent, received, expected) = (d(|s| s.sent), d(|s| s.received), d(|s| s.expected));
        let mut w = Window {
            target_pps,
            sent_pps: sent / el,
            taken_pps: d(|s| s.taken) / el,
            delivered_pps: received / el,
            delivered_mbps: d(|s| s.bytes) * 8.0 / el / 1e6,
            seq_loss: if expected > 0.0 {
                1.0 - received / expected
            } else {
                1.0
            },
            end_loss: if sent > 0.0 {
                1.0 - received / sent
            } else {
                1.0
            },
            cpu_fwd: pct(d(|s| s.cpu_fwd)),
            cpu_rx: pct(d(|s| s.cpu_rx)),
            cpu_gen: pct(d(|s| s.cpu_gen)),
            cpu_other: 0.0,
            live: b.live,
            streams: self.streams,
            write_errors: d(|s| s.write_errors) as u64,
            gen_errors: d(|s| s.gen_errors) as u64,
            rcvbuf_errors: d(|s| s.rcvbuf_errors) as u64,
        };
        w.cpu_other = (pct(d(|s| s.machine)) - pct(d(|s| s.cpu_procs))).max(0.0);
        Ok(w)
    }

    fn running(&mut self) -> bool {
        self.gen.running() && self.fwd.running() && self.sink.as_mut().is_none_or(Proc::running)
    }

    fn stop(self) {
        self.gen.stop();
        self.fwd.stop();
        if let Some(s) = self.sink {
            s.stop();
        }
    }
}

/// The ports of the forwarding side's ready line, comma-separated.
fn fwd_ports(p: &Proc, streams: usize) -> Result<String> {
    let ports: Vec<u64> = p
        .ready
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if ports.len() != streams {
        bail!(
            "{} reported {} ports for {streams} streams",
            p.name,
            ports.len()
        );
    }
    Ok(ports
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(","))
}

/// Sums `key` over the array `list` of `v` (or the numbers of the array when `key` is `None`).
fn sum(v: &Value, list: &str, key: Option<&str>) -> u64 {
    v.get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| match key {
                    Some(k) => x.get(k).and_then(Value::as_u64),
                    None => x.as_u64(),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// User plus system CPU time, in clock ticks, of the threads of `pid` whose name starts with
/// `prefix`.
fn thread_ticks(pid: u32, prefix: &str) -> Result<u64> {
    let mut total = 0;
    let dir = format!("/proc/{pid}/task");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let Ok(entry) = entry else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        total += field(11) + field(12);
    }
    Ok(total)
}

/// The machine-wide `Udp: RcvbufErrors` counter (datagrams dropped because a socket's receive
/// buffer was full), 0 if unreadable.
fn udp_rcvbuf_errors() -> u64 {
    let s = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs every measurement; failures are recorded, not returned, so that the report is written.
fn measure(opts: &Opts, env: &Env, results: &mut Results) {
    let cases: Vec<Case> = if opts.bare {
        vec![Case::Library, Case::Bare]
    } else {
        vec![Case::Library]
    };
    for &n in &opts.streams {
        for &case in &cases {
            eprintln!("== paced: {} with {n} stream(s)", case.label());
            if let Err(e) = paced(opts, env, case, n, results) {
                eprintln!("   failed: {e:#}");
                results
                    .crashes
                    .push(format!("{} with {n} stream(s), paced: {e:#}", case.label()));
            }
        }
    }
    if !opts.capacity {
        return;
    }
    for &n in &opts.capacity_streams {
        for &case in &cases {
            eprintln!("== capacity: {} with {n} stream(s)", case.label());
            match ramp(opts, env, case, n) {
                Ok(r) => results.ramps.push(r),
                Err(e) => {
                    eprintln!("   failed: {e:#}");
                    results.crashes.push(format!(
                        "{} with {n} stream(s), capacity: {e:#}",
                        case.label()
                    ));
                }
            }
        }
    }
}

fn paced(opts: &Opts, env: &Env, case: Case, n: usize, results: &mut Results) -> Result<()> {
    let mut rig = Rig::start(env, case, n, opts.payload)?;
    let mut first = true;
    for &mbps in &opts.rates {
        let total = opts.pps(mbps) * n as f64;
        rig.set_rate(total, "burst")?;
        if first {
            rig.wait_live()?;
            first = false;
        }
        std::thread::sleep(Duration::from_secs_f64(opts.warmup));
        let w = rig.window(opts.seconds, total)?;
        eprintln!(
            "   {mbps} Mbit/s x {n}: {:.0} pkt/s delivered, loss {:.2}%, forwarding CPU {:.1}% ({:.2}% per stream), receiving {:.1}%, other {:.0}%",
            w.delivered_pps,
            w.loss() * 100.0,
            w.cpu_fwd,
            w.cpu_fwd_per_stream(),
            w.cpu_rx,
            w.cpu_other
        );
        if !rig.running() {
            bail!("a process exited during the window");
        }
        results.paced.push(Paced {
            case,
            streams: n,
            mbps,
            w,
        });
    }
    rig.stop();
    Ok(())
}

fn ramp(opts: &Opts, env: &Env, case: Case, n: usize) -> Result<Ramp> {
    let mut rig = Rig::start(env, case, n, opts.payload)?;
    let mut r = Ramp {
        case,
        streams: n,
        steps: Vec::new(),
        end: String::new(),
    };
    let mut total = opts.ramp_start;
    rig.set_rate(total, "smooth")?;
    rig.wait_live()?;
    let mut retried = false;
    loop {
        rig.set_rate(total, "smooth")?;
        std::thread::sleep(RAMP_WARMUP);
        let w = rig.window(opts.ramp_seconds, total)?;
        eprintln!(
            "   {:.0} pkt/s asked: {:.0} sent, {:.0} delivered, loss {:.2}%, forwarding CPU {:.0}%, receiving {:.0}%, generator {:.0}%, other {:.0}%",
            total,
            w.sent_pps,
            w.delivered_pps,
            w.loss() * 100.0,
            w.cpu_fwd,
            w.cpu_rx,
            w.cpu_gen,
            w.cpu_other
        );
        if !rig.running() {
            bail!("a process exited during the ramp");
        }
        let lossy = w.loss() >= LOSS_LIMIT;
        let gen_short = w.sent_pps < 0.9 * total;
        r.steps.push(w);
        if gen_short {
            r.end = format!(
                "the generator sent less than 90% of the {total:.0} pkt/s asked (generator-bound)"
            );
            break;
        }
        if lossy {
            if retried {
                r.end = format!("{total:.0} pkt/s lost 1% or more twice");
                break;
            }
            // Once more at the same rate: a moment of load elsewhere on the machine should not
            // end the ramp.
            retried = true;
            continue;
        }
        retried = false;
        total *= opts.ramp_factor;
        if total > opts.ramp_max {
            r.end = format!("reached --ramp-max {:.0}", opts.ramp_max);
            break;
        }
    }
    rig.set_rate(0.0, "smooth")?;
    rig.stop();
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// Least-squares line through `(x, y)`: (slope, intercept); `None` with fewer than two
/// distinct x.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "—".into()
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}", x * 100.0)
}

fn report(opts: &Opts, command: &str, r: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Media benchmark: forwarding RTP through one Rust peer vs a bare webrtc 0.17.2 pair\n"
    );
    let _ = writeln!(md, "- Command: `{}`", command.trim());
    let _ = writeln!(md, "- Machine: {}", server::machine());
    let _ = writeln!(
        md,
        "- Date: {}; commit {}; {:.1} minutes; load average (1, 5, 15 min) before: {}, after: {}",
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        capture("git", &["describe", "--always", "--dirty"]),
        r.minutes,
        r.load.0,
        r.load.1
    );
    let _ = writeln!(
        md,
        "- Path: generator → UDP (RTP, {} B payload, PT 96) → forwarding side (library: `RtpUdpSource` → VP8 \
`LocalTrack` → `MediaConnection`; bare: UDP socket → `TrackLocalStaticRTP` → `RTCPeerConnection`) → SRTP \
over loopback → receiving side (library: a `Peer` answering receive-only, `RemoteTrack::read_rtp`; bare: \
`TrackRemote::read_rtp`), one call (peer connection) per stream. Release builds, everything on 127.0.0.1.",
        opts.payload
    );
    let _ = writeln!(
        md,
        "- Processes: library: generator, forwarder, sink and peer-server, each its own process; bare: \
generator and one process holding both sides (sending side on `bare-tx` threads, receiving side on \
`bare-rx` threads, each a 2-worker tokio runtime like the forwarder's and the sink's). CPU is user + system \
time from `/proc/<pid>/stat` (bare: `/proc/<pid>/task/*/stat` by thread name), in % of one core over the window; \
\"other\" is the rest of the machine's busy time (other engineers' builds, peer-server, the harness)."
    );
    let _ = writeln!(
        md,
        "- Loss: the larger of the receiving side's RTP sequence-number loss (1 − received / expected) and \
the shortfall against what the generator sent in the window. Paced windows: {:.0} s after {:.0} s of warm-up, \
each frame's packets sent back to back at 30 fps; capacity steps: {:.0} s after 1 s, packets evenly spaced \
(1 ms batches), total rate × {} per step from {:.0} pkt/s; a step losing ≥ 1% is measured again and the ramp ends when it \
fails twice. Packets per forwarding CPU-second: median over the passing steps from half the capacity up.\n",
        opts.seconds, opts.warmup, opts.ramp_seconds, opts.ramp_factor, opts.ramp_start
    );

    let _ = writeln!(md, "## Forwarding CPU at paced rates\n");
    let _ = writeln!(
        md,
        "| case | streams × Mbit/s | pkt/s sent | delivered pkt/s | loss % | forwarding side CPU % | per stream % | receiving side CPU % | generator % | other % |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for p in &r.paced {
        let w = &p.w;
        let _ = writeln!(
            md,
            "| {} | {} × {} | {:.0} | {:.0} | {} | {:.1} | {:.2} | {:.1} | {:.1} | {:.0} |",
            p.case.label(),
            p.streams,
            p.mbps,
            w.sent_pps,
            w.delivered_pps,
            pct(w.loss()),
            w.cpu_fwd,
            w.cpu_fwd_per_stream(),
            w.cpu_rx,
            w.cpu_gen,
            w.cpu_other
        );
    }
    let _ = writeln!(
        md,
        "\nLeast-squares fit of CPU (% of one core) against the number of streams: the slope is the \
cost of one more stream, the intercept the fixed cost.\n"
    );
    let _ = writeln!(
        md,
        "| Mbit/s per stream | library forwarder: per stream (fixed) | bare sending side: per stream (fixed) | library / bare per stream | library sink: per stream | bare receiving side: per stream |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for &mbps in &opts.rates {
        let points = |case: Case, rx: bool| -> Vec<(f64, f64)> {
            r.paced
                .iter()
                .filter(|p| p.case == case && p.mbps == mbps)
                .map(|p| (p.streams as f64, if rx { p.w.cpu_rx } else { p.w.cpu_fwd }))
                .collect()
        };
        let show = |f: Option<(f64, f64)>| match f {
            Some((s, i)) => format!("{s:.2} ({i:.1})"),
            None => "—".into(),
        };
        let (lf, bf) = (
            fit(&points(Case::Library, false)),
            fit(&points(Case::Bare, false)),
        );
        let _ = writeln!(
            md,
            "| {mbps} | {} | {} | {} | {} | {} |",
            show(lf),
            show(bf),
            match (lf, bf) {
                (Some(l), Some(b)) => ratio(l.0, b.0),
                _ => "—".into(),
            },
            fit(&points(Case::Library, true))
                .map(|f| format!("{:.2}", f.0))
                .unwrap_or_else(|| "—".into()),
            fit(&points(Case::Bare, true))
                .map(|f| format!("{:.2}", f.0))
                .unwrap_or_else(|| "—".into()),
        );
    }

    if !r.ramps.is_empty() {
        let _ = writeln!(md, "\n## Capacity: highest packet rate with < 1% loss\n");
        let _ = writeln!(
            md,
            "| case | streams | pkt/s delivered (Mbit/s of payload) | vs bare | forwarding side CPU % there | receiving side % | generator % | other % | pkt per forwarding CPU-second (vs bare) | rate that lost ≥ 1% twice: pkt/s (loss %) | why the ramp ended |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        for ramp in &r.ramps {
            let bare_ramp = r
                .ramps
                .iter()
                .find(|x| x.case == Case::Bare && x.streams == ramp.streams);
            let bare = bare_ramp.and_then(Ramp::capacity).map(|w| w.delivered_pps);
            let cap = ramp.capacity();
            let fail = ramp.failure();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                ramp.case.label(),
                ramp.streams,
                cap.map(|w| format!("**{:.0}** ({:.1})", w.delivered_pps, w.delivered_mbps))
                    .unwrap_or_else(|| "none".into()),
                match (cap, bare) {
                    (Some(w), Some(b)) => ratio(w.delivered_pps, b),
                    _ => "—".into(),
                },
                cap.map(|w| format!("{:.0}", w.cpu_fwd))
                    .unwrap_or_else(|| "—".into()),
                cap.map(|w| format!("{:.0}", w.cpu_rx))
                    .unwrap_or_else(|| "—".into()),
                cap.map(|w| format!("{:.0}", w.cpu_gen))
                    .unwrap_or_else(|| "—".into()),
                cap.map(|w| format!("{:.0}", w.cpu_other))
                    .unwrap_or_else(|| "—".into()),
                match (
                    ramp.per_cpu_second(),
                    bare_ramp.and_then(Ramp::per_cpu_second)
                ) {
                    (Some(x), Some(b)) => format!("{x:.0} ({})", ratio(x, b)),
                    (Some(x), None) => format!("{x:.0}"),
                    _ => "—".into(),
                },
                fail.map(|(a, b)| format!(
                    "{:.0} ({}, {})",
                    a.target_pps,
                    pct(a.loss()),
                    pct(b.loss())
                ))
                .unwrap_or_else(|| "—".into()),
                ramp.end
            );
        }
        for ramp in &r.ramps {
            let _ = writeln!(
                md,
                "\n### Ramp: {}, {} stream(s)\n",
                ramp.case.label(),
                ramp.streams
            );
            let _ = writeln!(
                md,
                "| pkt/s asked | sent | taken from UDP | delivered | loss % (seq; vs sent) | forwarding CPU % | pkt per forwarding CPU-second | receiving % | generator % | other % | UDP receive-buffer drops (machine) | write errors |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
            for w in &ramp.steps {
                let _ = writeln!(
                    md,
                    "| {:.0} | {:.0} | {:.0} | {:.0} | {} ({}; {}) | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |",
                    w.target_pps,
                    w.sent_pps,
                    w.taken_pps,
                    w.delivered_pps,
                    pct(w.loss()),
                    pct(w.seq_loss),
                    pct(w.end_loss),
                    w.cpu_fwd,
                    w.per_cpu_second(),
                    w.cpu_rx,
                    w.cpu_gen,
                    w.cpu_other,
                    w.rcvbuf_errors,
                    w.write_errors
                );
            }
        }
    }

    let mut notes: Vec<String> = r.problems.clone();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    for p in &r.paced {
        let w = &p.w;
        let what = format!("{}, {} × {} Mbit/s", p.case.label(), p.streams, p.mbps);
        if w.live < w.streams {
            notes.push(format!(
                "{what}: only {} of {} streams arrived",
                w.live, w.streams
            ));
        }
        if w.cpu_other > 25.0 {
            notes.push(format!(
                "{what}: other processes used {:.0}% of a core during the window",
                w.cpu_other
            ));
        }
        let used = w.cpu_fwd + w.cpu_rx + w.cpu_gen + w.cpu_other;
        if used > 90.0 * cores {
            notes.push(format!(
                "{what}: the machine was CPU-saturated ({used:.0}% of {:.0}%)",
                100.0 * cores
            ));
        }
        if w.write_errors > 0 || w.gen_errors > 0 {
            notes.push(format!(
                "{what}: {} track write errors, {} generator send errors",
                w.write_errors, w.gen_errors
            ));
        }
    }
    for c in &r.crashes {
        notes.push(format!("crash: {c}"));
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\n## Problems seen\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_validate() {
        let o = Opts::parse(&[
            "--streams".into(),
            "1,2".into(),
            "--seconds".into(),
            "3".into(),
            "--no-bare".into(),
        ])
        .unwrap();
        assert_eq!(o.streams, vec![1, 2]);
        assert!(!o.bare);
        assert!((o.pps(1.5) - 170.45).abs() < 0.01);
        assert!(Opts::parse(&["--streams".into(), "0".into()]).is_err());
        assert!(Opts::parse(&["--ramp-factor".into(), "1".into()]).is_err());
    }

    #[test]
    fn fit_finds_slope_and_intercept() {
        let (s, i) = fit(&[(1.0, 3.0), (4.0, 9.0), (16.0, 33.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-9 && (i - 1.0).abs() < 1e-9);
        assert!(fit(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn capacity_is_the_highest_passing_step() {
        let step = |pps: f64, loss: f64| Window {
            target_pps: pps,
            delivered_pps: pps,
            seq_loss: loss,
            cpu_fwd: pps / 100.0,
            ..Default::default()
        };
        let r = Ramp {
            case: Case::Library,
            streams: 1,
            steps: vec![
                step(1000.0, 0.0),
                step(2000.0, 0.02),
                step(2000.0, 0.0),
                step(4000.0, 0.0),
                step(8000.0, 0.05),
                step(8000.0, 0.03),
            ],
            end: String::new(),
        };
        assert_eq!(r.capacity().map(|w| w.target_pps), Some(4000.0));
        let (a, b) = r.failure().unwrap();
        assert_eq!((a.target_pps, b.target_pps), (8000.0, 8000.0));
        assert_eq!(r.per_cpu_second(), Some(10_000.0));
    }
}
