//! `cargo xtask soak`: a churn soak of one release `peer-server` (not part of `cargo xtask
//! test`). It starts the server with the SFU and TURN on, warms it up, reads a baseline, then
//! drives one phase after another:
//!
//! 1. `--signaling` (10,000) open/close cycles of peers over the signaling protocol,
//!    `--concurrency` (50) in flight, one in `--drop-one-in` (4) dropped abruptly (the server
//!    keeps those for its reconnect grace), the others closed with the SDK's goodbye
//!    ([`signaling`]);
//! 2. `--mesh` (1,000) mesh-room and `--sfu` (1,000) SFU-room join/leave cycles of Rust Peers
//!    with media, in `--lanes` (4) rooms side by side, each with a long-lived member ([`load`],
//!    `crates/peer-harness/src/bin/soak-load/rooms.rs`); a member that leaves joins the same
//!    room again after `--rejoin-pause-ms` (0);
//! 3. `--turn` (1,000) TURN allocations against the embedded TURN server, `--turn-parallel`
//!    (10) at a time: allocate, relay a few datagrams, release (`soak-load/turn.rs`).
//!
//! `--rounds N` (1) runs the three phases N times over (a resource that grows with every round
//! leaks; one that grows once and holds is a high-water mark).
//!
//! The warm-up opens and closes 100 peers, runs one room cycle of each kind and one TURN
//! allocation. After the warm-up and after each phase it waits, polling with a deadline, until
//! the server has let go of the load (sessions, peers, rooms, timers, connections and UDP
//! sockets back to the baseline: [`probe`]), and reads the server's RSS, task count (`GET
//! /stats`), threads, descriptors and UDP sockets. It prints a table (also written to
//! `target/soak/soak.md`) and fails if RSS is not back within 10% of the baseline at the end,
//! or tasks, threads or descriptors not within max(10%, 5), or a phase did not drain, or a
//! client saw an unexpected error.
//!
//! The server runs with `[timeouts] reconnect_grace_ms = 2000` (30,000 by default): an abruptly
//! dropped peer is kept for the grace, and a short one lets the soak measure the steady state
//! without waiting 30 s after phase 1. `--scale F` multiplies the four cycle counts (e.g.
//! `--scale 0.1` for a quick run); the defaults are the issue's counts.

mod load;
mod phases;
mod probe;
mod report;
mod server;
mod signaling;

use crate::bench::args::Args;
use crate::util::root;
use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo xtask soak [--scale F] [--signaling N] [--concurrency N] \
[--drop-one-in N] [--mesh N] [--sfu N] [--lanes N] [--rejoin-pause-ms MS] [--turn N] [--turn-parallel N] \
[--rounds N] [--no-build]";

/// Environment variable marking the re-executed release process.
const REEXEC_ENV: &str = "PEER_SOAK_RELEASE";

/// The TURN secret of the soak's server configuration (the soak issues credentials with it).
const TURN_SECRET: &str = "soak-turn-secret";

/// The reconnect grace of the soak's server, ms.
const GRACE_MS: u64 = 2000;

/// How long the server may take to let go of a phase's load after the phase (the grace
/// included).
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Opts {
    signaling: usize,
    concurrency: usize,
    drop_one_in: usize,
    mesh: usize,
    sfu: usize,
    lanes: usize,
    turn: usize,
    turn_parallel: usize,
    rejoin_pause_ms: u64,
    rounds: usize,
    build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            signaling: 10_000,
            concurrency: 50,
            drop_one_in: 4,
            mesh: 1000,
            sfu: 1000,
            lanes: 4,
            turn: 1000,
            turn_parallel: 10,
            rejoin_pause_ms: 0,
            rounds: 1,
            build: true,
        };
        let mut scale = 1.0f64;
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--scale" => scale = a.parse()?,
                "--signaling" => o.signaling = a.parse()?,
                "--concurrency" => o.concurrency = a.parse()?,
                "--drop-one-in" => o.drop_one_in = a.parse()?,
                "--mesh" => o.mesh = a.parse()?,
                "--sfu" => o.sfu = a.parse()?,
                "--lanes" => o.lanes = a.parse()?,
                "--turn" => o.turn = a.parse()?,
                "--turn-parallel" => o.turn_parallel = a.parse()?,
                "--rejoin-pause-ms" => o.rejoin_pause_ms = a.parse()?,
                "--rounds" => o.rounds = a.parse()?,
                "--no-build" => o.build = false,
                _ => return Err(a.unknown()),
            }
        }
        if !(scale > 0.0 && scale <= 100.0) {
            bail!("--scale must be in (0, 100]\n{USAGE}");
        }
        // A count of 0 skips its phase; scaling never turns another count into 0.
        let scaled = |n: usize| {
            if n == 0 {
                0
            } else {
                ((n as f64 * scale).round() as usize).max(1)
            }
        };
        o.signaling = scaled(o.signaling);
        o.mesh = scaled(o.mesh);
        o.sfu = scaled(o.sfu);
        o.turn = scaled(o.turn);
        if o.concurrency == 0 || o.concurrency > 10_000 || o.lanes == 0 || o.lanes > 64 {
            bail!("--concurrency must be in 1..=10000 and --lanes in 1..=64\n{USAGE}");
        }
        if o.turn_parallel == 0 || o.turn_parallel > 1000 {
            bail!("--turn-parallel must be in 1..=1000\n{USAGE}");
        }
        if o.rounds == 0 || o.rounds > 100 || o.rejoin_pause_ms > 60_000 {
            bail!("--rounds must be in 1..=100 and --rejoin-pause-ms at most 60000\n{USAGE}");
        }
        Ok(o)
    }
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    if std::env::var_os(REEXEC_ENV).is_none() && cfg!(debug_assertions) {
        // The signaling load runs in this process: run it optimised.
        crate::util::cargo(&["build", "--release", "-p", "xtask"])?;
        let exe = root().join("target/release/xtask");
        eprintln!("re-running {}", exe.display());
        let status = Command::new(&exe)
            .arg("soak")
            .args(args)
            .env(REEXEC_ENV, "1")
            .status()
            .with_context(|| format!("running {}", exe.display()))?;
        if !status.success() {
            bail!("soak failed: {status}");
        }
        return Ok(());
    }
    let command = ["cargo xtask soak".to_owned()]
        .into_iter()
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let root = root();
    let out_dir = root.join("target/soak");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    if opts.build {
        crate::util::cargo(&[
            "build",
            "--release",
            "-p",
            "peer-server",
            "-p",
            "peer-harness",
            "--bin",
            "peer-server",
            "--bin",
            "soak-load",
        ])?;
    }
    let exe = root.join("target/release/soak-load");
    let bin = root.join("target/release/peer-server");
    for p in [&exe, &bin] {
        if !p.exists() {
            bail!("{} is missing: run without --no-build", p.display());
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let outcome = rt.block_on(phases::soak(&opts, &bin, &exe, &out_dir));
    rt.shutdown_timeout(Duration::from_secs(5));
    let outcome = outcome?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let (md, verdict) = report::render(&opts, &command, &outcome, minutes);
    println!("{md}");
    let path = out_dir.join("soak.md");
    std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_default_to_the_issue_and_scale() {
        let o = Opts::parse(&[]).expect("defaults");
        assert_eq!(
            (o.signaling, o.mesh, o.sfu, o.turn),
            (10_000, 1000, 1000, 1000)
        );
        let o = Opts::parse(&args("--scale 0.1 --turn 50")).expect("scaled");
        assert_eq!((o.signaling, o.mesh, o.sfu, o.turn), (1000, 100, 100, 5));
        assert!(Opts::parse(&args("--scale 0")).is_err());
        assert!(Opts::parse(&args("--lanes 0")).is_err());
        assert!(Opts::parse(&args("--bogus")).is_err());
        let o = Opts::parse(&args("--scale 0.001 --mesh 0")).expect("a phase skipped");
        assert_eq!((o.signaling, o.mesh, o.sfu, o.turn), (10, 0, 1, 1));
    }
}
