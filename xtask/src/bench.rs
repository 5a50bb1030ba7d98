//! `cargo xtask bench signaling`: a load generator that measures `peer-server` beside PeerServer
//! 1.0.2 (npm `peer`, on Node) under identical load, in one run:
//!
//! 1. **Memory per idle peer**: the server's `VmRSS` before and after `--peers N` peers are open
//!    and the RSS has settled, divided by N.
//! 2. **Relay throughput and latency**: `--relay-peers` peers connected, `--pairs` of them playing
//!    ping-pong with about 300-byte ICE-candidate messages, `--inflight` messages in flight per
//!    pair, for `--secs` seconds after a warm-up. Reports relayed messages per second and the
//!    one-way latency (sender → server → receiver, both in this process) p50 and p99.
//!
//! Prints a markdown table and writes it to `target/bench/signaling.md`. `--quick` is a smoke run.
//!
//! `cargo xtask bench data` (data-channel throughput and connect-to-open latency) lives in
//! [`data`]; `cargo xtask bench media` (CPU per forwarded media stream and packets per second
//! one Rust peer carries) in [`media`]; `cargo xtask bench hub` (relay latency with many idle
//! peers, the current work tree beside a baseline commit) in [`hub`]; `cargo xtask bench room`
//! (mesh rooms of Rust members beside rooms of browsers: join to flowing, CPU and memory per
//! member) in [`room`]; `cargo xtask bench sfu` (what the SFU forwards per server core, its
//! added latency, loss and memory per subscriber track) in [`sfu`]; `cargo xtask bench cluster`
//! (relay latency and throughput within and across cluster nodes sharing peers through Redis,
//! and the open rate of two nodes beside one) in [`cluster`].

pub(crate) mod args;
pub(crate) mod client;
mod cluster;
mod data;
mod hub;
mod janus;
mod media;
mod room;
pub(crate) mod server;
mod sfu;
mod window;

use crate::util::root;
use anyhow::{bail, Context, Result};
use args::Args;
use client::{Clock, Dialect};
use server::{Kind, Server};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use window::{IdlePeers, Load, Pairs, Stats};

const USAGE: &str = "usage: cargo xtask bench signaling [--quick] [--peers N] [--relay-peers N] [--pairs N] \
[--inflight 1,8] [--secs S] [--warmup S] [--concurrency N] [--servers peer-server,peerjs] [--no-build] [--client-threads N]";

/// Environment variable marking the re-executed process (with a raised open-files limit).
const REEXEC_ENV: &str = "PEER_BENCH_NOFILE_RAISED";

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    peers: usize,
    relay_peers: usize,
    pairs: usize,
    inflight: Vec<usize>,
    secs: f64,
    warmup: f64,
    concurrency: usize,
    servers: Vec<Kind>,
    build: bool,
    client_threads: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            peers: 10_000,
            relay_peers: 1000,
            pairs: 100,
            inflight: vec![1, 8],
            secs: 10.0,
            warmup: 1.0,
            concurrency: 200,
            servers: vec![Kind::PeerServer, Kind::PeerJs],
            build: true,
            client_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        if args.iter().any(|a| a == "--quick") {
            o.peers = 200;
            o.relay_peers = 100;
            o.pairs = 20;
            o.secs = 2.0;
            o.warmup = 0.5;
        }
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--quick" => {}
                "--no-build" => o.build = false,
                "--peers" => o.peers = a.parse()?,
                "--relay-peers" => o.relay_peers = a.parse()?,
                "--pairs" => o.pairs = a.parse()?,
                "--secs" => o.secs = a.parse()?,
                "--warmup" => o.warmup = a.parse()?,
                "--concurrency" => o.concurrency = a.parse()?,
                "--client-threads" => o.client_threads = a.parse()?,
                "--inflight" => o.inflight = a.list()?,
                "--servers" => {
                    o.servers = a
                        .value()?
                        .split(',')
                        .map(|s| match s.trim() {
                            "peer-server" => Ok(Kind::PeerServer),
                            "peerjs" | "PeerServer" => Ok(Kind::PeerJs),
                            other => bail!("unknown server {other:?}\n{USAGE}"),
                        })
                        .collect::<Result<_>>()?
                }
                _ => return Err(a.unknown()),
            }
        }
        if o.pairs * 2 > o.relay_peers {
            bail!(
                "--pairs {} needs at least {} --relay-peers",
                o.pairs,
                o.pairs * 2
            );
        }
        if !(o.secs > 0.0 && o.secs <= 3600.0 && o.warmup >= 0.0 && o.warmup <= 600.0) {
            bail!("--secs must be in (0, 3600] and --warmup in [0, 600]");
        }
        if o.inflight.is_empty() || o.inflight.iter().any(|&k| k == 0 || k > 10_000) {
            bail!("--inflight values must be in 1..=10000");
        }
        if o.peers == 0 || o.peers > 1_000_000 || o.client_threads == 0 {
            bail!("--peers must be in 1..=1000000 and --client-threads at least 1");
        }
        Ok(o)
    }
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("signaling") => {}
        Some("data") => return data::run(&args[1..]),
        Some("media") => return media::run(&args[1..]),
        Some("hub") => return hub::run(args),
        Some("room") => return room::run(&args[1..]),
        Some("sfu") => return sfu::run(&args[1..]),
        Some("cluster") => return cluster::run(&args[1..]),
        _ => bail!(
            "{USAGE}\n{}\n{}\n{}\n{}\n{}\n{}",
            data::USAGE,
            media::USAGE,
            hub::USAGE,
            room::USAGE,
            sfu::USAGE,
            cluster::USAGE
        ),
    }
    let opts = Opts::parse(&args[1..])?;
    let need = (opts.peers.max(opts.relay_peers) + 512) as u64;
    if relaunch(need, args)? {
        return Ok(());
    }
    let command = format!("cargo xtask bench {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.servers.contains(&Kind::PeerServer) && opts.build {
        crate::util::cargo(&["build", "--release", "-p", "peer-server"])?;
    }
    if opts.servers.contains(&Kind::PeerJs) {
        ensure_peerjs(&root)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        let mut out = Vec::new();
        let clock = Clock::new();
        let mut seed = seed();
        for &kind in &opts.servers {
            eprintln!("== {}", kind.label());
            out.push(bench_server(kind, &opts, &root, &out_dir, clock, &mut seed).await?);
        }
        anyhow::Ok(out)
    })?;
    rt.shutdown_timeout(Duration::from_secs(5));
    let md = report(&opts, &command, &results);
    publish(&md, &out_dir.join("signaling.md"))
}

/// Makes sure the load generator runs optimised and may open `need` files: from a debug build it
/// builds the release xtask and re-executes that; with too low an open-files limit it re-executes
/// itself under a raised one. `args` are the `bench` arguments (subcommand first). Returns
/// whether it re-executed (the child did the work and succeeded): the caller then returns.
fn relaunch(need: u64, args: &[String]) -> Result<bool> {
    let (soft, hard) = server::nofile_limits()?;
    let reexeced = std::env::var_os(REEXEC_ENV).is_some();
    if !reexeced && cfg!(debug_assertions) {
        // The load generator must not be the bottleneck: run it optimised.
        crate::util::cargo(&["build", "--release", "-p", "xtask"])?;
        reexec(
            &root().join("target/release/xtask"),
            soft.max(hard.min(65536)),
            args,
        )?;
        return Ok(true);
    }
    if soft < need {
        if reexeced {
            bail!("open-files limit is {soft} after raising it; {need} needed");
        }
        if hard < need {
            bail!("open-files hard limit {hard} is below the {need} needed");
        }
        reexec(&std::env::current_exe()?, hard.min(65536), args)?;
        return Ok(true);
    }
    Ok(false)
}

/// Runs `exe bench ARGS` under `bash -c 'ulimit -n LIMIT && exec ...'`.
fn reexec(exe: &Path, limit: u64, args: &[String]) -> Result<()> {
    eprintln!(
        "re-running {} with the open-files limit at {limit}",
        exe.display()
    );
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(exe)
        .arg("bench")
        .args(args)
        .env(REEXEC_ENV, "1")
        .status()
        .context("re-running under bash ulimit")?;
    if !status.success() {
        bail!("bench failed: {status}");
    }
    Ok(())
}

/// Installs `bench/node_modules` from the lock file if needed and checks the `peer` version.
fn ensure_peerjs(root: &Path) -> Result<()> {
    let dir = root.join("bench");
    let pkg = dir.join("node_modules/peer/package.json");
    if !pkg.exists() {
        eprintln!("$ npm ci (in bench/)");
        let st = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .context("running npm ci in bench/")?;
        if !st.success() {
            bail!("npm ci in bench/ failed: {st}");
        }
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&pkg)?)?;
    let version = v.get("version").and_then(|v| v.as_str()).unwrap_or("?");
    if version != "1.0.2" {
        bail!("bench/node_modules/peer is {version}, expected 1.0.2: run `npm ci` in bench/");
    }
    Ok(())
}

/// Builds peer-server and the harness programs `bins` (release) in one cargo invocation: built
/// separately, the two resolve shared dependencies' features differently and rebuild each
/// other's webrtc and rustls on every run.
fn build_harness(bins: &[&str]) -> Result<()> {
    let mut args = vec![
        "build",
        "--release",
        "-p",
        "peer-server",
        "-p",
        "peer-harness",
        "--bin",
        "peer-server",
    ];
    for b in bins {
        args.extend(["--bin", b]);
    }
    crate::util::cargo(&args)
}

/// The release harness program `name`, or an error saying how to get it.
fn harness_exe(name: &str) -> Result<std::path::PathBuf> {
    let exe = root().join("target/release").join(name);
    if !exe.exists() {
        bail!("{} is missing: run without --no-build", exe.display());
    }
    Ok(exe)
}

/// Runs `cmd` in the repository root with stderr passed through and returns the JSON objects
/// it printed on stdout (other lines go to stderr); fails if it exits unsuccessfully.
fn collect_json(mut cmd: std::process::Command) -> Result<Vec<serde_json::Value>> {
    use std::io::BufRead;
    let mut child = cmd
        .current_dir(root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(v) if v.is_object() => out.push(v),
                _ => eprintln!("{line}"),
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(out)
}

/// The `p` quantile (nearest rank) of the finite values of `v`; `None` without any.
fn quantile(v: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

/// `a / b` with two decimals, or a dash when either is missing or `b` is not positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

/// `x` with `digits` decimals, or a dash.
fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

/// The first lines of a report: the command, the machine, the commit and the time.
fn report_header(command: &str) -> String {
    format!(
        "- Command: `{command}`\n- Machine: {}\n- Commit: {} ({})\n",
        server::machine(),
        capture("git", &["rev-parse", "--short", "HEAD"]),
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    )
}

/// Prints the report `md` and writes it to `path`.
fn publish(md: &str, path: &Path) -> Result<()> {
    println!("{md}");
    std::fs::write(path, md).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The trimmed standard output of `cmd ARGS` run in the repository root; empty if it fails.
fn capture(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

/// Results of the idle-memory phase.
#[derive(Debug, Default)]
struct IdleResult {
    opened: usize,
    failed: usize,
    first_errors: Vec<String>,
    open_secs: f64,
    open_p50_us: u32,
    open_p99_us: u32,
    open_max_us: u32,
    listen_overflows: u64,
    alive_after: usize,
    lost: Vec<String>,
    rss_before_kib: u64,
    rss_after_kib: u64,
    settle_secs: f64,
    fds: usize,
}

impl IdleResult {
    fn kib_per_peer(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.opened.max(1) as f64
    }
}

/// Results of one relay run.
#[derive(Debug, Default, Clone)]
struct RelayResult {
    inflight: usize,
    connected: usize,
    failed: String,
    received: u64,
    rate: f64,
    p50_us: u32,
    p99_us: u32,
    max_us: u32,
    server_cpu: f64,
    client_cpu: f64,
    other_cpu: f64,
    task_errors: usize,
    first_task_error: Option<String>,
    bad_src: u64,
    unexpected: u64,
    samples: Vec<String>,
}

/// Everything measured for one server.
#[derive(Debug)]
struct ServerResult {
    kind: Kind,
    idle: IdleResult,
    relays: Vec<RelayResult>,
    crashed: Option<String>,
}

async fn bench_server(
    kind: Kind,
    opts: &Opts,
    root: &Path,
    out_dir: &Path,
    clock: Clock,
    seed: &mut u64,
) -> Result<ServerResult> {
    let mut srv = Server::start(kind, root, out_dir).await?;
    eprintln!("   pid {} listening on 127.0.0.1:{}", srv.pid, srv.port);
    let dialect = Arc::new(match kind {
        Kind::PeerServer => Dialect::SocketIo {
            api_key: server::API_KEY.into(),
            credential: None,
        },
        Kind::PeerJs => Dialect::PeerJs,
    });
    let mut res = ServerResult {
        kind,
        idle: IdleResult::default(),
        relays: Vec::new(),
        crashed: None,
    };
    res.idle = idle_phase(&srv, &dialect, opts, seed).await?;
    eprintln!(
        "   idle: {}/{} open, {:.1} KiB/peer",
        res.idle.alive_after,
        opts.peers,
        res.idle.kib_per_peer()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for &k in &opts.inflight {
        if !srv.running() {
            break;
        }
        let r = relay_phase(&srv, &dialect, opts, k, clock, seed).await?;
        eprintln!(
            "   relay K={k}: {:.0} msgs/s, p50 {:.2} ms, p99 {:.2} ms",
            r.rate,
            f64::from(r.p50_us) / 1000.0,
            f64::from(r.p99_us) / 1000.0
        );
        res.relays.push(r);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if !srv.running() {
        res.crashed = Some(format!(
            "the server process exited during the run; see {}",
            srv.log.display()
        ));
    }
    srv.stop().await;
    Ok(res)
}

async fn idle_phase(
    srv: &Server,
    dialect: &Arc<Dialect>,
    opts: &Opts,
    seed: &mut u64,
) -> Result<IdleResult> {
    let mut r = IdleResult::default();
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.rss_before_kib = srv.rss_kib()?;
    let ids: Vec<String> = (0..opts.peers).map(|i| format!("idle-{i:06}")).collect();
    let overflows = server::listen_overflows();
    let t0 = Instant::now();
    let (conns, mut took) =
        client::connect_many(srv.port, dialect, &ids, opts.concurrency, seed).await;
    r.open_secs = t0.elapsed().as_secs_f64();
    r.listen_overflows = server::listen_overflows().saturating_sub(overflows);
    let open = Stats::of(&mut took);
    (r.open_p50_us, r.open_p99_us, r.open_max_us) = (open.p50, open.p99, open.max);
    let mut idles = IdlePeers::new();
    let hard_deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let period = dialect.keepalive().1;
    for c in conns {
        match c {
            Ok(ws) => {
                r.opened += 1;
                idles.add(ws, dialect, hard_deadline, period);
            }
            Err(e) => {
                r.failed += 1;
                if r.first_errors.len() < 3 {
                    r.first_errors.push(format!("{e:#}"));
                }
            }
        }
    }
    eprintln!(
        "   opened {} of {} in {:.1} s (each: p50 {} ms, p99 {} ms, max {} ms)",
        r.opened,
        opts.peers,
        r.open_secs,
        ms(r.open_p50_us),
        ms(r.open_p99_us),
        ms(r.open_max_us)
    );
    // Settle: at most 30 s, until three 1-second readings lie within 0.5% (or 256 KiB).
    let t1 = Instant::now();
    let mut last: Vec<u64> = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        last.push(srv.rss_kib()?);
        if last.len() >= 3 {
            let w = &last[last.len() - 3..];
            let (lo, hi) = (
                w.iter().min().copied().unwrap_or(0),
                w.iter().max().copied().unwrap_or(0),
            );
            if hi - lo <= (hi / 200).max(256) {
                break;
            }
        }
    }
    r.settle_secs = t1.elapsed().as_secs_f64();
    eprintln!("   RSS settled after {:.0} s", r.settle_secs);
    r.rss_after_kib = last.last().copied().unwrap_or(r.rss_before_kib);
    r.alive_after = idles.alive();
    r.fds = srv.fds();
    r.lost = idles.stop(Duration::from_secs(120)).await;
    r.lost.truncate(3);
    Ok(r)
}

async fn relay_phase(
    srv: &Server,
    dialect: &Arc<Dialect>,
    opts: &Opts,
    k: usize,
    clock: Clock,
    seed: &mut u64,
) -> Result<RelayResult> {
    let mut r = RelayResult {
        inflight: k,
        ..Default::default()
    };
    let ids: Vec<String> = (0..opts.relay_peers)
        .map(|i| format!("relay{k}-{i:05}"))
        .collect();
    let (conns, _) = client::connect_many(srv.port, dialect, &ids, opts.concurrency, seed).await;
    let Some(streams) = all_opened(&mut r, conns) else {
        return Ok(r);
    };
    let load = Load {
        pairs: opts.pairs,
        inflight: k,
        warmup: opts.warmup,
        secs: opts.secs,
    };
    let mut rest = streams.into_iter();
    let pairs = Pairs::start(load, &mut rest, &ids, dialect, clock)?;
    let mut idles = IdlePeers::new();
    let until = pairs.window.deadline + Duration::from_secs(60);
    let period = dialect.keepalive().1;
    for ws in rest {
        idles.add(ws, dialect, until, period);
    }
    let (cpu, stats) = pairs.finish(srv, server::clk_tck() as f64).await?;
    (r.server_cpu, r.client_cpu, r.other_cpu) = (cpu.server, cpu.client, cpu.other);
    idles.stop(Duration::from_secs(60)).await;
    tally(&mut r, stats, opts.secs);
    Ok(r)
}

/// The streams of `conns` if every peer opened (`r.connected` set); otherwise `None`, with
/// `r.failed` saying how many failed and why the first did.
fn all_opened(r: &mut RelayResult, conns: Vec<Result<client::Ws>>) -> Option<Vec<client::Ws>> {
    let total = conns.len();
    let mut streams = Vec::with_capacity(total);
    let (mut failed, mut first) = (0usize, String::new());
    for c in conns {
        match c {
            Ok(ws) => streams.push(ws),
            Err(e) => {
                if failed == 0 {
                    first = format!("{e:#}");
                }
                failed += 1;
            }
        }
    }
    r.connected = streams.len();
    if failed > 0 {
        r.failed = format!("{failed} of {total} peers failed to open; first: {first}");
        return None;
    }
    Some(streams)
}

/// Adds what the relaying peers saw (`stats`, over a window of `secs` measured seconds) to `r`:
/// messages and their rate, the latency quantiles, wrong sources, unexpected frames and tasks
/// that ended early. Returns every latency sample (µs, sorted), for pooling runs.
fn tally(r: &mut RelayResult, stats: Vec<client::RelayStats>, secs: f64) -> Vec<u32> {
    let mut lat: Vec<u32> = Vec::new();
    for s in stats {
        r.received += s.received;
        lat.extend_from_slice(&s.latencies_us);
        r.bad_src += s.bad_src;
        r.unexpected += s.unexpected;
        for x in s.samples {
            if r.samples.len() < 3 {
                r.samples.push(x);
            }
        }
        if let Some(e) = s.error {
            r.task_errors += 1;
            r.first_task_error.get_or_insert(e);
        }
    }
    r.rate = r.received as f64 / secs;
    let st = Stats::of(&mut lat);
    (r.p50_us, r.p99_us, r.max_us) = (st.p50, st.p99, st.max);
    lat
}

/// Relayed messages per second of server CPU time.
fn per_cpu_second(x: &RelayResult) -> f64 {
    if x.server_cpu > 0.0 {
        x.rate / (x.server_cpu / 100.0)
    } else {
        0.0
    }
}

fn problems(x: &RelayResult) -> String {
    if !x.failed.is_empty() {
        "open failed".to_string()
    } else {
        format!(
            "{} task errors, {} wrong src, {} unexpected frames",
            x.task_errors, x.bad_src, x.unexpected
        )
    }
}

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**MISS**"
    }
}

fn report(opts: &Opts, command: &str, results: &[ServerResult]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Signaling benchmark: peer-server vs PeerServer 1.0.2\n"
    );
    let _ = writeln!(md, "- Command: `{command}`");
    let _ = writeln!(md, "- Machine: {}", server::machine());
    let _ = writeln!(
        md,
        "- Date: {}; commit {}",
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        capture("git", &["describe", "--always", "--dirty"])
    );
    let _ = writeln!(
        md,
        "- Load generator: this process, tokio with {} worker thread(s), on the same machine as the server; \
servers measured one after the other, all on 127.0.0.1.",
        opts.client_threads
    );
    let _ = writeln!(
        md,
        "- Idle phase: {} peers opened ({} handshakes in flight), each sending the client's keepalive \
(skyway-js: `2` every 25 s; PeerJS: `HEARTBEAT` every 5 s); RSS is read when three 1-s readings agree within 0.5%.",
        opts.peers, opts.concurrency
    );
    let _ = writeln!(
        md,
        "- Relay phase: {} fresh peers connected, {} pairs ping-pong ICE-candidate messages (~300 B: \
`SEND_CANDIDATE` → `CANDIDATE` for peer-server, `CANDIDATE` for PeerServer), K in flight per pair, \
{:.1} s warm-up then {:.1} s measured. Latency is **one-way** (send stamp inside the message → receipt, \
same process clock), over every message relayed in the window. The other peers stay connected and idle.",
        opts.relay_peers, opts.pairs, opts.warmup, opts.secs
    );
    let sample = |d: Dialect| d.relay_frame("relay1-00001", 0).len();
    let _ = writeln!(
        md,
        "- Sent frame sizes: peer-server {} B (`42[\"SEND_CANDIDATE\",…]`), PeerServer {} B; \
each server adds `src` when relaying.\n",
        sample(Dialect::SocketIo {
            api_key: server::API_KEY.into(),
            credential: None,
        }),
        sample(Dialect::PeerJs)
    );
    let get = |k: Kind| results.iter().find(|r| r.kind == k);
    let (ours, theirs) = (get(Kind::PeerServer), get(Kind::PeerJs));
    let _ = write!(md, "| metric |");
    for r in results {
        let _ = write!(md, " {} |", r.kind.label());
    }
    let both = ours.is_some() && theirs.is_some();
    if both {
        let _ = write!(md, " peer-server / PeerServer |");
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "|---|{}{}",
        "---|".repeat(results.len()),
        if both { "---|" } else { "" }
    );
    let mut row = |name: &str, f: &dyn Fn(&ServerResult) -> String, ratio: Option<String>| {
        let _ = write!(md, "| {name} |");
        for r in results {
            let _ = write!(md, " {} |", f(r));
        }
        if both {
            let _ = write!(md, " {} |", ratio.unwrap_or_default());
        }
        let _ = writeln!(md);
    };
    let ratio = |f: &dyn Fn(&ServerResult) -> f64| -> Option<String> {
        match (ours, theirs) {
            (Some(a), Some(b)) if f(b) > 0.0 => Some(format!("{:.2}x", f(a) / f(b))),
            _ => None,
        }
    };
    row(
        &format!("idle peers opened (of {})", opts.peers),
        &|r| format!("{} in {:.1} s", r.idle.opened, r.idle.open_secs),
        None,
    );
    row(
        "open rate (peers/s)",
        &|r| format!("{:.0}", r.idle.opened as f64 / r.idle.open_secs.max(1e-9)),
        ratio(&|r| r.idle.opened as f64 / r.idle.open_secs.max(1e-9)),
    );
    row(
        "time to open one peer p50 / p99 / max (ms)",
        &|r| {
            format!(
                "{} / {} / {}",
                ms(r.idle.open_p50_us),
                ms(r.idle.open_p99_us),
                ms(r.idle.open_max_us)
            )
        },
        None,
    );
    row(
        "listen-backlog overflows while opening (kernel, machine-wide)",
        &|r| r.idle.listen_overflows.to_string(),
        None,
    );
    row(
        "still open after settling",
        &|r| r.idle.alive_after.to_string(),
        None,
    );
    row(
        "server RSS: before → with idle peers (MiB)",
        &|r| {
            format!(
                "{:.1} → {:.1} (settled in {:.0} s)",
                r.idle.rss_before_kib as f64 / 1024.0,
                r.idle.rss_after_kib as f64 / 1024.0,
                r.idle.settle_secs
            )
        },
        ratio(&|r| r.idle.rss_after_kib as f64),
    );
    row(
        "**RSS per idle peer (KiB)**",
        &|r| format!("**{:.2}**", r.idle.kib_per_peer()),
        ratio(&|r| r.idle.kib_per_peer()),
    );
    row(
        "server open fds with idle peers",
        &|r| r.idle.fds.to_string(),
        None,
    );
    for (i, &k) in opts.inflight.iter().enumerate() {
        let rel = move |r: &ServerResult| -> Option<RelayResult> { r.relays.get(i).cloned() };
        row(
            &format!("**relay K={k}: msgs/s**"),
            &|r| {
                rel(r)
                    .map(|x| format!("**{:.0}**", x.rate))
                    .unwrap_or_else(|| "—".into())
            },
            ratio(&|r| rel(r).map(|x| x.rate).unwrap_or(0.0)),
        );
        row(
            &format!("relay K={k}: msgs per server CPU-second"),
            &|r| {
                rel(r)
                    .map(|x| format!("{:.0}", per_cpu_second(&x)))
                    .unwrap_or_else(|| "—".into())
            },
            ratio(&|r| rel(r).map(|x| per_cpu_second(&x)).unwrap_or(0.0)),
        );
        row(
            &format!("relay K={k}: one-way latency p50 / p99 / max (ms)"),
            &|r| {
                rel(r)
                    .map(|x| format!("{} / {} / {}", ms(x.p50_us), ms(x.p99_us), ms(x.max_us)))
                    .unwrap_or_else(|| "—".into())
            },
            ratio(&|r| rel(r).map(|x| f64::from(x.p99_us)).unwrap_or(0.0))
                .map(|s| format!("p99 {s}")),
        );
        row(
            &format!("relay K={k}: CPU server / load generator / other processes (% of one core)"),
            &|r| {
                rel(r)
                    .map(|x| {
                        format!(
                            "{:.0} / {:.0} / {:.0}",
                            x.server_cpu, x.client_cpu, x.other_cpu
                        )
                    })
                    .unwrap_or_else(|| "—".into())
            },
            None,
        );
        row(
            &format!("relay K={k}: problems"),
            &|r| {
                rel(r)
                    .map(|x| problems(&x))
                    .unwrap_or_else(|| "not run".into())
            },
            None,
        );
    }
    let _ = writeln!(md, "\n## Targets (from the issue)\n");
    match (ours, theirs) {
        (Some(a), Some(b)) => {
            let held = a.idle.alive_after;
            if opts.peers >= 10_000 {
                let _ = writeln!(
                    md,
                    "- 10,000 concurrent peers: {} (peer-server held {held} of {} open; PeerServer {}).",
                    verdict(held >= 10_000 && a.crashed.is_none()),
                    opts.peers,
                    b.idle.alive_after
                );
            } else {
                let _ = writeln!(
                    md,
                    "- 10,000 concurrent peers: not evaluated (--peers {} < 10000).",
                    opts.peers
                );
            }
            for (i, &k) in opts.inflight.iter().enumerate() {
                let (x, y) = (
                    a.relays.get(i).map(|x| x.rate),
                    b.relays.get(i).map(|x| x.rate),
                );
                match (x, y) {
                    (Some(x), Some(y)) if y > 0.0 => {
                        let _ = writeln!(
                            md,
                            "- ≥5x PeerServer's relay throughput, K={k}: {} ({:.2}x: {x:.0} vs {y:.0} msgs/s).",
                            verdict(x / y >= 5.0),
                            x / y
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            md,
                            "- ≥5x PeerServer's relay throughput, K={k}: not measured."
                        );
                    }
                }
            }
            let (ma, mb) = (a.idle.kib_per_peer(), b.idle.kib_per_peer());
            let _ = writeln!(
                md,
                "- ≤1/5 of PeerServer's memory per idle peer: {} ({ma:.2} vs {mb:.2} KiB, ratio {:.2}; target ≤ 0.20).",
                verdict(mb > 0.0 && ma <= mb / 5.0),
                if mb > 0.0 { ma / mb } else { f64::NAN }
            );
        }
        _ => {
            let _ = writeln!(
                md,
                "- Not evaluated: both servers are needed for the comparison."
            );
        }
    }
    let mut notes = String::new();
    for r in results {
        let l = r.kind.label();
        if let Some(c) = &r.crashed {
            let _ = writeln!(notes, "- {l}: {c}");
        }
        for e in &r.idle.first_errors {
            let _ = writeln!(
                notes,
                "- {l}, idle open failed ({} total): {e}",
                r.idle.failed
            );
        }
        for e in &r.idle.lost {
            let _ = writeln!(notes, "- {l}, idle peer lost before the end: {e}");
        }
        for x in &r.relays {
            if !x.failed.is_empty() {
                let _ = writeln!(notes, "- {l}, relay K={}: {}", x.inflight, x.failed);
            }
            if let Some(e) = &x.first_task_error {
                let _ = writeln!(
                    notes,
                    "- {l}, relay K={}: {} peer task(s) ended early; first: {e}",
                    x.inflight, x.task_errors
                );
            }
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64;
            let used = x.server_cpu + x.client_cpu + x.other_cpu;
            if used > 90.0 * cores {
                let _ = writeln!(
                    notes,
                    "- {l}, relay K={}: the machine was CPU-saturated ({used:.0}% of {:.0}%: server {:.0}, \
load generator {:.0}, other {:.0}); msgs/s is bounded by the CPU left to the server.",
                    x.inflight,
                    100.0 * cores,
                    x.server_cpu,
                    x.client_cpu,
                    x.other_cpu
                );
            }
            if x.other_cpu > 25.0 {
                let _ = writeln!(
                    notes,
                    "- {l}, relay K={}: the machine was busy: other processes used {:.0}% of a core \
during the window, so this row is not a clean comparison.",
                    x.inflight, x.other_cpu
                );
            }
            for s in &x.samples {
                let _ = writeln!(
                    notes,
                    "- {l}, relay K={}: unexpected frame `{s}`",
                    x.inflight
                );
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\n## Problems seen\n\n{notes}");
    }
    md
}
