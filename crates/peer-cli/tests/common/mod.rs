//! Test harness: the real `peer-server` process (built on first use) and `peer-cli` child
//! processes whose output is read line by line, with timeouts everywhere.
#![allow(dead_code)]

use peer_testkit::{server_binary, ServerProcess};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The app of the test server.
pub const KEY: &str = "11111111-2222-3333-4444-555555555555";
/// How long to wait for an expected line or exit.
pub const WAIT: Duration = Duration::from_secs(90);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique in this test run.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running server process on a free port, killed on drop.
pub struct TestServer {
    _process: ServerProcess,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl TestServer {
    /// Starts the server with one app, [`KEY`], on a free port.
    pub fn start() -> TestServer {
        // A short reconnect grace: a killed peer's LEAVE reaches its contacts after 2 s.
        TestServer::start_with_grace_ms(2000)
    }

    /// [`TestServer::start`] with the given reconnect grace (the server's default is 30,000).
    pub fn start_with_grace_ms(grace: u64) -> TestServer {
        let config = format!(
            "listen = \"127.0.0.1:0\"\n\
             [timeouts]\nreconnect_grace_ms = {grace}\n\
             [[apps]]\nkey = \"{KEY}\"\nsecret = \"cli-test-secret\"\n\
             [turn]\nenabled = false\n"
        );
        let process = ServerProcess::start(&server_binary(), &config);
        TestServer {
            port: process.port,
            _process: process,
        }
    }

    /// The common flags that point `peer-cli` at this server, with loopback ICE.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--port".into(),
            self.port.to_string(),
            "--key".into(),
            KEY.into(),
            "--loopback".into(),
        ]
    }

    /// Starts `peer-cli` with `args` followed by this server's flags.
    pub fn cli(&self, args: &[&str]) -> Cli {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(self.flags());
        Cli::spawn(&all)
    }
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout
    Out,
    /// stderr
    Err,
}

/// How a finished `peer-cli` ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr.
    pub stderr: String,
}

/// A running `peer-cli`, killed on drop.
pub struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    out_rx: Receiver<String>,
    err_rx: Receiver<String>,
    out_all: Arc<Mutex<Vec<String>>>,
    err_all: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    args: Vec<String>,
}

fn reader(
    stream: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    all: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            all.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    })
}

impl Cli {
    /// Starts the binary with exactly `args`.
    pub fn spawn<S: AsRef<str>>(args: &[S]) -> Cli {
        let args: Vec<String> = args.iter().map(|s| s.as_ref().to_owned()).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_peer-cli"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer-cli");
        let (out_tx, out_rx) = mpsc::channel();
        let (err_tx, err_rx) = mpsc::channel();
        let out_all = Arc::new(Mutex::new(Vec::new()));
        let err_all = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            reader(child.stdout.take().unwrap(), out_tx, out_all.clone()),
            reader(child.stderr.take().unwrap(), err_tx, err_all.clone()),
        ];
        Cli {
            stdin: child.stdin.take(),
            child,
            out_rx,
            err_rx,
            out_all,
            err_all,
            readers,
            args,
        }
    }

    fn describe(&self) -> String {
        format!(
            "peer-cli {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args,
            self.out_all.lock().unwrap().join("\n"),
            self.err_all.lock().unwrap().join("\n")
        )
    }

    /// Waits for a line of `stream` containing `needle`; returns it. Panics after [`WAIT`].
    pub fn wait_for(&self, stream: Stream, needle: &str) -> String {
        let rx = match stream {
            Stream::Out => &self.out_rx,
            Stream::Err => &self.err_rx,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {stream:?} line with {needle:?} within {WAIT:?}\n{}",
                        self.describe()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{stream:?} ended without a line with {needle:?}\n{}",
                        self.describe()
                    )
                }
            }
        }
    }

    /// Writes one line to stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Closes stdin (Ctrl-D).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the exit (panics after [`WAIT`], killing the process) and collects output.
    pub fn finish(mut self) -> Finished {
        self.stdin = None;
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("peer-cli did not exit within {WAIT:?}\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            code: status.code().unwrap_or(-1),
            stdout: self.out_all.lock().unwrap().join("\n"),
            stderr: self.err_all.lock().unwrap().join("\n"),
        }
    }

    /// Kills the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `peer-cli` with `args` to completion, stdin closed.
pub fn run(args: &[&str]) -> Finished {
    let mut cli = Cli::spawn(args);
    cli.close_stdin();
    cli.finish()
}

/// A fresh temporary directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// `n` pseudo-random bytes (xorshift64*, seeded from the clock).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15)
        | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Writes `data` to `dir/name`; the path.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write test file");
    path
}

/// A fixture file of peer-media's tests.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../peer-media/tests/fixtures")
        .join(name)
}

/// Waits until the file at `path` holds at least `bytes` (`what` names it in the failure);
/// panics after [`WAIT`].
pub fn wait_for_file_len(path: &Path, bytes: u64, what: &str) {
    let deadline = Instant::now() + WAIT;
    while std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < bytes {
        assert!(Instant::now() < deadline, "no {what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
