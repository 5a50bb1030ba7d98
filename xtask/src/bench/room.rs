//! `cargo xtask bench room`: mesh rooms of Rust members, each sending a VP8 file, beside rooms of
//! `skyway-js@4.4.5` browsers in the same run, through one release `peer-server`.
//!
//! - **Rust**: for each of `--sizes` (2, 4, 8), that many processes of
//!   `crates/peer-harness/src/bin/bench-room.rs` (release), one Peer each, driven over stdin and
//!   stdout. Each round, every member is told to join a fresh room at once and reports the time
//!   from its `join_room` call until video RTP from each other member has arrived.
//! - **Chromium**: `bench/room-browser.mjs`, the same rounds with one headless Chromium per
//!   member sending its fake camera at the file's size and rate (320x240, 30 fps).
//!
//! After the last round of each size the room stays up: after `--warmup` seconds, each member's
//! CPU time is read over `--seconds` (`/proc/<pid>/stat`; for a browser, the sum over its
//! process tree) and its memory at the end (RSS, and PSS, which counts pages shared between a
//! browser's processes once), with the video packets each member received per second.
//!
//! The report (markdown, also written to `target/bench/room.md`) gives the join-to-flowing
//! median and p90 over all members of all rounds, and the per-member CPU and memory, with the
//! Rust figures as ratios to the browsers' at the same size.

use super::args::Args;
use super::server::{self, Kind, Server};
use super::{fmt, quantile, ratio};
use crate::util::root;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Usage of `cargo xtask bench room`.
pub const USAGE: &str = "usage: cargo xtask bench room [--sizes 2,4,8] [--browser-sizes 2,3] \
[--rounds N] [--seconds S] [--warmup S] [--no-browser] [--no-build]";

/// How long a member may take to open its Peer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a member may take to answer a command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a member may take to report its room flowing (it gives up itself after 60 s).
const FLOWING_TIMEOUT: Duration = Duration::from_secs(70);
/// The VP8 file every Rust member sends (320x240, 30 fps, a keyframe per second, 200 kbit/s).
const VIDEO: &str = "crates/peer-media/tests/fixtures/testsrc-vp8.ivf";

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    sizes: Vec<usize>,
    browser_sizes: Vec<usize>,
    rounds: usize,
    seconds: f64,
    warmup: f64,
    browser: bool,
    build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            sizes: vec![2, 4, 8],
            browser_sizes: vec![2, 3],
            rounds: 5,
            seconds: 10.0,
            warmup: 2.0,
            browser: true,
            build: true,
        };
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--sizes" => o.sizes = a.list()?,
                "--browser-sizes" => o.browser_sizes = a.list()?,
                "--rounds" => o.rounds = a.parse()?,
                "--seconds" => o.seconds = a.parse()?,
                "--warmup" => o.warmup = a.parse()?,
                "--no-browser" => o.browser = false,
                "--no-build" => o.build = false,
                _ => return Err(a.unknown()),
            }
        }
        let sizes_ok = |v: &[usize], hi: usize| v.iter().all(|&n| (2..=hi).contains(&n));
        if !sizes_ok(&o.sizes, 32) || !sizes_ok(&o.browser_sizes, 8) {
            bail!("--sizes must be in 2..=32 and --browser-sizes in 2..=8");
        }
        if !(1..=100).contains(&o.rounds) {
            bail!("--rounds must be in 1..=100");
        }
        if !(o.seconds > 0.0 && o.seconds <= 600.0 && (0.0..=60.0).contains(&o.warmup)) {
            bail!("--seconds must be in (0, 600] and --warmup in [0, 60]");
        }
        Ok(o)
    }
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    let command = format!("cargo xtask bench room {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.build {
        super::build_harness(&["bench-room"])?;
    }
    let exe = super::harness_exe("bench-room")?;
    if opts.browser {
        crate::conformance::ensure_chromium()?;
        crate::conformance::ensure_node_modules()?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut srv = rt.block_on(Server::start(Kind::PeerServer, &root, &out_dir))?;
    eprintln!(
        "peer-server (release) pid {} listening on 127.0.0.1:{}",
        srv.pid, srv.port
    );
    let started = Instant::now();
    let log = out_dir.join("room-members.log");
    let _ = std::fs::write(&log, "");
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for &n in &opts.sizes {
        eprintln!("== Rust room of {n}");
        match rust_size(&opts, &exe, &log, srv.port, n) {
            Ok(r) => results.push(r),
            Err(e) => failures.push(format!("Rust room of {n}: {e:#}")),
        }
    }
    if opts.browser {
        match browsers(&opts, &root, srv.port) {
            Ok(r) => results.extend(r),
            Err(e) => failures.push(format!("Chromium rooms: {e:#}")),
        }
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let server_alive = srv.running();
    rt.block_on(srv.stop());
    if !server_alive {
        failures.push("peer-server exited during the run; see target/bench/peer-server.log".into());
    }
    let md = report(&opts, &command, &results, &failures, minutes);
    super::publish(&md, &out_dir.join("room.md"))?;
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// One member process.
struct Member {
    id: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    pid: u32,
}

impl Member {
    fn spawn(exe: &Path, log: &Path, port: u16, id: &str) -> Result<Member> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut child = Command::new(exe)
            .args(["--port", &port.to_string(), "--key", server::API_KEY])
            .args(["--id", id, "--video", VIDEO])
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
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
        Ok(Member {
            id: id.to_owned(),
            child,
            stdin,
            lines,
            pid,
        })
    }

    /// Writes one command line.
    fn send(&mut self, cmd: &str) -> Result<()> {
        writeln!(self.stdin, "{cmd}")
            .and_then(|_| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.id))
    }

    /// The next JSON object the member prints.
    fn next_json(&mut self, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => {
                        if let Some(e) = v.get("error") {
                            bail!("{}: {e}", self.id);
                        }
                        return Ok(v);
                    }
                    _ => eprintln!("{}: {line}", self.id),
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} did not answer within {timeout:?}", self.id)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    bail!(
                        "{} exited ({status}); see target/bench/room-members.log",
                        self.id
                    )
                }
            }
        }
    }

    fn request(&mut self, cmd: &str) -> Result<Value> {
        self.send(cmd)?;
        self.next_json(REPLY_TIMEOUT)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident and proportional set sizes of `pid` in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let field = |file: &str, name: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l[name.len()..].split_whitespace().next()?.parse().ok())
            })
            .map(|kib: f64| kib / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("status", "VmRSS:"), field("smaps_rollup", "Pss:"))
}

/// The rounds and the window of one Rust room size; the same JSON shape as the browser script's.
fn rust_size(opts: &Opts, exe: &Path, log: &Path, port: u16, n: usize) -> Result<Value> {
    let tag = std::process::id();
    let mut members: Vec<Member> = Vec::new();
    for i in 0..n {
        members.push(Member::spawn(
            exe,
            log,
            port,
            &format!("rroom-{tag}-{n}-{i}"),
        )?);
    }
    for m in &mut members {
        let v = m.next_json(READY_TIMEOUT)?;
        if v.get("ready").and_then(Value::as_bool) != Some(true) {
            bail!("{} did not report ready: {v}", m.id);
        }
    }
    let mut times = Vec::new();
    let mut join_cpu = Vec::new();
    let mut incomplete = 0;
    for r in 0..opts.rounds {
        let room = format!("rroom-{tag}-{n}-{r}");
        for m in &mut members {
            m.send(&format!("join {room} {n}"))?;
        }
        let mut round = Vec::new();
        let mut cpu = 0.0;
        for m in &mut members {
            let v = m.next_json(FLOWING_TIMEOUT)?;
            cpu += v.get("cpu_ms").and_then(Value::as_f64).unwrap_or(f64::NAN);
            match v.get("ms").and_then(Value::as_f64) {
                Some(ms) => {
                    times.push(ms);
                    round.push(format!("{ms:.0}"));
                }
                None => {
                    incomplete += 1;
                    round.push(format!(
                        "incomplete({})",
                        v.get("have").unwrap_or(&json!(0))
                    ));
                }
            }
        }
        eprintln!(
            "   round {}: {} ms (CPU of all members meanwhile: {cpu:.0} ms)",
            r + 1,
            round.join(", ")
        );
        join_cpu.push(cpu);
        if r + 1 == opts.rounds {
            break;
        }
        for m in &mut members {
            m.request("leave")?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // The window: the last room stays up.
    std::thread::sleep(Duration::from_secs_f64(opts.warmup));
    let tck = server::clk_tck() as f64;
    let packets = |members: &mut Vec<Member>| -> Result<Vec<f64>> {
        members
            .iter_mut()
            .map(|m| {
                let v = m.request("stats")?;
                Ok(v.get("packets").and_then(Value::as_f64).unwrap_or(0.0))
            })
            .collect()
    };
    let t0 = Instant::now();
    let c0: Vec<u64> = members
        .iter()
        .map(|m| server::cpu_ticks(m.pid))
        .collect::<Result<_>>()?;
    let p0 = packets(&mut members)?;
    std::thread::sleep(Duration::from_secs_f64(opts.seconds));
    let p1 = packets(&mut members)?;
    let c1: Vec<u64> = members
        .iter()
        .map(|m| server::cpu_ticks(m.pid))
        .collect::<Result<_>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu: Vec<f64> = c0
        .iter()
        .zip(&c1)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / tck / secs * 100.0)
        .collect();
    let mem: Vec<(f64, f64)> = members.iter().map(|m| memory_mib(m.pid)).collect();
    let pps: Vec<f64> = p0.iter().zip(&p1).map(|(a, b)| (b - a) / secs).collect();
    for m in &mut members {
        m.request("leave")?;
    }
    Ok(json!({
        "case": "rust",
        "size": n,
        "times": times,
        "incomplete": incomplete,
        "join_cpu_ms": join_cpu,
        "cpu": cpu,
        "rss_mib": mem.iter().map(|m| m.0).collect::<Vec<_>>(),
        "pss_mib": mem.iter().map(|m| m.1).collect::<Vec<_>>(),
        "pps": pps,
    }))
}

/// Runs `bench/room-browser.mjs` and returns its result lines.
fn browsers(opts: &Opts, root: &Path, port: u16) -> Result<Vec<Value>> {
    let sizes: Vec<String> = opts.browser_sizes.iter().map(usize::to_string).collect();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("bench/room-browser.mjs"))
        .env("PEER_SERVER_PORT", port.to_string())
        .env("BENCH_KEY", server::API_KEY)
        .env("BENCH_SIZES", sizes.join(","))
        .env("BENCH_ROUNDS", opts.rounds.to_string())
        .env("BENCH_SECONDS", opts.seconds.to_string())
        .env("CHROMIUM_PATH", crate::conformance::CHROMIUM);
    super::collect_json(cmd).context("node bench/room-browser.mjs")
}

/// The numbers under `key` of a result.
fn list(v: &Value, key: &str) -> Vec<f64> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Mean of the finite values of `v`.
fn mean(v: &[f64]) -> Option<f64> {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// What one row shows.
struct Row {
    case: &'static str,
    size: usize,
    median: Option<f64>,
    p90: Option<f64>,
    max: Option<f64>,
    samples: usize,
    incomplete: u64,
    /// CPU of all members from the join to flowing, median over the rounds (ms).
    join_cpu: Option<f64>,
    cpu: Option<f64>,
    rss: Option<f64>,
    pss: Option<f64>,
    pps: Option<f64>,
}

impl Row {
    fn of(v: &Value) -> Row {
        let times = list(v, "times");
        Row {
            case: if v.get("case").and_then(Value::as_str) == Some("chromium") {
                "Chromium (skyway-js)"
            } else {
                "Rust (peer)"
            },
            size: v.get("size").and_then(Value::as_u64).unwrap_or(0) as usize,
            median: quantile(&times, 0.5),
            p90: quantile(&times, 0.9),
            max: quantile(&times, 1.0),
            samples: times.len(),
            incomplete: v.get("incomplete").and_then(Value::as_u64).unwrap_or(0),
            join_cpu: quantile(&list(v, "join_cpu_ms"), 0.5),
            cpu: mean(&list(v, "cpu")),
            rss: mean(&list(v, "rss_mib")),
            pss: mean(&list(v, "pss_mib")),
            pps: mean(&list(v, "pps")),
        }
    }
}

fn report(
    opts: &Opts,
    command: &str,
    results: &[Value],
    failures: &[String],
    minutes: f64,
) -> String {
    let mut md = super::report_header(command);
    let _ = writeln!(
        md,
        "- {} rounds per size; the window {:.0} s after {:.0} s of warm-up; the run took {minutes:.1} min.",
        opts.rounds, opts.seconds, opts.warmup
    );
    let _ = writeln!(md);
    let rows: Vec<Row> = results.iter().map(Row::of).collect();
    let anchor = |size: usize| -> Option<&Row> {
        rows.iter()
            .filter(|r| r.case.starts_with("Chromium"))
            .find(|r| r.size == size)
    };
    let _ = writeln!(
        md,
        "| members | who | join → all video flowing, median / p90 / max (ms) | samples (incomplete) | CPU of all members while joining, median round (ms) | CPU per member (% of a core) | RSS / PSS per member (MiB) | video packets/s received per member | vs Chromium at that size: median time, CPU, PSS |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let vs = match anchor(r.size) {
            Some(a) if !r.case.starts_with("Chromium") => format!(
                "{} / {} / {}",
                ratio(r.median, a.median),
                ratio(r.cpu, a.cpu),
                ratio(r.pss, a.pss)
            ),
            _ => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} / {} | {} ({}) | {} | {} | {} / {} | {} | {} |",
            r.size,
            r.case,
            fmt(r.median, 0),
            fmt(r.p90, 0),
            fmt(r.max, 0),
            r.samples,
            r.incomplete,
            fmt(r.join_cpu, 0),
            fmt(r.cpu, 1),
            fmt(r.rss, 1),
            fmt(r.pss, 1),
            fmt(r.pps, 0),
            vs
        );
    }
    if !failures.is_empty() {
        let _ = writeln!(md, "\n## Problems seen\n");
        for f in failures {
            let _ = writeln!(md, "- {f}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_validate() {
        let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        let o = Opts::parse(&args("--sizes 2,3 --rounds 2 --no-browser")).expect("valid");
        assert_eq!(o.sizes, vec![2, 3]);
        assert_eq!(o.rounds, 2);
        assert!(!o.browser);
        assert!(Opts::parse(&args("--sizes 1")).is_err());
        assert!(Opts::parse(&args("--rounds 0")).is_err());
        assert!(Opts::parse(&args("--browser-sizes 9")).is_err());
        assert!(Opts::parse(&args("--seconds nan")).is_err());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0, f64::NAN];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.9), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(mean(&[1.0, 3.0, f64::NAN]), Some(2.0));
    }
}
