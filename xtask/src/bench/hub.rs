//! `cargo xtask bench hub`: the one-way relay latency of `peer-server` while many idle peers are
//! connected, for the current work tree and, with `--baseline REV`, a build of an older commit,
//! measured one after the other by the same load generator in one run.
//!
//! The case exists for the hub's timers: up to b4980b1 the server ran `Hub::tick` every 500 ms
//! under the hub lock, visiting every peer of every app; the hub now keeps its deadlines ordered
//! (`Hub::poll_timeout` / `Hub::handle_timeout`), so time passing touches only what is due.
//!
//! Per build and round: start the release server (the configuration of `bench signaling`), open
//! `--idle` peers that only send the Engine.IO keepalive (`2` every 25 s, as skyway-js; their
//! first ones spread evenly over the 25 s rather than all at once), read the server's CPU use
//! with only them connected for 5 s, then open `--pairs` pairs playing ping-pong with ~300-byte
//! `SEND_CANDIDATE` messages (`--inflight` per pair) for `--warmup` + `--secs` seconds, the idle
//! peers still connected. Reports the one-way latency p50, p99, p99.9 and max and the relayed
//! messages per second, per round and pooled per build, with after/before ratios. To show
//! periodic stalls, the time slots (10 ms) in which a message at or above the round's p99
//! (p99.9) arrived are folded by their phase in a 500 ms period (the old tick's) and in a 437 ms
//! control period: the share of them in the worst 20 ms of the period (4% if spread evenly). The
//! five slowest slots of each round are listed with their times.
//!
//! With `--credentials` the app requires credentials and every peer presents a day-long one
//! (made here as an app server makes it, [`credential`]): the old tick then also cloned the app
//! key and id of every connected credentialed peer and looked each one up again, every 500 ms,
//! whereas peers with only an API key were merely visited.
//!
//! The baseline is built under `target/bench-baseline/`: a detached `git worktree` of REV at
//! `src/`, `cargo build --release -p peer-server` there with `CARGO_TARGET_DIR` set to
//! `target/bench-baseline/target`, the binary copied to `peer-server-<commit>` and the worktree
//! removed. A binary already there for the same commit is reused. The order of the builds
//! alternates per round (before, after; after, before; ...). Before each measurement the bench
//! waits, up to `--wait-quiet` seconds (default 120), for 2 s in which the machine is quiet
//! (under 15% of one core busy), as other work on a shared machine swamps these figures; a
//! measurement during which other processes took more than `--max-other` percent of a core
//! (default 25) is discarded and repeated, up to `--attempts` (default 3) in all, the last one
//! kept whatever it saw. The discarded ones are listed. Writes `target/bench/hub.md`.

mod credential;

use super::args::Args;
use super::client::{self, Clock, Dialect};
use super::server::{self, Server};
use super::window::{cpu_pct, IdlePeers, Load, Pairs, Stats};
use super::{capture, seed};
use crate::util::{cargo, cargo_command, root};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Usage of `cargo xtask bench hub`.
pub const USAGE: &str =
    "usage: cargo xtask bench hub [--idle N] [--pairs N] [--inflight K] [--secs S] [--warmup S] \
[--rounds N] [--baseline REV] [--credentials] [--no-build] [--wait-quiet S] [--max-other PCT] [--attempts N] \
[--concurrency N] [--client-threads N]";

/// Seconds over which the server's CPU use with only the idle peers is read.
const IDLE_CPU_SECS: u64 = 5;

/// The period of the old hub tick (and of the session sweep), in µs.
const TICK_PERIOD_US: u64 = 500_000;

/// A period unrelated to the server's timers, as a control for the fold, in µs.
const CONTROL_PERIOD_US: u64 = 437_000;

/// Bins a period is folded into.
const FOLD_BINS: usize = 50;

/// Adjacent bins of the "worst window" (2 of 50: 20 ms of 500 ms).
const WINDOW_BINS: usize = 2;

/// Paths whose uncommitted changes make the work-tree build differ from its commit.
const SERVER_PATHS: [&str; 6] = [
    "crates/peer-server",
    "crates/peer-protocol",
    "crates/peer-auth",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
];

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    idle: usize,
    pairs: usize,
    inflight: usize,
    secs: f64,
    warmup: f64,
    rounds: usize,
    baseline: Option<String>,
    build: bool,
    wait_quiet: f64,
    credentials: bool,
    max_other: f64,
    attempts: usize,
    concurrency: usize,
    client_threads: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            idle: 10_000,
            pairs: 100,
            inflight: 1,
            secs: 20.0,
            warmup: 2.0,
            rounds: 2,
            baseline: None,
            build: true,
            wait_quiet: 120.0,
            credentials: false,
            max_other: 25.0,
            attempts: 3,
            concurrency: 200,
            client_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--no-build" => o.build = false,
                "--credentials" => o.credentials = true,
                "--idle" => o.idle = a.parse()?,
                "--pairs" => o.pairs = a.parse()?,
                "--inflight" => o.inflight = a.parse()?,
                "--secs" => o.secs = a.parse()?,
                "--warmup" => o.warmup = a.parse()?,
                "--rounds" => o.rounds = a.parse()?,
                "--baseline" => o.baseline = Some(a.value()?.to_owned()),
                "--wait-quiet" => o.wait_quiet = a.parse()?,
                "--max-other" => o.max_other = a.parse()?,
                "--attempts" => o.attempts = a.parse()?,
                "--concurrency" => o.concurrency = a.parse()?,
                "--client-threads" => o.client_threads = a.parse()?,
                _ => return Err(a.unknown()),
            }
        }
        if o.idle > 1_000_000 || o.pairs == 0 || o.pairs > 10_000 {
            bail!("--idle must be at most 1000000 and --pairs in 1..=10000");
        }
        if o.inflight == 0 || o.inflight > 10_000 {
            bail!("--inflight must be in 1..=10000");
        }
        if !(o.secs > 0.0 && o.secs <= 3600.0 && o.warmup >= 0.0 && o.warmup <= 600.0) {
            bail!("--secs must be in (0, 3600] and --warmup in [0, 600]");
        }
        if !(0.0..=3600.0).contains(&o.wait_quiet) {
            bail!("--wait-quiet must be in [0, 3600]");
        }
        if o.attempts == 0 || o.attempts > 20 || !(0.0..=10_000.0).contains(&o.max_other) {
            bail!("--attempts must be in 1..=20 and --max-other in [0, 10000]");
        }
        if o.rounds == 0 || o.rounds > 100 || o.client_threads == 0 || o.concurrency == 0 {
            bail!("--rounds must be in 1..=100, --client-threads and --concurrency at least 1");
        }
        Ok(o)
    }
}

/// One server build under test.
#[derive(Debug, Clone)]
struct Build {
    /// "before" (the baseline) or "after" (the work tree).
    label: &'static str,
    /// The commit it was built from, with a note when the work tree differs from it.
    commit: String,
    /// The release binary.
    bin: PathBuf,
}

/// Entry point; `args` are the `bench` arguments, `hub` first.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args.get(1..).unwrap_or_default())?;
    let need = (opts.idle + 2 * opts.pairs + 512) as u64;
    if super::relaunch(need, args)? {
        return Ok(());
    }
    let command = format!("cargo xtask bench {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let mut builds = Vec::new();
    if let Some(rev) = &opts.baseline {
        builds.push(baseline_build(&root, rev, opts.build)?);
    }
    builds.push(current_build(&root, opts.build)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()?;
    let (runs, discarded) = rt.block_on(async {
        let clock = Clock::new();
        let mut seed = seed();
        let mut runs = Vec::new();
        let mut discarded = Vec::new();
        for round in 0..opts.rounds {
            let mut order: Vec<&Build> = builds.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for b in order {
                for attempt in 1..=opts.attempts {
                    eprintln!(
                        "== round {}, {} ({}), attempt {attempt}",
                        round + 1,
                        b.label,
                        b.commit
                    );
                    let mut r = measure(b, round, &opts, &out_dir, clock, &mut seed).await?;
                    eprintln!(
                        "   {:.0} msgs/s; one-way p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms; other processes {:.0}%",
                        r.rate(),
                        ms3(r.stats.p50),
                        ms3(r.stats.p99),
                        ms3(r.stats.p999),
                        ms3(r.stats.max),
                        r.other_cpu
                    );
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if r.other_cpu <= opts.max_other || attempt == opts.attempts {
                        r.attempt = attempt;
                        runs.push(r);
                        break;
                    }
                    discarded.push(format!(
                        "round {}, {}, attempt {attempt}: other processes used {:.0}% of a core \
(p50 {} ms, p99 {} ms, {:.0} msgs/s)",
                        round + 1,
                        b.label,
                        r.other_cpu,
                        ms3(r.stats.p50),
                        ms3(r.stats.p99),
                        r.rate()
                    ));
                }
            }
        }
        anyhow::Ok((runs, discarded))
    })?;
    rt.shutdown_timeout(Duration::from_secs(5));
    let md = report(&opts, &command, &builds, &runs, &discarded);
    super::publish(&md, &out_dir.join("hub.md"))
}

/// Runs `git ARGS` in `dir` and returns its trimmed standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The work tree's server: built (unless `--no-build`) in `target/release`.
fn current_build(root: &Path, build: bool) -> Result<Build> {
    if build {
        cargo(&["build", "--release", "-p", "peer-server"])?;
    }
    let bin = root.join("target/release/peer-server");
    if !bin.exists() {
        bail!("{} is missing: run without --no-build", bin.display());
    }
    let head = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    let mut status_args = vec!["status", "--porcelain", "--"];
    status_args.extend(SERVER_PATHS);
    let dirty = !git(root, &status_args)?.is_empty();
    let mut commit = if dirty {
        format!("{head} + uncommitted changes to the server's sources")
    } else {
        format!("{head} (work tree, server sources clean)")
    };
    if !build {
        commit.push_str(", binary not rebuilt (--no-build)");
    }
    Ok(Build {
        label: "after",
        commit,
        bin,
    })
}

/// A `git worktree` that is removed when dropped.
struct Worktree {
    root: PathBuf,
    path: PathBuf,
}

impl Worktree {
    /// Adds a detached worktree of `commit` at `path` (removing a stale one there first).
    fn add(root: &Path, path: &Path, commit: &str) -> Result<Worktree> {
        let p = path.to_string_lossy().into_owned();
        if path.exists() {
            // Left by an interrupted run.
            let _ = git(root, &["worktree", "remove", "--force", &p]);
        }
        git(root, &["worktree", "prune"])?;
        eprintln!("$ git worktree add --detach {p} {commit}");
        git(root, &["worktree", "add", "--detach", &p, commit])?;
        Ok(Worktree {
            root: root.to_path_buf(),
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let p = self.path.to_string_lossy().into_owned();
        match git(&self.root, &["worktree", "remove", "--force", &p]) {
            Ok(_) => eprintln!("removed worktree {p}"),
            Err(e) => eprintln!("could not remove worktree {p}: {e:#}"),
        }
    }
}

/// The baseline server at `rev`: `target/bench-baseline/peer-server-<commit>`, built from a
/// temporary worktree when missing.
fn baseline_build(root: &Path, rev: &str, build: bool) -> Result<Build> {
    let full = git(
        root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
    .with_context(|| format!("--baseline {rev} is not a commit"))?;
    let short = full.get(..12).unwrap_or(&full).to_string();
    let dir = root.join("target/bench-baseline");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join(format!("peer-server-{full}"));
    if bin.exists() {
        eprintln!("reusing the baseline {}", bin.display());
    } else {
        if !build {
            bail!(
                "{} is missing and --no-build was given: run once without --no-build",
                bin.display()
            );
        }
        let tree = Worktree::add(root, &dir.join("src"), &full)?;
        let target = dir.join("target");
        eprintln!(
            "$ CARGO_TARGET_DIR={} cargo build --release -p peer-server (in {})",
            target.display(),
            tree.path.display()
        );
        let status = cargo_command()
            .args(["build", "--release", "-p", "peer-server"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&tree.path)
            .status()
            .context("running cargo for the baseline")?;
        if !status.success() {
            bail!("building peer-server at {short} failed: {status}");
        }
        let tmp = dir.join(format!("peer-server-{full}.tmp"));
        std::fs::copy(target.join("release/peer-server"), &tmp)
            .context("copying the baseline binary")?;
        std::fs::rename(&tmp, &bin)?;
        drop(tree);
    }
    Ok(Build {
        label: "before",
        commit: short,
        bin,
    })
}

/// Where in a period the slow moments fell.
#[derive(Debug, Default, Clone, Copy)]
struct Fold {
    /// Time slots (a 50th of the period each) in which a slow message arrived.
    slots: usize,
    /// Share of those slots that lie in the worst window of the folded period.
    share: f64,
    /// Start of that window, ms into the period.
    at_ms: f64,
}

/// Folds `samples` (arrival µs, latency µs) over `period_us`. Time is cut into slots of a
/// `FOLD_BINS`th of the period; a slot is slow when a message with latency at or above
/// `threshold` arrived in it (so one long stall that delays many messages counts once per slot,
/// not once per message). The slow slots are folded by their phase in the period, and the result
/// is the share of them in the worst `WINDOW_BINS` adjacent phases (circular).
fn fold(samples: &[(u64, u32)], threshold: u32, period_us: u64) -> Fold {
    let bin_us = (period_us / FOLD_BINS as u64).max(1);
    let slow: std::collections::BTreeSet<u64> = samples
        .iter()
        .filter(|&&(_, lat)| lat >= threshold)
        .map(|&(at, _)| at / bin_us)
        .collect();
    if slow.is_empty() {
        return Fold::default();
    }
    let mut bins = [0u64; FOLD_BINS];
    for slot in &slow {
        let b = usize::try_from(slot % FOLD_BINS as u64).unwrap_or(0);
        bins[b] += 1;
    }
    let (best, count) = (0..FOLD_BINS)
        .map(|s| {
            let c: u64 = (0..WINDOW_BINS).map(|k| bins[(s + k) % FOLD_BINS]).sum();
            (s, c)
        })
        .max_by_key(|&(_, c)| c)
        .unwrap_or((0, 0));
    Fold {
        slots: slow.len(),
        share: count as f64 / slow.len() as f64,
        at_ms: (best as u64 * bin_us) as f64 / 1000.0,
    }
}

/// The `n` 10 ms slots with the slowest messages: (seconds after `start_us`, worst latency µs),
/// slowest first.
fn worst_slots(samples: &[(u64, u32)], start_us: u64, n: usize) -> Vec<(f64, u32)> {
    let mut slots: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for &(at, lat) in samples {
        let e = slots.entry(at / 10_000).or_insert(0);
        *e = (*e).max(lat);
    }
    let mut v: Vec<(u64, u32)> = slots.into_iter().collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(n)
        .map(|(slot, lat)| ((slot * 10_000).saturating_sub(start_us) as f64 / 1e6, lat))
        .collect()
}

/// One build measured once.
#[derive(Debug)]
struct Run {
    label: &'static str,
    round: usize,
    /// Which attempt of this round and build was kept (see `--attempts`).
    attempt: usize,
    idle_opened: usize,
    idle_open_secs: f64,
    idle_alive_end: usize,
    /// Server CPU (% of one core) with only the idle peers connected.
    idle_cpu: f64,
    server_cpu: f64,
    client_cpu: f64,
    other_cpu: f64,
    secs: f64,
    /// (arrival µs, latency µs) of every message relayed in the window.
    samples: Vec<(u64, u32)>,
    stats: Stats,
    fold_p99: Fold,
    fold_p999: Fold,
    control_p99: Fold,
    control_p999: Fold,
    /// The slowest 10 ms slots: (seconds into the measured window, worst latency µs).
    worst: Vec<(f64, u32)>,
    problems: Vec<String>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.stats.n as f64 / self.secs
    }
}

/// A day-long credential for `peer_id` under the bench app's secret.
fn bench_credential(peer_id: &str) -> String {
    credential::credential_query(server::SECRET, peer_id, 86_400)
}

/// Busy CPU of the machine (% of one core) below which it counts as quiet.
const QUIET_PCT: f64 = 15.0;

/// Waits, up to `limit`, for a 2-second reading in which the machine is quiet (this process does
/// nothing meanwhile); returns the last reading (% of one core) and whether it was quiet.
pub(super) async fn wait_quiet(limit: Duration) -> Result<(f64, bool)> {
    let tck = server::clk_tck() as f64;
    let started = Instant::now();
    let mut last = 0.0;
    while started.elapsed() < limit {
        let (b0, t0) = (server::machine_busy_ticks()?, Instant::now());
        tokio::time::sleep(Duration::from_secs(2)).await;
        last = cpu_pct(
            b0,
            server::machine_busy_ticks()?,
            tck,
            t0.elapsed().as_secs_f64(),
        );
        if last < QUIET_PCT {
            return Ok((last, true));
        }
    }
    Ok((last, limit.is_zero()))
}

async fn measure(
    build: &Build,
    round: usize,
    opts: &Opts,
    out_dir: &Path,
    clock: Clock,
    seed: &mut u64,
) -> Result<Run> {
    let mut problems = Vec::new();
    let (busy, quiet) = wait_quiet(Duration::from_secs_f64(opts.wait_quiet)).await?;
    if !quiet {
        problems.push(format!(
            "the machine was still busy ({busy:.0}% of a core) after waiting {:.0} s for it to quieten",
            opts.wait_quiet
        ));
    }
    let mut srv = Server::start_peer_server(
        &build.bin,
        out_dir,
        &format!("hub-{}", build.label),
        opts.credentials,
    )
    .await?;
    eprintln!("   pid {} listening on 127.0.0.1:{}", srv.pid, srv.port);
    let dialect = Arc::new(Dialect::SocketIo {
        api_key: server::API_KEY.into(),
        credential: opts
            .credentials
            .then_some(bench_credential as fn(&str) -> String),
    });
    let tck = server::clk_tck() as f64;

    // Idle peers.
    let ids: Vec<String> = (0..opts.idle).map(|i| format!("idle-{i:07}")).collect();
    let t0 = Instant::now();
    let (conns, _) = client::connect_many(srv.port, &dialect, &ids, opts.concurrency, seed).await;
    let idle_open_secs = t0.elapsed().as_secs_f64();
    let total = Duration::from_secs_f64(opts.warmup + opts.secs);
    let hard_deadline =
        tokio::time::Instant::now() + total + Duration::from_secs(IDLE_CPU_SECS + 300);
    let mut idles = IdlePeers::new();
    let mut failed = 0usize;
    // Real clients' keepalives fall anywhere in the period; peers opened in one burst would
    // otherwise all send theirs in the same millisecond, 25 s later.
    let period = dialect.keepalive().1;
    let n = conns.len().max(1) as f64;
    for (i, c) in conns.into_iter().enumerate() {
        match c {
            Ok(ws) => idles.add(
                ws,
                &dialect,
                hard_deadline,
                period.mul_f64((i as f64 + 0.5) / n),
            ),
            Err(e) => {
                if failed == 0 {
                    problems.push(format!("idle open failed: {e:#}"));
                }
                failed += 1;
            }
        }
    }
    let idle_opened = idles.opened();
    if failed > 0 {
        problems.push(format!(
            "{failed} of {} idle peers failed to open",
            opts.idle
        ));
    }
    eprintln!(
        "   {idle_opened} idle peers open in {idle_open_secs:.1} s; reading the idle CPU for {IDLE_CPU_SECS} s"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c0, i0) = (srv.cpu_ticks()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(IDLE_CPU_SECS)).await;
    let idle_cpu = cpu_pct(c0, srv.cpu_ticks()?, tck, i0.elapsed().as_secs_f64());

    // Active pairs.
    let pair_ids: Vec<String> = (0..2 * opts.pairs)
        .map(|i| format!("pair-{i:05}"))
        .collect();
    let (conns, _) =
        client::connect_many(srv.port, &dialect, &pair_ids, opts.concurrency, seed).await;
    let mut streams = Vec::with_capacity(conns.len());
    for c in conns {
        streams.push(c.context("opening an active peer")?);
    }
    let load = Load {
        pairs: opts.pairs,
        inflight: opts.inflight,
        warmup: opts.warmup,
        secs: opts.secs,
    };
    let pairs = Pairs::start(load, &mut streams.into_iter(), &pair_ids, &dialect, clock)?;
    let window = pairs.window;
    let (cpu, stats) = pairs.finish(&srv, tck).await?;
    let idle_alive_end = idles.alive();
    if let Some(lost) = idles.stop(Duration::from_secs(120)).await.first() {
        problems.push(format!("idle peer lost: {lost}"));
    }
    if idle_alive_end < idle_opened {
        problems.push(format!(
            "{} idle peers lost during the run",
            idle_opened - idle_alive_end
        ));
    }
    let mut samples = Vec::new();
    let (mut errors, mut bad_src, mut unexpected) = (0usize, 0u64, 0u64);
    for s in stats {
        samples.extend(s.arrivals_us.iter().copied().zip(s.latencies_us));
        bad_src += s.bad_src;
        unexpected += s.unexpected;
        if let Some(e) = s.error {
            if errors == 0 {
                problems.push(format!("relay task ended early: {e}"));
            }
            errors += 1;
        }
        if let Some(x) = s.samples.first() {
            if problems.len() < 6 {
                problems.push(format!("unexpected frame: {x}"));
            }
        }
    }
    if errors + bad_src as usize + unexpected as usize > 0 {
        problems.push(format!(
            "{errors} relay task errors, {bad_src} wrong src, {unexpected} unexpected frames"
        ));
    }
    if !srv.running() {
        problems.push(format!(
            "the server exited during the run; see {}",
            srv.log.display()
        ));
    }
    srv.stop().await;
    let mut lat: Vec<u32> = samples.iter().map(|&(_, l)| l).collect();
    let st = Stats::of(&mut lat);
    Ok(Run {
        label: build.label,
        round,
        attempt: 1,
        idle_opened,
        idle_open_secs,
        idle_alive_end,
        idle_cpu,
        server_cpu: cpu.server,
        client_cpu: cpu.client,
        other_cpu: cpu.other,
        secs: opts.secs,
        fold_p99: fold(&samples, st.p99, TICK_PERIOD_US),
        fold_p999: fold(&samples, st.p999, TICK_PERIOD_US),
        control_p99: fold(&samples, st.p99, CONTROL_PERIOD_US),
        control_p999: fold(&samples, st.p999, CONTROL_PERIOD_US),
        worst: worst_slots(&samples, window.start_us, 5),
        samples,
        stats: st,
        problems,
    })
}

/// Microseconds as milliseconds with three decimals.
fn ms3(us: u32) -> String {
    format!("{:.3}", f64::from(us) / 1000.0)
}

/// `after / before` of two values, or an empty cell.
fn ratio(after: f64, before: f64) -> String {
    if before > 0.0 {
        format!("{:.2}x", after / before)
    } else {
        String::new()
    }
}

/// A fold table cell: slow slots, the 500 ms share (and phase), the control share.
fn fold_cell(f: Fold, control: Fold) -> String {
    format!(
        "{} slots: {:.1}% (at {:.0} ms) / {:.1}%",
        f.slots,
        100.0 * f.share,
        f.at_ms,
        100.0 * control.share
    )
}

/// The pooled figures of one build over every round.
#[derive(Debug, Default, Clone, Copy)]
struct Pooled {
    stats: Stats,
    rate: f64,
    server_cpu: f64,
    idle_cpu: f64,
}

fn pool(runs: &[Run], label: &str) -> Option<Pooled> {
    let mine: Vec<&Run> = runs.iter().filter(|r| r.label == label).collect();
    if mine.is_empty() {
        return None;
    }
    let mut lat: Vec<u32> = mine
        .iter()
        .flat_map(|r| r.samples.iter().map(|&(_, l)| l))
        .collect();
    let n = mine.len() as f64;
    let secs: f64 = mine.iter().map(|r| r.secs).sum();
    Some(Pooled {
        stats: Stats::of(&mut lat),
        rate: lat.len() as f64 / secs.max(1e-9),
        server_cpu: mine.iter().map(|r| r.server_cpu).sum::<f64>() / n,
        idle_cpu: mine.iter().map(|r| r.idle_cpu).sum::<f64>() / n,
    })
}

fn report(
    opts: &Opts,
    command: &str,
    builds: &[Build],
    runs: &[Run],
    discarded: &[String],
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Hub deadlines: relay latency with {} idle{} peers\n",
        opts.idle,
        if opts.credentials {
            " credentialed"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "- Command: `{command}`");
    let _ = writeln!(md, "- Machine: {}", server::machine());
    let _ = writeln!(
        md,
        "- Date: {}",
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    for b in builds {
        let _ = writeln!(
            md,
            "- {}: peer-server at {} (`{}`)",
            b.label,
            b.commit,
            b.bin.display()
        );
    }
    let _ = writeln!(
        md,
        "- Load: per build and round a fresh release server on 127.0.0.1 (same configuration), {} idle \
WebSocket peers (`apiKey`{}, distinct ids, Engine.IO keepalive only, spread evenly over its 25 s period), then {} pairs ping-ponging ~300-byte \
`SEND_CANDIDATE` messages ({} in flight per pair), {:.1} s warm-up, {:.1} s measured; {} round(s), the \
build order alternating. Load generator: this process, tokio with {} worker thread(s), same machine. \
Latency is one-way (send stamp in the message → receipt, same clock), over every message relayed in \
the window.\n",
        opts.idle,
        if opts.credentials {
            " and a day-long `credential`, the app requiring one"
        } else {
            ""
        },
        opts.pairs,
        opts.inflight,
        opts.warmup,
        opts.secs,
        opts.rounds,
        opts.client_threads
    );
    let before = pool(runs, "before");
    let after = pool(runs, "after");
    let _ = writeln!(md, "## Pooled over the rounds\n");
    let _ = writeln!(
        md,
        "| build | messages | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | msgs/s | server CPU relaying (%) | server CPU idle peers only (%) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for (label, p) in [("before", before), ("after", after)] {
        if let Some(p) = p {
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} |",
                p.stats.n,
                ms3(p.stats.p50),
                ms3(p.stats.p99),
                ms3(p.stats.p999),
                ms3(p.stats.max),
                p.rate,
                p.server_cpu,
                p.idle_cpu
            );
        }
    }
    if let (Some(b), Some(a)) = (before, after) {
        let f = |x: u32| f64::from(x);
        let _ = writeln!(
            md,
            "| after / before | | {} | {} | {} | {} | {} | {} | {} |",
            ratio(f(a.stats.p50), f(b.stats.p50)),
            ratio(f(a.stats.p99), f(b.stats.p99)),
            ratio(f(a.stats.p999), f(b.stats.p999)),
            ratio(f(a.stats.max), f(b.stats.max)),
            ratio(a.rate, b.rate),
            ratio(a.server_cpu, b.server_cpu),
            ratio(a.idle_cpu, b.idle_cpu)
        );
    }
    let _ = writeln!(md, "\n## Per round\n");
    let _ = writeln!(
        md,
        "Fold: time is cut into slots of a 50th of the period; a slot is slow when a message at or above \
the round's p99 (p99.9) arrived in it. Shown: the number of slow slots and the share of them in the worst \
{} adjacent phases of a 500 ms period (the old tick's; where that window starts in brackets), beside the \
same share for a 437 ms control period. Spread evenly the share is {:.0}%.\n",
        WINDOW_BINS,
        100.0 * WINDOW_BINS as f64 / FOLD_BINS as f64
    );
    let _ = writeln!(
        md,
        "| round.attempt | build | idle peers opened | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | msgs/s | CPU server / client / other (%) | idle CPU (%) | ≥p99 slots: 500 ms fold / 437 ms | ≥p99.9 slots: 500 ms fold / 437 ms |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let _ = writeln!(
            md,
            "| {}.{} | {} | {} in {:.1} s | {} | {} | {} | {} | {:.0} | {:.0} / {:.0} / {:.0} | {:.1} | {} | {} |",
            r.round + 1,
            r.attempt,
            r.label,
            r.idle_opened,
            r.idle_open_secs,
            ms3(r.stats.p50),
            ms3(r.stats.p99),
            ms3(r.stats.p999),
            ms3(r.stats.max),
            r.rate(),
            r.server_cpu,
            r.client_cpu,
            r.other_cpu,
            r.idle_cpu,
            fold_cell(r.fold_p99, r.control_p99),
            fold_cell(r.fold_p999, r.control_p999),
        );
    }
    let _ = writeln!(
        md,
        "\nSlowest 10 ms slots per round (seconds into the measured window: worst one-way latency):\n"
    );
    for r in runs {
        let list: Vec<String> = r
            .worst
            .iter()
            .map(|&(t, lat)| format!("{t:.2} s: {} ms", ms3(lat)))
            .collect();
        let _ = writeln!(
            md,
            "- round {}, {}: {}",
            r.round + 1,
            r.label,
            list.join("; ")
        );
    }
    let mut notes = String::new();
    for r in runs {
        if r.idle_alive_end != opts.idle {
            let _ = writeln!(
                notes,
                "- round {}, {}: {} of {} idle peers open at the end",
                r.round + 1,
                r.label,
                r.idle_alive_end,
                opts.idle
            );
        }
        for p in &r.problems {
            let _ = writeln!(notes, "- round {}, {}: {p}", r.round + 1, r.label);
        }
        if r.other_cpu > 25.0 {
            let _ = writeln!(
                notes,
                "- round {}, {}: other processes used {:.0}% of a core during the window",
                r.round + 1,
                r.label,
                r.other_cpu
            );
        }
    }
    for d in discarded {
        let _ = writeln!(notes, "- measurement discarded and repeated: {d}");
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\n## Problems seen\n\n{notes}");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_finds_a_periodic_stall() {
        // Slow messages every 500 ms at 120 ms into the period; fast ones everywhere.
        let mut s: Vec<(u64, u32)> = (0..100_000u64).map(|i| (i * 97, 100)).collect();
        s.extend((0..40u64).flat_map(|k| {
            (0..20u64).map(move |j| (k * TICK_PERIOD_US + 125_000 + j * 100, 5_000))
        }));
        let f = fold(&s, 1_000, TICK_PERIOD_US);
        assert!(f.share > 0.99 && f.slots == 40, "{f:?}");
        assert!((110.0..=130.0).contains(&f.at_ms), "{f:?}");
        let c = fold(&s, 1_000, CONTROL_PERIOD_US);
        assert!(c.share < 0.5, "{c:?}");
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--idle", "50", "--baseline", "b4980b1", "--no-build"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = Opts::parse(&args).expect("parses");
        assert_eq!(
            (o.idle, o.baseline.as_deref(), o.build),
            (50, Some("b4980b1"), false)
        );
        assert!(Opts::parse(&["--rounds".to_string(), "0".to_string()]).is_err());
    }
}
