//! The load of `cargo xtask bench sfu`: publishers and subscribers of one SFU room, as Rust
//! Peers in this process, through a running peer-server.
//!
//! ```text
//! target/release/bench-sfu --port PORT --key KEY --room R --pubs P --subs S --pps N --seconds T
//! ```
//!
//! Each publisher sends one VP8 track of synthetic RTP at `--pps` packets per second (1,000
//! bytes of payload, a keyframe-marked packet every 30, the send time in nanoseconds since the
//! Unix epoch in the payload's first 8 bytes after a VP8 payload descriptor). Each subscriber
//! joins with no stream and reads every publisher's track, counting packets, the packets the
//! sequence numbers say were sent, and the one-way latency (publisher → SFU → subscriber, one
//! machine, one clock). After every subscriber receives every publisher, the counters are reset,
//! the process prints `{"ready":true}` and measures for `--seconds`, then prints one JSON line:
//! `{"received", "expected", "p50_us", "p99_us", "max_us", "tracks", "seconds"}` and exits.

use anyhow::{bail, Context, Result};
use peer::{Codec, MediaStream, Peer, RoomEvent, RoomMode, RoomOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;

const USAGE: &str =
    "usage: bench-sfu --port P --key K --room R --pubs P --subs S --pps N --seconds T";
/// Bytes of RTP payload per packet.
const PAYLOAD: usize = 1000;
/// Latency samples kept per window (a reservoir beyond this would bias nothing measured here).
const MAX_SAMPLES: usize = 2_000_000;

#[derive(Debug, Clone)]
struct Opts {
    port: u16,
    key: String,
    room: String,
    pubs: usize,
    subs: usize,
    pps: u32,
    seconds: f64,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts> {
        let mut o = Opts {
            port: 9000,
            key: String::new(),
            room: "bench-sfu".into(),
            pubs: 1,
            subs: 1,
            pps: 250,
            seconds: 10.0,
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
                "--room" => o.room = val()?,
                "--pubs" => o.pubs = val()?.parse()?,
                "--subs" => o.subs = val()?.parse()?,
                "--pps" => o.pps = val()?.parse()?,
                "--seconds" => o.seconds = val()?.parse()?,
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if o.key.is_empty() || o.pubs == 0 || o.subs == 0 || o.pps == 0 {
            bail!("--key, and --pubs, --subs, --pps of at least 1, are needed\n{USAGE}");
        }
        Ok(o)
    }
}

/// What one subscriber counted for one publisher's track.
#[derive(Default)]
struct TrackCount {
    received: u64,
    first_seq: Option<u64>,
    last_seq: u64,
    /// Extended sequence number state.
    cycles: u64,
    last_raw: Option<u16>,
}

impl TrackCount {
    fn packet(&mut self, seq: u16) {
        if let Some(last) = self.last_raw {
            if seq < 0x4000 && last > 0xc000 {
                self.cycles += 1 << 16;
            }
        }
        self.last_raw = Some(seq);
        let ext = self.cycles + u64::from(seq);
        if self.first_seq.is_none() {
            self.first_seq = Some(ext);
        }
        self.last_seq = self.last_seq.max(ext);
        self.received += 1;
    }

    fn expected(&self) -> u64 {
        self.first_seq.map_or(0, |f| self.last_seq - f + 1)
    }
}

#[derive(Default)]
struct Counters {
    tracks: HashMap<(usize, String), TrackCount>,
    latencies: Vec<u32>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let o = Opts::parse(std::env::args().skip(1))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(run(o));
    if let Err(e) = &result {
        eprintln!("bench-sfu: {e:#}");
    }
    std::process::exit(i32::from(result.is_err()));
}

async fn open(o: &Opts, id: &str) -> Result<Peer> {
    peer_harness::open_peer(o.port, &o.key, id).await
}

async fn run(o: Opts) -> Result<()> {
    let counters = Arc::new(Mutex::new(Counters::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let tag = std::process::id();
    let mut peers = Vec::new();
    let mut rooms = Vec::new();
    // Subscribers first, so that every publisher's track is offered to all of them at once.
    for s in 0..o.subs {
        let peer = open(&o, &format!("sub-{tag}-{s}")).await?;
        let room = peer
            .join_room(&o.room, RoomOptions::new().mode(RoomMode::Sfu))
            .await?;
        room.wait_open().await?;
        let counters = counters.clone();
        tokio::spawn(async move {
            while let Some(ev) = room.next_event().await {
                if let RoomEvent::Track { peer_id, track } = ev {
                    let counters = counters.clone();
                    tokio::spawn(async move {
                        while let Ok(p) = track.read_rtp().await {
                            let now = now_ns();
                            let mut c = counters.lock().unwrap_or_else(|e| e.into_inner());
                            c.tracks
                                .entry((s, peer_id.clone()))
                                .or_default()
                                .packet(p.header.sequence_number);
                            if let Some(sent) = p.payload.get(3..11) {
                                let sent = u64::from_be_bytes(sent.try_into().unwrap_or([0; 8]));
                                if c.latencies.len() < MAX_SAMPLES && sent > 0 && now >= sent {
                                    c.latencies.push(((now - sent) / 1000) as u32);
                                }
                            }
                        }
                    });
                }
            }
        });
        peers.push(peer);
    }
    for p in 0..o.pubs {
        let peer = open(&o, &format!("pub-{tag}-{p}")).await?;
        let mut stream = MediaStream::new();
        let track = stream.add_track(Codec::Vp8);
        let room = peer
            .join_room(
                &o.room,
                RoomOptions::new().mode(RoomMode::Sfu).stream(stream),
            )
            .await?;
        room.wait_open().await?;
        let sent = sent.clone();
        let pps = o.pps;
        tokio::spawn(async move {
            let mut seq: u16 = 0;
            let period = Duration::from_secs_f64(1.0 / f64::from(pps));
            let mut next = tokio::time::Instant::now();
            let mut payload = vec![0u8; PAYLOAD];
            loop {
                // VP8 payload descriptor: start of a partition; every 30th a keyframe header.
                payload[0] = 0x10;
                payload[1] = 0;
                payload[2] = 0;
                payload[3..11].copy_from_slice(&now_ns().to_be_bytes());
                let p = Packet {
                    header: Header {
                        version: 2,
                        marker: true,
                        payload_type: 96,
                        sequence_number: seq,
                        timestamp: u32::from(seq).wrapping_mul(3000),
                        ssrc: 1,
                        ..Default::default()
                    },
                    payload: payload.clone().into(),
                };
                if track.write_rtp(&p).await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                seq = seq.wrapping_add(1);
                next += period;
                tokio::time::sleep_until(next).await;
            }
        });
        rooms.push(room);
        peers.push(peer);
    }
    // Every subscriber receives every publisher.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let flowing = counters
            .lock()
            .map(|c| c.tracks.values().filter(|t| t.received > 0).count())
            .unwrap_or(0);
        if flowing >= o.pubs * o.subs {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {flowing} of {} subscriber tracks flow",
                o.pubs * o.subs
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Ok(mut c) = counters.lock() {
        *c = Counters::default();
    }
    println!("{}", json!({"ready": true}));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(o.seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    let (received, expected, mut lat, tracks) = {
        let c = counters.lock().unwrap_or_else(|e| e.into_inner());
        let received: u64 = c.tracks.values().map(|t| t.received).sum();
        let expected: u64 = c.tracks.values().map(TrackCount::expected).sum();
        (received, expected, c.latencies.clone(), c.tracks.len())
    };
    lat.sort_unstable();
    let q = |p: f64| -> u32 {
        if lat.is_empty() {
            return 0;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    println!(
        "{}",
        json!({"received": received, "expected": expected, "p50_us": q(0.5), "p99_us": q(0.99),
            "max_us": q(1.0), "tracks": tracks, "seconds": secs})
    );
    drop(rooms);
    for p in peers {
        p.destroy().await;
    }
    Ok(())
}
