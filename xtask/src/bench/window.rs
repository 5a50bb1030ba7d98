//! The measured window of a relay run, shared by `bench signaling`, `bench hub` and `bench
//! cluster`: ping-pong pairs relaying over a [`Window`] (a warm-up, then the measured seconds),
//! the CPU of the servers ([`CpuMark`]), of this process and of the rest of the machine read
//! across the measured part, the idle peers kept open beside them, and the latency quantiles of
//! what was relayed.

use super::client::{self, Clock, Dialect, RelayStats, Window, Ws};
use super::server::{self, Server};
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the pairs of a relay run do.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Ping-pong pairs.
    pub pairs: usize,
    /// Messages in flight per pair.
    pub inflight: usize,
    /// Seconds of warm-up before the measured part.
    pub warmup: f64,
    /// Seconds measured.
    pub secs: f64,
}

/// Ping-pong pairs relaying over one window.
pub struct Pairs {
    /// The window they relay in.
    pub window: Window,
    warm: Duration,
    tasks: Vec<JoinHandle<RelayStats>>,
}

impl Pairs {
    /// Opens a window of `load.warmup` then `load.secs` seconds from now and starts `load.pairs`
    /// pairs relaying over it, each made of the next two of `peers` (named `ids[2i]` and
    /// `ids[2i + 1]`): the first sends `load.inflight` messages to the second, and both answer
    /// every message they get.
    pub fn start(
        load: Load,
        peers: &mut impl Iterator<Item = Ws>,
        ids: &[String],
        dialect: &Arc<Dialect>,
        clock: Clock,
    ) -> Result<Pairs> {
        let warm = Duration::from_secs_f64(load.warmup);
        let window = window(clock, warm, Duration::from_secs_f64(load.secs));
        let mut tasks = Vec::with_capacity(2 * load.pairs);
        for i in 0..load.pairs {
            let (Some(a), Some(b), Some(ida), Some(idb)) = (
                peers.next(),
                peers.next(),
                ids.get(2 * i),
                ids.get(2 * i + 1),
            ) else {
                bail!("not enough peers for {} pairs", load.pairs);
            };
            tasks.push(tokio::spawn(client::relay_peer(
                a,
                dialect.clone(),
                idb.clone(),
                load.inflight,
                clock,
                window,
            )));
            tasks.push(tokio::spawn(client::relay_peer(
                b,
                dialect.clone(),
                ida.clone(),
                0,
                clock,
                window,
            )));
        }
        Ok(Pairs {
            window,
            warm,
            tasks,
        })
    }

    /// Waits out the warm-up, reads the CPU use across the measured part (until the window's
    /// deadline) with `tck` clock ticks per second ([`server::clk_tck`]), then collects what
    /// every peer saw (the peers have 60 s past the deadline to finish).
    pub async fn finish(self, srv: &Server, tck: f64) -> Result<(Cpu, Vec<RelayStats>)> {
        let (cpu, _, stats) = self.finish_all(&[srv], tck).await?;
        Ok((cpu, stats))
    }

    /// [`Pairs::finish`] with several server processes (cluster nodes, Redis): [`Cpu::server`]
    /// is their sum, and each one's share (% of one core, in the order of `servers`) comes
    /// beside it.
    pub async fn finish_all(
        self,
        servers: &[&Server],
        tck: f64,
    ) -> Result<(Cpu, Vec<f64>, Vec<RelayStats>)> {
        let (cpu, each) = cpu_over(servers, self.warm, self.window.deadline, tck).await?;
        let stats = tokio::time::timeout(
            Duration::from_secs(60),
            futures::future::join_all(self.tasks),
        )
        .await
        .context("relay tasks did not finish within 60 s of the deadline")?
        .into_iter()
        .collect::<Result<_, _>>()?;
        Ok((cpu, each, stats))
    }
}

/// A window of `warm` seconds of warm-up from now, then `dur` measured, on `clock` and on the
/// tokio clock.
pub fn window(clock: Clock, warm: Duration, dur: Duration) -> Window {
    let start_us = clock.now_us() + micros(warm);
    Window {
        start_us,
        end_us: start_us + micros(dur),
        deadline: tokio::time::Instant::now() + warm + dur,
    }
}

/// Waits `warm`, then reads the CPU use of `servers`, of this process and of the machine from
/// then until `deadline` ([`CpuMark::since`], `tck` clock ticks per second).
pub async fn cpu_over(
    servers: &[&Server],
    warm: Duration,
    deadline: tokio::time::Instant,
    tck: f64,
) -> Result<(Cpu, Vec<f64>)> {
    tokio::time::sleep(warm).await;
    let mark = CpuMark::now(servers)?;
    tokio::time::sleep_until(deadline).await;
    mark.since(tck)
}

/// The CPU tick counters of some server processes, of this process and of the whole machine at
/// one moment: [`CpuMark::since`] turns them into CPU use over the time since.
#[derive(Debug, Clone)]
pub struct CpuMark {
    pids: Vec<u32>,
    servers: Vec<u64>,
    me: u64,
    machine: u64,
    at: Instant,
}

impl CpuMark {
    /// Reads the counters of `servers`, this process and the machine now.
    pub fn now(servers: &[&Server]) -> Result<CpuMark> {
        let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
        Ok(CpuMark {
            servers: pids
                .iter()
                .map(|&p| server::cpu_ticks(p))
                .collect::<Result<_>>()?,
            pids,
            me: server::cpu_ticks(std::process::id())?,
            machine: server::machine_busy_ticks()?,
            at: Instant::now(),
        })
    }

    /// CPU use (% of one core) from the mark until now, with `tck` clock ticks per second:
    /// [`Cpu::server`] sums the marked servers, and each one's share follows in their order.
    pub fn since(&self, tck: f64) -> Result<(Cpu, Vec<f64>)> {
        let el = self.at.elapsed().as_secs_f64();
        let mut each = Vec::with_capacity(self.pids.len());
        for (&pid, &t0) in self.pids.iter().zip(&self.servers) {
            each.push(cpu_pct(t0, server::cpu_ticks(pid)?, tck, el));
        }
        let server: f64 = each.iter().sum();
        let client = cpu_pct(self.me, server::cpu_ticks(std::process::id())?, tck, el);
        let machine = cpu_pct(self.machine, server::machine_busy_ticks()?, tck, el);
        let cpu = Cpu {
            server,
            client,
            other: (machine - server - client).max(0.0),
        };
        Ok((cpu, each))
    }
}

/// `d` in whole µs (saturating).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// CPU use over the measured part of a window, % of one core.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu {
    /// The server process.
    pub server: f64,
    /// This process (the load generator).
    pub client: f64,
    /// The rest of the machine.
    pub other: f64,
}

/// CPU use (% of one core) between two readings of a tick counter `secs` apart.
pub fn cpu_pct(t0: u64, t1: u64, tck: f64, secs: f64) -> f64 {
    t1.saturating_sub(t0) as f64 / tck / secs.max(1e-9) * 100.0
}

/// Idle peers ([`client::idle_peer`]) kept open until [`IdlePeers::stop`].
pub struct IdlePeers {
    tasks: Vec<JoinHandle<Option<String>>>,
    alive: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl IdlePeers {
    /// None yet.
    pub fn new() -> IdlePeers {
        IdlePeers {
            tasks: Vec::new(),
            alive: Arc::new(AtomicUsize::new(0)),
            stop: watch::channel(false).0,
        }
    }

    /// Keeps `ws` open until [`IdlePeers::stop`] or `deadline`, its first keepalive `first` from
    /// now.
    pub fn add(
        &mut self,
        ws: Ws,
        dialect: &Arc<Dialect>,
        deadline: tokio::time::Instant,
        first: Duration,
    ) {
        self.alive.fetch_add(1, Ordering::Relaxed);
        self.tasks.push(tokio::spawn(client::idle_peer(
            ws,
            dialect.clone(),
            self.stop.subscribe(),
            self.alive.clone(),
            deadline,
            first,
        )));
    }

    /// How many were added.
    pub fn opened(&self) -> usize {
        self.tasks.len()
    }

    /// How many are still open.
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// Stops them all and waits up to `wait` for them to close; returns why each one that was
    /// lost on the way went (nothing when the wait ran out).
    pub async fn stop(self, wait: Duration) -> Vec<String> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(wait, futures::future::join_all(self.tasks)).await {
            Ok(all) => all.into_iter().flatten().flatten().collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Latency quantiles (µs) of one set of messages.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// How many messages.
    pub n: usize,
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// 99.9th percentile.
    pub p999: u32,
    /// The slowest.
    pub max: u32,
}

impl Stats {
    /// Quantiles of `lat` (sorted here).
    pub fn of(lat: &mut [u32]) -> Stats {
        lat.sort_unstable();
        Stats {
            n: lat.len(),
            p50: percentile(lat, 0.50),
            p99: percentile(lat, 0.99),
            p999: percentile(lat, 0.999),
            max: lat.last().copied().unwrap_or(0),
        }
    }
}

/// The `p` quantile (nearest rank) of sorted `v`; 0 when empty.
fn percentile(v: &[u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<u32> = (1..=1000).rev().collect();
        let s = Stats::of(&mut v);
        assert_eq!(
            (s.n, s.p50, s.p99, s.p999, s.max),
            (1000, 500, 990, 999, 1000)
        );
        let e = Stats::of(&mut []);
        assert_eq!((e.n, e.p50, e.max), (0, 0, 0));
        assert_eq!(cpu_pct(100, 150, 100.0, 2.0), 25.0);
    }
}
