//! `soak-load rooms`: join/leave cycles of Rust Peers in mesh or SFU rooms, with media.
//!
//! The cycles run in `--lanes` rooms side by side. Each lane's room has a long-lived member
//! (`PREFIX-sLANE`) that sends synthetic VP8 for the whole run, and a member (`PREFIX-jLANE`)
//! that also sends VP8 and, once per cycle, joins the room, waits until the long-lived member's
//! video track delivers `--packets` RTP packets, and leaves (`room.close()`). A cycle that does
//! not get there within `--cycle-timeout` is an error; the room is left either way.
//!
//! In SFU rooms the long-lived member leaves and joins again every `--rejoin-every` cycles:
//! webrtc 0.17.2 never reuses an m-section, so each track that came and went stays in the
//! member's connection with the server, and past the server's `max_sections_per_member` (256
//! by default) its media session would end (`sfu-limited`). A fresh join starts a fresh
//! connection. A long-lived member whose room reports an error (counted) also joins again
//! before the next cycle. `--rejoin-pause-ms` (default 0) is how long a member waits after
//! leaving before its Peer joins the same room again (between cycles, and at a rejoin).
//!
//! The Peers do not ask for TURN (`turn: false`): this load measures rooms, and `soak-load
//! turn` the TURN server.

use crate::{parse_flags, with, Shared, Tally};
use anyhow::{bail, Context, Result};
use peer::{
    Codec, LocalAddresses, LocalTrack, MediaKind, MediaStream, Peer, PeerEvent, PeerOptions, Room,
    RoomEvent, RoomMode, RoomOptions,
};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;

/// Longest wait for a Peer's `open`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a left room's last events.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `soak-load rooms`.
#[derive(Debug, Clone)]
pub struct Opts {
    port: u16,
    key: String,
    mode: RoomMode,
    cycles: usize,
    lanes: usize,
    prefix: String,
    packets: usize,
    rejoin_every: usize,
    rejoin_pause: Duration,
    cycle_timeout: Duration,
}

impl Opts {
    /// Reads the options after `rooms`.
    pub fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            port: 0,
            key: String::new(),
            mode: RoomMode::Mesh,
            cycles: 0,
            lanes: 4,
            prefix: "soak".into(),
            packets: 3,
            rejoin_every: 100,
            rejoin_pause: Duration::ZERO,
            cycle_timeout: Duration::from_secs(15),
        };
        parse_flags(args, |flag, v| {
            match flag {
                "--port" => o.port = v.parse()?,
                "--key" => o.key = v.to_owned(),
                "--mode" => {
                    o.mode = match v {
                        "mesh" => RoomMode::Mesh,
                        "sfu" => RoomMode::Sfu,
                        other => bail!("--mode is mesh or sfu, not {other:?}"),
                    }
                }
                "--cycles" => o.cycles = v.parse()?,
                "--lanes" => o.lanes = v.parse()?,
                "--prefix" => o.prefix = v.to_owned(),
                "--packets" => o.packets = v.parse()?,
                "--rejoin-every" => o.rejoin_every = v.parse()?,
                "--rejoin-pause-ms" => o.rejoin_pause = Duration::from_millis(v.parse()?),
                "--cycle-timeout" => o.cycle_timeout = Duration::from_secs_f64(v.parse()?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if o.port == 0 || o.key.is_empty() || o.lanes == 0 || o.rejoin_every == 0 {
            bail!("rooms needs --port, --key, and --lanes and --rejoin-every of at least 1");
        }
        Ok(o)
    }
}

/// Runs the cycles and returns the result line.
pub async fn run(o: Opts) -> Result<Value> {
    let o = Arc::new(o);
    let tally: Shared = Arc::new(Mutex::new(Tally::default()));
    let lanes = o.lanes.min(o.cycles.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let share = o.cycles / lanes + usize::from(lane < o.cycles % lanes);
        let (o, tally) = (o.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = run_lane(&o, lane, share, &tally).await {
                with(&tally, |t| t.error(format!("lane {lane}: {e:#}")));
            }
        }));
    }
    for t in tasks {
        t.await.context("a lane panicked")?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(with(&tally, |t| t.result(o.cycles, secs)))
}

/// One lane: its long-lived member, then `cycles` join/leave cycles of its other member.
async fn run_lane(o: &Opts, lane: usize, cycles: usize, tally: &Shared) -> Result<()> {
    let room = format!("{}-{lane}", o.prefix);
    let stay_id = format!("{}-s{lane}", o.prefix);
    let (stay_peer, stay_errors) = open(o, &stay_id, tally).await?;
    let (stay_stream, stay_pump) = pumped_stream();
    let mut stayer = Stayer::join(o, &stay_peer, &room, &stay_stream, &stay_errors, tally).await?;
    let (joiner, joiner_errors) = open(o, &format!("{}-j{lane}", o.prefix), tally).await?;
    let (stream, pump) = pumped_stream();
    for c in 0..cycles {
        let due = o.mode == RoomMode::Sfu && c > 0 && c % o.rejoin_every == 0;
        if due || stayer.broken() {
            // A member whose room reported an error (counted already) joins again, so that
            // one failure does not fail every later cycle of the lane.
            stayer.leave(tally).await;
            tokio::time::sleep(o.rejoin_pause).await;
            stayer = Stayer::join(o, &stay_peer, &room, &stay_stream, &stay_errors, tally).await?;
        }
        joiner_errors.store(false, Ordering::Relaxed);
        let broken = [&*stayer.broken, &*joiner_errors];
        match cycle(o, &joiner, &room, &stream, &stay_id, broken, tally).await {
            Ok(took) => with(tally, |t| t.ok(took)),
            Err(e) => with(tally, |t| t.error(format!("lane {lane}, cycle {c}: {e:#}"))),
        }
        let done = with(tally, |t| t.ok);
        if done > 0 && done % 100 == 0 && c + 1 < cycles {
            eprintln!("soak-load: {done} cycles");
        }
        tokio::time::sleep(o.rejoin_pause).await;
    }
    stayer.leave(tally).await;
    pump.abort();
    stay_pump.abort();
    joiner.destroy().await;
    stay_peer.destroy().await;
    Ok(())
}

/// One cycle: join, wait until `from`'s video delivers `--packets` packets, leave. Returns how
/// long the join took to bring media. Fails early when one of the `broken` flags (the
/// long-lived member's, this member's Peer's) is set meanwhile.
async fn cycle(
    o: &Opts,
    peer: &Peer,
    name: &str,
    stream: &MediaStream,
    from: &str,
    broken: [&AtomicBool; 2],
    tally: &Shared,
) -> Result<Duration> {
    let started = Instant::now();
    let options = RoomOptions::new().mode(o.mode).stream(stream.clone());
    let room = peer.join_room(name, options).await.context("join_room")?;
    let failed = async {
        while !broken.iter().any(|b| b.load(Ordering::Relaxed)) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let waited = tokio::time::timeout(o.cycle_timeout, async {
        tokio::select! {
            r = media_from(o, &room, from) => r,
            _ = failed => bail!("a member's room or Peer reported an error before the media arrived"),
        }
    })
    .await;
    let took = started.elapsed();
    leave(&room, tally, peer.id()).await;
    match waited {
        Ok(Ok(())) => Ok(took),
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("no media from {from} within {:?}", o.cycle_timeout),
    }
}

/// Reads `room`'s events until `from`'s video track arrives, then reads `--packets` of its
/// packets. An error the room reports on the way fails the cycle.
async fn media_from(o: &Opts, room: &Room, from: &str) -> Result<()> {
    loop {
        match room.next_event().await {
            Some(RoomEvent::Track { peer_id, track })
                if peer_id == from && track.kind() == MediaKind::Video =>
            {
                for i in 0..o.packets {
                    track
                        .read_rtp()
                        .await
                        .with_context(|| format!("the track ended after {i} packets"))?;
                }
                return Ok(());
            }
            Some(RoomEvent::Error(e)) => bail!("room error before media arrived: {e}"),
            Some(RoomEvent::Close) | None => bail!("the room closed before media arrived"),
            Some(_) => {}
        }
    }
}

/// Leaves `room` and reads its events up to the last (`Close`).
async fn leave(room: &Room, tally: &Shared, who: &str) {
    room.close().await;
    let drained = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(ev) = room.next_event().await {
            if let RoomEvent::Error(e) = ev {
                with(tally, |t| {
                    t.error(format!("{who}: room error while leaving: {e}"))
                });
            }
        }
    })
    .await;
    if drained.is_err() {
        with(tally, |t| {
            t.error(format!("{who}: no close event within {CLOSE_TIMEOUT:?}"))
        });
    }
}

/// A long-lived member: in the room with its stream, reading every track it gets. An error
/// its room or its Peer reports (counted) or a close marks it broken.
struct Stayer {
    room: Room,
    events: JoinHandle<()>,
    broken: Arc<AtomicBool>,
}

impl Stayer {
    async fn join(
        o: &Opts,
        peer: &Peer,
        name: &str,
        stream: &MediaStream,
        peer_errors: &Arc<AtomicBool>,
        tally: &Shared,
    ) -> Result<Stayer> {
        let options = RoomOptions::new().mode(o.mode).stream(stream.clone());
        let room = peer.join_room(name, options).await.context("join_room")?;
        room.wait_open()
            .await
            .with_context(|| format!("{} joining {name}", peer.id()))?;
        // The Peer's errors (`sfu-limited` arrives as one) mark this membership broken.
        let broken = peer_errors.clone();
        broken.store(false, Ordering::Relaxed);
        let (events_room, tally, who) = (room.clone(), tally.clone(), peer.id().to_owned());
        let flag = broken.clone();
        let events = tokio::spawn(async move {
            while let Some(ev) = events_room.next_event().await {
                match ev {
                    RoomEvent::Track { track, .. } => {
                        tokio::spawn(async move { while track.read_rtp().await.is_ok() {} });
                    }
                    RoomEvent::Error(e) => {
                        with(&tally, |t| t.error(format!("{who}: {e}")));
                        flag.store(true, Ordering::Relaxed);
                    }
                    RoomEvent::Close => flag.store(true, Ordering::Relaxed),
                    _ => {}
                }
            }
        });
        Ok(Stayer {
            room,
            events,
            broken,
        })
    }

    /// Whether its room reported an error or closed.
    fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    async fn leave(self, tally: &Shared) {
        self.room.close().await;
        if tokio::time::timeout(CLOSE_TIMEOUT, self.events)
            .await
            .is_err()
        {
            with(tally, |t| {
                t.error(format!(
                    "a long-lived member got no close event within {CLOSE_TIMEOUT:?}"
                ))
            });
        }
    }
}

/// Opens Peer `id` on loopback without TURN, waits for its `open`, and keeps reading its events:
/// errors and reconnects are counted, and set the returned flag.
async fn open(o: &Opts, id: &str, tally: &Shared) -> Result<(Peer, Arc<AtomicBool>)> {
    let mut options = PeerOptions::new(o.key.clone());
    options.port = o.port;
    options.turn = false;
    options.config.local_addresses = LocalAddresses::LoopbackOnly;
    let peer = Peer::new(Some(id), options)
        .await
        .with_context(|| format!("opening peer {id}"))?;
    match tokio::time::timeout(OPEN_TIMEOUT, peer.next_event()).await {
        Ok(Some(PeerEvent::Open(_))) => {}
        Ok(other) => bail!("expected the open event of {id}, got {other:?}"),
        Err(_) => bail!("peer {id} did not open within {OPEN_TIMEOUT:?}"),
    }
    let (events, tally, who) = (peer.clone(), tally.clone(), id.to_owned());
    let errors = Arc::new(AtomicBool::new(false));
    let flag = errors.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.next_event().await {
            match ev {
                PeerEvent::Error(e) => {
                    with(&tally, |t| t.error(format!("{who}: {e}")));
                    flag.store(true, Ordering::Relaxed);
                }
                PeerEvent::Reconnecting { .. } => {
                    with(&tally, |t| {
                        t.error(format!("{who}: signaling reconnecting"))
                    });
                    flag.store(true, Ordering::Relaxed);
                }
                PeerEvent::Close => break,
                _ => {}
            }
        }
    });
    Ok((peer, errors))
}

/// A stream with one VP8 track, written to every 20 ms until the returned task is aborted.
fn pumped_stream() -> (MediaStream, JoinHandle<()>) {
    let mut stream = MediaStream::new();
    let track = stream.add_track(Codec::Vp8);
    (stream, tokio::spawn(pump(track)))
}

/// Synthetic VP8: a keyframe-marked packet of 300 bytes every 20 ms (50 packets a second).
async fn pump(track: LocalTrack) {
    // VP8 payload descriptor (start of partition 0), then a keyframe header with its start code.
    let mut payload = vec![0u8; 300];
    payload[..10].copy_from_slice(&[0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0]);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u16 = 0;
    loop {
        tick.tick().await;
        let packet = Packet {
            header: Header {
                version: 2,
                marker: true,
                payload_type: 96,
                sequence_number: seq,
                timestamp: u32::from(seq).wrapping_mul(1800),
                ssrc: 1,
                ..Default::default()
            },
            payload: payload.clone().into(),
        };
        // Before a connection is up the packet is dropped, as a camera frame would be.
        let _ = track.write_rtp(&packet).await;
        seq = seq.wrapping_add(1);
    }
}
