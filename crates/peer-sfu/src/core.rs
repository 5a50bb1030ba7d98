//! [`SfuCore`]: the SFU's decisions with no I/O. [`Input`]s in (from the hub and from the shell
//! that owns the peer connections), [`Output`]s out, time passed in.
//!
//! - **Who receives what**: every member receives every track the other members of its room
//!   publish, one sendonly section per track, all tracks of a member under the member's stream
//!   id (fresh for each join, so the SDK never mistakes a rejoin for the old stream).
//! - **One offer at a time**: a member gets its first offer when it asks (`SFU_GET_OFFER`); later
//!   offers follow changes (a track arrives, a member leaves). While an offer waits for its
//!   answer, changes accumulate; after the answer, one offer carries them all. An offer whose
//!   plan equals the last answered one is not sent. An offer unanswered for [`ANSWER_TIMEOUT`]
//!   ends the member's media session.
//! - **Keyframes**: a new subscriber of a video track, and a subscriber's PLI or FIR, make a
//!   keyframe request to the publisher, at most one per track per [`KEYFRAME_INTERVAL`]; a
//!   request inside the interval is kept and sent when it ends, so a late joiner always gets one.
//! - **Limits** ([`SfuLimits`]): members per room (past it: [`Output::Refuse`], the member gets no
//!   media until it asks again with room to spare), tracks per member, and forwarded tracks (subscriber × track) per server (past it:
//!   the tracks that do not fit are left out of the offer, and the subscriber is told once).

use crate::plan::{DownTrack, Kind, OfferPlan, TrackId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an offer may wait for its answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two keyframe requests for one track.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// A room of one app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey {
    /// The app's API key.
    pub app: Arc<str>,
    /// The room name.
    pub room: String,
}

impl RoomKey {
    /// The room `room` of app `app`.
    pub fn new(app: impl Into<Arc<str>>, room: impl Into<String>) -> RoomKey {
        RoomKey {
            app: app.into(),
            room: room.into(),
        }
    }
}

/// A member of a room: the unit the shell keeps one peer connection for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberKey {
    /// The room.
    pub room: RoomKey,
    /// The member's peer id.
    pub peer: String,
}

/// Limits on what clients can make the SFU hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SfuLimits {
    /// Members with media per SFU room.
    pub max_members_per_room: usize,
    /// Forwarded tracks (one per subscriber and track) in the whole server.
    pub max_forwarded_tracks: usize,
    /// Tracks one member may publish (the SDK sends at most one audio and one video).
    pub max_tracks_per_member: usize,
    /// Downstream sections one member's connection may have had: webrtc 0.17.2 never reuses
    /// a section, so each track that came and went stays in every later offer as an inactive
    /// one. Past it the member's media session ends (`ERROR sfu-limited`); it starts afresh
    /// when the member asks again (a rejoin).
    pub max_sections_per_member: usize,
    /// Packets a subscriber's NACKs may have resent per downstream track and second (a token
    /// bucket holding one second's worth; see [`crate::nack_budget`]). The shell applies it.
    pub max_retransmits_per_track_per_second: u32,
}

impl Default for SfuLimits {
    fn default() -> SfuLimits {
        SfuLimits {
            max_members_per_room: 32,
            max_forwarded_tracks: 10_000,
            max_tracks_per_member: 2,
            max_sections_per_member: 256,
            max_retransmits_per_track_per_second: 200,
        }
    }
}

/// What happened, for the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The peer joined an SFU room (hub).
    Joined(MemberKey),
    /// The peer left the room or went away (hub).
    Left(MemberKey),
    /// `SFU_GET_OFFER` (hub).
    OfferWanted(MemberKey),
    /// `SFU_ANSWER` with its SDP (hub).
    Answer(MemberKey, String),
    /// `SFU_CANDIDATE`, passed through as the client sent it (hub).
    Candidate(MemberKey, String),
    /// The shell applied the answer of the offer in flight.
    AnswerApplied(MemberKey),
    /// The member's connection is up (ICE and DTLS): what is forwarded to it now arrives.
    Connected(MemberKey),
    /// The member's peer connection failed (ICE, DTLS, a refused answer) or closed (shell).
    SessionFailed(MemberKey, String),
    /// A track of the member arrived (shell).
    TrackArrived(MemberKey, TrackId, Kind),
    /// A published track ended (shell).
    TrackEnded(MemberKey, TrackId),
    /// A subscriber asked for a keyframe of `track` (PLI or FIR; shell).
    KeyframeWanted(TrackId),
}

/// What the shell does.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Create the member's peer connection: upstream audio and video sections (recvonly), the
    /// member's tracks published under `stream_id`.
    CreateSession(MemberKey, String),
    /// Bring the member's downstream sections to `plan` (new sendonly sections for new tracks,
    /// removed tracks' sections made inactive), create an offer with its candidates and send it
    /// with `plan.msids()` as `SFU_OFFER`. Then apply the answer when told.
    Offer(MemberKey, OfferPlan),
    /// Apply this answer to the offer in flight; then report [`Input::AnswerApplied`] or
    /// [`Input::SessionFailed`].
    ApplyAnswer(MemberKey, String),
    /// Add a remote candidate (as the client sent it).
    AddCandidate(MemberKey, String),
    /// Ask the publisher of `track` for a keyframe (RTCP PLI).
    RequestKeyframe(TrackId),
    /// Close the member's peer connection and free what it holds.
    CloseSession(MemberKey),
    /// Tell the member (`ERROR sfu-limited`): a limit, a failure.
    Refuse(MemberKey, String),
}

/// One member's state.
#[derive(Debug)]
struct Member {
    stream_id: String,
    /// Its tracks, in arrival order.
    published: Vec<(TrackId, Kind)>,
    /// It sent `SFU_GET_OFFER`, so it takes offers.
    wanted: bool,
    /// A session exists in the shell.
    session: bool,
    /// The offer waiting for its answer, and since when.
    in_flight: Option<(OfferPlan, Instant)>,
    /// The answer arrived and the shell applies it.
    applying: bool,
    /// The last plan the member answered.
    last: Option<OfferPlan>,
    /// Tracks left out of its offers by the server's forwarded-track limit (it was told).
    capped: bool,
    /// Downstream sections its connection has had (each offered track adds one, for good).
    sections: usize,
    /// Its connection is up: keyframes requested now reach it.
    connected: bool,
}

/// Per-track keyframe request state.
#[derive(Debug, Default)]
struct KeyframeState {
    last: Option<Instant>,
    /// A request waits for the interval to end.
    pending: bool,
}

/// The SFU's decisions. See the [module documentation](self).
#[derive(Debug)]
pub struct SfuCore {
    limits: SfuLimits,
    rooms: BTreeMap<RoomKey, BTreeMap<String, Member>>,
    /// Who publishes each track.
    owners: HashMap<TrackId, MemberKey>,
    keyframes: HashMap<TrackId, KeyframeState>,
    /// Forwarded tracks counted against the limit: the downstream tracks of every plan in
    /// flight or answered (the larger of the two per member).
    forwarded: usize,
    next_stream: u64,
    out: Vec<Output>,
}

impl SfuCore {
    /// A core with `limits` and no rooms.
    pub fn new(limits: SfuLimits) -> SfuCore {
        SfuCore {
            limits,
            rooms: BTreeMap::new(),
            owners: HashMap::new(),
            keyframes: HashMap::new(),
            forwarded: 0,
            next_stream: 1,
            out: Vec::new(),
        }
    }

    /// Handles one input at `now`; returns what to do, in order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        match input {
            Input::Joined(m) => self.joined(m),
            Input::Left(m) => self.remove(&m, now),
            Input::OfferWanted(m) => self.offer_wanted(m, now),
            Input::Answer(m, sdp) => {
                if let Some(member) = self.member_mut(&m) {
                    if member.in_flight.is_some() && !member.applying {
                        member.applying = true;
                        self.out.push(Output::ApplyAnswer(m, sdp));
                    } else {
                        tracing::debug!(peer = %m.peer, "SFU answer without an offer in flight dropped");
                    }
                }
            }
            Input::Candidate(m, c) => {
                if self.member(&m).is_some_and(|x| x.session) {
                    self.out.push(Output::AddCandidate(m, c));
                }
            }
            Input::AnswerApplied(m) => self.answer_applied(m, now),
            Input::Connected(m) => {
                // Keyframes asked for before the connection was up were sent into the void
                // (writes before DTLS are dropped): ask again for everything it receives.
                let video: Vec<TrackId> = match self.member_mut(&m) {
                    Some(member) if !member.connected => {
                        member.connected = true;
                        member
                            .last
                            .iter()
                            .chain(member.in_flight.iter().map(|(p, _)| p))
                            .flat_map(|p| p.downstream.iter())
                            .filter(|d| d.kind == Kind::Video)
                            .map(|d| d.track)
                            .collect()
                    }
                    _ => Vec::new(),
                };
                for t in video {
                    self.request_keyframe(t, now, KEYFRAME_INTERVAL / 5);
                }
            }
            Input::SessionFailed(m, why) => self.session_failed(m, why, now),
            Input::TrackArrived(m, track, kind) => self.track_arrived(m, track, kind, now),
            Input::TrackEnded(m, track) => {
                let found = self.member_mut(&m).is_some_and(|x| {
                    let before = x.published.len();
                    x.published.retain(|(t, _)| *t != track);
                    x.published.len() != before
                });
                if found {
                    self.owners.remove(&track);
                    self.keyframes.remove(&track);
                    self.renegotiate_room(&m.room, now);
                }
            }
            Input::KeyframeWanted(track) => self.request_keyframe(track, now, KEYFRAME_INTERVAL),
        }
        self.take()
    }

    /// The earliest time [`SfuCore::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let answers = self
            .rooms
            .values()
            .flat_map(|r| r.values())
            .filter_map(|m| m.in_flight.as_ref().map(|(_, at)| *at + ANSWER_TIMEOUT));
        let keyframes = self
            .keyframes
            .values()
            .filter(|k| k.pending)
            .filter_map(|k| k.last.map(|l| l + KEYFRAME_INTERVAL));
        answers.chain(keyframes).min()
    }

    /// Does what is due at `now`: unanswered offers end their sessions, waiting keyframe
    /// requests go out.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        let late: Vec<MemberKey> = self
            .rooms
            .iter()
            .flat_map(|(room, members)| {
                members.iter().filter_map(move |(peer, m)| {
                    let (_, at) = m.in_flight.as_ref()?;
                    (now >= *at + ANSWER_TIMEOUT).then(|| MemberKey {
                        room: room.clone(),
                        peer: peer.clone(),
                    })
                })
            })
            .collect();
        for m in late {
            self.session_failed(m, "no answer to the SFU offer in time".into(), now);
        }
        let mut due: Vec<TrackId> = self
            .keyframes
            .iter()
            .filter(|(_, k)| k.pending && k.last.is_some_and(|l| now >= l + KEYFRAME_INTERVAL))
            .map(|(t, _)| *t)
            .collect();
        due.sort();
        for t in due {
            if let Some(k) = self.keyframes.get_mut(&t) {
                k.pending = false;
                k.last = Some(now);
                self.out.push(Output::RequestKeyframe(t));
            }
        }
        self.take()
    }

    /// Forwarded tracks counted against the server's limit.
    pub fn forwarded_tracks(&self) -> usize {
        self.forwarded
    }

    /// Members with media state, over all rooms.
    pub fn members(&self) -> usize {
        self.rooms.values().map(BTreeMap::len).sum()
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn member(&self, m: &MemberKey) -> Option<&Member> {
        self.rooms.get(&m.room)?.get(&m.peer)
    }

    fn member_mut(&mut self, m: &MemberKey) -> Option<&mut Member> {
        self.rooms.get_mut(&m.room)?.get_mut(&m.peer)
    }

    fn joined(&mut self, m: MemberKey) {
        if self.member(&m).is_some() {
            return;
        }
        let room = self.rooms.entry(m.room.clone()).or_default();
        if room.len() >= self.limits.max_members_per_room {
            if room.is_empty() {
                self.rooms.remove(&m.room);
            }
            self.out.push(Output::Refuse(
                m,
                format!(
                    "the SFU room is full ({} members with media)",
                    self.limits.max_members_per_room
                ),
            ));
            return;
        }
        let stream_id = format!("sfu-{:x}-{}", self.next_stream, sanitize(&m.peer));
        self.next_stream += 1;
        room.insert(
            m.peer.clone(),
            Member {
                stream_id,
                published: Vec::new(),
                wanted: false,
                session: false,
                in_flight: None,
                applying: false,
                last: None,
                capped: false,
                sections: 0,
                connected: false,
            },
        );
    }

    fn offer_wanted(&mut self, m: MemberKey, now: Instant) {
        // The hub passes this only for members of the room: one without media state (refused
        // while the room was full, or after its session failed) is admitted again if it can be.
        self.joined(m.clone());
        let Some(member) = self.member_mut(&m) else {
            return;
        };
        member.wanted = true;
        if !member.session {
            member.session = true;
            let stream_id = member.stream_id.clone();
            self.out.push(Output::CreateSession(m.clone(), stream_id));
        }
        self.renegotiate(&m, now);
    }

    fn answer_applied(&mut self, m: MemberKey, now: Instant) {
        let Some(member) = self.member_mut(&m) else {
            return;
        };
        let Some((plan, _)) = member.in_flight.take() else {
            return;
        };
        member.applying = false;
        let connected = member.connected;
        let before = member.last.replace(plan.clone()).unwrap_or_default();
        // The forwarded count: the answered plan replaces both.
        let held = before.downstream.len().max(plan.downstream.len());
        self.forwarded = self.forwarded.saturating_sub(held) + plan.downstream.len();
        // A new subscriber of a video track needs a keyframe; before its connection is up the
        // request waits for `Connected`.
        let fresh: Vec<TrackId> = plan
            .added_since(&before)
            .filter(|d| d.kind == Kind::Video && connected)
            .map(|d| d.track)
            .collect();
        for t in fresh {
            self.request_keyframe(t, now, KEYFRAME_INTERVAL);
        }
        self.renegotiate(&m, now);
    }

    fn session_failed(&mut self, m: MemberKey, why: String, now: Instant) {
        if self.member(&m).is_none() {
            return;
        }
        tracing::debug!(peer = %m.peer, room = %m.room.room, %why, "SFU session ended");
        self.out.push(Output::Refuse(m.clone(), why));
        self.remove(&m, now);
    }

    /// Removes the member and its tracks; the others get offers without them.
    fn remove(&mut self, m: &MemberKey, now: Instant) {
        let Some(room) = self.rooms.get_mut(&m.room) else {
            return;
        };
        let Some(member) = room.remove(&m.peer) else {
            return;
        };
        if room.is_empty() {
            self.rooms.remove(&m.room);
        }
        let held =
            plan_len(member.last.as_ref()).max(plan_len(member.in_flight.as_ref().map(|p| &p.0)));
        self.forwarded = self.forwarded.saturating_sub(held);
        for (t, _) in &member.published {
            self.owners.remove(t);
            self.keyframes.remove(t);
        }
        if member.session {
            self.out.push(Output::CloseSession(m.clone()));
        }
        self.renegotiate_room(&m.room, now);
    }

    fn track_arrived(&mut self, m: MemberKey, track: TrackId, kind: Kind, now: Instant) {
        let limit = self.limits.max_tracks_per_member;
        let Some(member) = self.member_mut(&m) else {
            return;
        };
        if member.published.iter().any(|(t, _)| *t == track) {
            return;
        }
        if member.published.len() >= limit {
            tracing::debug!(peer = %m.peer, "a track past the member's limit is not forwarded");
            return;
        }
        member.published.push((track, kind));
        self.owners.insert(track, m.clone());
        self.keyframes.insert(track, KeyframeState::default());
        self.renegotiate_room(&m.room, now);
    }

    /// Asks for a keyframe of `track` at once, unless one was asked for less than `gap` ago:
    /// then the request is held until [`KEYFRAME_INTERVAL`] after the last one
    /// ([`SfuCore::handle_timeout`]). Subscribers' PLIs use the whole interval; a subscriber
    /// whose connection just came up uses a fifth of it (a keyframe asked for earlier than
    /// that is still on its way).
    fn request_keyframe(&mut self, track: TrackId, now: Instant, gap: Duration) {
        let Some(k) = self.keyframes.get_mut(&track) else {
            return;
        };
        if k.last.is_some_and(|l| now < l + gap) {
            k.pending = true;
            return;
        }
        k.last = Some(now);
        k.pending = false;
        self.out.push(Output::RequestKeyframe(track));
    }

    fn renegotiate_room(&mut self, room: &RoomKey, now: Instant) {
        let peers: Vec<String> = self
            .rooms
            .get(room)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        for peer in peers {
            let m = MemberKey {
                room: room.clone(),
                peer,
            };
            self.renegotiate(&m, now);
        }
    }

    /// Sends the member its next offer if it takes offers, none is in flight, and the plan
    /// changed.
    fn renegotiate(&mut self, m: &MemberKey, now: Instant) {
        let Some(member) = self.member(m) else {
            return;
        };
        if !member.wanted || member.in_flight.is_some() {
            return;
        }
        let last = member.last.clone();
        let sections = member.sections;
        let (plan, capped) = self.plan_for(m, last.as_ref());
        let added = plan.added_since(&last.clone().unwrap_or_default()).count();
        if sections + added > self.limits.max_sections_per_member {
            let why = format!(
                "this member's SFU connection reached {} forwarded sections (members came and went); join the room again to start afresh",
                self.limits.max_sections_per_member
            );
            self.session_failed(m.clone(), why, now);
            return;
        }
        let grow = plan
            .downstream
            .len()
            .saturating_sub(plan_len(last.as_ref()));
        let Some(member) = self.member_mut(m) else {
            return;
        };
        let tell = capped && !member.capped;
        member.capped = capped;
        if last.as_ref() != Some(&plan) {
            member.sections += added;
            member.in_flight = Some((plan.clone(), now));
            self.forwarded += grow;
            self.out.push(Output::Offer(m.clone(), plan));
        }
        if tell {
            self.out.push(Output::Refuse(
                m.clone(),
                "the SFU forwards no more tracks (server limit); some members are not received"
                    .into(),
            ));
        }
    }

    /// The plan for `m`: the tracks it had, in their order, that still exist; then the new
    /// tracks of the others in arrival order, as far as the forwarded-track limit allows.
    /// Returns whether tracks were left out for the limit.
    fn plan_for(&self, m: &MemberKey, last: Option<&OfferPlan>) -> (OfferPlan, bool) {
        let Some(room) = self.rooms.get(&m.room) else {
            return (OfferPlan::default(), false);
        };
        let mut available: BTreeMap<TrackId, DownTrack> = BTreeMap::new();
        for (peer, other) in room {
            if *peer == m.peer {
                continue;
            }
            for (t, kind) in &other.published {
                available.insert(
                    *t,
                    DownTrack {
                        track: *t,
                        publisher: peer.clone(),
                        stream_id: other.stream_id.clone(),
                        kind: *kind,
                    },
                );
            }
        }
        let mut plan = OfferPlan::default();
        let mut kept: BTreeSet<TrackId> = BTreeSet::new();
        for d in last.map(|l| l.downstream.as_slice()).unwrap_or_default() {
            if let Some(now) = available.get(&d.track) {
                plan.downstream.push(now.clone());
                kept.insert(d.track);
            }
        }
        let had = plan_len(last);
        let mut room_left = self
            .limits
            .max_forwarded_tracks
            .saturating_sub(self.forwarded)
            .saturating_add(had.saturating_sub(plan.downstream.len()));
        let mut capped = false;
        for (t, d) in available {
            if kept.contains(&t) {
                continue;
            }
            if room_left == 0 {
                capped = true;
                continue;
            }
            room_left -= 1;
            plan.downstream.push(d);
        }
        (plan, capped)
    }
}

fn plan_len(p: Option<&OfferPlan>) -> usize {
    p.map_or(0, |p| p.downstream.len())
}

/// The peer id's characters that may stand in an SDP `msid` token (SDK ids are
/// `[A-Za-z0-9_ -]`); others become `_`.
fn sanitize(peer: &str) -> String {
    peer.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
