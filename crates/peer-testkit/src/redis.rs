//! A real `redis-server` (Debian's package) for tests: started on a free port of 127.0.0.1 with
//! no persistence, killed on drop, restartable on the same port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs it (`cargo xtask test` installs the package when it is missing).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisProcess {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisProcess {
    /// Starts one on a free port and waits until it answers `PING`.
    pub fn start() -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        RedisProcess::start_on(port)
    }

    /// Starts one on `port` (a restart after [`RedisProcess::kill`]).
    pub fn start_on(port: u16) -> RedisProcess {
        let child = Command::new(REDIS_SERVER)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {REDIS_SERVER} (apt-get install redis-server): {e}"));
        let r = RedisProcess {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !r.ping() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether it answers `PING`.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Stops it (`SIGSTOP`: it keeps its data but answers nothing, and its keys' expiries run
    /// on) until [`RedisProcess::resume`]: a Redis that stalls, or is cut off.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused Redis run again (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = std::process::Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }

    /// Kills it (SIGKILL) and waits.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
