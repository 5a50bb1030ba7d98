//! Running the soak: the server, the warm-up and the baseline, each phase with the wait until
//! the server has let go of it, and the release burst at the end.

use super::probe::{self, Drain, Reading};
use super::{load, server, signaling, Opts, DRAIN_DEADLINE, TURN_SECRET};
use crate::bench::client::{self, Dialect};
use anyhow::{bail, Context, Result};
use futures::SinkExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// What one phase did and what the server held after it.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Its name in the tables.
    pub name: String,
    /// Cycles asked for.
    pub cycles: usize,
    /// Cycles that succeeded.
    pub ok: usize,
    /// Errors that fail the run.
    pub unexpected: usize,
    /// Errors that are expected now and then (a clean close that ended in a reset).
    pub tolerated: usize,
    /// The first errors.
    pub samples: Vec<String>,
    /// Wall time of the load, seconds.
    pub secs: f64,
    /// A successful cycle's time, ms: p50, p99, max.
    pub cycle_ms: (f64, f64, f64),
    /// What the cycle time measures.
    pub cycle_what: &'static str,
    /// The server's CPU time during the load, seconds.
    pub server_cpu: f64,
    /// The server's peak RSS during the load and the drain, KiB.
    pub peak_kib: u64,
    /// The wait after it.
    pub drain: Drain,
    /// Why it could not run, if it could not.
    pub failed: Option<String>,
}

/// The kinds of phase, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Phase 1.
    Signaling,
    /// Phase 2, mesh rooms.
    Mesh,
    /// Phase 2, SFU rooms.
    Sfu,
    /// Phase 3.
    Turn,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Signaling, Kind::Mesh, Kind::Sfu, Kind::Turn];

    fn name(self) -> &'static str {
        match self {
            Kind::Signaling => "1. signaling open/close",
            Kind::Mesh => "2a. mesh room join/leave",
            Kind::Sfu => "2b. SFU room join/leave",
            Kind::Turn => "3. TURN allocations",
        }
    }

    fn cycle_what(self) -> &'static str {
        match self {
            Kind::Signaling => "open: TCP connect to OPEN",
            Kind::Mesh | Kind::Sfu => "join to 3 RTP packets of the long-lived member's video",
            Kind::Turn => "allocate, 3 datagrams relayed and echoed, release",
        }
    }

    fn cycles(self, o: &Opts) -> usize {
        match self {
            Kind::Signaling => o.signaling,
            Kind::Mesh => o.mesh,
            Kind::Sfu => o.sfu,
            Kind::Turn => o.turn,
        }
    }
}

/// What a soak found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The reading after the warm-up.
    pub baseline: Reading,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// Problems that are not a phase's (the server exiting, say).
    pub problems: Vec<String>,
    /// The reading after the release burst ([`release_burst`]), when it ran.
    pub released: Option<Drain>,
}

/// Idle peers the release burst holds open at once: enough for the server's memory release,
/// which runs when its open connections fall by at least 256 from a peak.
pub const RELEASE_BURST: usize = 300;

/// Starts the server, warms it up, reads the baseline, runs the phases, then the release
/// burst.
pub async fn soak(o: &Opts, bin: &Path, exe: &Path, out_dir: &Path) -> Result<Outcome> {
    let started = server::start(bin, out_dir).await?;
    let mut srv = started.server;
    let target = load::Target {
        exe,
        port: srv.port,
        key: crate::bench::server::API_KEY,
        turn: started.turn,
        turn_secret: TURN_SECRET,
        rejoin_pause_ms: o.rejoin_pause_ms,
        dir: out_dir,
    };
    eprintln!(
        "peer-server (release) pid {}: signaling 127.0.0.1:{}, TURN {}; log {}",
        srv.pid,
        srv.port,
        target.turn,
        srv.log.display()
    );
    let port = srv.port;
    let probe = probe::Probe {
        pid: srv.pid,
        port,
        ops_port: started.ops_port,
    };

    eprintln!("== warm-up");
    let warm = signaling::churn(port, target.key, "warm", 100, o.concurrency, o.drop_one_in).await;
    signaling::check(&warm).context("warm-up")?;
    for mode in ["mesh", "sfu"] {
        let r = target.rooms(mode, 1, 1, &format!("warm-{mode}")).await?;
        if r.ok != 1 || r.errors > 0 {
            bail!("warm-up {mode} room cycle failed: {:?}", r.samples);
        }
    }
    let r = target.turn("warm-turn", 1, 1).await?;
    if r.ok != 1 || r.errors > 0 {
        bail!("warm-up TURN allocation failed: {:?}", r.samples);
    }
    let base = probe::wait_drained(probe, None, DRAIN_DEADLINE).await?;
    if base.settled_secs.is_none() {
        bail!(
            "the server did not settle after the warm-up within {DRAIN_DEADLINE:?}: {:?}",
            base.reading
        );
    }
    let baseline = base.reading;
    eprintln!("baseline: {baseline:?}");

    let mut phases = Vec::new();
    let mut problems = Vec::new();
    for round in 1..=o.rounds {
        for kind in Kind::ALL {
            let name = if o.rounds > 1 {
                format!("round {round}: {}", kind.name())
            } else {
                kind.name().to_owned()
            };
            if !srv.running() {
                problems.push(format!(
                    "the server exited before {name:?}; see {}",
                    srv.log.display()
                ));
                break;
            }
            let cycles = kind.cycles(o);
            if cycles == 0 {
                continue;
            }
            eprintln!("== {name}: {cycles} cycles");
            probe::reset_peak(probe.pid)?;
            let cpu0 = srv.cpu_ticks()?;
            let t0 = Instant::now();
            let tag = format!("r{round}");
            // The load's result, and its tolerated errors (clean closes that ended in a reset).
            let ran: Result<(load::LoadResult, usize)> = match kind {
                Kind::Signaling => {
                    let prefix = format!("soak-{tag}");
                    let c = signaling::churn(
                        port,
                        target.key,
                        &prefix,
                        cycles,
                        o.concurrency,
                        o.drop_one_in,
                    )
                    .await;
                    if let Err(e) = signaling::check(&c) {
                        problems.push(format!("{name}: {e:#}"));
                    }
                    eprintln!(
                        "   {} opened ({} dropped abruptly), {} open errors, {} close errors",
                        c.opened, c.dropped, c.open_errors, c.close_errors
                    );
                    let r = load::LoadResult {
                        ok: c.opened,
                        errors: c.open_errors,
                        samples: c.samples,
                        secs: c.secs,
                        cycle_ms: c.open_ms,
                    };
                    Ok((r, c.close_errors))
                }
                Kind::Mesh => target
                    .rooms("mesh", cycles, o.lanes, &format!("mesh-{tag}"))
                    .await
                    .map(|r| (r, 0)),
                Kind::Sfu => target
                    .rooms("sfu", cycles, o.lanes, &format!("sfu-{tag}"))
                    .await
                    .map(|r| (r, 0)),
                Kind::Turn => target
                    .turn(&format!("turn-{tag}"), cycles, o.turn_parallel)
                    .await
                    .map(|r| (r, 0)),
            };
            let secs = t0.elapsed().as_secs_f64();
            let cpu1 = srv.cpu_ticks()?;
            let drain = probe::wait_drained(probe, Some(&baseline), DRAIN_DEADLINE).await?;
            let mut p = empty_phase(&name, kind.cycle_what(), cycles);
            match ran {
                Ok((r, tolerated)) => {
                    p.tolerated = tolerated;
                    p.ok = r.ok;
                    p.unexpected = r.errors;
                    p.samples = r.samples;
                    p.secs = r.secs;
                    p.cycle_ms = r.cycle_ms;
                }
                Err(e) => {
                    p.secs = secs;
                    p.failed = Some(format!("{e:#}"));
                }
            }
            p.server_cpu =
                cpu1.saturating_sub(cpu0) as f64 / crate::bench::server::clk_tck() as f64;
            p.peak_kib = drain.reading.peak_kib;
            p.drain = drain;
            eprintln!(
                "   {} of {} in {:.1} s, {} errors; drained after {:?} s: {:?}",
                p.ok, p.cycles, p.secs, p.unexpected, p.drain.drained_secs, p.drain.reading
            );
            phases.push(p);
        }
    }
    let released = if srv.running() && !phases.is_empty() {
        eprintln!("== release burst: {RELEASE_BURST} idle peers at once");
        match release_burst(probe, target.key, &baseline).await {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("the release burst failed: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    if !srv.running() {
        problems.push(format!(
            "the server exited during the soak; see {}",
            srv.log.display()
        ));
    }
    srv.stop().await;
    Ok(Outcome {
        baseline,
        phases,
        problems,
        released,
    })
}

/// A diagnostic after the phases, outside the verdict: holds [`RELEASE_BURST`] idle peers open
/// at once for 1.5 s (three of the server's 500 ms sweeps), closes them, and reads the server
/// once it has let go. Its open connections then fall by more than 256 from a peak, which makes
/// it hand the allocator's freed memory back to the system (`malloc_trim`, see
/// `docs/architecture.md`): the RSS read after it is what the process still has allocated,
/// not what glibc kept of what was freed.
async fn release_burst(probe: probe::Probe, key: &str, base: &Reading) -> Result<Drain> {
    let dialect = Dialect::SocketIo {
        api_key: key.to_owned(),
        credential: None,
    };
    let ids: Vec<String> = (0..RELEASE_BURST).map(|i| format!("release-{i}")).collect();
    let mut seed = 0x5EED_u64;
    let (conns, _) =
        client::connect_many(probe.port, &dialect, &ids, RELEASE_BURST, &mut seed).await;
    let mut open = Vec::new();
    for c in conns {
        open.push(c.context("opening a peer of the release burst")?);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut ws in open {
        // The SDK's goodbye; the server closes the socket.
        let _ = ws.send(Message::text("41")).await;
    }
    probe::wait_drained(probe, Some(base), DRAIN_DEADLINE).await
}

/// A phase with nothing measured yet.
fn empty_phase(name: &str, what: &'static str, cycles: usize) -> Phase {
    Phase {
        name: name.to_owned(),
        cycles,
        ok: 0,
        unexpected: 0,
        tolerated: 0,
        samples: Vec::new(),
        secs: 0.0,
        cycle_ms: (0.0, 0.0, 0.0),
        cycle_what: what,
        server_cpu: 0.0,
        peak_kib: 0,
        drain: Drain {
            reading: Reading::default(),
            drained_secs: None,
            settled_secs: None,
        },
        failed: None,
    }
}
