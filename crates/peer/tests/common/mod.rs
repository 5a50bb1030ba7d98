//! Test harness: the real `peer-server` process (built on first use) and Rust peers on it.
#![allow(dead_code)]

pub mod rooms;

use peer::media::track::LocalTrack;
use peer::{Codec, LocalAddresses, MediaStream, Peer, PeerEvent, PeerOptions};
use peer_testkit::{server_binary, ServerProcess};
use std::time::Duration;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;

/// The open app.
pub const KEY: &str = "11111111-2222-3333-4444-555555555555";
/// An app with the REST API off.
pub const NOREST_KEY: &str = "22222222-2222-3333-4444-555555555555";
/// An app requiring credentials.
pub const AUTH_KEY: &str = "33333333-2222-3333-4444-555555555555";
/// The secret of [`AUTH_KEY`].
pub const AUTH_SECRET: &str = "credential-secret";
/// How long to wait for an expected event.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running server process with the three test apps, killed on drop.
pub struct TestServer {
    process: ServerProcess,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl TestServer {
    /// Starts the server on a free port.
    pub fn start() -> TestServer {
        TestServer::start_on(0)
    }

    /// Starts the server on `port` (0 picks one).
    pub fn start_on(port: u16) -> TestServer {
        TestServer::start_with(port, "")
    }

    /// Starts the server on `port` with `extra` TOML after the apps (`[timeouts]`, say).
    /// TURN is off unless `extra` has a `[turn]` section: the default port is shared by every
    /// server the tests start at once, so only the one that binds it first would issue
    /// credentials, and the tests would not be alike.
    pub fn start_with(port: u16, extra: &str) -> TestServer {
        let turn_off = if extra.contains("[turn]") {
            ""
        } else {
            "[turn]\nenabled = false\n"
        };
        let extra = format!("{extra}\n{turn_off}");
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\n\
             [[apps]]\nkey = \"{KEY}\"\nsecret = \"open-secret\"\n\
             [[apps]]\nkey = \"{NOREST_KEY}\"\nsecret = \"norest\"\nrest_api = false\n\
             [[apps]]\nkey = \"{AUTH_KEY}\"\nsecret = \"{AUTH_SECRET}\"\nrequire_credential = true\n{extra}\n"
        );
        let process = ServerProcess::start(&server_binary(), &config);
        TestServer {
            port: process.port,
            process,
        }
    }

    /// The port of the operations listener, when `extra` configured `[metrics] listen`.
    pub fn metrics_port(&self) -> u16 {
        self.process
            .metrics_port()
            .expect("the server prints its metrics address")
    }

    /// The lines the server logged so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.process.log_lines()
    }

    /// The logged lines that contain every one of `words`, without their ANSI styling.
    pub fn log_lines_with(&self, words: &[&str]) -> Vec<String> {
        self.log_lines()
            .iter()
            .map(|l| {
                l.replace("\u{1b}[3m", "")
                    .replace("\u{1b}[0m", "")
                    .replace("\u{1b}[2m", "")
            })
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .collect()
    }
}

/// The number logged as `name=N` in `line`.
pub fn log_number(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl TestServer {
    /// Options for `key` on this server, loopback ICE.
    pub fn options(&self, key: &str) -> PeerOptions {
        let mut o = PeerOptions::new(key);
        o.port = self.port;
        o.config.local_addresses = LocalAddresses::LoopbackOnly;
        o
    }

    /// Opens a peer on the open app.
    pub async fn peer(&self, id: &str) -> Peer {
        self.peer_with(id, self.options(KEY)).await
    }

    /// Opens a peer with `options`, and reads its `Open` event.
    pub async fn peer_with(&self, id: &str, options: PeerOptions) -> Peer {
        let p = Peer::new(Some(id), options)
            .await
            .unwrap_or_else(|e| panic!("open {id}: {e}"));
        match next(&p).await {
            PeerEvent::Open(got) => assert_eq!(got, id),
            other => panic!("expected open, got {other:?}"),
        }
        p
    }

    /// Kills the process.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// The next Peer event, or a panic after [`WAIT`].
pub async fn next(p: &Peer) -> PeerEvent {
    tokio::time::timeout(WAIT, p.next_event())
        .await
        .unwrap_or_else(|_| panic!("no event on {} within {WAIT:?}", p.id()))
        .unwrap_or_else(|| panic!("event stream of {} ended", p.id()))
}

/// Waits for the next `Connection` event, skipping others.
pub async fn next_connection(p: &Peer) -> peer::DataConnection {
    loop {
        if let PeerEvent::Connection(c) = next(p).await {
            return c;
        }
    }
}

/// Runs `f` with a timeout of [`WAIT`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {WAIT:?}"))
}

/// Deterministic bytes of length `n`.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

/// Writes a synthetic packet of `track`'s codec every 20 ms until the task is aborted: a
/// keyframe-looking VP8/VP9/H264 frame or an Opus/PCMU frame. (Real media files and RTP
/// sources are covered by peer-media's tests and the conformance suite.)
pub fn pump(track: LocalTrack) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seq: u16 = 0;
        let mut ts: u32 = 0;
        let payload: Vec<u8> = match track.codec() {
            Codec::Vp8 => vec![
                0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
            ],
            Codec::Vp9 => vec![0x8c, 0x00, 0x01, 0x02, 0x03],
            Codec::H264 => vec![0x65, 0x88, 0x84, 0x00, 0x33],
            Codec::Opus => vec![0xfc, 0xff, 0xfe],
            Codec::Pcmu => vec![0xff; 160],
        };
        let step = track.codec().clock_rate() / 50;
        loop {
            let p = Packet {
                header: Header {
                    version: 2,
                    marker: true,
                    payload_type: 100,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc: 1,
                    ..Default::default()
                },
                payload: payload.clone().into(),
            };
            let _ = track.write_rtp(&p).await;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(step);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// A stream with the given codecs, each track pumped; the pumps end with the returned guard.
pub fn stream(codecs: &[Codec]) -> (MediaStream, Pumps) {
    let mut s = MediaStream::new();
    let mut tasks = Vec::new();
    for &c in codecs {
        tasks.push(pump(s.add_track(c)));
    }
    (s, Pumps(tasks))
}

/// Aborts the pump tasks on drop.
pub struct Pumps(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Pumps {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
