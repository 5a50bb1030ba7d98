//! `cargo xtask bench cluster`: what cluster mode (`[cluster] redis`) costs a relayed message
//! and what a second node adds to the rate peers open at, measured in one run against release
//! `peer-server` processes on 127.0.0.1:
//!
//! - **the fleet**, started once for the run: one node without cluster mode (the reference),
//!   and a real `redis-server` (a free port, no persistence, its own temporary directory,
//!   stopped at the end) with two nodes configured to share peers through it ([`Fleet`]);
//! - **relay** ([`Phase::Relay`]): for each `--loads PAIRSxK`, ping-pong pairs of ~300-byte
//!   `SEND_CANDIDATE` messages (the clients and window of `bench signaling`: [`Pairs`]) with
//!   both peers of each pair on the node without cluster mode, with both on cluster node 1, and
//!   with peer A on node 1 and peer B on node 2 (so every message, A's and B's answers alike,
//!   crosses from one node to the other through Redis). Messages per second and the one-way
//!   latency p50 and p99;
//! - **open** ([`Phase::Open`]): `--open-peers` peers opened (TCP connect to `OPEN`) with
//!   `--concurrency` handshakes in flight, against the node without cluster mode, against
//!   cluster node 1 alone and against both cluster nodes (peers alternating between them);
//!   then held `--hold` seconds while the CPU the fleet spends on them is read, and closed;
//! - **room fan-out across nodes** ([`Phase::Room`]): not built yet; it comes once rooms
//!   spanning nodes are finished (work in progress in `crates/`). `--phases room` is refused.
//!
//! Each of `--rounds` rounds runs every phase, the order of the setups reversed every other
//! round; before each measurement the bench waits up to `--wait-quiet` seconds for the
//! machine to be quiet (the hub bench's rule). The figures are pooled over the rounds. The
//! report (markdown, also `target/bench/cluster.md`) gives the cross-node/same-node latency
//! ratios and the two-node/one-node open rate ratios beside the goals ([`LATENCY_GOAL`],
//! [`OPEN_GOAL`]), computed from this run's figures.

use super::args::Args;
use super::client::{self, Clock, Dialect};
use super::server::{self, Server};
use super::window::{Cpu, CpuMark, IdlePeers, Load, Pairs, Stats};
use super::{ms, publish, report_header, verdict, RelayResult};
use crate::util::root;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Usage of `cargo xtask bench cluster`.
pub const USAGE: &str = "usage: cargo xtask bench cluster [--quick] [--phases relay,open] \
[--loads 1x1,100x1,100x8] [--secs S] [--warmup S] [--open-peers N] [--hold S] [--rounds N] \
[--concurrency N] [--wait-quiet S] [--no-build] [--client-threads N]";

/// The goal for relayed messages between nodes.
pub const LATENCY_GOAL: &str = "cross-node relay costs at most 2x the same-node latency";

/// The goal for a second node.
pub const OPEN_GOAL: &str = "two nodes carry at least 1.6x one node's peers on this machine";

/// The largest cross-node/same-node latency ratio that meets [`LATENCY_GOAL`].
const LATENCY_GOAL_RATIO: f64 = 2.0;

/// The smallest two-node/one-node ratio that meets [`OPEN_GOAL`].
const OPEN_GOAL_RATIO: f64 = 1.6;

/// The prefix of the cluster nodes' Redis keys and channels.
const PREFIX: &str = "bench";

/// A part of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Relay throughput and latency: pairs on the node without cluster mode, on one cluster
    /// node, and across the two cluster nodes.
    Relay,
    /// Peers opened per second: the node without cluster mode, one cluster node, two.
    Open,
    /// Room fan-out across nodes: mesh room members split over the two cluster nodes, their
    /// `ROOM_DATA` fanned out. **Not built yet**: it waits for rooms spanning nodes to be
    /// finished, and [`Opts::parse`] refuses it. To add it, write a `room_run` beside
    /// [`relay_run`] and [`open_run`] (the [`Fleet`] already has both nodes and Redis), call
    /// it from [`measure_all`]'s match on the phase, keep its runs in [`Runs`] and give them a
    /// section of [`report`] in place of the "not built yet" line.
    Room,
}

impl Phase {
    /// The phase named `name` on the command line.
    fn named(name: &str) -> Result<Phase> {
        match name.trim() {
            "relay" => Ok(Phase::Relay),
            "open" => Ok(Phase::Open),
            "room" => Ok(Phase::Room),
            other => bail!("unknown phase {other:?} (relay, open, room)\n{USAGE}"),
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    phases: Vec<Phase>,
    /// Relay loads as (pairs, messages in flight per pair).
    loads: Vec<(usize, usize)>,
    secs: f64,
    warmup: f64,
    open_peers: usize,
    hold: f64,
    rounds: usize,
    concurrency: usize,
    wait_quiet: f64,
    build: bool,
    client_threads: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            phases: vec![Phase::Relay, Phase::Open],
            loads: vec![(1, 1), (100, 1), (100, 8)],
            secs: 5.0,
            warmup: 1.0,
            open_peers: 10_000,
            hold: 6.0,
            rounds: 3,
            concurrency: 200,
            wait_quiet: 60.0,
            build: true,
            client_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        if args.iter().any(|a| a == "--quick") {
            o.loads = vec![(1, 1), (20, 4)];
            o.secs = 2.0;
            o.warmup = 0.5;
            o.open_peers = 1000;
            o.hold = 2.0;
            o.rounds = 1;
            o.wait_quiet = 10.0;
        }
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--quick" => {}
                "--no-build" => o.build = false,
                "--phases" => {
                    o.phases = a
                        .value()?
                        .split(',')
                        .map(Phase::named)
                        .collect::<Result<_>>()?
                }
                "--loads" => {
                    o.loads = a
                        .value()?
                        .split(',')
                        .map(parse_load)
                        .collect::<Result<_>>()?
                }
                "--secs" => o.secs = a.parse()?,
                "--warmup" => o.warmup = a.parse()?,
                "--open-peers" => o.open_peers = a.parse()?,
                "--hold" => o.hold = a.parse()?,
                "--rounds" => o.rounds = a.parse()?,
                "--concurrency" => o.concurrency = a.parse()?,
                "--wait-quiet" => o.wait_quiet = a.parse()?,
                "--client-threads" => o.client_threads = a.parse()?,
                _ => return Err(a.unknown()),
            }
        }
        if o.phases.contains(&Phase::Room) {
            bail!(
                "phase room (room fan-out across nodes) is not built yet: it waits for rooms \
spanning nodes to be finished; use --phases relay,open"
            );
        }
        if o.phases.is_empty() {
            bail!("--phases needs at least one of relay, open");
        }
        if o.loads.is_empty()
            || o.loads
                .iter()
                .any(|&(p, k)| !(1..=5000).contains(&p) || !(1..=10_000).contains(&k))
        {
            bail!("--loads needs PAIRSxK items with PAIRS in 1..=5000 and K in 1..=10000");
        }
        if !(o.secs > 0.0 && o.secs <= 3600.0 && o.warmup >= 0.0 && o.warmup <= 600.0) {
            bail!("--secs must be in (0, 3600] and --warmup in [0, 600]");
        }
        if !(1..=1_000_000).contains(&o.open_peers) || !(0.0..=600.0).contains(&o.hold) {
            bail!("--open-peers must be in 1..=1000000 and --hold in [0, 600]");
        }
        if !(1..=20).contains(&o.rounds) || !(0.0..=3600.0).contains(&o.wait_quiet) {
            bail!("--rounds must be in 1..=20 and --wait-quiet in [0, 3600]");
        }
        if o.concurrency == 0 || o.client_threads == 0 {
            bail!("--concurrency and --client-threads must be at least 1");
        }
        Ok(o)
    }

    /// The most peers open at once (what the open-files limit must allow).
    fn peak_peers(&self) -> usize {
        let relay = self.loads.iter().map(|&(p, _)| 2 * p).max().unwrap_or(0);
        relay.max(self.open_peers)
    }
}

/// `PAIRSxK`, e.g. `100x8`.
fn parse_load(s: &str) -> Result<(usize, usize)> {
    let (p, k) = s
        .trim()
        .split_once('x')
        .with_context(|| format!("load {s:?} is not PAIRSxK (e.g. 100x8)\n{USAGE}"))?;
    Ok((
        p.parse().with_context(|| format!("pairs in {s:?}"))?,
        k.parse().with_context(|| format!("K in {s:?}"))?,
    ))
}

/// Entry point; `args` are the arguments after `cluster`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    let mut bench_args = vec!["cluster".to_string()];
    bench_args.extend_from_slice(args);
    if super::relaunch((opts.peak_peers() + 512) as u64, &bench_args)? {
        return Ok(());
    }
    let command = format!("cargo xtask bench {}", bench_args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.build {
        crate::util::cargo(&["build", "--release", "-p", "peer-server"])?;
    }
    crate::util::ensure_debian_package(peer_testkit::redis::REDIS_SERVER, "redis-server")?;
    let bin = root.join("target/release/peer-server");
    if !bin.exists() {
        bail!("{} is missing: run without --no-build", bin.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let runs = rt.block_on(async {
        let mut fleet = Fleet::start(&bin, &out_dir).await?;
        let runs = measure_all(&mut fleet, &opts).await;
        fleet.stop().await;
        anyhow::Ok(runs)
    })?;
    rt.shutdown_timeout(Duration::from_secs(5));
    let md = report(&opts, &command, &runs, started.elapsed());
    publish(&md, &out_dir.join("cluster.md"))
}

/// The processes under test, started once for the run: a node without cluster mode, and Redis
/// with two cluster nodes. Killed when dropped; [`Fleet::stop`] stops them politely.
struct Fleet {
    single: Server,
    redis: Server,
    nodes: [Server; 2],
    /// Redis's working directory, removed when dropped.
    _redis_dir: TempDir,
}

impl Fleet {
    /// Starts Redis (on a free port, in a fresh temporary directory), the two cluster nodes on
    /// it and the node without cluster mode; logs and configurations go to `out_dir`.
    async fn start(bin: &Path, out_dir: &Path) -> Result<Fleet> {
        let redis_dir = TempDir::new("peer-bench-redis")?;
        let redis = start_redis(&redis_dir.0, out_dir).await?;
        eprintln!(
            "redis-server pid {} on 127.0.0.1:{} (dir {})",
            redis.pid,
            redis.port,
            redis_dir.0.display()
        );
        let extra = format!(
            "[cluster]\nredis = \"redis://127.0.0.1:{}\"\nprefix = \"{PREFIX}\"\n",
            redis.port
        );
        let mut nodes = Vec::new();
        for i in 1..=2 {
            let n = Server::start_peer_server_with(
                bin,
                out_dir,
                &format!("cluster-node{i}"),
                false,
                &extra,
            )
            .await?;
            eprintln!("cluster node {i}: pid {} on 127.0.0.1:{}", n.pid, n.port);
            nodes.push(n);
        }
        let single = Server::start_peer_server(bin, out_dir, "cluster-single", false).await?;
        eprintln!(
            "node without cluster mode: pid {} on 127.0.0.1:{}",
            single.pid, single.port
        );
        let nodes: [Server; 2] = nodes
            .try_into()
            .map_err(|_| anyhow::anyhow!("two nodes expected"))?;
        Ok(Fleet {
            single,
            redis,
            nodes,
            _redis_dir: redis_dir,
        })
    }

    /// The processes whose CPU a setup's figures include: the node without cluster mode alone,
    /// or both cluster nodes and then Redis (whether or not both nodes have peers).
    fn procs(&self, cluster: bool) -> Vec<&Server> {
        if cluster {
            vec![&self.nodes[0], &self.nodes[1], &self.redis]
        } else {
            vec![&self.single]
        }
    }

    /// What exited that should not have, each with its log.
    fn dead(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let [n1, n2] = &mut self.nodes;
        for (name, s) in [
            ("the node without cluster mode", &mut self.single),
            ("cluster node 1", n1),
            ("cluster node 2", n2),
            ("redis-server", &mut self.redis),
        ] {
            if !s.running() {
                out.push(format!("{name} exited; see {}", s.log.display()));
            }
        }
        out
    }

    /// Stops the nodes, then Redis.
    async fn stop(self) {
        let [n1, n2] = self.nodes;
        for s in [self.single, n1, n2, self.redis] {
            s.stop().await;
        }
    }
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// Creates `NAME-PID-NANOS`.
    fn new(name: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `redis-server` on a free port of 127.0.0.1 with no persistence, working in `dir`,
/// its log in `out_dir/cluster-redis.log`, and waits until it accepts connections.
async fn start_redis(dir: &Path, out_dir: &Path) -> Result<Server> {
    let port = server::free_port()?;
    let mut cmd = Command::new(peer_testkit::redis::REDIS_SERVER);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .args(["--logfile", "", "--dir"])
        .arg(dir)
        .current_dir(dir);
    Server::spawn(cmd, out_dir.join("cluster-redis.log"), move |line| {
        line.contains("Ready to accept connections").then_some(port)
    })
    .await
}

/// Redis's command counters (`INFO commandstats`): calls per command name, `INFO` itself left
/// out.
#[derive(Debug, Default, Clone, PartialEq)]
struct Calls(std::collections::BTreeMap<String, u64>);

impl Calls {
    /// Reads the `cmdstat_NAME:calls=N,...` lines of an `INFO commandstats` reply.
    fn parse(info: &str) -> Calls {
        let mut out = std::collections::BTreeMap::new();
        for line in info.lines() {
            let Some((name, rest)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|n| n.parse().ok());
            if let (Some(n), false) = (calls, name == "info") {
                out.insert(name.to_owned(), n);
            }
        }
        Calls(out)
    }

    /// The calls made since `before`, per command (those with none left out).
    fn since(&self, before: &Calls) -> Calls {
        Calls(
            self.0
                .iter()
                .map(|(k, &n)| (k.clone(), n.saturating_sub(*before.0.get(k).unwrap_or(&0))))
                .filter(|&(_, n)| n > 0)
                .collect(),
        )
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Calls per `per` (messages, peers): the total, then the commands of at least 0.01 by
    /// share, e.g. `2.00 (get 1.00, publish 1.00)`; a dash when `per` is 0.
    fn per(&self, per: f64) -> String {
        if per <= 0.0 {
            return "—".into();
        }
        let mut v: Vec<(&String, &u64)> = self.0.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = v
            .iter()
            .map(|(k, &n)| (k, n as f64 / per))
            .filter(|&(_, x)| x >= 0.005)
            .take(4)
            .map(|(k, x)| format!("{k} {x:.2}"))
            .collect();
        let total = self.total() as f64 / per;
        if parts.is_empty() {
            format!("{total:.2}")
        } else {
            format!("{total:.2} ({})", parts.join(", "))
        }
    }

    /// Adds the counts of `other`.
    fn add(&mut self, other: &Calls) {
        for (k, n) in &other.0 {
            *self.0.entry(k.clone()).or_default() += n;
        }
    }
}

/// Redis's command counters now: `INFO commandstats` over a fresh connection.
async fn redis_calls(port: u16) -> Result<Calls> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"INFO commandstats\r\n").await?;
        // A bulk string: `$LEN\r\n`, then LEN bytes and `\r\n`.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                bail!("Redis closed the connection");
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n") {
                let len: usize = head
                    .strip_prefix('$')
                    .and_then(|l| l.parse().ok())
                    .with_context(|| format!("unexpected INFO reply {head:?}"))?;
                if body.len() >= len {
                    return Ok(Calls::parse(&body[..len]));
                }
            }
            if buf.len() > 1 << 20 {
                bail!("INFO reply too long");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .context("Redis INFO timed out")?
}

/// Where a relay run's pairs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelaySetup {
    /// Both peers on the node without cluster mode.
    Single,
    /// Both peers on cluster node 1.
    SameNode,
    /// Peer A on cluster node 1, peer B on cluster node 2.
    CrossNode,
}

impl RelaySetup {
    const ALL: [RelaySetup; 3] = [
        RelaySetup::Single,
        RelaySetup::SameNode,
        RelaySetup::CrossNode,
    ];

    fn label(self) -> &'static str {
        match self {
            RelaySetup::Single => "one node, no cluster",
            RelaySetup::SameNode => "cluster, same node",
            RelaySetup::CrossNode => "cluster, across nodes",
        }
    }

    /// The ports the pair members open on: `ids[2i]` (A) on the first, `ids[2i + 1]` (B) on
    /// the second if there is one ([`client::connect_many_on`]).
    fn ports(self, f: &Fleet) -> Vec<u16> {
        match self {
            RelaySetup::Single => vec![f.single.port],
            RelaySetup::SameNode => vec![f.nodes[0].port],
            RelaySetup::CrossNode => vec![f.nodes[0].port, f.nodes[1].port],
        }
    }

    fn cluster(self) -> bool {
        self != RelaySetup::Single
    }
}

/// Where an open run's peers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenSetup {
    /// The node without cluster mode.
    Single,
    /// Cluster node 1 alone (node 2 idle).
    OneNode,
    /// Both cluster nodes, alternately.
    TwoNodes,
}

impl OpenSetup {
    const ALL: [OpenSetup; 3] = [OpenSetup::Single, OpenSetup::OneNode, OpenSetup::TwoNodes];

    fn label(self) -> &'static str {
        match self {
            OpenSetup::Single => "one node, no cluster",
            OpenSetup::OneNode => "one cluster node",
            OpenSetup::TwoNodes => "two cluster nodes",
        }
    }

    fn ports(self, f: &Fleet) -> Vec<u16> {
        match self {
            OpenSetup::Single => vec![f.single.port],
            OpenSetup::OneNode => vec![f.nodes[0].port],
            OpenSetup::TwoNodes => vec![f.nodes[0].port, f.nodes[1].port],
        }
    }

    /// The nodes the peers open on (whose memory growth is theirs).
    fn nodes(self, f: &Fleet) -> Vec<&Server> {
        match self {
            OpenSetup::Single => vec![&f.single],
            OpenSetup::OneNode => vec![&f.nodes[0]],
            OpenSetup::TwoNodes => vec![&f.nodes[0], &f.nodes[1]],
        }
    }

    fn cluster(self) -> bool {
        self != OpenSetup::Single
    }
}

/// CPU use over a measured span, % of one core.
#[derive(Debug, Default, Clone, Copy)]
struct Use {
    /// The setup's peer-server processes (both cluster nodes in cluster setups).
    nodes: f64,
    /// Redis, in cluster setups.
    redis: Option<f64>,
    /// This process.
    load: f64,
    /// The rest of the machine.
    other: f64,
}

impl Use {
    /// From a reading over [`Fleet::procs`]`(cluster)`.
    fn of(cpu: Cpu, each: &[f64], cluster: bool) -> Use {
        let (nodes, redis) = if cluster {
            (
                each.iter().take(2).sum(),
                Some(each.get(2).copied().unwrap_or(0.0)),
            )
        } else {
            (cpu.server, None)
        };
        Use {
            nodes,
            redis,
            load: cpu.client,
            other: cpu.other,
        }
    }

    fn total(&self) -> f64 {
        self.nodes + self.redis.unwrap_or(0.0) + self.load + self.other
    }

    /// `nodes / Redis / load generator / other`.
    fn cell(&self) -> String {
        format!(
            "{:.0} / {} / {:.0} / {:.0}",
            self.nodes,
            self.redis
                .map(|r| format!("{r:.0}"))
                .unwrap_or_else(|| "—".into()),
            self.load,
            self.other
        )
    }
}

/// One relay measurement.
#[derive(Debug)]
struct RelayRun {
    round: usize,
    load: (usize, usize),
    setup: RelaySetup,
    res: RelayResult,
    /// Every latency sample (µs).
    lat: Vec<u32>,
    cpu: Use,
    /// Redis commands run during the measured window, by name (cluster setups).
    redis_calls: Calls,
    /// Whether the machine was quiet before it; if not, how busy (% of a core).
    busy_before: Option<f64>,
}

/// One open measurement.
#[derive(Debug, Default)]
struct OpenRun {
    round: usize,
    setup: Option<OpenSetup>,
    opened: usize,
    failed: usize,
    first_error: Option<String>,
    secs: f64,
    /// How long each open took (µs).
    took: Vec<u32>,
    cpu_open: Use,
    /// Redis commands run while opening, by name (cluster setups).
    redis_calls: Calls,
    /// Still open at the end of the hold.
    held: usize,
    cpu_held: Use,
    /// RSS growth of the nodes the peers opened on, and of Redis (KiB).
    nodes_kib: f64,
    redis_kib: f64,
    lost: Vec<String>,
    busy_before: Option<f64>,
}

impl OpenRun {
    fn rate(&self) -> f64 {
        self.opened as f64 / self.secs.max(1e-9)
    }
}

/// Everything measured.
#[derive(Debug, Default)]
struct Runs {
    relay: Vec<RelayRun>,
    open: Vec<OpenRun>,
    problems: Vec<String>,
}

/// Runs every round of every phase; a failed measurement becomes a problem of the report, and
/// a process of the fleet exiting ends the run there.
async fn measure_all(fleet: &mut Fleet, opts: &Opts) -> Runs {
    let mut runs = Runs::default();
    let dialect = Arc::new(Dialect::SocketIo {
        api_key: server::API_KEY.into(),
        credential: None,
    });
    let clock = Clock::new();
    let mut seed = super::seed();
    let mut tag = 0usize;
    // Peer ids are claimed in Redis until they expire, so every run gets fresh ones.
    let mut next_tag = move || {
        tag += 1;
        format!("c{tag:03}")
    };
    'rounds: for round in 0..opts.rounds {
        for &phase in &opts.phases {
            match phase {
                Phase::Relay => {
                    for &(pairs, k) in &opts.loads {
                        for setup in in_round_order(&RelaySetup::ALL, round) {
                            let busy = quiet_or_busy(opts).await;
                            eprintln!("== round {round}: relay {pairs}x{k}, {}", setup.label());
                            let load = Load {
                                pairs,
                                inflight: k,
                                warmup: opts.warmup,
                                secs: opts.secs,
                            };
                            let tag = next_tag();
                            match relay_run(
                                fleet, setup, load, opts, &dialect, clock, &mut seed, &tag,
                            )
                            .await
                            {
                                Ok(mut r) => {
                                    r.round = round;
                                    r.busy_before = busy;
                                    eprintln!(
                                        "   {:.0} msgs/s, p50 {} ms, p99 {} ms",
                                        r.res.rate,
                                        ms(r.res.p50_us),
                                        ms(r.res.p99_us)
                                    );
                                    runs.relay.push(r);
                                }
                                Err(e) => runs.problems.push(format!(
                                    "round {round}, relay {pairs}x{k}, {}: {e:#}",
                                    setup.label()
                                )),
                            }
                            let dead = fleet.dead();
                            if !dead.is_empty() {
                                runs.problems.extend(dead);
                                break 'rounds;
                            }
                        }
                    }
                }
                Phase::Open => {
                    for setup in in_round_order(&OpenSetup::ALL, round) {
                        let busy = quiet_or_busy(opts).await;
                        eprintln!("== round {round}: open, {}", setup.label());
                        let tag = next_tag();
                        match open_run(fleet, setup, opts, &dialect, &mut seed, &tag).await {
                            Ok(mut r) => {
                                r.round = round;
                                r.busy_before = busy;
                                eprintln!(
                                    "   {} opened in {:.2} s: {:.0} peers/s; {} held",
                                    r.opened,
                                    r.secs,
                                    r.rate(),
                                    r.held
                                );
                                runs.open.push(r);
                            }
                            Err(e) => runs
                                .problems
                                .push(format!("round {round}, open, {}: {e:#}", setup.label())),
                        }
                        let dead = fleet.dead();
                        if !dead.is_empty() {
                            runs.problems.extend(dead);
                            break 'rounds;
                        }
                    }
                }
                // Refused by `Opts::parse`; see `Phase::Room`.
                Phase::Room => runs
                    .problems
                    .push("room fan-out across nodes is not built yet".into()),
            }
        }
    }
    runs
}

/// `all` in order in even rounds and reversed in odd ones, so no setup always goes first.
fn in_round_order<T: Copy>(all: &[T], round: usize) -> Vec<T> {
    let mut v = all.to_vec();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

/// Waits for a quiet machine ([`super::hub::wait_quiet`]); `Some(busy %)` if it stayed busy.
async fn quiet_or_busy(opts: &Opts) -> Option<f64> {
    match super::hub::wait_quiet(Duration::from_secs_f64(opts.wait_quiet)).await {
        Ok((_, true)) => None,
        Ok((busy, false)) => {
            eprintln!("   the machine is still busy ({busy:.0}% of a core): measuring anyway");
            Some(busy)
        }
        Err(_) => None,
    }
}

/// One relay measurement: `load.pairs` pairs opened as `setup` places them, relaying over one
/// window ([`Pairs`]); the CPU read over the fleet's processes of that setup.
#[allow(clippy::too_many_arguments)]
async fn relay_run(
    fleet: &Fleet,
    setup: RelaySetup,
    load: Load,
    opts: &Opts,
    dialect: &Arc<Dialect>,
    clock: Clock,
    seed: &mut u64,
    tag: &str,
) -> Result<RelayRun> {
    let ids: Vec<String> = (0..2 * load.pairs)
        .map(|i| format!("{tag}-{i:05}"))
        .collect();
    let mut res = RelayResult {
        inflight: load.inflight,
        ..Default::default()
    };
    let (conns, _) =
        client::connect_many_on(&setup.ports(fleet), dialect, &ids, opts.concurrency, seed).await;
    let mut run = RelayRun {
        round: 0,
        load: (load.pairs, load.inflight),
        setup,
        res: RelayResult::default(),
        lat: Vec::new(),
        cpu: Use::default(),
        redis_calls: Calls::default(),
        busy_before: None,
    };
    let Some(streams) = super::all_opened(&mut res, conns) else {
        run.res = res;
        return Ok(run);
    };
    let pairs = Pairs::start(load, &mut streams.into_iter(), &ids, dialect, clock)?;
    let procs = fleet.procs(setup.cluster());
    // Redis's command counters across the measured part, read beside the CPU.
    let counted = setup.cluster().then(|| {
        let (port, warm, deadline) = (
            fleet.redis.port,
            Duration::from_secs_f64(load.warmup),
            pairs.window.deadline,
        );
        tokio::spawn(async move {
            tokio::time::sleep(warm).await;
            let before = redis_calls(port).await?;
            tokio::time::sleep_until(deadline).await;
            Ok::<_, anyhow::Error>(redis_calls(port).await?.since(&before))
        })
    });
    let (cpu, each, stats) = pairs.finish_all(&procs, server::clk_tck() as f64).await?;
    if let Some(task) = counted {
        run.redis_calls = task.await??;
    }
    (res.server_cpu, res.client_cpu, res.other_cpu) = (cpu.server, cpu.client, cpu.other);
    run.lat = super::tally(&mut res, stats, load.secs);
    run.cpu = Use::of(cpu, &each, setup.cluster());
    run.res = res;
    Ok(run)
}

/// One open measurement: `--open-peers` peers opened as `setup` places them, timed; then held
/// for `--hold` seconds (keepalives spread over their period as real clients' are) while the
/// fleet's CPU is read, and closed.
async fn open_run(
    fleet: &Fleet,
    setup: OpenSetup,
    opts: &Opts,
    dialect: &Arc<Dialect>,
    seed: &mut u64,
    tag: &str,
) -> Result<OpenRun> {
    let tck = server::clk_tck() as f64;
    let procs = fleet.procs(setup.cluster());
    let rss = |servers: &[&Server]| -> Result<u64> {
        servers.iter().map(|s| s.rss_kib()).sum::<Result<u64>>()
    };
    let nodes = setup.nodes(fleet);
    let (nodes0, redis0) = (rss(&nodes)?, fleet.redis.rss_kib()?);
    let ids: Vec<String> = (0..opts.open_peers)
        .map(|i| format!("{tag}-{i:06}"))
        .collect();
    let mut r = OpenRun {
        setup: Some(setup),
        ..Default::default()
    };
    let calls0 = redis_calls(fleet.redis.port).await?;
    let mark = CpuMark::now(&procs)?;
    let t0 = Instant::now();
    let (conns, took) =
        client::connect_many_on(&setup.ports(fleet), dialect, &ids, opts.concurrency, seed).await;
    r.secs = t0.elapsed().as_secs_f64();
    let (cpu, each) = mark.since(tck)?;
    if setup.cluster() {
        r.redis_calls = redis_calls(fleet.redis.port).await?.since(&calls0);
    }
    r.cpu_open = Use::of(cpu, &each, setup.cluster());
    r.took = took;
    let hold = Duration::from_secs_f64(opts.hold);
    let deadline = tokio::time::Instant::now() + hold + Duration::from_secs(120);
    let period = dialect.keepalive().1;
    let n = conns.len().max(1) as f64;
    let mut idles = IdlePeers::new();
    for (i, c) in conns.into_iter().enumerate() {
        match c {
            Ok(ws) => idles.add(ws, dialect, deadline, period.mul_f64((i as f64 + 0.5) / n)),
            Err(e) => {
                r.failed += 1;
                r.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    r.opened = idles.opened();
    // Let the last opens settle before reading what holding them costs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mark = CpuMark::now(&procs)?;
    tokio::time::sleep(hold).await;
    let (cpu, each) = mark.since(tck)?;
    r.cpu_held = Use::of(cpu, &each, setup.cluster());
    let opened = r.opened.max(1) as f64;
    let per_peer = |before: u64, after: u64| (after as f64 - before as f64) / opened;
    r.nodes_kib = per_peer(nodes0, rss(&nodes)?);
    r.redis_kib = per_peer(redis0, fleet.redis.rss_kib()?);
    r.held = idles.alive();
    r.lost = idles.stop(Duration::from_secs(120)).await;
    r.lost.truncate(3);
    // Let the nodes finish closing before the next measurement.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(r)
}

/// Relay runs of one load and setup, pooled over the rounds.
#[derive(Debug, Default)]
struct RelayPool {
    runs: usize,
    rate: f64,
    /// Redis calls per relayed message.
    redis_per_msg: String,
    stats: Stats,
    cpu: Use,
    problems: String,
}

fn pool_relay(runs: &Runs, load: (usize, usize), setup: RelaySetup) -> Option<RelayPool> {
    let sel: Vec<&RelayRun> = runs
        .relay
        .iter()
        .filter(|r| r.load == load && r.setup == setup && r.res.failed.is_empty())
        .collect();
    if sel.is_empty() {
        return None;
    }
    let n = sel.len() as f64;
    let mut lat: Vec<u32> = sel.iter().flat_map(|r| r.lat.iter().copied()).collect();
    let mut cpu = Use::default();
    for r in &sel {
        cpu.nodes += r.cpu.nodes / n;
        if let Some(x) = r.cpu.redis {
            cpu.redis = Some(cpu.redis.unwrap_or(0.0) + x / n);
        }
        cpu.load += r.cpu.load / n;
        cpu.other += r.cpu.other / n;
    }
    let mut calls = Calls::default();
    for r in &sel {
        calls.add(&r.redis_calls);
    }
    let received: u64 = sel.iter().map(|r| r.res.received).sum();
    let (errors, bad_src, unexpected) = sel.iter().fold((0, 0, 0), |(e, b, u), r| {
        (
            e + r.res.task_errors,
            b + r.res.bad_src,
            u + r.res.unexpected,
        )
    });
    Some(RelayPool {
        runs: sel.len(),
        rate: sel.iter().map(|r| r.res.rate).sum::<f64>() / n,
        redis_per_msg: if setup.cluster() {
            calls.per(received as f64)
        } else {
            "—".into()
        },
        stats: Stats::of(&mut lat),
        cpu,
        problems: if errors + bad_src as usize + unexpected as usize == 0 {
            "none".into()
        } else {
            format!("{errors} task errors, {bad_src} wrong src, {unexpected} unexpected frames")
        },
    })
}

/// Open runs of one setup, pooled over the rounds.
#[derive(Debug, Default)]
struct OpenPool {
    runs: usize,
    opened: usize,
    failed: usize,
    secs: f64,
    took: Stats,
    held: usize,
    cpu_open: Use,
    cpu_held: Use,
    nodes_kib: f64,
    redis_kib: f64,
    redis_calls: Calls,
}

impl OpenPool {
    fn rate(&self) -> f64 {
        self.opened as f64 / self.secs.max(1e-9)
    }
}

fn pool_open(runs: &Runs, setup: OpenSetup) -> Option<OpenPool> {
    let sel: Vec<&OpenRun> = runs
        .open
        .iter()
        .filter(|r| r.setup == Some(setup))
        .collect();
    if sel.is_empty() {
        return None;
    }
    let n = sel.len() as f64;
    let mut took: Vec<u32> = sel.iter().flat_map(|r| r.took.iter().copied()).collect();
    let mut p = OpenPool {
        runs: sel.len(),
        took: Stats::of(&mut took),
        held: sel.iter().map(|r| r.held).min().unwrap_or(0),
        ..Default::default()
    };
    for r in &sel {
        p.opened += r.opened;
        p.failed += r.failed;
        p.secs += r.secs;
        p.redis_calls.add(&r.redis_calls);
        p.nodes_kib += r.nodes_kib / n;
        p.redis_kib += r.redis_kib / n;
        for (to, from) in [(&mut p.cpu_open, r.cpu_open), (&mut p.cpu_held, r.cpu_held)] {
            to.nodes += from.nodes / n;
            if let Some(x) = from.redis {
                to.redis = Some(to.redis.unwrap_or(0.0) + x / n);
            }
            to.load += from.load / n;
            to.other += from.other / n;
        }
    }
    Some(p)
}

/// `a / b` as `1.23x`, or a dash.
fn times(a: f64, b: f64) -> String {
    if a.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "—".into()
    }
}

/// The machine's cores, for "saturated" notes.
fn cores() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64
}

fn report(opts: &Opts, command: &str, runs: &Runs, took: Duration) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Cluster benchmark: peer-server nodes sharing peers through Redis\n"
    );
    md.push_str(&report_header(command));
    let dirty = super::capture(
        "git",
        &["status", "--porcelain", "--", "crates", "Cargo.lock"],
    );
    if !dirty.is_empty() {
        let _ = writeln!(
            md,
            "- Work tree: {} uncommitted change(s) under `crates/` and `Cargo.lock` were built and measured",
            dirty.lines().count()
        );
    }
    let _ = writeln!(
        md,
        "- Fleet (release builds, all on 127.0.0.1, started once for the run, `bench signaling`'s configuration): \
one `peer-server` without `[cluster]`; `redis-server` ({}, no persistence, its own temporary directory) with two \
`peer-server` nodes configured `[cluster] redis` (prefix `{PREFIX}`).",
        redis_version()
    );
    let _ = writeln!(
        md,
        "- Load generator: this process, tokio with {} worker thread(s), on the same cores. {} round(s), the order of \
the setups reversed every other round; before each measurement up to {:.0} s of waiting for a quiet machine. \
Took {:.1} minutes.\n",
        opts.client_threads,
        opts.rounds,
        opts.wait_quiet,
        took.as_secs_f64() / 60.0
    );
    if opts.phases.contains(&Phase::Relay) {
        relay_section(&mut md, opts, runs);
    }
    if opts.phases.contains(&Phase::Open) {
        open_section(&mut md, opts, runs);
    }
    let _ = writeln!(
        md,
        "## Room fan-out across nodes\n\nNot built yet: the phase comes once rooms spanning nodes are finished (`--phases room` is refused).\n"
    );
    let mut notes = runs.problems.clone();
    for r in &runs.relay {
        let at = format!(
            "round {}, relay {}x{}, {}",
            r.round,
            r.load.0,
            r.load.1,
            r.setup.label()
        );
        if !r.res.failed.is_empty() {
            notes.push(format!("{at}: {}", r.res.failed));
        }
        if let Some(e) = &r.res.first_task_error {
            notes.push(format!(
                "{at}: {} peer task(s) ended early; first: {e}",
                r.res.task_errors
            ));
        }
        for s in &r.res.samples {
            notes.push(format!("{at}: unexpected frame `{s}`"));
        }
        if let Some(b) = r.busy_before {
            notes.push(format!(
                "{at}: the machine was busy before it ({b:.0}% of a core)"
            ));
        }
        if r.cpu.other > 25.0 {
            notes.push(format!(
                "{at}: the rest of the machine (other processes, the kernel's loopback work) used {:.0}% of a core during the window",
                r.cpu.other
            ));
        }
    }
    for r in &runs.open {
        let at = format!(
            "round {}, open, {}",
            r.round,
            r.setup.map(OpenSetup::label).unwrap_or("?")
        );
        if let Some(e) = &r.first_error {
            notes.push(format!("{at}: {} failed to open; first: {e}", r.failed));
        }
        for l in &r.lost {
            notes.push(format!("{at}: a held peer was lost: {l}"));
        }
        if let Some(b) = r.busy_before {
            notes.push(format!(
                "{at}: the machine was busy before it ({b:.0}% of a core)"
            ));
        }
        if r.cpu_open.other > 25.0 {
            notes.push(format!(
                "{at}: the rest of the machine (other processes, the kernel's loopback work) used {:.0}% of a core while opening",
                r.cpu_open.other
            ));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "## Problems seen\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

fn relay_section(md: &mut String, opts: &Opts, runs: &Runs) {
    let _ = writeln!(
        md,
        "## Relay\n\nPairs play ping-pong with ~300-byte `SEND_CANDIDATE` messages (`bench signaling`'s clients), K in \
flight per pair, {:.1} s of warm-up then {:.1} s measured per round. Latency is one-way (sender → server(s) → receiver, \
stamped and read on this process's clock), over every message of the measured windows of all rounds. \"cluster, across \
nodes\": peer A of each pair on node 1, peer B on node 2, so every message (A's and B's answers) goes from one node \
to the other through Redis. CPU is % of one core over the window: the setup's `peer-server` processes (both cluster \
nodes in the cluster setups) / Redis / the load generator / the rest of the machine. Redis calls per message: every \
command Redis ran in the window (`INFO commandstats`: background renewals included, and a script counted with the \
commands it runs) divided by the messages relayed.\n",
        opts.warmup, opts.secs
    );
    let _ = writeln!(
        md,
        "| pairs x K | setup | **msgs/s** | one-way latency p50 / p99 / max (ms) | samples | CPU nodes / Redis / load gen / other | Redis calls per message | problems |\n|---|---|---|---|---|---|---|---|"
    );
    for &load in &opts.loads {
        for setup in RelaySetup::ALL {
            let Some(p) = pool_relay(runs, load, setup) else {
                let _ = writeln!(
                    md,
                    "| {}x{} | {} | — | — | — | — | — | not measured |",
                    load.0,
                    load.1,
                    setup.label()
                );
                continue;
            };
            let _ = writeln!(
                md,
                "| {}x{} | {} | **{:.0}** | {} / {} / {} | {} ({} run(s)) | {} | {} | {} |",
                load.0,
                load.1,
                setup.label(),
                p.rate,
                ms(p.stats.p50),
                ms(p.stats.p99),
                ms(p.stats.max),
                p.stats.n,
                p.runs,
                p.cpu.cell(),
                p.redis_per_msg,
                p.problems
            );
        }
    }
    let _ = writeln!(
        md,
        "\n### Cross-node against same-node\n\n| pairs x K | across / same node, p50 | across / same node, p99 | goal: {LATENCY_GOAL} | across / same node, msgs/s | across / same node per round: p50; p99 | cluster same node / no cluster: p50, p99, msgs/s |\n|---|---|---|---|---|---|---|"
    );
    for &load in &opts.loads {
        let (single, same, cross) = (
            pool_relay(runs, load, RelaySetup::Single),
            pool_relay(runs, load, RelaySetup::SameNode),
            pool_relay(runs, load, RelaySetup::CrossNode),
        );
        let lat = |p: &Option<RelayPool>, f: fn(&Stats) -> u32| -> f64 {
            p.as_ref()
                .map(|p| f64::from(f(&p.stats)))
                .unwrap_or(f64::NAN)
        };
        let rate = |p: &Option<RelayPool>| p.as_ref().map(|p| p.rate).unwrap_or(f64::NAN);
        let (r50, r99) = (
            lat(&cross, |s| s.p50) / lat(&same, |s| s.p50),
            lat(&cross, |s| s.p99) / lat(&same, |s| s.p99),
        );
        let goal = if r50.is_finite() && r99.is_finite() {
            format!(
                "{} (p50 {r50:.2}x, p99 {r99:.2}x; at most {LATENCY_GOAL_RATIO:.1}x)",
                verdict(r50 <= LATENCY_GOAL_RATIO && r99 <= LATENCY_GOAL_RATIO)
            )
        } else {
            "not measured".into()
        };
        let _ = writeln!(
            md,
            "| {}x{} | **{}** | **{}** | {goal} | {} | {}; {} | {}, {}, {} |",
            load.0,
            load.1,
            times(lat(&cross, |s| s.p50), lat(&same, |s| s.p50)),
            times(lat(&cross, |s| s.p99), lat(&same, |s| s.p99)),
            times(rate(&cross), rate(&same)),
            per_round(runs, load, |r| r.p50_us),
            per_round(runs, load, |r| r.p99_us),
            times(lat(&same, |s| s.p50), lat(&single, |s| s.p50)),
            times(lat(&same, |s| s.p99), lat(&single, |s| s.p99)),
            times(rate(&same), rate(&single)),
        );
    }
    if opts.rounds > 1 {
        let _ = writeln!(
            md,
            "\nPer round:\n\n| round | pairs x K | setup | msgs/s | p50 / p99 (ms) |\n|---|---|---|---|---|"
        );
        for r in &runs.relay {
            let _ = writeln!(
                md,
                "| {} | {}x{} | {} | {:.0} | {} / {} |",
                r.round,
                r.load.0,
                r.load.1,
                r.setup.label(),
                r.res.rate,
                ms(r.res.p50_us),
                ms(r.res.p99_us)
            );
        }
    }
    let saturated: Vec<String> = opts
        .loads
        .iter()
        .flat_map(|&load| RelaySetup::ALL.map(|s| (load, s)))
        .filter_map(|(load, s)| {
            let p = pool_relay(runs, load, s)?;
            (p.cpu.total() > 90.0 * cores()).then(|| {
                format!(
                    "{}x{} {} ({:.0}% of {:.0}%)",
                    load.0,
                    load.1,
                    s.label(),
                    p.cpu.total(),
                    100.0 * cores()
                )
            })
        })
        .collect();
    if !saturated.is_empty() {
        let _ = writeln!(
            md,
            "\nThe machine was CPU-saturated during: {}; msgs/s there is bounded by the CPU left to the servers.",
            saturated.join("; ")
        );
    }
    let _ = writeln!(md);
}

/// The cross-node/same-node ratio of `f` in each round at `load`, e.g. `1.20x, 2.31x`.
fn per_round(runs: &Runs, load: (usize, usize), f: fn(&RelayResult) -> u32) -> String {
    let find = |round: usize, setup: RelaySetup| {
        runs.relay
            .iter()
            .find(|r| r.round == round && r.load == load && r.setup == setup)
            .filter(|r| r.res.failed.is_empty())
            .map(|r| f64::from(f(&r.res)))
    };
    let rounds = runs.relay.iter().map(|r| r.round + 1).max().unwrap_or(0);
    let v: Vec<String> = (0..rounds)
        .filter_map(|round| {
            Some(times(
                find(round, RelaySetup::CrossNode)?,
                find(round, RelaySetup::SameNode)?,
            ))
        })
        .collect();
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
}

fn open_section(md: &mut String, opts: &Opts, runs: &Runs) {
    let _ = writeln!(
        md,
        "## Opening peers\n\n{} peers per round and setup opened (TCP connect to `OPEN`) with {} handshakes in flight, \
the same client concurrency for every setup; \"two cluster nodes\" alternates the peers between the nodes. Then held \
{:.0} s (keepalives spread over their 25 s period) and closed. peers/s pools the rounds (all opened / all seconds). \
CPU is % of one core: while opening, and while holding (the cluster nodes renew their peers' ids in Redis). RSS per \
peer: the growth of the nodes the peers opened on, and of Redis, divided by the peers. Redis calls per peer: every \
command Redis ran while opening (renewals of the ids already held included) divided by the peers opened.\n",
        opts.open_peers, opts.concurrency, opts.hold
    );
    let _ = writeln!(
        md,
        "| setup | opened (failed) | seconds | **peers/s** | open time p50 / p99 / max (ms) | CPU while opening: nodes / Redis / load gen / other | Redis calls per peer opened | held | CPU while holding: nodes / Redis / load gen / other | RSS per peer: nodes / Redis (KiB) |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let pools: Vec<(OpenSetup, Option<OpenPool>)> = OpenSetup::ALL
        .iter()
        .map(|&s| (s, pool_open(runs, s)))
        .collect();
    for (s, p) in &pools {
        let Some(p) = p else {
            let _ = writeln!(md, "| {} | not measured | | | | | | | | |", s.label());
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {:.2} | **{:.0}** | {} / {} / {} | {} | {} | {} of {} for {:.0} s | {} | {:.2} / {} |",
            s.label(),
            p.opened,
            p.failed,
            p.secs,
            p.rate(),
            ms(p.took.p50),
            ms(p.took.p99),
            ms(p.took.max),
            p.cpu_open.cell(),
            if s.cluster() {
                p.redis_calls.per(p.opened as f64)
            } else {
                "—".into()
            },
            p.held,
            p.opened / p.runs.max(1),
            opts.hold,
            p.cpu_held.cell(),
            p.nodes_kib,
            if s.cluster() {
                format!("{:.2}", p.redis_kib)
            } else {
                "—".into()
            }
        );
    }
    let rate = |s: OpenSetup| {
        pools
            .iter()
            .find(|(x, _)| *x == s)
            .and_then(|(_, p)| p.as_ref())
            .map(|p| p.rate())
            .unwrap_or(f64::NAN)
    };
    let (single, one, two) = (
        rate(OpenSetup::Single),
        rate(OpenSetup::OneNode),
        rate(OpenSetup::TwoNodes),
    );
    let goal = |r: f64| {
        if r.is_finite() {
            format!(
                "{} ({r:.2}x; at least {OPEN_GOAL_RATIO:.1}x)",
                verdict(r >= OPEN_GOAL_RATIO)
            )
        } else {
            "not measured".into()
        }
    };
    let _ = writeln!(
        md,
        "\n### Two nodes against one\n\n| open rate | ratio | goal: {OPEN_GOAL} |\n|---|---|---|"
    );
    let _ = writeln!(
        md,
        "| two cluster nodes / one node without cluster | **{}** | {} |",
        times(two, single),
        goal(two / single)
    );
    let _ = writeln!(
        md,
        "| two cluster nodes / one cluster node | **{}** | {} |",
        times(two, one),
        goal(two / one)
    );
    let _ = writeln!(
        md,
        "| one cluster node / one node without cluster | {} | (the cost of claiming each id in Redis) |",
        times(one, single)
    );
    if opts.rounds > 1 {
        let _ = writeln!(
            md,
            "\nPer round:\n\n| round | setup | opened | seconds | peers/s |\n|---|---|---|---|---|"
        );
        for r in &runs.open {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.0} |",
                r.round,
                r.setup.map(OpenSetup::label).unwrap_or("?"),
                r.opened,
                r.secs,
                r.rate()
            );
        }
    }
    let saturated: Vec<String> = pools
        .iter()
        .filter_map(|(s, p)| {
            let p = p.as_ref()?;
            (p.cpu_open.total() > 90.0 * cores()).then(|| {
                format!(
                    "{} ({:.0}% of {:.0}%: nodes {:.0}, Redis {}, load generator {:.0})",
                    s.label(),
                    p.cpu_open.total(),
                    100.0 * cores(),
                    p.cpu_open.nodes,
                    p.cpu_open
                        .redis
                        .map(|r| format!("{r:.0}"))
                        .unwrap_or_else(|| "—".into()),
                    p.cpu_open.load
                )
            })
        })
        .collect();
    if !saturated.is_empty() {
        let _ = writeln!(
            md,
            "\nThe machine was CPU-saturated while opening: {}. A second node adds no core here: the nodes, Redis \
and the load generator share the same {:.0}, so the two-node rate measures how the work is shared, not what a \
second machine would add.",
            saturated.join("; "),
            cores()
        );
    }
    let (soft, _) = server::nofile_limits().unwrap_or((0, 0));
    let _ = writeln!(
        md,
        "\nPeers held at once: not measured to the limit. Every setup held all {} peers of each round to the end of the \
hold (column \"held\"), but the limit is not cheap to reach from here: the load generator's own open-files limit \
({soft}) and its ephemeral ports bind first, far below what the nodes' memory allows (see RSS per peer).\n",
        opts.open_peers
    );
}

/// `redis-server`'s version, e.g. `7.0.15`.
fn redis_version() -> String {
    let v = super::capture(peer_testkit::redis::REDIS_SERVER, &["--version"]);
    v.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map(|v| format!("Redis {v}"))
        .unwrap_or_else(|| "Redis".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_and_validate() {
        let o = Opts::parse(&[]).expect("defaults");
        assert_eq!(o.phases, vec![Phase::Relay, Phase::Open]);
        assert_eq!(o.loads, vec![(1, 1), (100, 1), (100, 8)]);
        assert_eq!(o.peak_peers(), 10_000);
        let o = Opts::parse(&args(
            "--phases open --loads 2x3,50x1 --open-peers 300 --rounds 3 --hold 0 --no-build",
        ))
        .expect("valid");
        assert_eq!(o.phases, vec![Phase::Open]);
        assert_eq!(o.loads, vec![(2, 3), (50, 1)]);
        assert_eq!(
            (o.open_peers, o.rounds, o.hold, o.build),
            (300, 3, 0.0, false)
        );
        assert_eq!(o.peak_peers(), 300);
        let q = Opts::parse(&args("--quick --rounds 2")).expect("quick");
        assert_eq!((q.open_peers, q.rounds), (1000, 2));
        for bad in [
            "--phases room",
            "--phases relay,room",
            "--phases fan",
            "--loads 100",
            "--loads 0x1",
            "--loads 10x0",
            "--loads 1xz",
            "--rounds 0",
            "--open-peers 0",
            "--secs 0",
            "--secs nan",
            "--hold -1",
            "--concurrency 0",
            "--frobnicate",
        ] {
            assert!(Opts::parse(&args(bad)).is_err(), "{bad} accepted");
        }
        let e = Opts::parse(&args("--phases room")).expect_err("room refused");
        assert!(e.to_string().contains("not built yet"), "{e}");
    }

    #[test]
    fn redis_command_counts() {
        let before = Calls::parse(
            "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50\r\ncmdstat_info:calls=3,usec=1\r\n",
        );
        assert_eq!(before.total(), 10);
        let after = Calls::parse(
            "cmdstat_get:calls=110,usec=50\r\ncmdstat_publish:calls=100,usec=9\r\ncmdstat_set:calls=1,usec=1\r\n",
        );
        let d = after.since(&before);
        assert_eq!(d.total(), 201);
        assert_eq!(d.per(100.0), "2.01 (get 1.00, publish 1.00, set 0.01)");
        assert_eq!(d.per(0.0), "—");
        assert_eq!(d.per(1e6), "0.00");
        let mut sum = d.clone();
        sum.add(&d);
        assert_eq!(sum.total(), 402);
    }

    #[test]
    fn setups_alternate_and_ratios_print() {
        assert_eq!(in_round_order(&[1, 2, 3], 0), vec![1, 2, 3]);
        assert_eq!(in_round_order(&[1, 2, 3], 1), vec![3, 2, 1]);
        assert_eq!(times(3.0, 2.0), "1.50x");
        assert_eq!(times(f64::NAN, 2.0), "—");
        assert_eq!(times(1.0, 0.0), "—");
        let u = Use::of(
            Cpu {
                server: 30.0,
                client: 50.0,
                other: 5.0,
            },
            &[10.0, 5.0, 15.0],
            true,
        );
        assert_eq!((u.nodes, u.redis, u.total()), (15.0, Some(15.0), 85.0));
        assert_eq!(u.cell(), "15 / 15 / 50 / 5");
    }
}
