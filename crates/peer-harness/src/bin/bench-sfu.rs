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
use peer::{Codec, LocalTrack, MediaStream, Peer, RemoteTrack, RoomEvent, RoomMode, RoomOptions};
use peer_harness::anchor::{Anchor, AnchorClient};
use peer_harness::raw;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};
use webrtc::track::track_remote::TrackRemote;

const USAGE: &str = "usage: bench-sfu (--port P --key K --room R | --bare ADDR | --janus ADDR \
     --janus-room N [--media-ip IP]) --pubs P --subs S --pps N --seconds T";
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
    /// Bare load peers against this anchor instead of Rust Peers against peer-server.
    anchor: Option<Anchor>,
    /// The address of the bare load peers' host candidates.
    media_ip: IpAddr,
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
            anchor: None,
            media_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let mut janus: Option<SocketAddr> = None;
        let mut janus_room = 0u64;
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
                "--bare" => o.anchor = Some(Anchor::Bare(val()?.parse()?)),
                "--janus" => janus = Some(val()?.parse()?),
                "--janus-room" => janus_room = val()?.parse()?,
                "--media-ip" => o.media_ip = val()?.parse()?,
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if let Some(addr) = janus {
            o.anchor = Some(Anchor::Janus {
                addr,
                room: janus_room,
            });
        }
        if (o.key.is_empty() && o.anchor.is_none()) || o.pubs == 0 || o.subs == 0 || o.pps == 0 {
            bail!("--key (or an anchor), and --pubs, --subs, --pps of at least 1, are needed\n{USAGE}");
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

/// Where a publisher's packets go.
enum Out {
    Peer(LocalTrack),
    Raw(Arc<TrackLocalStaticRTP>),
}

/// Where a subscriber reads one publisher's packets.
enum In {
    Peer(RemoteTrack),
    Raw(Arc<TrackRemote>),
}

impl In {
    async fn read(&self) -> Option<Packet> {
        match self {
            In::Peer(t) => t.read_rtp().await.ok(),
            In::Raw(t) => t.read_rtp().await.ok().map(|(p, _)| p),
        }
    }
}

/// Counts what subscriber `s` reads of the track `key`.
fn spawn_counter(counters: Arc<Mutex<Counters>>, s: usize, key: String, input: In) {
    tokio::spawn(async move {
        while let Some(p) = input.read().await {
            let now = now_ns();
            let mut c = counters.lock().unwrap_or_else(|e| e.into_inner());
            c.tracks
                .entry((s, key.clone()))
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

/// Sends `pps` synthetic VP8 packets a second on `out` until the process ends.
fn spawn_pump(out: Out, pps: u32, sent: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let mut seq: u16 = 0;
        let period = Duration::from_secs_f64(1.0 / f64::from(pps));
        let mut next = tokio::time::Instant::now();
        let mut payload = vec![0u8; PAYLOAD];
        loop {
            // VP8 payload descriptor: start of a partition.
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
            let ok = match &out {
                Out::Peer(t) => t.write_rtp(&p).await.is_ok(),
                Out::Raw(t) => t.write_rtp(&p).await.is_ok(),
            };
            if ok {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            seq = seq.wrapping_add(1);
            next += period;
            tokio::time::sleep_until(next).await;
        }
    });
}

/// What keeps the load peers alive until the end of the run.
#[derive(Default)]
struct Load {
    peers: Vec<Peer>,
    rooms: Vec<peer::Room>,
    raw: Vec<Arc<RTCPeerConnection>>,
    clients: Vec<AnchorClient>,
}

/// Rust Peers in an SFU room of peer-server: subscribers first, so that every publisher's
/// track is offered to all of them at once.
async fn peer_load(
    o: &Opts,
    counters: &Arc<Mutex<Counters>>,
    sent: &Arc<AtomicU64>,
) -> Result<Load> {
    let tag = std::process::id();
    let mut load = Load::default();
    for s in 0..o.subs {
        let peer = open(o, &format!("sub-{tag}-{s}")).await?;
        let room = peer
            .join_room(&o.room, RoomOptions::new().mode(RoomMode::Sfu))
            .await?;
        room.wait_open().await?;
        let counters = counters.clone();
        tokio::spawn(async move {
            while let Some(ev) = room.next_event().await {
                if let RoomEvent::Track { peer_id, track } = ev {
                    spawn_counter(counters.clone(), s, peer_id, In::Peer(track));
                }
            }
        });
        load.peers.push(peer);
    }
    for p in 0..o.pubs {
        let peer = open(o, &format!("pub-{tag}-{p}")).await?;
        let mut stream = MediaStream::new();
        let track = stream.add_track(Codec::Vp8);
        let room = peer
            .join_room(
                &o.room,
                RoomOptions::new().mode(RoomMode::Sfu).stream(stream),
            )
            .await?;
        room.wait_open().await?;
        spawn_pump(Out::Peer(track), o.pps, sent.clone());
        load.rooms.push(room);
        load.peers.push(peer);
    }
    Ok(load)
}

/// Bare `webrtc` load peers against an anchor: publishers first (subscribers name their
/// feeds), then each subscriber takes one offer of every publisher's track.
async fn anchor_load(
    o: &Opts,
    anchor: &Anchor,
    counters: &Arc<Mutex<Counters>>,
    sent: &Arc<AtomicU64>,
) -> Result<Load> {
    anchor.prepare(o.pubs).await?;
    let api = raw::api(o.media_ip, None)?;
    let mut load = Load::default();
    let mut feeds = Vec::new();
    for p in 0..o.pubs {
        let pc = raw::connection(&api).await?;
        let track = Arc::new(TrackLocalStaticRTP::new(
            raw::vp8(),
            "video".to_owned(),
            format!("pub{p}"),
        ));
        let sender = pc
            .add_track(track.clone() as Arc<dyn TrackLocal + Send + Sync>)
            .await?;
        tokio::spawn(async move { while sender.read_rtcp().await.is_ok() {} });
        let mut client = anchor.client().await?;
        let (answer, feed) = client.publish(anchor, raw::offer(&pc).await?).await?;
        raw::apply_answer(&pc, answer).await?;
        // Janus knows a feed only once its media is up ("No such feed" before).
        raw::wait_connected(&pc).await?;
        feeds.push(feed);
        spawn_pump(Out::Raw(track), o.pps, sent.clone());
        load.raw.push(pc);
        load.clients.push(client);
    }
    for s in 0..o.subs {
        let pc = raw::connection(&api).await?;
        let counters = counters.clone();
        pc.on_track(Box::new(move |track, _, _| {
            let key = format!("ssrc-{}", track.ssrc());
            spawn_counter(counters.clone(), s, key, In::Raw(track));
            Box::pin(async {})
        }));
        let mut client = anchor.client().await?;
        let offer = client.subscribe(anchor, &feeds).await?;
        let answer = raw::answer(&pc, offer).await?;
        client.answer(answer).await?;
        load.raw.push(pc);
        load.clients.push(client);
    }
    Ok(load)
}

async fn run(o: Opts) -> Result<()> {
    let counters = Arc::new(Mutex::new(Counters::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let load = match &o.anchor {
        None => peer_load(&o, &counters, &sent).await?,
        Some(anchor) => anchor_load(&o, anchor, &counters, &sent).await?,
    };
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
    let Load {
        peers,
        rooms,
        raw,
        clients,
    } = load;
    drop(rooms);
    drop(clients);
    for pc in raw {
        let _ = pc.close().await;
    }
    for p in peers {
        p.destroy().await;
    }
    Ok(())
}
