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
//! - **room fan-out across nodes** ([`Phase::Room`]): for each `--room-sizes` M, one mesh room
//!   of M members ([`RoomSetup`]): all on the node without cluster mode, all on cluster node 1,
//!   and half on node 1 and half on node 2 with the room's home on node 1 (its first joiner).
//!   One member sends ~200-byte `ROOM_SEND_DATA` messages carrying their send time at
//!   `--room-rate` per second (the home's first member; in the split room also, in a run of its
//!   own, a member on node 2, whose messages go to the home and back), and every other member
//!   records the one-way latency of each `ROOM_DATA` it gets ([`room_member`]). Deliveries per
//!   second, lost deliveries, and the latency p50 / p99 / max of the receivers on each node;
//!
//! Each of `--rounds` rounds runs every phase, the order of the setups reversed every other
//! round; before each measurement the bench waits up to `--wait-quiet` seconds for the
//! machine to be quiet (the hub bench's rule). The figures are pooled over the rounds. The
//! report (markdown, also `target/bench/cluster.md`) gives the cross-node/same-node latency
//! ratios (of relayed messages and of room data) and the two-node/one-node open rate ratios
//! beside the issue's goals ([`LATENCY_GOAL`], [`OPEN_GOAL`]), computed from this run's figures.

use super::args::Args;
use super::client::{self, Clock, Dialect, Window, Ws};
use super::server::{self, Server};
use super::window::{self, Cpu, CpuMark, IdlePeers, Load, Pairs, Stats};
use super::{ms, publish, report_header, verdict, RelayResult};
use crate::util::root;
use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Usage of `cargo xtask bench cluster`.
pub const USAGE: &str = "usage: cargo xtask bench cluster [--quick] [--phases relay,open,room] \
[--loads 1x1,100x1,100x8] [--secs S] [--warmup S] [--open-peers N] [--hold S] \
[--room-sizes 4,16] [--room-rate R] [--rounds N] [--concurrency N] [--wait-quiet S] [--no-build] \
[--client-threads N]";

/// The issue's goal for relayed messages between nodes.
pub const LATENCY_GOAL: &str = "cross-node relay costs at most 2x the same-node latency";

/// The issue's goal for a second node.
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
    /// Room fan-out: one member's `ROOM_DATA` fanned out to a mesh room's other members, on
    /// the node without cluster mode, on one cluster node, and split over the two cluster
    /// nodes ([`RoomSetup`], [`room_run`]).
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
    /// The phases, in the order they run in each round.
    phases: Vec<Phase>,
    /// Relay loads as (pairs, messages in flight per pair).
    loads: Vec<(usize, usize)>,
    /// Seconds measured per relay and room run.
    secs: f64,
    /// Seconds of warm-up before them.
    warmup: f64,
    /// Peers opened per open run.
    open_peers: usize,
    /// Seconds the opened peers are held.
    hold: f64,
    /// Members of the room of each room run.
    room_sizes: Vec<usize>,
    /// `ROOM_SEND_DATA` messages the room's sender sends per second.
    room_rate: f64,
    /// Rounds of every phase.
    rounds: usize,
    /// Handshakes in flight while peers open.
    concurrency: usize,
    /// Seconds to wait, at most, for a quiet machine before each measurement.
    wait_quiet: f64,
    /// Whether to build the release `peer-server` first.
    build: bool,
    /// Worker threads of the load generator's runtime.
    client_threads: usize,
}

impl Opts {
    /// The options of `args` (after `cluster`), checked.
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            phases: vec![Phase::Relay, Phase::Open, Phase::Room],
            loads: vec![(1, 1), (100, 1), (100, 8)],
            secs: 5.0,
            warmup: 1.0,
            open_peers: 10_000,
            hold: 6.0,
            room_sizes: vec![4, 16],
            room_rate: 200.0,
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
            o.room_sizes = vec![4];
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
                "--room-sizes" => o.room_sizes = a.list()?,
                "--room-rate" => o.room_rate = a.parse()?,
                "--rounds" => o.rounds = a.parse()?,
                "--concurrency" => o.concurrency = a.parse()?,
                "--wait-quiet" => o.wait_quiet = a.parse()?,
                "--client-threads" => o.client_threads = a.parse()?,
                _ => return Err(a.unknown()),
            }
        }
        if o.phases.is_empty() {
            bail!("--phases needs at least one of relay, open, room");
        }
        if o.room_sizes.is_empty() || o.room_sizes.iter().any(|m| !(2..=100).contains(m)) {
            bail!("--room-sizes needs members in 2..=100 (the servers' max_room_members)");
        }
        if !(o.room_rate >= 1.0 && o.room_rate <= 10_000.0) {
            bail!("--room-rate must be in [1, 10000] messages per second");
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
        let room = self.room_sizes.iter().copied().max().unwrap_or(0);
        relay.max(self.open_peers).max(room)
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

/// Redis's command counters across the measured part of a window (read beside the CPU): from
/// `warm` from now until `deadline`, counted in a task of its own.
fn count_redis(
    port: u16,
    warm: Duration,
    deadline: tokio::time::Instant,
) -> tokio::task::JoinHandle<Result<Calls>> {
    tokio::spawn(async move {
        tokio::time::sleep(warm).await;
        let before = redis_calls(port).await?;
        tokio::time::sleep_until(deadline).await;
        Ok(redis_calls(port).await?.since(&before))
    })
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

/// Where a room run's members are, and which one sends. Member `i` opens on
/// `ports()[i % ports().len()]` ([`client::connect_many_on`]), and member 0 joins first, so the
/// room's home is the first port's node; in the split setups the even-numbered members are on
/// cluster node 1 and the odd-numbered ones on node 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomSetup {
    /// All members on the node without cluster mode.
    Single,
    /// All members on cluster node 1.
    SameNode,
    /// Half the members on node 1 (the home, where the sender is), half on node 2.
    Split,
    /// As [`RoomSetup::Split`], the sender a member on node 2: its messages go to the home
    /// and back.
    SplitRemoteSender,
}

impl RoomSetup {
    /// Every setup, in the order of the report.
    const ALL: [RoomSetup; 4] = [
        RoomSetup::Single,
        RoomSetup::SameNode,
        RoomSetup::Split,
        RoomSetup::SplitRemoteSender,
    ];

    /// The setup's name in the report.
    fn label(self) -> &'static str {
        match self {
            RoomSetup::Single => "one node, no cluster",
            RoomSetup::SameNode => "cluster, all on node 1",
            RoomSetup::Split => "cluster, half on node 2, sender on node 1 (home)",
            RoomSetup::SplitRemoteSender => "cluster, half on node 2, sender on node 2",
        }
    }

    /// The ports the members open on, in turn.
    fn ports(self, f: &Fleet) -> Vec<u16> {
        match self {
            RoomSetup::Single => vec![f.single.port],
            RoomSetup::SameNode => vec![f.nodes[0].port],
            RoomSetup::Split | RoomSetup::SplitRemoteSender => {
                vec![f.nodes[0].port, f.nodes[1].port]
            }
        }
    }

    /// The member that sends: 0 (the home's first member), or 1 (on node 2).
    fn sender(self) -> usize {
        match self {
            RoomSetup::SplitRemoteSender => 1,
            _ => 0,
        }
    }

    /// The node of member `i`: 0 (node 1, or the node without cluster mode) or 1 (node 2).
    fn node_of(self, i: usize) -> usize {
        match self {
            RoomSetup::Split | RoomSetup::SplitRemoteSender => i % 2,
            _ => 0,
        }
    }

    /// Whether the members are on cluster nodes.
    fn cluster(self) -> bool {
        self != RoomSetup::Single
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

    /// The mean of `uses` (Redis's over those that have it); zero without any.
    fn mean<'a>(uses: impl ExactSizeIterator<Item = &'a Use>) -> Use {
        let n = uses.len().max(1) as f64;
        let mut m = Use::default();
        for u in uses {
            m.nodes += u.nodes / n;
            if let Some(x) = u.redis {
                m.redis = Some(m.redis.unwrap_or(0.0) + x / n);
            }
            m.load += u.load / n;
            m.other += u.other / n;
        }
        m
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

/// One room measurement.
#[derive(Debug, Default)]
struct RoomRun {
    /// The round it was measured in.
    round: usize,
    /// Members of the room.
    size: usize,
    /// Where the members were (`None` only in a default value).
    setup: Option<RoomSetup>,
    /// Seconds measured.
    secs: f64,
    /// Messages the sender sent inside the window.
    sent: u64,
    /// Members that receive (all but the sender).
    receivers: usize,
    /// Deliveries of those messages, all receivers together.
    received: u64,
    /// Their one-way latencies (µs): of the receivers on node 1 (or the node without cluster
    /// mode), and of those on node 2.
    lat: [Vec<u32>; 2],
    /// CPU use across the measured part.
    cpu: Use,
    /// Redis commands run during the measured window, by name (cluster setups).
    redis_calls: Calls,
    /// Why the run did not measure (members that failed to open or join).
    failed: Option<String>,
    /// Member tasks that ended early.
    task_errors: usize,
    /// Why the first of them did.
    first_task_error: Option<String>,
    /// Frames that were none of room data, membership or keepalive answers.
    unexpected: u64,
    /// The first few of them, clipped.
    samples: Vec<String>,
    /// Whether the machine was quiet before it; if not, how busy (% of a core).
    busy_before: Option<f64>,
}

impl RoomRun {
    /// Deliveries expected: every message sent in the window to every receiver.
    fn expected(&self) -> u64 {
        self.sent * self.receivers as u64
    }
}

/// Everything measured.
#[derive(Debug, Default)]
struct Runs {
    relay: Vec<RelayRun>,
    open: Vec<OpenRun>,
    room: Vec<RoomRun>,
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
                Phase::Room => {
                    for &size in &opts.room_sizes {
                        for setup in in_round_order(&RoomSetup::ALL, round) {
                            let busy = quiet_or_busy(opts).await;
                            eprintln!("== round {round}: room of {size}, {}", setup.label());
                            let tag = next_tag();
                            match room_run(
                                fleet, setup, size, opts, &dialect, clock, &mut seed, &tag,
                            )
                            .await
                            {
                                Ok(mut r) => {
                                    r.round = round;
                                    r.busy_before = busy;
                                    let mut lat = r.lat.clone();
                                    let on = lat.each_mut().map(|l| Stats::of(l));
                                    eprintln!(
                                        "   {} of {} delivered; p50 {} / {} ms, p99 {} / {} ms (node 1 / node 2)",
                                        r.received,
                                        r.expected(),
                                        ms(on[0].p50),
                                        ms(on[1].p50),
                                        ms(on[0].p99),
                                        ms(on[1].p99)
                                    );
                                    runs.room.push(r);
                                }
                                Err(e) => runs.problems.push(format!(
                                    "round {round}, room of {size}, {}: {e:#}",
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
    let counted = setup.cluster().then(|| {
        count_redis(
            fleet.redis.port,
            Duration::from_secs_f64(load.warmup),
            pairs.window.deadline,
        )
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

/// Receivers wait this long past the window's end for the sender's end marker.
const ROOM_DRAIN: Duration = Duration::from_secs(10);

/// How long a member may take to hear its own `ROOM_USER_JOIN`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The size of a sent `ROOM_SEND_DATA` frame, in bytes.
const ROOM_FRAME_BYTES: usize = 200;

/// The key of the send stamp (16 digits, µs on the bench's [`Clock`]) inside room data.
const ROOM_STAMP: &str = "\"ts\":\"";

/// The data of the sender's last message, after the window: receivers stop on it.
const ROOM_END: &str = "{\"end\":true}";

/// Latency samples kept per member, at most.
const MAX_ROOM_SAMPLES: usize = 2_000_000;

/// One room measurement: `size` members opened as `setup` places them, joined one after the
/// other (member 0 first, making its node the room's home) to a fresh mesh room; then the
/// setup's sender sends at `--room-rate` over a window of `--warmup` and `--secs` seconds while
/// the others record what they get ([`room_member`]), and the CPU of the setup's processes and
/// Redis's commands are read across the measured part.
#[allow(clippy::too_many_arguments)]
async fn room_run(
    fleet: &Fleet,
    setup: RoomSetup,
    size: usize,
    opts: &Opts,
    dialect: &Arc<Dialect>,
    clock: Clock,
    seed: &mut u64,
    tag: &str,
) -> Result<RoomRun> {
    let ids: Vec<String> = (0..size).map(|i| format!("{tag}-{i:03}")).collect();
    let mut run = RoomRun {
        size,
        setup: Some(setup),
        secs: opts.secs,
        receivers: size - 1,
        ..Default::default()
    };
    let (conns, _) =
        client::connect_many_on(&setup.ports(fleet), dialect, &ids, opts.concurrency, seed).await;
    let mut opened = RelayResult::default();
    let Some(mut streams) = super::all_opened(&mut opened, conns) else {
        run.failed = Some(opened.failed);
        return Ok(run);
    };
    let room: Arc<str> = format!("{tag}-room").into();
    for (ws, id) in streams.iter_mut().zip(&ids) {
        if let Err(e) = join_room(ws, &room, id).await {
            run.failed = Some(format!("{id} did not join: {e:#}"));
            return Ok(run);
        }
    }
    let warm = Duration::from_secs_f64(opts.warmup);
    let window = window::window(clock, warm, Duration::from_secs_f64(opts.secs));
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let rate = (i == setup.sender()).then_some(opts.room_rate);
            tokio::spawn(room_member(
                ws,
                dialect.clone(),
                room.clone(),
                rate,
                clock,
                window,
            ))
        })
        .collect();
    let procs = fleet.procs(setup.cluster());
    let counted = setup
        .cluster()
        .then(|| count_redis(fleet.redis.port, warm, window.deadline));
    let (cpu, each) =
        window::cpu_over(&procs, warm, window.deadline, server::clk_tck() as f64).await?;
    run.cpu = Use::of(cpu, &each, setup.cluster());
    if let Some(task) = counted {
        run.redis_calls = task.await??;
    }
    let done = tokio::time::timeout(
        ROOM_DRAIN + Duration::from_secs(10),
        futures::future::join_all(tasks),
    )
    .await
    .context("room members did not finish within 20 s of the window's end")?;
    let mut socks = Vec::with_capacity(size);
    for (i, d) in done.into_iter().enumerate() {
        let (ws, st) = d?;
        socks.push(ws);
        run.sent += st.sent;
        run.received += st.received;
        run.lat[setup.node_of(i)].extend_from_slice(&st.lat);
        run.unexpected += st.unexpected;
        for x in st.samples {
            if run.samples.len() < 3 {
                run.samples.push(x);
            }
        }
        if let Some(e) = st.error {
            run.task_errors += 1;
            run.first_task_error.get_or_insert(e);
        }
    }
    futures::future::join_all(socks.iter_mut().map(|ws| async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }))
    .await;
    Ok(run)
}

/// Joins `id` (open on `ws`) to the mesh room `room` and waits for its own `ROOM_USER_JOIN`
/// (other frames read meanwhile are dropped).
async fn join_room(ws: &mut Ws, room: &str, id: &str) -> Result<()> {
    let join = format!(r#"42["ROOM_JOIN",{{"roomName":"{room}","roomType":"mesh"}}]"#);
    let me = format!(r#""src":"{id}""#);
    let work = async {
        ws.send(Message::text(join)).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let f = t.as_str();
                    if f.starts_with(r#"42["ROOM_USER_JOIN""#) && f.contains(&me) {
                        return Ok(());
                    }
                    if f.starts_with(r#"42["ERROR""#) {
                        bail!("refused: {}", client::clip(f));
                    }
                }
                Some(Ok(Message::Close(c))) => bail!("server closed: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("read"),
                None => bail!("connection ended"),
            }
        }
    };
    tokio::time::timeout(JOIN_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("no ROOM_USER_JOIN within {JOIN_TIMEOUT:?}"))?
}

/// A `ROOM_SEND_DATA` frame of [`ROOM_FRAME_BYTES`] for `room`, its data stamped `stamp_us`.
fn room_data_frame(room: &str, stamp_us: u64) -> String {
    let head = format!(
        r#"42["ROOM_SEND_DATA",{{"roomName":"{room}","data":{{"ts":"{stamp_us:016}","pad":""#
    );
    let tail = r#""}}]"#;
    let pad = ROOM_FRAME_BYTES.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

/// What a frame a room member got is.
#[derive(Debug, PartialEq, Eq)]
enum RoomFrame {
    /// Room data sent at this stamp.
    Data(u64),
    /// The sender's end marker ([`ROOM_END`]).
    End,
    /// A membership message or a keepalive answer.
    Ignored,
    /// Anything else.
    Unexpected,
}

impl RoomFrame {
    /// Reads `frame`; errors on room data without a stamp.
    fn of(frame: &str) -> Result<RoomFrame> {
        if frame.starts_with(r#"42["ROOM_DATA""#) {
            if frame.contains(&format!("\"data\":{ROOM_END}")) {
                return Ok(RoomFrame::End);
            }
            let at = frame
                .find(ROOM_STAMP)
                .with_context(|| format!("room data without a stamp: {}", client::clip(frame)))?
                + ROOM_STAMP.len();
            let stamp = frame
                .get(at..at + 16)
                .and_then(|d| d.parse().ok())
                .with_context(|| format!("bad room data stamp: {}", client::clip(frame)))?;
            Ok(RoomFrame::Data(stamp))
        } else if frame.starts_with(r#"42["ROOM_USER_JOIN""#)
            || frame.starts_with(r#"42["ROOM_USER_LEAVE""#)
            || frame == "3"
        {
            Ok(RoomFrame::Ignored)
        } else {
            Ok(RoomFrame::Unexpected)
        }
    }
}

/// What one room member saw.
#[derive(Debug, Default)]
struct MemberStats {
    /// Messages it sent inside the window (the sender).
    sent: u64,
    /// Messages sent inside the window that it got.
    received: u64,
    /// Their one-way latencies (µs).
    lat: Vec<u32>,
    /// Frames that were neither room data, membership messages nor keepalive answers.
    unexpected: u64,
    /// The first few of them, clipped.
    samples: Vec<String>,
    /// Why it ended early, if it did.
    error: Option<String>,
}

/// One member of a room run: with `rate`, the sender (messages at that rate from now until
/// the window's deadline, then the end marker); without, a receiver, recording the one-way
/// latency of each message sent inside the window until the end marker (or [`ROOM_DRAIN`]
/// past the deadline). Both read all they get and send the dialect's keepalive. Gives the
/// connection back, open.
async fn room_member(
    mut ws: Ws,
    dialect: Arc<Dialect>,
    room: Arc<str>,
    rate: Option<f64>,
    clock: Clock,
    window: Window,
) -> (Ws, MemberStats) {
    let mut st = MemberStats::default();
    if let Err(e) = room_loop(&mut ws, &dialect, &room, rate, clock, window, &mut st).await {
        st.error = Some(format!("{e:#}"));
    }
    (ws, st)
}

/// The loop of [`room_member`].
async fn room_loop(
    ws: &mut Ws,
    dialect: &Dialect,
    room: &str,
    rate: Option<f64>,
    clock: Clock,
    window: Window,
    st: &mut MemberStats,
) -> Result<()> {
    let (ka, period) = dialect.keepalive();
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let sender = rate.is_some();
    let mut sends = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.unwrap_or(1.0)));
    let hard = window.deadline + ROOM_DRAIN;
    loop {
        let m = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(window.deadline), if sender => {
                let end = format!(r#"42["ROOM_SEND_DATA",{{"roomName":"{room}","data":{ROOM_END}}}]"#);
                ws.send(Message::text(end)).await?;
                return Ok(());
            }
            _ = tokio::time::sleep_until(hard) => {
                bail!("no end marker within {ROOM_DRAIN:?} of the window's end")
            }
            _ = keepalive.tick() => {
                ws.send(Message::text(ka)).await?;
                continue;
            }
            _ = sends.tick(), if sender => {
                let now = clock.now_us();
                ws.send(Message::text(room_data_frame(room, now))).await?;
                if (window.start_us..window.end_us).contains(&now) {
                    st.sent += 1;
                }
                continue;
            }
            m = ws.next() => m,
        };
        let Some(text) = super::client::text_of(m)? else {
            continue;
        };
        let now = clock.now_us();
        match RoomFrame::of(text.as_str())? {
            RoomFrame::Data(stamp) => {
                if (window.start_us..window.end_us).contains(&stamp) {
                    st.received += 1;
                    if st.lat.len() < MAX_ROOM_SAMPLES {
                        st.lat
                            .push(u32::try_from(now.saturating_sub(stamp)).unwrap_or(u32::MAX));
                    }
                }
            }
            RoomFrame::End if !sender => return Ok(()),
            RoomFrame::End | RoomFrame::Ignored => {}
            RoomFrame::Unexpected => {
                st.unexpected += 1;
                if st.samples.len() < 3 {
                    st.samples.push(client::clip(text.as_str()));
                }
            }
        }
    }
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
    let cpu = Use::mean(sel.iter().map(|r| &r.cpu));
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
        cpu_open: Use::mean(sel.iter().map(|r| &r.cpu_open)),
        cpu_held: Use::mean(sel.iter().map(|r| &r.cpu_held)),
        ..Default::default()
    };
    for r in &sel {
        p.opened += r.opened;
        p.failed += r.failed;
        p.secs += r.secs;
        p.redis_calls.add(&r.redis_calls);
        p.nodes_kib += r.nodes_kib / n;
        p.redis_kib += r.redis_kib / n;
    }
    Some(p)
}

/// Room runs of one size and setup, pooled over the rounds.
#[derive(Debug, Default)]
struct RoomPool {
    /// Runs pooled.
    runs: usize,
    /// Messages sent per second (the sender's rate kept).
    sent_rate: f64,
    /// Deliveries per second, all receivers together.
    rate: f64,
    /// Latency of the receivers on node 1 (or the node without cluster mode), and on node 2.
    on: [Stats; 2],
    /// Deliveries expected ([`RoomRun::expected`]), summed.
    expected: u64,
    /// Deliveries received, summed.
    received: u64,
    /// Mean CPU use across the measured parts.
    cpu: Use,
    /// Redis calls per message sent.
    redis_per_msg: String,
    /// Task errors and unexpected frames, or "none".
    problems: String,
}

impl RoomPool {
    /// Lost deliveries: expected − received, or the surplus when more came than expected.
    fn lost(&self) -> String {
        if self.received > self.expected {
            format!("{} extra", self.received - self.expected)
        } else {
            (self.expected - self.received).to_string()
        }
    }
}

/// The room runs of `size` and `setup` that measured, pooled; `None` without any.
fn pool_room(runs: &Runs, size: usize, setup: RoomSetup) -> Option<RoomPool> {
    let sel: Vec<&RoomRun> = runs
        .room
        .iter()
        .filter(|r| r.size == size && r.setup == Some(setup) && r.failed.is_none())
        .collect();
    if sel.is_empty() {
        return None;
    }
    let secs: f64 = sel.iter().map(|r| r.secs).sum::<f64>().max(1e-9);
    let on = [0, 1].map(|node| {
        let mut lat: Vec<u32> = sel
            .iter()
            .flat_map(|r| r.lat[node].iter().copied())
            .collect();
        Stats::of(&mut lat)
    });
    let mut calls = Calls::default();
    for r in &sel {
        calls.add(&r.redis_calls);
    }
    let sent: u64 = sel.iter().map(|r| r.sent).sum();
    let received: u64 = sel.iter().map(|r| r.received).sum();
    let (errors, unexpected) = sel
        .iter()
        .fold((0, 0), |(e, u), r| (e + r.task_errors, u + r.unexpected));
    Some(RoomPool {
        runs: sel.len(),
        sent_rate: sent as f64 / secs,
        rate: received as f64 / secs,
        on,
        expected: sel.iter().map(|r| r.expected()).sum(),
        received,
        cpu: Use::mean(sel.iter().map(|r| &r.cpu)),
        redis_per_msg: if setup.cluster() {
            calls.per(sent as f64)
        } else {
            "—".into()
        },
        problems: if errors + unexpected as usize == 0 {
            "none".into()
        } else {
            format!("{errors} task errors, {unexpected} unexpected frames")
        },
    })
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
    if opts.phases.contains(&Phase::Room) {
        room_section(&mut md, opts, runs);
    }
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
        machine_notes(
            &mut notes,
            &at,
            r.busy_before,
            r.cpu.other,
            "during the window",
        );
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
        machine_notes(
            &mut notes,
            &at,
            r.busy_before,
            r.cpu_open.other,
            "while opening",
        );
    }
    for r in &runs.room {
        let at = format!(
            "round {}, room of {}, {}",
            r.round,
            r.size,
            r.setup.map(RoomSetup::label).unwrap_or("?")
        );
        if let Some(f) = &r.failed {
            notes.push(format!("{at}: not measured: {f}"));
        }
        if let Some(e) = &r.first_task_error {
            notes.push(format!(
                "{at}: {} member task(s) ended early; first: {e}",
                r.task_errors
            ));
        }
        for s in &r.samples {
            notes.push(format!("{at}: unexpected frame `{s}`"));
        }
        if r.failed.is_none() && r.received != r.expected() {
            notes.push(format!(
                "{at}: {} deliveries expected ({} messages x {} receivers), {} received",
                r.expected(),
                r.sent,
                r.receivers,
                r.received
            ));
        }
        machine_notes(
            &mut notes,
            &at,
            r.busy_before,
            r.cpu.other,
            "during the window",
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "## Problems seen\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

/// Notes that the machine was not quiet around a measurement: busy before it (`busy_before`,
/// % of a core), or other work taking over a quarter of a core `when` (`other`).
fn machine_notes(
    notes: &mut Vec<String>,
    at: &str,
    busy_before: Option<f64>,
    other: f64,
    when: &str,
) {
    if let Some(b) = busy_before {
        notes.push(format!(
            "{at}: the machine was busy before it ({b:.0}% of a core)"
        ));
    }
    if other > 25.0 {
        notes.push(format!(
            "{at}: the rest of the machine (other processes, the kernel's loopback work) used {other:.0}% of a core {when}"
        ));
    }
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

/// `p50 / p99 / max` of `s` in ms, or a dash without samples.
fn lat_cell(s: &Stats) -> String {
    if s.n == 0 {
        "—".into()
    } else {
        format!("{} / {} / {}", ms(s.p50), ms(s.p99), ms(s.max))
    }
}

/// The room fan-out section: a row per size and setup, then the across-node receivers' latency
/// against the same-node room's, beside [`LATENCY_GOAL`].
fn room_section(md: &mut String, opts: &Opts, runs: &Runs) {
    let _ = writeln!(
        md,
        "## Room fan-out across nodes\n\nOne mesh room of M members per run, the members opened and joined one after the \
other, member 0 first (so the room's home is its node). One member sends {ROOM_FRAME_BYTES}-byte `ROOM_SEND_DATA` \
frames carrying their send time at {:.0} messages/s, {:.1} s of warm-up then {:.1} s measured; every other member \
records the one-way latency of each `ROOM_DATA` it gets (sender → server(s) → receiver, on this process's clock), \
and after the window the sender's end marker tells the receivers to stop (they wait up to {} s for it). Expected \
deliveries: the messages sent in the window times the M − 1 receivers; lost = expected − received. Setups: all \
members on the node without cluster mode; all on cluster node 1; the even-numbered members (the sender, member 0, \
joined first: the home) on node 1 and the odd-numbered ones on node 2; the same split with member 1, on node 2, \
sending (its messages go to the home, which sends them on to the members on node 1 and back to those on node 2). \
Latency is given separately for the receivers on node 1 (or the node without cluster mode) and on node 2. CPU as in \
the relay section; Redis calls per message: every command Redis ran in the window divided by the messages sent.\n",
        opts.room_rate,
        opts.warmup,
        opts.secs,
        ROOM_DRAIN.as_secs()
    );
    let _ = writeln!(
        md,
        "| members | setup | sent msgs/s | **deliveries/s** | receivers on node 1: p50 / p99 / max (ms) | receivers on node 2: p50 / p99 / max (ms) | lost (of expected) | CPU nodes / Redis / load gen / other | Redis calls per message sent | problems |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for &size in &opts.room_sizes {
        for setup in RoomSetup::ALL {
            let Some(p) = pool_room(runs, size, setup) else {
                let _ = writeln!(
                    md,
                    "| {size} | {} | — | — | — | — | — | — | — | not measured |",
                    setup.label()
                );
                continue;
            };
            let _ = writeln!(
                md,
                "| {size} | {} | {:.0} | **{:.0}** | {} | {} | {} (of {}) | {} | {} | {}{} |",
                setup.label(),
                p.sent_rate,
                p.rate,
                lat_cell(&p.on[0]),
                lat_cell(&p.on[1]),
                p.lost(),
                p.expected,
                p.cpu.cell(),
                p.redis_per_msg,
                p.problems,
                if p.runs < opts.rounds {
                    format!(" ({} of {} rounds)", p.runs, opts.rounds)
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(
        md,
        "\n### Room data across nodes against the same node\n\nThe reference is the room with all members on cluster node 1. \
Sender on node 1: its messages cross to the receivers on node 2 once (home → node 2). Sender on node 2: to the \
receivers on node 1 once (node 2 → home), to the other receivers on node 2 twice (node 2 → home → node 2).\n\n\
| members | sender | receivers (hops between nodes) | across / same node, p50 | across / same node, p99 | goal: {LATENCY_GOAL} (the relay goal, applied to room data) | cluster same node / no cluster: p50, p99 |\n|---|---|---|---|---|---|---|"
    );
    for &size in &opts.room_sizes {
        let pool = |s: RoomSetup| pool_room(runs, size, s);
        let (single, same, split, remote) = (
            pool(RoomSetup::Single),
            pool(RoomSetup::SameNode),
            pool(RoomSetup::Split),
            pool(RoomSetup::SplitRemoteSender),
        );
        let lat = |p: &Option<RoomPool>, node: usize, f: fn(&Stats) -> u32| -> f64 {
            p.as_ref()
                .map(|p| &p.on[node])
                .filter(|s| s.n > 0)
                .map(|s| f64::from(f(s)))
                .unwrap_or(f64::NAN)
        };
        let p50: fn(&Stats) -> u32 = |s| s.p50;
        let p99: fn(&Stats) -> u32 = |s| s.p99;
        let rows = [
            ("node 1 (home)", "on node 2 (1)", &split, 1),
            ("node 2", "on node 1 (1)", &remote, 0),
            ("node 2", "on node 2 (2)", &remote, 1),
        ];
        for (i, (sender, receivers, p, node)) in rows.into_iter().enumerate() {
            let (r50, r99) = (
                lat(p, node, p50) / lat(&same, 0, p50),
                lat(p, node, p99) / lat(&same, 0, p99),
            );
            let goal = if r50.is_finite() && r99.is_finite() {
                format!(
                    "{} (p50 {r50:.2}x, p99 {r99:.2}x; at most {LATENCY_GOAL_RATIO:.1}x)",
                    verdict(r50 <= LATENCY_GOAL_RATIO && r99 <= LATENCY_GOAL_RATIO)
                )
            } else {
                "not measured".into()
            };
            let reference = if i == 0 {
                format!(
                    "{}, {}",
                    times(lat(&same, 0, p50), lat(&single, 0, p50)),
                    times(lat(&same, 0, p99), lat(&single, 0, p99))
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {size} | {sender} | {receivers} | **{}** | **{}** | {goal} | {reference} |",
                times(lat(p, node, p50), lat(&same, 0, p50)),
                times(lat(p, node, p99), lat(&same, 0, p99)),
            );
        }
    }
    if opts.rounds > 1 {
        let _ = writeln!(
            md,
            "\nPer round:\n\n| round | members | setup | deliveries/s | node 1 p50 / p99 (ms) | node 2 p50 / p99 (ms) | lost |\n|---|---|---|---|---|---|---|"
        );
        for r in runs.room.iter().filter(|r| r.failed.is_none()) {
            let mut lat = r.lat.clone();
            let on = lat.each_mut().map(|l| Stats::of(l));
            let cell = |s: &Stats| {
                if s.n == 0 {
                    "—".to_string()
                } else {
                    format!("{} / {}", ms(s.p50), ms(s.p99))
                }
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} |",
                r.round,
                r.size,
                r.setup.map(RoomSetup::label).unwrap_or("?"),
                r.received as f64 / r.secs.max(1e-9),
                cell(&on[0]),
                cell(&on[1]),
                r.expected() as i64 - r.received as i64
            );
        }
    }
    let saturated: Vec<String> = opts
        .room_sizes
        .iter()
        .flat_map(|&size| RoomSetup::ALL.map(|s| (size, s)))
        .filter_map(|(size, s)| {
            let p = pool_room(runs, size, s)?;
            (p.cpu.total() > 90.0 * cores()).then(|| {
                format!(
                    "room of {size}, {} ({:.0}% of {:.0}%)",
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
            "\nThe machine was CPU-saturated during: {}; latency there includes waiting for a core.",
            saturated.join("; ")
        );
    }
    let _ = writeln!(md);
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
        assert_eq!(o.phases, vec![Phase::Relay, Phase::Open, Phase::Room]);
        assert_eq!(o.loads, vec![(1, 1), (100, 1), (100, 8)]);
        assert_eq!((o.room_sizes.clone(), o.room_rate), (vec![4, 16], 200.0));
        assert_eq!(o.peak_peers(), 10_000);
        let r = Opts::parse(&args(
            "--phases room,relay --room-sizes 2,8,100 --room-rate 50 --open-peers 10",
        ))
        .expect("room options");
        assert_eq!(r.phases, vec![Phase::Room, Phase::Relay]);
        assert_eq!((r.room_sizes.clone(), r.room_rate), (vec![2, 8, 100], 50.0));
        assert_eq!(r.peak_peers(), 200);
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
        assert_eq!((q.open_peers, q.rounds, q.room_sizes), (1000, 2, vec![4]));
        for bad in [
            "--phases fan",
            "--phases relay,",
            "--room-sizes 1",
            "--room-sizes 4,101",
            "--room-sizes 4,x",
            "--room-rate 0",
            "--room-rate nan",
            "--room-rate 20000",
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
    }

    #[test]
    fn room_frames_round_trip() {
        let f = room_data_frame("c001-room", 1234);
        assert_eq!(f.len(), ROOM_FRAME_BYTES);
        // What the server sends on: the event renamed, `src` added, the data as it came.
        let got = f.replacen("ROOM_SEND_DATA", "ROOM_DATA", 1).replacen(
            ",\"data\"",
            ",\"src\":\"c001-000\",\"data\"",
            1,
        );
        assert_eq!(RoomFrame::of(&got).expect("parses"), RoomFrame::Data(1234));
        let end = format!(r#"42["ROOM_DATA",{{"roomName":"r","src":"a","data":{ROOM_END}}}]"#);
        assert_eq!(RoomFrame::of(&end).expect("parses"), RoomFrame::End);
        for ignored in [r#"42["ROOM_USER_JOIN",{"src":"a"}]"#, "3"] {
            assert_eq!(RoomFrame::of(ignored).expect("parses"), RoomFrame::Ignored);
        }
        assert_eq!(
            RoomFrame::of(r#"42["ERROR",{}]"#).expect("parses"),
            RoomFrame::Unexpected
        );
        assert!(RoomFrame::of(r#"42["ROOM_DATA",{"data":1}]"#).is_err());
        let (split, remote) = (RoomSetup::Split, RoomSetup::SplitRemoteSender);
        assert_eq!((split.sender(), remote.sender()), (0, 1));
        assert_eq!((split.node_of(3), RoomSetup::SameNode.node_of(3)), (1, 0));
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
