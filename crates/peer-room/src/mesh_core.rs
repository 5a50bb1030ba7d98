//! [`MeshCore`]: a mesh room's decisions, with no I/O (`handle_*` in, [`Output`]s out): who is
//! a member, which members this side calls, which offers it answers (the SDK's glare rule),
//! which candidates wait for their call, and what leaving closes. The shell
//! ([`crate::mesh`]) creates the calls and sends the messages.
//!
//! Limits: calls to at most `max_members` members and at most two calls per member (the glare
//! rule lets a second one exist); candidates for calls not made yet wait in at most
//! [`MAX_PENDING_CALLS`] queues of [`MAX_PENDING_CANDIDATES`]; offers and candidates from peers
//! that are not members are dropped.
//!
//! Rejoin: after the Peer's signaling reconnected to a fresh session (the server restarted),
//! the room sends `ROOM_JOIN` again. The calls are peer to peer and go on. The confirmation
//! lists who has rejoined so far: members it names that this side did not know join (and are
//! called, as on a first join); members it does not name are kept while a call with them lives
//! (they may be reconnecting too), and leave when their last call ends before they rejoin.
//! The SDK itself does not rejoin (protocol §11.3).

use crate::event::RoomEvent;
use crate::input::RoomInput;
use peer_connection::router::RoomSignal;
use peer_connection::signal::{Offer, Routed};
use peer_protocol::client::{ClientMessage, RoomGetUsers, RoomJoin, RoomRef, RoomType};
use std::collections::{HashMap, HashSet, VecDeque};

/// Connection ids whose candidates may wait for their call.
pub(crate) const MAX_PENDING_CALLS: usize = 32;
/// Candidates that may wait per connection id.
pub(crate) const MAX_PENDING_CANDIDATES: usize = 32;
/// Calls per member: one, or two when both sides called at once and the glare rule kept both.
const MAX_CALLS_PER_MEMBER: usize = 2;

/// Where the room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `ROOM_JOIN` sent, waiting for the own `ROOM_USER_JOIN`.
    Joining,
    /// Joined.
    Open,
    /// Left.
    Closed,
}

/// What the shell does for the core, in order.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// Send a message to the server.
    Send(ClientMessage),
    /// Call `peer` with connection id `id`, in the room, with the room's stream.
    Call { peer: String, id: String },
    /// Create the call `offer` asks for and answer it with the room's stream.
    Answer(Offer),
    /// A member renegotiates call `id` (its stream changed).
    Renegotiate { id: String, sdp: String },
    /// Apply a relayed `ANSWER` to call `id`.
    DeliverAnswer { id: String, signal: Routed },
    /// Apply a relayed `CANDIDATE` to call `id`.
    DeliverCandidate { id: String, signal: Routed },
    /// Close these calls locally (no `FORCE_CLOSE`, as the SDK's room does).
    Close(Vec<String>),
    /// Report an event to the application.
    Emit(RoomEvent),
    /// SFU rooms: apply the server's offer to the connection with it (`first`: create the
    /// connection and answer with the room's stream).
    SfuOffer { sdp: String, first: bool },
    /// SFU rooms: close the connection with the server.
    SfuClose,
}

/// The decisions of one mesh room. See the module documentation.
pub(crate) struct MeshCore {
    local_id: String,
    room: String,
    max_members: usize,
    phase: Phase,
    /// The other members, in the order this side learned of them.
    members: Vec<String>,
    /// Calls by connection id: the member each is with.
    calls: HashMap<String, String>,
    /// Candidates for connection ids with no call yet, oldest id first.
    pending: VecDeque<(String, Vec<Routed>)>,
    /// Prefix and counter of the connection ids this side picks.
    id_prefix: String,
    next_id: u64,
    /// `ROOM_JOIN` went out again after a fresh session; its confirmation is awaited.
    rejoining: bool,
    /// Members kept through a rejoin that the fresh session has not named yet.
    unconfirmed: HashSet<String>,
    out: VecDeque<Output>,
}

impl MeshCore {
    /// A room being joined by `local_id`; connection ids this side picks start with `id_prefix`
    /// (`mc_` and a random token, so that they are unique per member as the SDK's are).
    pub(crate) fn new(local_id: &str, room: &str, max_members: usize, id_prefix: &str) -> MeshCore {
        MeshCore {
            local_id: local_id.to_owned(),
            room: room.to_owned(),
            max_members,
            phase: Phase::Joining,
            members: Vec::new(),
            calls: HashMap::new(),
            pending: VecDeque::new(),
            id_prefix: id_prefix.to_owned(),
            next_id: 0,
            rejoining: false,
            unconfirmed: HashSet::new(),
            out: VecDeque::new(),
        }
    }

    #[cfg(test)]
    /// Where the room is.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// The other members.
    pub(crate) fn members(&self) -> &[String] {
        &self.members
    }

    #[cfg(test)]
    /// The calls: connection id and member.
    pub(crate) fn calls(&self) -> impl Iterator<Item = (&String, &String)> {
        self.calls.iter()
    }

    #[cfg(test)]
    /// Connection ids whose candidates wait, and how many wait in all.
    pub(crate) fn pending_counts(&self) -> (usize, usize) {
        (
            self.pending.len(),
            self.pending.iter().map(|(_, c)| c.len()).sum(),
        )
    }

    /// The next thing to do.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// One input from the server.
    pub(crate) fn handle_input(&mut self, input: RoomInput) {
        if self.phase == Phase::Closed {
            return;
        }
        match input {
            RoomInput::UserJoin { src, members } => self.user_join(src, members),
            RoomInput::UserLeave(src) | RoomInput::PeerGone(src) => self.member_gone(&src),
            RoomInput::Users { kind, list } => self.users(&kind, list),
            RoomInput::Data { src, data } => {
                if src != self.local_id {
                    self.emit(RoomEvent::Data { src, data });
                }
            }
            RoomInput::Logs(log) => self.emit(RoomEvent::Log(log)),
            RoomInput::Signal(signal) => self.signal(signal),
            RoomInput::Rejoin => self.rejoin(),
            RoomInput::SfuOffer { .. } => {}
        }
    }

    /// Call `id` closed (either side, or it failed): forgotten. A member kept through a
    /// rejoin but not named since leaves with its last call.
    pub(crate) fn call_closed(&mut self, id: &str) {
        if let Some(peer) = self.calls.remove(id) {
            if self.calls_with(&peer) == 0 && self.unconfirmed.contains(&peer) {
                self.member_gone(&peer);
            }
        }
    }

    /// `close()`: the calls close, `ROOM_LEAVE` goes out, `Close` is reported.
    pub(crate) fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        let ids: Vec<String> = self.calls.drain().map(|(id, _)| id).collect();
        if !ids.is_empty() {
            self.out.push_back(Output::Close(ids));
        }
        self.pending.clear();
        self.members.clear();
        self.out
            .push_back(Output::Send(ClientMessage::RoomLeave(RoomRef {
                room_name: self.room.clone(),
            })));
        self.emit(RoomEvent::Close);
    }

    /// The join was not confirmed in time: an error, then as `close()`.
    pub(crate) fn join_timed_out(&mut self) {
        if self.phase == Phase::Joining {
            self.emit(RoomEvent::Error(crate::RoomError::Timeout));
            self.close();
        }
    }

    fn emit(&mut self, ev: RoomEvent) {
        self.out.push_back(Output::Emit(ev));
    }

    fn user_join(&mut self, src: String, members: Vec<String>) {
        if src == self.local_id {
            if self.phase == Phase::Open && self.rejoining {
                self.rejoined(members);
                return;
            }
            if self.phase != Phase::Joining {
                return;
            }
            self.phase = Phase::Open;
            for m in members {
                self.add_member(m);
            }
            self.out
                .push_back(Output::Send(ClientMessage::RoomGetUsers(RoomGetUsers {
                    room_name: self.room.clone(),
                    kind: "media".into(),
                })));
            self.emit(RoomEvent::Open);
        } else if self.unconfirmed.remove(&src) {
            // A member kept through the rejoin is back: nothing changed for the application.
        } else {
            self.add_member(src.clone());
            self.emit(RoomEvent::PeerJoin(src));
        }
    }

    /// A fresh signaling session: join again (see the module documentation).
    fn rejoin(&mut self) {
        self.out
            .push_back(Output::Send(ClientMessage::RoomJoin(RoomJoin {
                room_name: self.room.clone(),
                room_type: RoomType::Mesh,
            })));
        if self.phase == Phase::Open {
            self.rejoining = true;
        }
    }

    /// The rejoin is confirmed with the members named so far.
    fn rejoined(&mut self, listed: Vec<String>) {
        self.rejoining = false;
        let unnamed: Vec<String> = self
            .members
            .iter()
            .filter(|m| !listed.contains(m))
            .cloned()
            .collect();
        for m in unnamed {
            if self.calls_with(&m) == 0 {
                self.member_gone(&m);
            } else {
                self.unconfirmed.insert(m);
            }
        }
        for m in listed {
            if m != self.local_id && !self.is_member(&m) {
                self.add_member(m.clone());
                self.emit(RoomEvent::PeerJoin(m));
            }
        }
        // Members with no call yet are called, as after a first join.
        self.out
            .push_back(Output::Send(ClientMessage::RoomGetUsers(RoomGetUsers {
                room_name: self.room.clone(),
                kind: "media".into(),
            })));
    }

    fn add_member(&mut self, id: String) {
        if id != self.local_id && !self.members.contains(&id) {
            self.members.push(id);
        }
    }

    fn is_member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m == id)
    }

    fn calls_with(&self, peer: &str) -> usize {
        self.calls.values().filter(|p| *p == peer).count()
    }

    /// Members with at least one call.
    fn called_members(&self) -> usize {
        let mut peers: Vec<&String> = self.calls.values().collect();
        peers.sort();
        peers.dedup();
        peers.len()
    }

    fn users(&mut self, kind: &str, list: Vec<String>) {
        if kind != "media" || self.phase != Phase::Open {
            return;
        }
        for id in list {
            if id == self.local_id {
                continue;
            }
            self.add_member(id.clone());
            if self.calls_with(&id) > 0 || self.called_members() >= self.max_members {
                continue;
            }
            self.next_id += 1;
            let call_id = format!("{}{}", self.id_prefix, self.next_id);
            self.calls.insert(call_id.clone(), id.clone());
            self.out.push_back(Output::Call {
                peer: id,
                id: call_id,
            });
        }
    }

    fn member_gone(&mut self, src: &str) {
        if src == self.local_id || !self.is_member(src) {
            return;
        }
        self.unconfirmed.remove(src);
        self.members.retain(|m| m != src);
        let ids: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, p)| *p == src)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.calls.remove(id);
        }
        self.pending
            .retain(|(_, list)| list.first().is_none_or(|c| c.src != src));
        if !ids.is_empty() {
            self.out.push_back(Output::Close(ids));
        }
        self.emit(RoomEvent::PeerLeave(src.to_owned()));
    }

    fn signal(&mut self, signal: RoomSignal) {
        match signal {
            RoomSignal::Offer(offer) => self.offer(offer),
            RoomSignal::Answer(routed)
                if self.calls.get(&routed.connection_id) == Some(&routed.src) =>
            {
                self.out.push_back(Output::DeliverAnswer {
                    id: routed.connection_id.clone(),
                    signal: routed,
                });
            }
            RoomSignal::Candidate(routed) => self.candidate(routed),
            _ => {}
        }
    }

    fn offer(&mut self, offer: Offer) {
        if offer.connection_type != "media" || !self.is_member(&offer.src) {
            tracing::debug!(room = %self.room, src = %offer.src, kind = %offer.connection_type, "room offer dropped");
            return;
        }
        match self.calls.get(&offer.connection_id) {
            Some(peer) if *peer == offer.src => {
                self.out.push_back(Output::Renegotiate {
                    id: offer.connection_id,
                    sdp: offer.sdp,
                });
                return;
            }
            Some(_) => return,
            None => {}
        }
        let existing = self.calls_with(&offer.src);
        // The SDK's glare rule: with a call to the offerer already, the side with the greater
        // id ignores the offer (ids compared as byte strings).
        if existing > 0 && self.local_id.as_bytes() > offer.src.as_bytes() {
            return;
        }
        if existing >= MAX_CALLS_PER_MEMBER
            || (existing == 0 && self.called_members() >= self.max_members)
        {
            tracing::debug!(room = %self.room, src = %offer.src, "room offer past the limits dropped");
            return;
        }
        let id = offer.connection_id.clone();
        self.calls.insert(id.clone(), offer.src.clone());
        let waiting = self
            .pending
            .iter()
            .position(|(pid, list)| *pid == id && list.first().is_some_and(|c| c.src == offer.src))
            .and_then(|i| self.pending.remove(i))
            .map(|(_, list)| list)
            .unwrap_or_default();
        self.out.push_back(Output::Answer(offer));
        for signal in waiting {
            self.out.push_back(Output::DeliverCandidate {
                id: id.clone(),
                signal,
            });
        }
    }

    fn candidate(&mut self, routed: Routed) {
        if let Some(peer) = self.calls.get(&routed.connection_id) {
            if *peer == routed.src {
                self.out.push_back(Output::DeliverCandidate {
                    id: routed.connection_id.clone(),
                    signal: routed,
                });
            }
            return;
        }
        if !self.is_member(&routed.src) {
            return;
        }
        let id = routed.connection_id.clone();
        if let Some((_, list)) = self.pending.iter_mut().find(|(pid, _)| *pid == id) {
            if list.len() < MAX_PENDING_CANDIDATES
                && list.first().is_some_and(|c| c.src == routed.src)
            {
                list.push(routed);
            }
            return;
        }
        if self.pending.len() >= MAX_PENDING_CALLS {
            self.pending.pop_front();
        }
        self.pending.push_back((id, vec![routed]));
    }
}

#[cfg(test)]
mod tests;
