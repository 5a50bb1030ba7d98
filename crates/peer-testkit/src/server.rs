//! The real `peer-server` process for integration tests: started with a configuration written
//! to a temporary file, its port read from its first line, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A `cargo` command (`$CARGO`, else `cargo`) without the variables cargo sets for the build
/// or test that runs it (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): build scripts such as
/// ring's depend on them, so with them a build started from a test or from xtask and one from
/// the shell keep invalidating each other (ring, webrtc and what uses them rebuilt every time).
pub fn cargo_command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&k.as_ref())
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// The debug `peer-server` binary of this workspace, built (once per test process) with
/// `cargo build -p peer-server` for crates whose tests cannot use `CARGO_BIN_EXE_peer-server`.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let status = cargo_command()
            .current_dir(&root)
            .args([
                "build",
                "--quiet",
                "-p",
                "peer-server",
                "--bin",
                "peer-server",
            ])
            .status()
            .expect("run cargo build -p peer-server");
        assert!(status.success(), "building peer-server failed");
        target
            .join("debug")
            .join(format!("peer-server{}", std::env::consts::EXE_SUFFIX))
    })
    .clone()
}

/// A running server process, killed on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    config_path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    stdout_lines: Arc<Mutex<Vec<String>>>,
}

/// How to start the process.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Start it under `prlimit --nofile=N:N` (soft and hard open-file limit).
    pub nofile: Option<u64>,
}

impl ServerProcess {
    /// Starts `binary` with `config` (TOML; its `listen` decides the port, `:0` for a free one).
    /// The server's stderr is kept in memory ([`ServerProcess::log_lines`]); with
    /// `PEER_TEST_LOG=FILE` it is also written to FILE.
    pub fn start(binary: &Path, config: &str) -> ServerProcess {
        ServerProcess::start_with(binary, config, Launch::default())
    }

    /// [`ServerProcess::start`] with launch options.
    pub fn start_with(binary: &Path, config: &str, launch: Launch) -> ServerProcess {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let config_path =
            std::env::temp_dir().join(format!("peer-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&config_path, config).expect("write the server configuration");
        let mut command = match launch.nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "peer_server=debug,peer_sfu=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("a line from peer-server")
            .expect("a UTF-8 line");
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        // Keep draining (so the server never blocks on a full pipe), and keep the lines.
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        {
            let kept = stdout_lines.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if let Ok(mut k) = kept.lock() {
                        k.push(line);
                    }
                }
            });
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let keep = std::env::var_os("PEER_TEST_LOG");
            let log = log.clone();
            std::thread::spawn(move || {
                let mut all = String::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if keep.is_some() {
                        all.push_str(&line);
                        all.push('\n');
                    }
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
                if let Some(path) = keep {
                    let _ = std::fs::write(path, all);
                }
            });
        }
        ServerProcess {
            child,
            port,
            config_path,
            log,
            stdout_lines,
        }
    }

    /// The lines the server wrote to stderr so far (its log).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines the server wrote to stdout after its first (the listening line).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The port of the server's operations listener (`[metrics] listen`), from the line it
    /// prints about it; waits up to 10 s for it.
    pub fn metrics_port(&self) -> Option<u16> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = self.stdout_lines().iter().find_map(|l| {
                let rest = l.strip_prefix("peer-server metrics on http://")?;
                rest.split('/').next()?.rsplit(':').next()?.parse().ok()
            });
            if found.is_some() || std::time::Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code, once the process has exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }

    /// Asks the process to stop (SIGTERM, as a service manager does) and waits for it to exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Kills the process and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.config_path);
    }
}
