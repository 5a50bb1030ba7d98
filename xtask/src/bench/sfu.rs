//! `cargo xtask bench sfu`: what peer-server's SFU forwards, through a release `peer-server`,
//! with the load of `crates/peer-harness/src/bin/bench-sfu.rs` (release): Rust Peers in one
//! process publishing synthetic VP8 RTP (the send time in the payload) and subscribing.
//!
//! Cases (`--cases 1x1,1x10,1x50,4x4,8x8`, publishers x subscribers): each on a fresh server.
//! The load process reports when every subscriber receives every publisher; then, over
//! `--seconds`, it counts what arrives (and what the sequence numbers say was sent) and the
//! one-way latency publisher → SFU → subscriber; the harness reads the server's CPU time and
//! RSS from `/proc`. Reported: forwarded packets per second, per second of server CPU (packets
//! per core), latency p50/p99/max, loss, and the server's RSS per subscriber track above its
//! idle baseline.
//!
//! Each case runs on three targets in turn (`--targets peer,bare,janus`), each a fresh
//! process whose CPU time and RSS are read the same way:
//! - `peer`: peer-server's SFU, loaded by Rust Peers through its signaling;
//! - `bare`: the ceiling, `bench-sfu-bare`, a forwarding loop on the same `webrtc` version and
//!   stack configuration with nothing else, loaded by bare `webrtc` peers;
//! - `janus`: Janus's VideoRoom (Debian's `janus`, installed when missing), driven through its
//!   HTTP API by the same bare load peers (`bench/janus.rs`).

use super::args::Args;
use super::janus;
use super::server::{self, Kind, Server};
use crate::util::root;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Usage of `cargo xtask bench sfu`.
pub const USAGE: &str = "usage: cargo xtask bench sfu [--cases 1x1,1x10,1x50,4x4,8x8] \
     [--targets peer,bare,janus] [--pps N] [--seconds S] [--no-build]";

/// What forwards the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// peer-server's SFU.
    Peer,
    /// The bare forwarding loop.
    Bare,
    /// Janus's VideoRoom.
    Janus,
}

impl Target {
    fn parse(s: &str) -> Result<Target> {
        Ok(match s {
            "peer" => Target::Peer,
            "bare" => Target::Bare,
            "janus" => Target::Janus,
            other => bail!("unknown target {other:?} (peer, bare, janus)"),
        })
    }

    fn label(self) -> &'static str {
        match self {
            Target::Peer => "peer-server SFU",
            Target::Bare => "bare webrtc loop (ceiling)",
            Target::Janus => "Janus VideoRoom",
        }
    }
}

#[derive(Debug, Clone)]
struct Opts {
    cases: Vec<(usize, usize)>,
    targets: Vec<Target>,
    pps: u32,
    seconds: f64,
    build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            cases: vec![(1, 1), (1, 10), (1, 50), (4, 4), (8, 8)],
            targets: vec![Target::Peer, Target::Bare, Target::Janus],
            pps: 250,
            seconds: 10.0,
            build: true,
        };
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--cases" => {
                    o.cases = a
                        .value()?
                        .split(',')
                        .map(|c| {
                            let (p, s) = c.trim().split_once('x').context("a case is PUBSxSUBS")?;
                            Ok((p.parse()?, s.parse()?))
                        })
                        .collect::<Result<_>>()?
                }
                "--targets" => {
                    o.targets = a
                        .value()?
                        .split(',')
                        .map(|t| Target::parse(t.trim()))
                        .collect::<Result<_>>()?
                }
                "--pps" => o.pps = a.parse()?,
                "--seconds" => o.seconds = a.parse()?,
                "--no-build" => o.build = false,
                _ => return Err(a.unknown()),
            }
        }
        if o.cases
            .iter()
            .any(|&(p, s)| p == 0 || s == 0 || p > 32 || s > 200)
        {
            bail!("cases need 1..=32 publishers and 1..=200 subscribers");
        }
        if !((1..=5000).contains(&o.pps) && o.seconds > 0.0 && o.seconds <= 600.0) {
            bail!("--pps must be in 1..=5000 and --seconds in (0, 600]");
        }
        Ok(o)
    }
}

/// One case's figures.
#[derive(Debug, Default)]
struct Case {
    target: Option<Target>,
    pubs: usize,
    subs: usize,
    received: f64,
    expected: f64,
    secs: f64,
    server_cpu: f64,
    p50: f64,
    p99: f64,
    max: f64,
    tracks: f64,
    rss_idle_mib: f64,
    rss_mib: f64,
    error: Option<String>,
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    let command = format!("cargo xtask bench sfu {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.build {
        super::build_harness(&["bench-sfu", "bench-sfu-bare"])?;
    }
    let exe = super::harness_exe("bench-sfu")?;
    let bare = super::harness_exe("bench-sfu-bare")?;
    let netns = if opts.targets.contains(&Target::Janus) {
        crate::util::ensure_debian_package(janus::JANUS, "janus")?;
        Some(janus::Netns::create()?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tck = server::clk_tck() as f64;
    let mut cases = Vec::new();
    for &(pubs, subs) in &opts.cases {
        for (n, &target) in opts.targets.iter().enumerate() {
            eprintln!(
                "== {pubs} publisher(s) x {subs} subscriber(s): {}",
                target.label()
            );
            let started = match target {
                Target::Peer => rt.block_on(Server::start(Kind::PeerServer, &root, &out_dir)),
                Target::Bare => rt.block_on(start_bare(&bare, &out_dir)),
                Target::Janus => match &netns {
                    Some(ns) => rt.block_on(janus::start(&out_dir, ns)),
                    None => Err(anyhow::anyhow!("no namespace for Janus")),
                },
            };
            let mut srv = match started {
                Ok(srv) => srv,
                Err(e) => {
                    cases.push(Case {
                        target: Some(target),
                        pubs,
                        subs,
                        error: Some(format!("{e:#}")),
                        ..Case::default()
                    });
                    continue;
                }
            };
            std::thread::sleep(Duration::from_millis(500));
            let mut c = Case {
                target: Some(target),
                pubs,
                subs,
                rss_idle_mib: srv.rss_kib().unwrap_or(0) as f64 / 1024.0,
                ..Case::default()
            };
            let room = 1000 + (cases.len() * 10 + n) as u64;
            if let Err(e) = one_case(&opts, &exe, netns.as_ref(), &srv, target, room, tck, &mut c) {
                c.error = Some(format!("{e:#}"));
            }
            if !srv.running() {
                c.error = Some(format!("the server exited; see {}", srv.log.display()));
            }
            rt.block_on(srv.stop());
            eprintln!("   {c:?}");
            cases.push(c);
        }
    }
    let md = report(&opts, &command, &cases);
    super::publish(&md, &out_dir.join("sfu.md"))?;
    if let Some(e) = cases.iter().find_map(|c| c.error.clone()) {
        bail!("{e}");
    }
    Ok(())
}

/// Starts the bare forwarding loop with its output in `out_dir/sfu-bare.log`.
async fn start_bare(exe: &std::path::Path, out_dir: &std::path::Path) -> Result<Server> {
    Server::spawn(Command::new(exe), out_dir.join("sfu-bare.log"), |line| {
        serde_json::from_str::<Value>(line)
            .ok()?
            .get("port")?
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
    })
    .await
}

#[allow(clippy::too_many_arguments)]
fn one_case(
    opts: &Opts,
    exe: &std::path::Path,
    netns: Option<&janus::Netns>,
    srv: &Server,
    target: Target,
    room: u64,
    tck: f64,
    c: &mut Case,
) -> Result<()> {
    let mut cmd = match (target, netns) {
        (Target::Janus, Some(ns)) => ns.command(exe),
        _ => Command::new(exe),
    };
    let at = format!("127.0.0.1:{}", srv.port);
    match target {
        Target::Peer => cmd
            .args(["--port", &srv.port.to_string(), "--key", server::API_KEY])
            .args(["--room", &format!("bench-{}x{}", c.pubs, c.subs)]),
        Target::Bare => cmd.args(["--bare", &at]),
        Target::Janus => cmd
            .args(["--janus", &at, "--janus-room", &room.to_string()])
            .args(["--media-ip", janus::MEDIA_IP]),
    };
    let mut child = cmd
        .args(["--pubs", &c.pubs.to_string(), "--subs", &c.subs.to_string()])
        .args([
            "--pps",
            &opts.pps.to_string(),
            "--seconds",
            &opts.seconds.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let wait = |what: &str, secs: f64| -> Result<Value> {
        rx.recv_timeout(Duration::from_secs_f64(secs))
            .with_context(|| format!("bench-sfu: no {what}"))
    };
    let ready = wait("ready line", 120.0);
    let ready = match ready {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            return Err(e);
        }
    };
    if ready.get("ready").and_then(Value::as_bool) != Some(true) {
        bail!("unexpected line {ready}");
    }
    let t0 = Instant::now();
    let cpu0 = srv.cpu_ticks()?;
    std::thread::sleep(Duration::from_secs_f64(opts.seconds / 2.0));
    c.rss_mib = srv.rss_kib().unwrap_or(0) as f64 / 1024.0;
    let result = wait("result", opts.seconds + 30.0)?;
    let cpu1 = srv.cpu_ticks()?;
    let window = t0.elapsed().as_secs_f64();
    c.server_cpu = (cpu1.saturating_sub(cpu0)) as f64 / tck / window;
    let num = |k: &str| result.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    c.received = num("received");
    c.expected = num("expected");
    c.secs = num("seconds");
    c.p50 = num("p50_us") / 1000.0;
    c.p99 = num("p99_us") / 1000.0;
    c.max = num("max_us") / 1000.0;
    c.tracks = num("tracks");
    let _ = child.wait();
    Ok(())
}

impl Case {
    /// Forwarded packets per second, and per second of the server's CPU.
    fn rates(&self) -> Option<(f64, f64)> {
        if self.error.is_some() || self.secs <= 0.0 {
            return None;
        }
        let pps = self.received / self.secs;
        Some((pps, pps / self.server_cpu.max(1e-9)))
    }
}

fn report(opts: &Opts, command: &str, cases: &[Case]) -> String {
    let mut md = super::report_header(command);
    let _ = writeln!(
        md,
        "- {} packets/s per publisher (1,000-byte payloads, about {:.1} Mbit/s), {:.0} s windows; the load runs on the same machine.\n",
        opts.pps,
        f64::from(opts.pps) * 1000.0 * 8.0 / 1e6,
        opts.seconds
    );
    let _ = writeln!(md, "| publishers x subscribers | forwarder | forwarded packets/s | server CPU (% of a core) | **packets per server core-second** | latency p50 / p99 / max (ms) | loss | server RSS idle → loaded (MiB) | RSS per subscriber track (KiB) |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for c in cases {
        let label = c.target.map_or("?", Target::label);
        let Some((pps, per_core)) = c.rates() else {
            let e = c.error.as_deref().unwrap_or("no figures");
            let _ = writeln!(
                md,
                "| {}x{} | {label} | failed: {e} | | | | | | |",
                c.pubs, c.subs
            );
            continue;
        };
        let loss = if c.expected > 0.0 {
            1.0 - c.received / c.expected
        } else {
            f64::NAN
        };
        let per_track = (c.rss_mib - c.rss_idle_mib) * 1024.0 / c.tracks.max(1.0);
        let _ = writeln!(
            md,
            "| {}x{} | {label} | {:.0} | {:.0} | **{:.0}** | {:.2} / {:.2} / {:.1} | {:.2}% | {:.1} → {:.1} | {:.0} |",
            c.pubs,
            c.subs,
            pps,
            c.server_cpu * 100.0,
            per_core,
            c.p50,
            c.p99,
            c.max,
            loss * 100.0,
            c.rss_idle_mib,
            c.rss_mib,
            per_track
        );
    }
    // Ratios within each case, measured in this run.
    let _ = writeln!(md, "\n| publishers x subscribers | peer-server ÷ Janus (packets per core) | peer-server ÷ bare loop | peer-server ÷ Janus (RSS per subscriber track) |");
    let _ = writeln!(md, "|---|---|---|---|");
    for &(pubs, subs) in &opts.cases {
        let find = |t: Target| {
            cases
                .iter()
                .find(|c| c.target == Some(t) && c.pubs == pubs && c.subs == subs)
        };
        let per_core = |t: Target| find(t).and_then(Case::rates).map(|r| r.1);
        let rss = |t: Target| {
            find(t)
                .filter(|c| c.rates().is_some())
                .map(|c| (c.rss_mib - c.rss_idle_mib) / c.tracks.max(1.0))
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "n/a".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {pubs}x{subs} | {} | {} | {} |",
            ratio(per_core(Target::Peer), per_core(Target::Janus)),
            ratio(per_core(Target::Peer), per_core(Target::Bare)),
            ratio(rss(Target::Peer), rss(Target::Janus)),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse() {
        let a = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        let o = Opts::parse(&a("--cases 1x2,3x4 --pps 100 --targets bare,peer")).expect("valid");
        assert_eq!(o.cases, vec![(1, 2), (3, 4)]);
        assert_eq!(o.targets, vec![Target::Bare, Target::Peer]);
        assert!(Opts::parse(&a("--targets peer,mediasoup")).is_err());
        assert!(Opts::parse(&a("--cases 1")).is_err());
        assert!(Opts::parse(&a("--cases 0x1")).is_err());
    }
}
