//! The real `peer-server` process for integration tests: started with a configuration written
//! to a temporary file, its port read from its first line, killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The debug `peer-server` binary of this workspace, built (once per test process) with
/// `cargo build -p peer-server` for crates whose tests cannot use `CARGO_BIN_EXE_peer-server`.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
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
}

impl ServerProcess {
    /// Starts `binary` with `config` (TOML; its `listen` decides the port, `:0` for a free one).
    /// The server's stderr is drained; with `PEER_TEST_LOG=FILE` it is kept in FILE.
    pub fn start(binary: &Path, config: &str) -> ServerProcess {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let config_path =
            std::env::temp_dir().join(format!("peer-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&config_path, config).expect("write the server configuration");
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "peer_server=debug")
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
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        if let Some(mut stderr) = child.stderr.take() {
            let keep = std::env::var_os("PEER_TEST_LOG");
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = stderr.read_to_end(&mut sink);
                if let Some(path) = keep {
                    let _ = std::fs::write(path, &sink);
                }
            });
        }
        ServerProcess {
            child,
            port,
            config_path,
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
