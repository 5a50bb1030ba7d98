//! `cargo xtask conformance [FILTER]`: runs the browser conformance suite.
//!
//! The suite (`conformance/skyway.test.mjs`) drives the unmodified `skyway-js@4.4.5` SDK in
//! headless Chromium (Debian's `/usr/bin/chromium`, via `playwright-core`) against a freshly
//! built `peer-server`. Steps, in order:
//!
//! 1. make sure Chromium is installed (installs it with apt when running as root);
//! 2. `npm ci` in `conformance/` when its `node_modules` is incomplete;
//! 3. `cargo build -p peer-server`, then start it on `127.0.0.1:0` with a generated config and
//!    wait for its `peer-server listening on http://127.0.0.1:PORT` line;
//! 4. `node --test` the suite with `PEER_SERVER_PORT` and the app keys in the environment, and
//!    the relay scenarios (`conformance/netns.test.mjs`: network namespaces with a server of
//!    their own, so they need root) and the two-node scenarios (`conformance/cluster.test.mjs`:
//!    two servers of their own on a `redis-server` of its own) with `PEER_SERVER_BIN`;
//! 5. stop the server (also when anything fails) and report the result.
//!
//! The optional `FILTER` argument is passed to node as `--test-name-pattern`.

use crate::util::{cargo, root};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Debian's Chromium lives; the suite launches exactly this binary.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The app whose peers the suite opens normally (REST API enabled, no credential).
const OPEN_KEY: &str = "11111111-2222-3333-4444-555555555555";
/// The app with the REST API disabled.
const NOREST_KEY: &str = "22222222-2222-3333-4444-555555555555";
/// The app that requires credentials.
const CREDENTIAL_KEY: &str = "33333333-2222-3333-4444-555555555555";
/// The secret of [`CREDENTIAL_KEY`], known to the suite so it can compute auth tokens.
const CREDENTIAL_SECRET: &str = "conformance-credential-secret";

/// The printed prefix that tells us the server is ready.
const LISTENING_PREFIX: &str = "peer-server listening on http://";

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let filter = parse_args(args)?;
    ensure_chromium()?;
    ensure_node_modules()?;
    cargo(&["build", "-p", "peer-server"])?;
    cargo(&["build", "-p", "peer-harness", "--bin", "interop-agent"])?;

    let work = target_dir().join("conformance");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    // Per-process file names, so concurrent runs (e.g. two checkouts' CI jobs) do not clash.
    let pid = std::process::id();
    let config = work.join(format!("peer-server.{pid}.toml"));
    std::fs::write(&config, server_config())
        .with_context(|| format!("writing {}", config.display()))?;
    let log_path = work.join(format!("peer-server.{pid}.log"));

    let server = Server::start(&config, &log_path)?;
    eprintln!(
        "peer-server is listening on 127.0.0.1:{} (log: {})",
        server.port,
        log_path.display()
    );
    let result = run_node(server.port, filter.as_deref());
    drop(server);
    let _ = std::fs::remove_file(&config);
    match result {
        Ok(()) => {
            // Logs of passing runs are not interesting; failing runs keep theirs.
            let _ = std::fs::remove_file(&log_path);
            eprintln!("conformance: all tests passed");
            Ok(())
        }
        Err(e) => {
            eprintln!("conformance: server log is in {}", log_path.display());
            Err(e)
        }
    }
}

/// Returns the optional test-name filter (the only accepted argument).
fn parse_args(args: &[String]) -> Result<Option<String>> {
    match args {
        [] => Ok(None),
        [one] if !one.starts_with('-') => Ok(Some(one.clone())),
        _ => bail!("usage: cargo xtask conformance [TEST-NAME-PATTERN]"),
    }
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    }
}

/// The TOML configuration the server is started with: three apps that exercise the open,
/// REST-disabled and credential-required paths.
fn server_config() -> String {
    format!(
        r#"listen = "127.0.0.1:0"

[[apps]]
key = "{OPEN_KEY}"
secret = "conformance-open-secret"

[[apps]]
key = "{NOREST_KEY}"
secret = "conformance-norest-secret"
rest_api = false

[[apps]]
key = "{CREDENTIAL_KEY}"
secret = "{CREDENTIAL_SECRET}"
require_credential = true

# The "SFU NACK" scenario: members named lossy-... lose 5% of the RTP the SFU sends them.
[sfu]
test_loss_peer_prefix = "lossy"
test_loss_percent = 5

# No scenario relays through TURN yet; off, so the suite does not depend on port 3478.
[turn]
enabled = false
"#
    )
}

/// Makes sure `/usr/bin/chromium` exists, installing Debian's package when we are root.
pub(crate) fn ensure_chromium() -> Result<()> {
    crate::util::ensure_debian_package(CHROMIUM, "chromium")
}

/// Runs `npm ci` (or `npm install` without a lock file) in `conformance/` when a dependency
/// the suite needs is not installed.
pub(crate) fn ensure_node_modules() -> Result<()> {
    let dir = root().join("conformance");
    let modules = dir.join("node_modules");
    if modules.join("skyway-js").is_dir() && modules.join("playwright-core").is_dir() {
        return Ok(());
    }
    let sub = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    eprintln!("$ (cd conformance && npm {sub})");
    let status = Command::new("npm")
        .arg(sub)
        .current_dir(&dir)
        .status()
        .context("running npm (is Node.js installed?)")?;
    if !status.success() {
        bail!("npm {sub} in {} failed: {status}", dir.display());
    }
    Ok(())
}

/// Runs the node test suite against the server on `port`.
fn run_node(port: u16, filter: Option<&str>) -> Result<()> {
    let mut cmd = Command::new("node");
    cmd.arg("--test").arg("--test-reporter=spec");
    if let Some(filter) = filter {
        cmd.arg(format!("--test-name-pattern={filter}"));
    }
    cmd.arg("conformance/skyway.test.mjs")
        .arg("conformance/netns.test.mjs")
        .arg("conformance/cluster.test.mjs")
        .current_dir(root())
        .env("PEER_SERVER_PORT", port.to_string())
        .env("CONFORMANCE_OPEN_KEY", OPEN_KEY)
        .env("CONFORMANCE_NOREST_KEY", NOREST_KEY)
        .env("CONFORMANCE_CREDENTIAL_KEY", CREDENTIAL_KEY)
        .env("CONFORMANCE_CREDENTIAL_SECRET", CREDENTIAL_SECRET)
        .env("CHROMIUM_PATH", CHROMIUM)
        .env(
            "PEER_SERVER_BIN",
            target_dir()
                .join("debug")
                .join(format!("peer-server{}", std::env::consts::EXE_SUFFIX)),
        )
        .env(
            "PEER_AGENT_BIN",
            target_dir()
                .join("debug")
                .join(format!("interop-agent{}", std::env::consts::EXE_SUFFIX)),
        );
    eprintln!(
        "$ node --test --test-reporter=spec conformance/skyway.test.mjs conformance/netns.test.mjs conformance/cluster.test.mjs"
    );
    let status = cmd
        .status()
        .context("running node (is Node.js >= 20 installed?)")?;
    if !status.success() {
        bail!("conformance suite failed: {status}");
    }
    Ok(())
}

/// A running `peer-server`; dropping it kills the process.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the server and waits until it prints its listening line.
    fn start(config: &Path, log_path: &Path) -> Result<Server> {
        let exe = target_dir()
            .join("debug")
            .join(format!("peer-server{}", std::env::consts::EXE_SUFFIX));
        let log =
            File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log = Arc::new(Mutex::new(log));
        let mut child = Command::new(&exe)
            .arg("--config")
            .arg(config)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;

        // Drain both pipes for the whole life of the process so the server never blocks on a
        // full pipe; stdout lines are also forwarded so we can spot the listening line.
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || drain(stdout, &log, Some(lines_tx)));
        }
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || drain(stderr, &log, None));
        }
        let mut server = Server { child, port: 0 };

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = listening_port(&line) {
                        server.port = port;
                        return Ok(server);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "peer-server did not print `{LISTENING_PREFIX}127.0.0.1:PORT` within {}s \
                     (log: {})",
                    STARTUP_TIMEOUT.as_secs(),
                    log_path.display()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: the server most likely exited. Give stderr a moment.
                    std::thread::sleep(Duration::from_millis(200));
                    let status = server.child.try_wait().ok().flatten();
                    bail!(
                        "peer-server closed its stdout before listening (exit status: {}); \
                         log ({}):\n{}",
                        status.map_or_else(|| "still running".to_string(), |s| s.to_string()),
                        log_path.display(),
                        std::fs::read_to_string(log_path).unwrap_or_default()
                    )
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Parses the port out of `peer-server listening on http://127.0.0.1:PORT`.
fn listening_port(line: &str) -> Option<u16> {
    let rest = &line[line.find(LISTENING_PREFIX)? + LISTENING_PREFIX.len()..];
    let addr = rest.split_whitespace().next()?.trim_end_matches('/');
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Copies `input` into the shared log file line by line, forwarding each line to `lines`.
fn drain(input: impl Read, log: &Mutex<File>, mut lines: Option<mpsc::Sender<String>>) {
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if let Ok(mut file) = log.lock() {
                    let _ = file.write_all(&buf);
                    let _ = file.flush();
                }
                if let Some(tx) = &lines {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    if tx.send(line).is_err() {
                        // Nobody waits for lines any more; keep draining into the log only.
                        lines = None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        assert_eq!(
            listening_port("peer-server listening on http://127.0.0.1:40123"),
            Some(40123)
        );
        assert_eq!(
            listening_port("2026 INFO peer-server listening on http://127.0.0.1:8080/ (ok)"),
            Some(8080)
        );
        assert_eq!(listening_port("starting peer-server"), None);
    }

    #[test]
    fn config_names_three_apps() {
        let text = server_config();
        assert_eq!(text.matches("[[apps]]").count(), 3);
        assert!(text.contains("rest_api = false"));
        assert!(text.contains("require_credential = true"));
    }
}
