//! What the server process holds, by its own count and by `/proc`: the numbers the soak
//! compares with its baseline, and the wait until the server has let go of a phase's load.
//!
//! - The server's own count: `GET /stats` (`[admin] stats = true`, loopback only), the same
//!   endpoint the server's tests read (`tests/slow_clients.rs`, `tests/sfu.rs`): Engine.IO
//!   sessions, peers (open or in their reconnect grace), rooms, the hub's timers, open
//!   connections, and `tasks`, the tokio runtime's alive tasks.
//! - `/proc/PID` ([`peer_testkit::ProcStats`]): RSS, peak RSS, open descriptors, threads.
//! - `GET /metrics` on the operations listener (`[metrics] listen`, Prometheus text read with
//!   [`peer_testkit::metrics`]): TURN allocations held, members with an SFU media session, and
//!   the tracks the SFU forwards.
//! - The process's UDP sockets (its `socket:[inode]` descriptors found in `/proc/PID/net/udp`
//!   and `udp6`): the SFU's and the TURN server's listening sockets, plus one relay socket per
//!   TURN allocation: the allocations seen from outside the server's own count.

use anyhow::{bail, Context, Result};
use peer_testkit::ProcStats;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One reading of the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Peak resident set size since the last reset, KiB.
    pub peak_kib: u64,
    /// Open file descriptors.
    pub fds: usize,
    /// Threads (`/proc/PID/status`).
    pub threads: usize,
    /// UDP sockets the process holds.
    pub udp: usize,
    /// Alive tokio tasks (`/stats`).
    pub tasks: u64,
    /// Engine.IO sessions (`/stats`).
    pub sessions: u64,
    /// Peers known to the hub, open or in their reconnect grace (`/stats`).
    pub peers: u64,
    /// Rooms (`/stats`).
    pub rooms: u64,
    /// The hub's deadlines (`/stats`).
    pub timers: u64,
    /// Open TCP connections, this reading's own `/stats` request included (`/stats`).
    pub connections: u64,
    /// TURN allocations held (`/metrics`).
    pub turn_allocations: u64,
    /// Members with an SFU media session (`/metrics`).
    pub sfu_members: u64,
    /// Tracks the SFU forwards (`/metrics`).
    pub sfu_tracks: u64,
}

impl Reading {
    /// Whether the signaling load is gone and no more UDP sockets are held than in `base`
    /// (so every TURN allocation is freed).
    pub fn drained(&self, base: &Reading) -> bool {
        self.sessions == 0
            && self.peers == 0
            && self.rooms == 0
            && self.connections <= base.connections
            && self.timers <= base.timers
            && self.udp <= base.udp
            && self.turn_allocations == 0
            && self.sfu_members == 0
            && self.sfu_tracks == 0
    }

    /// Whether tasks, threads and descriptors are within `tolerance` of `base`.
    pub fn settled(&self, base: &Reading) -> bool {
        within(
            self.tasks as f64,
            base.tasks as f64,
            small_tolerance(base.tasks as f64),
        ) && within(
            self.threads as f64,
            base.threads as f64,
            small_tolerance(base.threads as f64),
        ) && within(
            self.fds as f64,
            base.fds as f64,
            small_tolerance(base.fds as f64),
        )
    }
}

/// The allowed excess over a baseline of `base` for a count: 10%, at least 5.
pub fn small_tolerance(base: f64) -> f64 {
    (base * 0.10).max(5.0)
}

/// Whether `value` exceeds `base` by at most `tolerance`.
pub fn within(value: f64, base: f64, tolerance: f64) -> bool {
    value <= base + tolerance
}

/// The server's addresses for readings: its process id, its public port (`/stats`) and its
/// operations port (`/metrics`).
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// The process id.
    pub pid: u32,
    /// The public listener's port (127.0.0.1).
    pub port: u16,
    /// The operations listener's port (127.0.0.1).
    pub ops_port: u16,
}

/// Reads the server.
pub async fn read(probe: Probe) -> Result<Reading> {
    let Probe {
        pid,
        port,
        ops_port,
    } = probe;
    let stats = stats(port).await?;
    let metrics =
        tokio::task::spawn_blocking(move || peer_testkit::metrics::get(ops_port, "/metrics"))
            .await
            .context("reading /metrics")?;
    let metrics = match metrics {
        Some((200, body)) => body,
        other => bail!("GET /metrics on 127.0.0.1:{ops_port} failed: {other:?}"),
    };
    let m = |name: &str| -> Result<u64> {
        peer_testkit::metrics::sample(&metrics, name)
            .map(|v| v as u64)
            .with_context(|| format!("/metrics has no sample {name:?}"))
    };
    let p = ProcStats::read(pid).context("the server process is gone")?;
    let n = |k: &str| -> Result<u64> {
        stats
            .get(k)
            .and_then(Value::as_u64)
            .with_context(|| format!("/stats has no number {k:?}: {stats}"))
    };
    Ok(Reading {
        rss_kib: p.rss / 1024,
        peak_kib: p.peak_rss / 1024,
        fds: p.fds,
        threads: p.threads,
        udp: udp_sockets(pid)?,
        tasks: n("tasks")?,
        sessions: n("sessions")?,
        peers: n("peers")?,
        rooms: n("rooms")?,
        timers: n("timers")?,
        connections: n("open_connections")?,
        turn_allocations: m("peer_turn_allocations")?,
        sfu_members: m("peer_sfu_members")?,
        sfu_tracks: m("peer_sfu_forwarded_tracks")?,
    })
}

/// Resets the process's peak RSS to its current RSS (the next readings' `peak_kib` is then the
/// peak of what came after).
pub fn reset_peak(pid: u32) -> Result<()> {
    if !ProcStats::reset_peak(pid) {
        bail!("could not reset the peak RSS of process {pid} (/proc/{pid}/clear_refs)");
    }
    Ok(())
}

/// `GET /stats` on 127.0.0.1:`port`, as JSON.
async fn stats(port: u16) -> Result<Value> {
    let work = async {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .context("connecting for /stats")?;
        tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .context("sending GET /stats")?;
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.context("reading /stats")?;
        let text = String::from_utf8(raw).context("/stats is not UTF-8")?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("/stats: no end of headers")?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!(
                "/stats answered {:?} (is [admin] stats on?)",
                head.lines().next().unwrap_or_default()
            );
        }
        serde_json::from_str(body).with_context(|| format!("/stats body is not JSON: {body:?}"))
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .context("/stats took over 10 s")?
}

/// The UDP sockets (IPv4 and IPv6) among process `pid`'s descriptors.
fn udp_sockets(pid: u32) -> Result<usize> {
    let mut inodes = HashSet::new();
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?;
    for entry in dir.flatten() {
        // A descriptor closed between the listing and here is simply not counted.
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    let mut n = 0;
    for table in ["udp", "udp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // No IPv6 in this kernel: nothing to count there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {path}")),
        };
        n += count_inodes(&text, &inodes);
    }
    Ok(n)
}

/// The rows of a `/proc/net/udp`-style table whose inode (the tenth column) is in `inodes`.
fn count_inodes(table: &str, inodes: &HashSet<u64>) -> usize {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9)?.parse::<u64>().ok())
        .filter(|i| inodes.contains(i))
        .count()
}

/// How a wait for the server to let go of a phase's load ended.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// The last reading.
    pub reading: Reading,
    /// Seconds until the load was gone ([`Reading::drained`]), if it went.
    pub drained_secs: Option<f64>,
    /// Seconds until tasks, threads and descriptors were back too ([`Reading::settled`]).
    pub settled_secs: Option<f64>,
}

/// Polls the server every 250 ms until its load is gone and its counts are back near `base`,
/// or until `deadline` has passed; then waits (at most 10 s more) until three RSS readings
/// 1 s apart agree within 1%, and returns the last reading. `base` `None` (the baseline itself)
/// waits for the load to go and for tasks, threads, descriptors and UDP sockets to hold still
/// over three readings.
pub async fn wait_drained(
    probe: Probe,
    base: Option<&Reading>,
    deadline: Duration,
) -> Result<Drain> {
    let start = Instant::now();
    let mut drained_secs = None;
    let mut settled_secs = None;
    let mut history: Vec<Reading> = Vec::new();
    let mut r = read(probe).await?;
    loop {
        let gone = match base {
            Some(b) => r.drained(b),
            None => {
                r.sessions == 0
                    && r.peers == 0
                    && r.rooms == 0
                    && r.turn_allocations == 0
                    && r.sfu_members == 0
                    && r.sfu_tracks == 0
            }
        };
        if gone && drained_secs.is_none() {
            drained_secs = Some(start.elapsed().as_secs_f64());
        }
        history.push(r);
        let back = gone
            && match base {
                Some(b) => r.settled(b),
                None => steady(&history),
            };
        if back {
            settled_secs = Some(start.elapsed().as_secs_f64());
            break;
        }
        if start.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        r = read(probe).await?;
    }
    // RSS: until three readings 1 s apart agree within 1% (10 s at most).
    let mut rss = vec![r.rss_kib];
    for _ in 0..10 {
        if rss.len() >= 3 {
            let w = &rss[rss.len() - 3..];
            let (lo, hi) = (
                w.iter().copied().min().unwrap_or(0),
                w.iter().copied().max().unwrap_or(0),
            );
            if hi - lo <= hi / 100 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        r = read(probe).await?;
        rss.push(r.rss_kib);
    }
    Ok(Drain {
        reading: r,
        drained_secs,
        settled_secs,
    })
}

/// Whether the last three readings (250 ms apart) agree on tasks, threads, descriptors and
/// UDP sockets.
fn steady(history: &[Reading]) -> bool {
    if history.len() < 3 {
        return false;
    }
    let w = &history[history.len() - 3..];
    w.iter().all(|r| {
        (r.tasks, r.threads, r.fds, r.udp) == (w[0].tasks, w[0].threads, w[0].fds, w[0].udp)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_table_rows_are_matched_by_inode() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:0D96 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
  2: 0100007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0\n";
        let mine: HashSet<u64> = [4242, 1].into_iter().collect();
        assert_eq!(count_inodes(table, &mine), 1);
        assert_eq!(count_inodes(table, &HashSet::new()), 0);
    }

    #[test]
    fn counts_get_at_least_five_of_headroom() {
        assert_eq!(small_tolerance(20.0), 5.0);
        assert_eq!(small_tolerance(300.0), 30.0);
        assert!(within(25.0, 20.0, small_tolerance(20.0)));
        assert!(!within(26.0, 20.0, small_tolerance(20.0)));
        let base = Reading {
            tasks: 40,
            threads: 3,
            fds: 30,
            ..Reading::default()
        };
        let mut r = base;
        assert!(r.settled(&base) && r.drained(&base));
        r.tasks = 46;
        assert!(!r.settled(&base));
        r.tasks = 44;
        r.udp = 1;
        assert!(r.settled(&base) && !r.drained(&base));
    }
}
