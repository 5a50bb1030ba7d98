//! The Rust member of `cargo xtask bench room`: one [`Peer`] per process (so that its CPU time
//! and memory can be read alone from `/proc/<pid>`), driven over stdin and stdout.
//!
//! ```text
//! cargo build --release -p peer-server -p peer-harness --bin peer-server --bin bench-room
//! target/release/bench-room --port PORT --key KEY --id ID --video FILE.ivf
//! ```
//!
//! The member opens its Peer (loopback candidates only) and prints `{"ready":true}`. Then it
//! reads commands, one per line:
//!
//! - `join ROOM N`: joins mesh room ROOM with a stream of one VP8 track fed by `--video` played
//!   in a loop from the moment of the call, as an application with a camera would. It prints
//!   `{"event":"flowing","ms":T,"cpu_ms":C}` once RTP of a video track has arrived from each of
//!   the other `N - 1` members, T being the milliseconds since `join_room` was called (a remote
//!   track is reported with its first packet) and C the CPU time this process used meanwhile
//!   (from `/proc/self/stat`, in clock ticks of usually 10 ms), or
//!   `{"event":"incomplete","have":K}` after 60 s.
//! - `stats`: `{"packets":P,"tracks":K}`, the RTP packets received so far on all remote tracks
//!   of the current room and how many tracks there are.
//! - `leave`: stops the file, closes the room, prints `{"left":true}`.
//! - `quit`, or the end of stdin: exit.
//!
//! Diagnostics go to stderr.

use anyhow::{bail, Context, Result};
use peer::media::source::{FileOptions, FileSource};
use peer::{Codec, MediaKind, MediaStream, Peer, Room, RoomEvent, RoomOptions};
use peer_harness::{commands, reply};
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench-room --port P --key K --id ID --video FILE.ivf";

/// Longest wait for every other member's video.
const FLOWING_TIMEOUT: Duration = Duration::from_secs(60);

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    port: u16,
    key: String,
    id: String,
    video: PathBuf,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts> {
        let mut o = Opts {
            port: 9000,
            key: String::new(),
            id: format!("bench-room-{}", std::process::id()),
            video: PathBuf::new(),
        };
        let mut it = args;
        while let Some(flag) = it.next() {
            let mut val = || {
                it.next()
                    .with_context(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag.as_str() {
                "--port" => o.port = val()?.parse()?,
                "--key" => o.key = val()?,
                "--id" => o.id = val()?,
                "--video" => o.video = PathBuf::from(val()?),
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if o.key.is_empty() || o.video.as_os_str().is_empty() {
            bail!("--key and --video are required\n{USAGE}");
        }
        Ok(o)
    }
}

fn main() -> Result<()> {
    let o = Opts::parse(std::env::args().skip(1))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("member")
        .enable_all()
        .build()?;
    let result = rt.block_on(member(o));
    if let Err(e) = &result {
        eprintln!("bench-room: {e:#}");
    }
    // Exit without waiting for the runtime's remaining tasks (closing peer connections).
    std::process::exit(i32::from(result.is_err()));
}

async fn open_peer(o: &Opts) -> Result<Peer> {
    peer_harness::open_peer(o.port, &o.key, &o.id).await
}

/// The room this member is in.
struct Joined {
    room: Room,
    source: FileSource,
    /// When `join_room` was called.
    t0: Instant,
    /// This process's CPU time then (ms).
    cpu0: f64,
    /// How many members the room has (this one included).
    size: usize,
    /// Members whose video arrived.
    flowing: HashSet<String>,
    /// Whether the `flowing` line went out.
    reported: bool,
    packets: Arc<AtomicU64>,
    tracks: usize,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Joined {
    async fn leave(self) {
        self.source.stop();
        self.room.close().await;
        for r in self.readers {
            r.abort();
        }
    }
}

async fn member(o: Opts) -> Result<()> {
    let peer = open_peer(&o).await?;
    let mut cmds = commands();
    reply(json!({"ready": true, "id": o.id}));
    let mut joined: Option<Joined> = None;
    loop {
        let deadline = joined
            .as_ref()
            .filter(|j| !j.reported)
            .map(|j| j.t0 + FLOWING_TIMEOUT);
        tokio::select! {
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { break };
                let mut words = cmd.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("join"), Some(name), Some(n)) => {
                        if let Some(j) = joined.take() {
                            j.leave().await;
                        }
                        let size: usize = n.parse().context("join ROOM N")?;
                        joined = Some(join(&peer, &o, name, size).await?);
                    }
                    (Some("stats"), None, None) => {
                        let (p, t) = joined
                            .as_ref()
                            .map(|j| (j.packets.load(Ordering::Relaxed), j.tracks))
                            .unwrap_or((0, 0));
                        reply(json!({"packets": p, "tracks": t}));
                    }
                    (Some("leave"), None, None) => {
                        if let Some(j) = joined.take() {
                            j.leave().await;
                        }
                        reply(json!({"left": true}));
                    }
                    (Some("quit"), None, None) => break,
                    _ => reply(json!({"error": format!("unknown command {cmd:?}")})),
                }
            }
            ev = next_room_event(joined.as_ref()) => {
                let Some(j) = joined.as_mut() else { continue };
                match ev {
                    Some(RoomEvent::Track { peer_id, track }) => {
                        j.tracks += 1;
                        if track.kind() == MediaKind::Video
                            && j.flowing.insert(peer_id)
                            && j.flowing.len() + 1 >= j.size
                            && !j.reported
                        {
                            j.reported = true;
                            let ms = j.t0.elapsed().as_secs_f64() * 1000.0;
                            let cpu_ms = cpu_ms().map(|c| c - j.cpu0);
                            reply(json!({"event": "flowing", "ms": ms, "cpu_ms": cpu_ms}));
                        }
                        let packets = j.packets.clone();
                        j.readers.push(tokio::spawn(async move {
                            while track.read_rtp().await.is_ok() {
                                packets.fetch_add(1, Ordering::Relaxed);
                            }
                        }));
                    }
                    Some(RoomEvent::Error(e)) => eprintln!("{}: room error: {e}", o.id),
                    Some(RoomEvent::Close) | None => {
                        eprintln!("{}: the room closed", o.id);
                        if let Some(j) = joined.take() {
                            j.leave().await;
                        }
                    }
                    Some(_) => {}
                }
            }
            _ = sleep_until(deadline) => {
                if let Some(j) = joined.as_mut() {
                    j.reported = true;
                    reply(json!({"event": "incomplete", "have": j.flowing.len()}));
                }
            }
        }
    }
    if let Some(j) = joined.take() {
        j.leave().await;
    }
    peer.destroy().await;
    Ok(())
}

/// Joins `name` sending the file, and starts the clock.
async fn join(peer: &Peer, o: &Opts, name: &str, size: usize) -> Result<Joined> {
    let mut stream = MediaStream::new();
    let track = stream.add_track(Codec::Vp8);
    let t0 = Instant::now();
    let cpu0 = cpu_ms().unwrap_or(f64::NAN);
    let room = peer
        .join_room(name, RoomOptions::new().stream(stream))
        .await
        .with_context(|| format!("joining {name}"))?;
    let source = FileSource::start(
        &o.video,
        track,
        FileOptions {
            looped: true,
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("playing {}", o.video.display()))?;
    Ok(Joined {
        room,
        source,
        t0,
        cpu0,
        size,
        flowing: HashSet::new(),
        reported: size <= 1,
        packets: Arc::new(AtomicU64::new(0)),
        tracks: 0,
        readers: Vec::new(),
    })
}

/// The next event of the joined room; pending forever without one.
async fn next_room_event(joined: Option<&Joined>) -> Option<RoomEvent> {
    match joined {
        Some(j) => j.room.next_event().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// User plus system CPU time of this process in milliseconds (`/proc/self/stat`, assuming the
/// usual 100 clock ticks per second).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 10.0)
}
