//! [`SfuRoomCore`]: an SFU room member's decisions, with no I/O (protocol §10). The join is
//! confirmed by the own `ROOM_USER_JOIN`, which asks the server for its offer
//! (`SFU_GET_OFFER`); every `SFU_OFFER` goes to the one connection with the server (the first
//! creates it and answers with the room's stream), and its `msids` map replaces the last one.
//! Remote streams are reported with the member that `msids` names; a stream the map does not
//! name yet waits (at most [`MAX_PARKED`] tracks) until an offer names it, as the SDK parks
//! `_unknownStreams`. Members' departures drop their streams from the map.
//!
//! Rejoin: after the Peer's signaling reconnected to a fresh session (the server restarted),
//! the room sends `ROOM_JOIN` again and drops its connection with the old server; the
//! confirmation reconciles the members (who is listed joins, who is not leaves) and asks for
//! a new offer, whose connection reports the members' streams again. The SDK itself does not
//! rejoin (protocol §11.3).

use crate::event::RoomEvent;
use crate::input::RoomInput;
use crate::mesh_core::{Output, Phase};
use peer_media::RemoteTrack;
use peer_protocol::client::{ClientMessage, RoomJoin, RoomRef, RoomType};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Remote tracks that may wait for their stream's member to be named.
pub(crate) const MAX_PARKED: usize = 64;

/// What waits for `msids` to name its stream.
#[derive(Debug, Clone)]
enum Parked {
    Stream(String),
    Track(RemoteTrack),
}

impl Parked {
    fn stream_id(&self) -> String {
        match self {
            Parked::Stream(s) => s.clone(),
            Parked::Track(t) => t.stream_id(),
        }
    }
}

/// The decisions of one SFU room member. See the module documentation.
pub(crate) struct SfuRoomCore {
    local_id: String,
    room: String,
    phase: Phase,
    members: Vec<String>,
    /// Stream id → member, from the last `SFU_OFFER`.
    msids: BTreeMap<String, String>,
    /// Streams already reported (by id), so each is reported once.
    reported: HashSet<String>,
    parked: VecDeque<Parked>,
    /// The first offer created the connection.
    connected: bool,
    /// `ROOM_JOIN` went out again after a fresh session; its confirmation is awaited.
    rejoining: bool,
    out: VecDeque<Output>,
}

impl SfuRoomCore {
    pub(crate) fn new(local_id: &str, room: &str) -> SfuRoomCore {
        SfuRoomCore {
            local_id: local_id.to_owned(),
            room: room.to_owned(),
            phase: Phase::Joining,
            members: Vec::new(),
            msids: BTreeMap::new(),
            reported: HashSet::new(),
            parked: VecDeque::new(),
            connected: false,
            rejoining: false,
            out: VecDeque::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn members(&self) -> &[String] {
        &self.members
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn handle_input(&mut self, input: RoomInput) {
        if self.phase == Phase::Closed {
            return;
        }
        match input {
            RoomInput::UserJoin { src, members } => {
                if src == self.local_id {
                    if self.phase == Phase::Open && self.rejoining {
                        self.rejoined(members);
                    } else if self.phase == Phase::Joining {
                        self.phase = Phase::Open;
                        self.members = members
                            .into_iter()
                            .filter(|m| *m != self.local_id)
                            .collect();
                        self.out.push_back(Output::Emit(RoomEvent::Open));
                        self.out
                            .push_back(Output::Send(ClientMessage::SfuGetOffer(RoomRef {
                                room_name: self.room.clone(),
                            })));
                    }
                } else if self.phase == Phase::Open && !self.members.contains(&src) {
                    self.members.push(src.clone());
                    self.out.push_back(Output::Emit(RoomEvent::PeerJoin(src)));
                }
            }
            RoomInput::UserLeave(src) | RoomInput::PeerGone(src) => self.member_left(&src),
            RoomInput::Data { src, data } => {
                if src != self.local_id {
                    self.out
                        .push_back(Output::Emit(RoomEvent::Data { src, data }));
                }
            }
            RoomInput::Logs(log) => self.out.push_back(Output::Emit(RoomEvent::Log(log))),
            RoomInput::SfuOffer { sdp, msids } => {
                if self.phase != Phase::Open {
                    return;
                }
                self.msids = msids
                    .into_iter()
                    .filter(|(_, peer)| *peer != self.local_id)
                    .collect();
                let first = !self.connected;
                self.connected = true;
                self.out.push_back(Output::SfuOffer { sdp, first });
                self.unpark();
            }
            RoomInput::Rejoin => self.rejoin(),
            RoomInput::Users { .. } | RoomInput::Signal(_) => {}
        }
    }

    /// A remote stream appeared on the connection with the server.
    pub(crate) fn remote_stream(&mut self, stream: String) {
        match self.msids.get(&stream) {
            Some(peer) => {
                if self.reported.insert(stream.clone()) {
                    let peer_id = peer.clone();
                    self.out
                        .push_back(Output::Emit(RoomEvent::Stream { peer_id, stream }));
                }
            }
            None => self.park(Parked::Stream(stream)),
        }
    }

    /// A remote track started on the connection with the server.
    pub(crate) fn remote_track(&mut self, track: RemoteTrack) {
        match self.msids.get(&track.stream_id()) {
            Some(peer) => {
                let peer_id = peer.clone();
                self.out
                    .push_back(Output::Emit(RoomEvent::Track { peer_id, track }));
            }
            None => self.park(Parked::Track(track)),
        }
    }

    /// The connection with the server closed (ICE failure, say): the SDK closes the room.
    pub(crate) fn connection_closed(&mut self) {
        if self.phase == Phase::Open && self.connected {
            self.out.push_back(Output::Emit(RoomEvent::Error(
                crate::RoomError::Connection(peer_connection::ConnectionError::Closed),
            )));
            self.close();
        }
    }

    pub(crate) fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase == Phase::Open {
            self.out
                .push_back(Output::Send(ClientMessage::RoomLeave(RoomRef {
                    room_name: self.room.clone(),
                })));
        }
        self.phase = Phase::Closed;
        self.parked.clear();
        self.out.push_back(Output::SfuClose);
        self.out.push_back(Output::Emit(RoomEvent::Close));
    }

    pub(crate) fn join_timed_out(&mut self) {
        if self.phase == Phase::Joining {
            self.out
                .push_back(Output::Emit(RoomEvent::Error(crate::RoomError::Timeout)));
            self.close();
        }
    }

    /// A fresh signaling session: join again, and drop the connection with the old server
    /// (its streams end with it).
    fn rejoin(&mut self) {
        self.out
            .push_back(Output::Send(ClientMessage::RoomJoin(RoomJoin {
                room_name: self.room.clone(),
                room_type: RoomType::Sfu,
            })));
        if self.phase != Phase::Open {
            return;
        }
        self.rejoining = true;
        if self.connected {
            self.connected = false;
            self.msids.clear();
            self.reported.clear();
            self.parked.clear();
            self.out.push_back(Output::SfuClose);
        }
    }

    /// The rejoin is confirmed: members the server lists and this side did not know join,
    /// members it does not list leave; then a new offer is asked for.
    fn rejoined(&mut self, listed: Vec<String>) {
        self.rejoining = false;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| !listed.contains(m))
            .cloned()
            .collect();
        for m in gone {
            self.member_left(&m);
        }
        for m in listed {
            if m != self.local_id && !self.members.contains(&m) {
                self.members.push(m.clone());
                self.out.push_back(Output::Emit(RoomEvent::PeerJoin(m)));
            }
        }
        self.out
            .push_back(Output::Send(ClientMessage::SfuGetOffer(RoomRef {
                room_name: self.room.clone(),
            })));
    }

    fn member_left(&mut self, src: &str) {
        let Some(i) = self.members.iter().position(|m| m == src) else {
            return;
        };
        self.members.remove(i);
        let gone: Vec<String> = self
            .msids
            .iter()
            .filter(|(_, p)| *p == src)
            .map(|(s, _)| s.clone())
            .collect();
        for s in gone {
            self.msids.remove(&s);
            self.reported.remove(&s);
        }
        self.out
            .push_back(Output::Emit(RoomEvent::PeerLeave(src.to_owned())));
    }

    fn park(&mut self, p: Parked) {
        if self.parked.len() >= MAX_PARKED {
            self.parked.pop_front();
        }
        self.parked.push_back(p);
    }

    fn unpark(&mut self) {
        let parked: Vec<Parked> = self.parked.drain(..).collect();
        for p in parked {
            if !self.msids.contains_key(&p.stream_id()) {
                self.parked.push_back(p);
                continue;
            }
            match p {
                Parked::Stream(s) => self.remote_stream(s),
                Parked::Track(t) => self.remote_track(t),
            }
        }
    }
}

#[cfg(test)]
mod tests;
