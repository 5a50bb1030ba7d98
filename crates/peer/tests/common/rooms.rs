//! Room members for tests: a Peer in a room, and what it saw (joins, leaves, RTP packets per
//! member and kind, data, logs), filled by a task reading the room's events.

use super::{within, TestServer};
use peer::{MediaKind, Peer, Room, RoomEvent, RoomOptions, RoomPayload};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one member saw, filled by a task reading its room's events.
#[derive(Default)]
pub struct Seen {
    pub open: bool,
    pub closed: bool,
    pub joins: Vec<String>,
    pub leaves: Vec<String>,
    /// RTP packets read per (member, kind).
    pub packets: HashMap<(String, MediaKind), u64>,
    /// The SSRC and sequence number of the last RTP packet per (member, kind).
    pub last_rtp: HashMap<(String, MediaKind), (u32, u16)>,
    pub data: Vec<(String, RoomPayload)>,
    pub logs: Vec<Vec<String>>,
}

#[derive(Clone)]
pub struct Member {
    pub peer: Peer,
    pub room: Room,
    pub seen: Arc<Mutex<Seen>>,
}

impl Member {
    pub async fn join(server: &TestServer, id: &str, room: &str, options: RoomOptions) -> Member {
        let peer = server.peer(id).await;
        Member::join_with(peer, room, options).await
    }

    pub async fn join_with(peer: Peer, room: &str, options: RoomOptions) -> Member {
        let room = peer.join_room(room, options).await.expect("join_room");
        let seen = Arc::new(Mutex::new(Seen::default()));
        tokio::spawn(collect(room.clone(), seen.clone()));
        within("room open", room.wait_open()).await.expect("open");
        Member { peer, room, seen }
    }

    /// Waits until `f` holds for what this member saw.
    pub async fn until(&self, what: &str, f: impl Fn(&Seen) -> bool) {
        within(&format!("{}: {what}", self.peer.id()), async {
            loop {
                if f(&self.seen.lock().unwrap()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    pub fn packets(&self, from: &str, kind: MediaKind) -> u64 {
        let seen = self.seen.lock().unwrap();
        seen.packets
            .get(&(from.to_owned(), kind))
            .copied()
            .unwrap_or(0)
    }
}

pub async fn collect(room: Room, seen: Arc<Mutex<Seen>>) {
    while let Some(ev) = room.next_event().await {
        let mut s = seen.lock().unwrap();
        match ev {
            RoomEvent::Open => s.open = true,
            RoomEvent::PeerJoin(p) => s.joins.push(p),
            RoomEvent::PeerLeave(p) => s.leaves.push(p),
            RoomEvent::Track { peer_id, track } => {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let key = (peer_id, track.kind());
                    while let Ok(p) = track.read_rtp().await {
                        let mut s = seen.lock().unwrap();
                        *s.packets.entry(key.clone()).or_default() += 1;
                        s.last_rtp
                            .insert(key.clone(), (p.header.ssrc, p.header.sequence_number));
                    }
                });
            }
            RoomEvent::Data { src, data } => s.data.push((src, data)),
            RoomEvent::Log(l) => s.logs.push(l),
            RoomEvent::Close => {
                s.closed = true;
                return;
            }
            _ => {}
        }
    }
}
