//! Starting and stopping the servers under test, and reading their memory and CPU use (and this
//! machine's description) from `/proc`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The API key written into peer-server's bench configuration.
pub const API_KEY: &str = "11111111-2222-3333-4444-555555555555";

/// The secret of that API key (for credentials).
pub const SECRET: &str = "bench";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This project's `peer-server` (release build).
    PeerServer,
    /// PeerServer 1.0.2, npm `peer`, on Node.
    PeerJs,
}

impl Kind {
    /// The name used in tables and flags.
    pub fn label(self) -> &'static str {
        match self {
            Kind::PeerServer => "peer-server",
            Kind::PeerJs => "PeerServer 1.0.2",
        }
    }
}

/// A running server process that this bench started; killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Server {
    /// Starts `kind`, with its output in `out_dir`, and waits until it listens.
    pub async fn start(kind: Kind, root: &Path, out_dir: &Path) -> Result<Server> {
        match kind {
            Kind::PeerServer => {
                Self::start_peer_server(
                    &root.join("target/release/peer-server"),
                    out_dir,
                    "peer-server",
                    false,
                )
                .await
            }
            Kind::PeerJs => {
                let script = root.join("bench/node_modules/peer/dist/bin/peerjs.js");
                let port = free_port()?;
                let mut cmd = Command::new("node");
                cmd.arg(&script)
                    .args(["--host", "127.0.0.1", "--port"])
                    .arg(port.to_string())
                    .args(["--concurrent_limit", "1000000"]);
                let log = out_dir.join("peerjs.log");
                Self::spawn(cmd, log, move |line| {
                    line.contains(&format!("Started PeerServer on 127.0.0.1, port: {port}"))
                        .then_some(port)
                })
                .await
            }
        }
    }

    /// Starts the peer-server binary `bin` with the bench configuration (the app requiring
    /// credentials if `require_credential`), its configuration and output in `out_dir` as
    /// `NAME.toml` and `NAME.log`, and waits until it listens.
    pub async fn start_peer_server(
        bin: &Path,
        out_dir: &Path,
        name: &str,
        require_credential: bool,
    ) -> Result<Server> {
        Self::start_peer_server_with(bin, out_dir, name, require_credential, "").await
    }

    /// [`Server::start_peer_server`] with `extra` appended to the configuration (whole TOML
    /// sections, such as `[cluster]`).
    pub async fn start_peer_server_with(
        bin: &Path,
        out_dir: &Path,
        name: &str,
        require_credential: bool,
        extra: &str,
    ) -> Result<Server> {
        let cfg = out_dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:0\"\n[[apps]]\nkey = \"{API_KEY}\"\nsecret = \"{SECRET}\"\nrequire_credential = {require_credential}\n[limits]\nmessages_per_second = 1000000\nmessage_burst = 1000000\n[sfu]\nmax_members_per_room = 256\n[turn]\nenabled = false\n{extra}"
            ),
        )
        .with_context(|| format!("writing {}", cfg.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(&cfg);
        let log = out_dir.join(format!("{name}.log"));
        Self::spawn(cmd, log, |line| {
            line.split_once("peer-server listening on http://127.0.0.1:")
                .and_then(|(_, p)| p.trim().parse().ok())
        })
        .await
    }

    /// Starts `cmd` with its output in `log`, and waits (30 s at most) until a line of the log
    /// gives `ready` the port it listens on.
    pub async fn spawn(
        mut cmd: Command,
        log: PathBuf,
        ready: impl Fn(&str) -> Option<u16>,
    ) -> Result<Server> {
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            port: 0,
            log,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{cmd:?} exited with {status} before listening; see {}",
                    server.log.display()
                );
            }
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(port) = text.lines().find_map(&ready) {
                server.port = port;
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{cmd:?} did not print its listening line within 30 s; see {}",
            server.log.display()
        )
    }

    /// Resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Result<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("reading the server's /proc status")?;
        status_field_kib(&s, "VmRSS:")
    }

    /// User plus system CPU time in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64> {
        cpu_ticks(self.pid)
    }

    /// Number of open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it: SIGTERM, then SIGKILL after 5 s.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        for _ in 0..100 {
            if !self.running() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn status_field_kib(status: &str, field: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} line"))?;
    line[field.len()..]
        .split_whitespace()
        .next()
        .context("empty field")?
        .parse()
        .with_context(|| format!("bad {field} line"))
}

/// User plus system CPU time of `pid` in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').context("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: u64 = f.get(11).context("short stat")?.parse()?;
    let st: u64 = f.get(12).context("short stat")?.parse()?;
    Ok(ut + st)
}

/// Busy CPU time of the whole machine in clock ticks (all `/proc/stat` `cpu` fields except
/// idle and iowait).
pub fn machine_busy_ticks() -> Result<u64> {
    let s = std::fs::read_to_string("/proc/stat")?;
    let line = s.lines().next().context("empty /proc/stat")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    Ok(f.iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum())
}

/// The machine-wide `TcpExt: ListenOverflows` counter (connections dropped because a listen
/// backlog was full), 0 if unreadable.
pub fn listen_overflows() -> u64 {
    let s = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = s.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// `nproc`, CPU model and memory of this machine, and the kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = status_field_kib(&meminfo, "MemTotal:")
        .map(|k| format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|_| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    format!(
        "nproc {nproc}, {model}, {mem} RAM, Linux {}, Node {}",
        kernel.trim(),
        node.trim()
    )
}

/// The soft and hard limits on open files of this process.
pub fn nofile_limits() -> Result<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/limits")?;
    let line = s
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no open-files limit")?;
    let f: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    let parse = |v: Option<&&str>| -> Result<u64> {
        match v.copied() {
            Some("unlimited") => Ok(u64::MAX),
            Some(n) => Ok(n.parse()?),
            None => bail!("short limits line"),
        }
    };
    Ok((parse(f.first())?, parse(f.get(1))?))
}
