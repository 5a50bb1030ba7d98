//! The signaling state machine: apps, peers, sessions, rooms, credentials.
//!
//! `Hub` does no I/O and reads no clock, in the manner of `quinn-proto`. The transport shell
//! feeds it inputs (`connect`, `handle`, `disconnect`, `handle_timeout`, with the current time)
//! and dispatches the [`Output`]s it returns: encoded frames for a session, session closes, and
//! requests for the SFU media backend. [`Hub::poll_timeout`] says when the next deadline falls
//! (a reconnect grace that ends, a credential that expires), so the shell sleeps until then and
//! time passing touches only what is due. Because every input of one socket is fed in order and
//! outputs are dispatched in order, per-socket and per-recipient message order is kept.
//!
//! The inputs are split by concern: [`Hub::connect`], [`Hub::disconnect`] and
//! [`Hub::handle_timeout`] live in `lifecycle.rs`, relays in `relay.rs`, room operations in
//! `membership.rs`, the SFU exchange in `sfu.rs`; `room.rs` holds a room's state, `rate.rs` the
//! per-socket token buckets and `timers.rs` the deadlines.

mod counters;
mod home;
mod lifecycle;
mod membership;
mod rate;
mod relay;
mod room;
mod sfu;
mod timers;

pub use home::{room_op_from_wire, room_op_to_wire, RemoteFrames, RoomNote, RoomRoute};
pub use sfu::{SfuRequest, SfuRequestKind};

use crate::config::{AppConfig, Limits, Timeouts};
pub use counters::Counters;
use peer_auth::Credential;
use peer_protocol::client::{
    ClientMessage, ForceCloseRequest, Relay, RoomGetUsers, RoomJoin, RoomRef, RoomSendData,
    RoomType,
};
use peer_protocol::engineio::Frame;
use peer_protocol::server::{
    self, ForceClose, Open, RawJson, RoomData, RoomUserJoin, RoomUserLeave, RoomUsers,
};
use peer_protocol::{ids, ErrorType, ServerMessage};
use rate::TokenBucket;
use room::{loggable_data, Room};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use timers::{TimerHandle, TimerKey, TimerKind, Timers};

/// Identifies one Engine.IO session (one socket of one peer).
pub type SessionId = u64;

/// What the shell must do after an input.
#[derive(Debug, Clone)]
pub enum Output {
    /// Queue these engine frames on the session.
    Send {
        /// The receiving session.
        to: SessionId,
        /// The event name, for logging and metrics.
        event: &'static str,
        /// The encoded frames, shared between receivers of the same message.
        frames: Arc<[Frame]>,
    },
    /// End the session: flush what is queued, send a Socket.IO disconnect, close the transport.
    Close {
        /// The session to close.
        session: SessionId,
    },
    /// A request for the SFU media backend (only when one is attached, see
    /// [`Hub::attach_sfu`]).
    Sfu(SfuRequest),
    /// Cluster mode ([`Hub::attach_cluster`]): a message for a peer that is not on this node;
    /// the shell finds its node and sends it there, or tells `from` the peer is unavailable
    /// ([`Hub::remote_unavailable`]).
    Remote(RemoteMessage),
    /// Cluster mode: a room operation of a peer here. The shell finds the room's home node and
    /// gives the operation to that node's hub ([`Hub::room_input`]), in the order they came.
    Room(RoomRoute),
    /// Cluster mode: a message of a room whose home is here, for a member on another node; the
    /// shell sends it to the node holding the member's id ([`Hub::deliver_frames`] there).
    RemoteFrames(RemoteFrames),
    /// Cluster mode: a peer is gone from this node; the shell gives its id up in Redis, so
    /// it may open on another node at once.
    IdFreed {
        /// The app key.
        app: String,
        /// The peer id.
        peer: String,
    },
}

/// Where a room operation came from, and so where its answers and errors go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A session on this node.
    Session(SessionId),
    /// A member on another node (cluster mode); answers go to it by its peer id.
    Remote,
}

/// A relayed message for a peer on another node (cluster mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMessage {
    /// The sending session, told if the peer is nowhere (`None` for `LEAVE`, which the hub
    /// sends for a peer that is gone).
    pub from: Option<SessionId>,
    /// The app key.
    pub app: String,
    /// The receiving peer.
    pub dst: String,
    /// The server event it receives (`OFFER`, `ANSWER`, `CANDIDATE`, `FORCE_CLOSE`, `LEAVE`).
    pub event: &'static str,
    /// The event's JSON payload.
    pub body: String,
}

/// The handshake of a new session.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// The new session.
    pub session: SessionId,
    /// `apiKey` from the query.
    pub api_key: Option<String>,
    /// `token` from the query.
    pub token: Option<String>,
    /// `peerId` from the query.
    pub peer_id: Option<String>,
    /// `credential` from the query, decoded to JSON text.
    pub credential: Option<String>,
    /// Random bytes for a server-assigned id.
    pub random_id: [u8; 16],
    /// `turn=1` in the query: the peer asks for a TURN credential.
    pub wants_turn: bool,
    /// Cluster mode: another node holds the requested id (refused as `unavailable-id`).
    pub held_elsewhere: bool,
    /// Cluster mode: the peer was handed over by the node that held it (the client presented
    /// its token here): it opens with what that node knew of it, as a reconnect.
    pub imported: Option<Imported>,
}

/// What a node hands over of a peer that reconnects through another node (cluster mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Its contacts (they hear `LEAVE` when it goes).
    pub contacts: Vec<String>,
    /// The rooms it is in (it leaves them when it goes).
    pub rooms: Vec<String>,
}

/// How the hub issues TURN credentials in `OPEN` (see [`Hub::attach_turn`]).
#[derive(Debug, Clone)]
pub struct TurnIssuer {
    /// The TURN server's shared secret.
    pub secret: Vec<u8>,
    /// Lifetime of a credential, seconds.
    pub ttl_secs: u64,
    /// The server's TURN URLs, sent along (`turnUrls`).
    pub urls: Vec<String>,
    /// Issue to every peer, not only those that ask.
    pub to_every_peer: bool,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client said goodbye (`41` or engine close): the peer is gone at once.
    Clean,
    /// The transport dropped: the peer id is kept for the reconnect grace period.
    Dropped,
    /// The server cut the session off (it did not read what was sent to it in time, or its
    /// outbox overflowed): what was queued for it is lost, so the peer is gone at once and its
    /// rooms and contacts hear so now.
    Evicted,
}

/// Sizes of the hub's state, for monitoring and for tests that check nothing is left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubCounts {
    /// Peers known (open or in their reconnect grace).
    pub peers: usize,
    /// Sessions with an open peer.
    pub sessions: usize,
    /// Rooms with at least one member.
    pub rooms: usize,
    /// Mesh rooms.
    pub mesh_rooms: usize,
    /// SFU rooms.
    pub sfu_rooms: usize,
    /// Members of mesh rooms (a peer in two rooms counts twice).
    pub mesh_members: usize,
    /// Members of SFU rooms.
    pub sfu_members: usize,
    /// Scheduled deadlines.
    pub timers: usize,
}

/// Why a REST request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestError {
    /// No app has this key.
    UnknownKey,
    /// The app's REST API is disabled.
    Disabled,
}

struct Peer {
    token: String,
    session: Option<SessionId>,
    contacts: BTreeSet<String>,
    rooms: BTreeSet<String>,
    expires_at: Option<u64>,
    warned: bool,
    grace_until_ms: Option<u64>,
    /// The pending grace-end deadline.
    grace_timer: Option<TimerHandle>,
    /// The pending credential deadline (warning or expiry).
    credential_timer: Option<TimerHandle>,
}

struct SessionState {
    app: Arc<str>,
    peer: String,
    bucket: TokenBucket,
    /// `ROOM_GET_LOGS` has its own, slower bucket: a log answer can be large.
    log_bucket: TokenBucket,
    last_limited_ms: Option<u64>,
}

struct App {
    key: Arc<str>,
    config: AppConfig,
    peers: HashMap<String, Peer>,
    rooms: HashMap<String, Room>,
    /// Cluster mode: rooms whose home is another node and that peers here are in.
    mirrors: HashMap<String, home::Mirror>,
}

/// The signaling state of every app.
pub struct Hub {
    apps: HashMap<String, App>,
    sessions: HashMap<SessionId, SessionState>,
    limits: Limits,
    timeouts: Timeouts,
    timers: Timers,
    /// Whether an SFU media backend takes [`Output::Sfu`] requests.
    sfu_attached: bool,
    /// How TURN credentials are issued, when a TURN server runs.
    turn: Option<TurnIssuer>,
    /// Cluster mode: peers not found here may be on another node.
    cluster: bool,
    counters: Counters,
    out: Vec<Output>,
}

fn unix_secs(now_ms: u64) -> u64 {
    now_ms / 1000
}

impl Hub {
    /// A hub serving `apps`.
    pub fn new(apps: &[AppConfig], limits: Limits, timeouts: Timeouts) -> Hub {
        let apps = apps
            .iter()
            .map(|a| {
                (
                    a.key.clone(),
                    App {
                        key: Arc::from(a.key.as_str()),
                        config: a.clone(),
                        peers: HashMap::new(),
                        rooms: HashMap::new(),
                        mirrors: HashMap::new(),
                    },
                )
            })
            .collect();
        Hub {
            apps,
            sessions: HashMap::new(),
            limits,
            timeouts,
            timers: Timers::default(),
            sfu_attached: false,
            turn: None,
            cluster: false,
            counters: Counters::default(),
            out: Vec::new(),
        }
    }

    /// When the next deadline falls (Unix milliseconds), if any: call
    /// [`Hub::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Cluster mode: relayed messages for peers that are not here become
    /// [`Output::Remote`] instead of `peer-unavailable`.
    pub fn attach_cluster(&mut self) {
        self.cluster = true;
    }

    /// Cluster mode: a message from another node for `dst` of `app` (dropped if `dst` is not
    /// here, or the event is not one peers relay).
    pub fn deliver_remote(&mut self, app: &str, dst: &str, event: &str, body: &str) -> Vec<Output> {
        let Some(to) = self.session_of(app, dst) else {
            return self.take();
        };
        if event == server::event::LEAVE {
            // The gone peer's id, a JSON string.
            let Ok(gone) = serde_json::from_str::<String>(body) else {
                return self.take();
            };
            if let Some(p) = self.apps.get_mut(app).and_then(|a| a.peers.get_mut(dst)) {
                p.contacts.remove(&gone);
            }
            self.counters.relayed(server::event::LEAVE);
            self.send(to, &ServerMessage::Leave(gone));
            return self.take();
        }
        let Ok(raw) = RawJson::from_text(body.to_owned()) else {
            return self.take();
        };
        // Remember the remote sender as a contact, for the LEAVE it gets when `dst` goes.
        let src = serde_json::from_str::<Value>(raw.get())
            .ok()
            .and_then(|v| v.get("src").and_then(Value::as_str).map(str::to_owned));
        if let (Some(src), Some(p)) = (
            src,
            self.apps.get_mut(app).and_then(|a| a.peers.get_mut(dst)),
        ) {
            if !p.contacts.contains(&src) {
                p.contacts.insert(src);
            }
        }
        let msg = match event {
            server::event::OFFER => ServerMessage::Offer(raw),
            server::event::ANSWER => ServerMessage::Answer(raw),
            server::event::CANDIDATE => ServerMessage::Candidate(raw),
            server::event::FORCE_CLOSE => match serde_json::from_str(raw.get()) {
                Ok(fc) => ServerMessage::ForceClose(fc),
                Err(_) => return self.take(),
            },
            _ => return self.take(),
        };
        self.counters.relayed(msg.event_name());
        self.send(to, &msg);
        self.take()
    }

    /// Cluster mode: no node holds `dst`; `session` is told, as for a peer unknown here.
    pub fn remote_unavailable(&mut self, session: SessionId, dst: &str) -> Vec<Output> {
        self.error(
            session,
            ErrorType::PeerUnavailable,
            format!("peer {dst:?} is not available"),
        );
        self.take()
    }

    /// Every peer here, as `(app, peer, open)`: open, or in its reconnect grace (cluster mode
    /// renews the ids of both and lists the open ones).
    pub fn peer_ids(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for (key, app) in &self.apps {
            for (id, p) in &app.peers {
                out.push((key.clone(), id.clone(), p.session.is_some()));
            }
        }
        out
    }

    /// Contacts of this node's peers that are not on this node, as `(app, peer, contact)`
    /// (cluster mode tells the peers when a contact's node dies).
    pub fn remote_contacts(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (key, app) in &self.apps {
            for (id, p) in &app.peers {
                for c in &p.contacts {
                    if !app.peers.contains_key(c) {
                        out.push((key.clone(), id.clone(), c.clone()));
                    }
                }
            }
        }
        out
    }

    /// Gives back the table room that a spike of peers, rooms or sessions left behind (see
    /// [`crate::capacity`]). The server calls it from its periodic sweep.
    pub fn compact(&mut self) {
        crate::capacity::shrink_sparse(&mut self.sessions);
        for app in self.apps.values_mut() {
            crate::capacity::shrink_sparse(&mut app.peers);
            crate::capacity::shrink_sparse(&mut app.rooms);
        }
    }

    /// What the hub has done since it started (see [`Counters`]).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Numbers for monitoring: apps' open and dropped peers, rooms, sessions and deadlines.
    pub fn counts(&self) -> HubCounts {
        let mut c = HubCounts {
            sessions: self.sessions.len(),
            timers: self.timers.len(),
            ..HubCounts::default()
        };
        for app in self.apps.values() {
            c.peers += app.peers.len();
            c.rooms += app.rooms.len();
            for room in app.rooms.values() {
                let (rooms, members) = match room.kind {
                    RoomType::Mesh => (&mut c.mesh_rooms, &mut c.mesh_members),
                    RoomType::Sfu => (&mut c.sfu_rooms, &mut c.sfu_members),
                };
                *rooms += 1;
                *members += room.members.len();
            }
        }
        c
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: SessionId, msg: &ServerMessage) {
        let frames: Arc<[Frame]> = msg.encode().into();
        self.out.push(Output::Send {
            to,
            event: msg.event_name(),
            frames,
        });
    }

    fn send_all(&mut self, to: impl IntoIterator<Item = SessionId>, msg: &ServerMessage) {
        let frames: Arc<[Frame]> = msg.encode().into();
        for session in to {
            self.out.push(Output::Send {
                to: session,
                event: msg.event_name(),
                frames: frames.clone(),
            });
        }
    }

    /// Sends `msg` to where a room operation came from: its session here, or the member on
    /// its node.
    fn reply(&mut self, origin: Origin, app: &str, peer: &str, msg: &ServerMessage) {
        match origin {
            Origin::Session(s) => self.send(s, msg),
            Origin::Remote => self.send_remote(app, peer, msg, None),
        }
    }

    /// An error to where a room operation came from.
    fn error_at(
        &mut self,
        origin: Origin,
        app: &str,
        peer: &str,
        kind: ErrorType,
        message: impl Into<String>,
    ) {
        self.counters.error_sent(kind.as_str());
        self.reply(origin, app, peer, &ServerMessage::error(kind, message));
    }

    fn error(&mut self, to: SessionId, kind: ErrorType, message: impl Into<String>) {
        self.counters.error_sent(kind.as_str());
        self.send(to, &ServerMessage::error(kind, message));
    }

    fn reject(
        &mut self,
        to: SessionId,
        kind: ErrorType,
        message: impl Into<String>,
    ) -> Vec<Output> {
        let message = message.into();
        tracing::debug!(session = to, %kind, %message, "handshake rejected");
        self.error(to, kind, message);
        self.out.push(Output::Close { session: to });
        self.take()
    }

    /// A message arrived on a session.
    pub fn handle(&mut self, session: SessionId, msg: ClientMessage, now_ms: u64) -> Vec<Output> {
        if !self.admit(session, now_ms) {
            return self.take();
        }
        let Some(state) = self.sessions.get(&session) else {
            return self.take();
        };
        let (app, peer) = (state.app.clone(), state.peer.clone());
        match msg {
            ClientMessage::SendOffer(r) => {
                self.relay(session, &app, &peer, r, server::event::OFFER)
            }
            ClientMessage::SendAnswer(r) => {
                self.relay(session, &app, &peer, r, server::event::ANSWER)
            }
            ClientMessage::SendCandidate(r) => {
                self.relay(session, &app, &peer, r, server::event::CANDIDATE)
            }
            ClientMessage::SendForceClose(r) => self.force_close(session, &app, &peer, r),
            ClientMessage::SendLeave | ClientMessage::Ping => {}
            ClientMessage::UpdateCredential(v) => {
                self.update_credential(session, &app, &peer, v, now_ms)
            }
            room_op => {
                if matches!(room_op, ClientMessage::RoomGetLogs(_))
                    && !self.admit_log_request(session, now_ms)
                {
                    return self.take();
                }
                if self.cluster {
                    self.route_room(session, &app, &peer, room_op);
                } else {
                    self.room_op(Origin::Session(session), &app, &peer, room_op, now_ms);
                }
            }
        }
        self.take()
    }

    /// A room operation (`ROOM_*`, `SFU_*`) on a room whose home is this node.
    fn room_op(&mut self, origin: Origin, app: &str, peer: &str, msg: ClientMessage, now_ms: u64) {
        match msg {
            ClientMessage::RoomJoin(j) => self.room_join(origin, app, peer, j, now_ms),
            ClientMessage::RoomLeave(r) => self.room_leave(app, peer, &r.room_name, now_ms),
            ClientMessage::RoomGetUsers(g) => self.room_get_users(origin, app, peer, g),
            ClientMessage::RoomGetLogs(r) => self.room_get_logs(origin, app, peer, r),
            ClientMessage::RoomSendData(d) => self.room_send_data(origin, app, peer, d, now_ms),
            ClientMessage::SfuGetOffer(r) => {
                self.sfu_request(origin, app, peer, r.room_name, SfuRequestKind::OfferWanted)
            }
            ClientMessage::SfuAnswer(a) => self.sfu_request(
                origin,
                app,
                peer,
                a.room_name,
                SfuRequestKind::Answer(a.answer),
            ),
            ClientMessage::SfuCandidate(c) => self.sfu_request(
                origin,
                app,
                peer,
                c.room_name,
                SfuRequestKind::Candidate(c.candidate),
            ),
            _ => {}
        }
    }
    /// A message on a session could not be parsed.
    pub fn invalid_message(
        &mut self,
        session: SessionId,
        reason: &str,
        now_ms: u64,
    ) -> Vec<Output> {
        if self.admit(session, now_ms) && self.sessions.contains_key(&session) {
            self.error(session, ErrorType::InvalidMessage, reason.to_owned());
        }
        self.take()
    }

    /// Sends an error to a session directly (used by the shell for transport-level problems).
    pub fn error_to(&mut self, session: SessionId, kind: ErrorType, message: &str) -> Vec<Output> {
        self.error(session, kind, message.to_owned());
        self.take()
    }

    /// Rate limiting: false when the message must be dropped.
    fn admit(&mut self, session: SessionId, now_ms: u64) -> bool {
        let Some(state) = self.sessions.get_mut(&session) else {
            return false;
        };
        if state.bucket.take(now_ms) {
            return true;
        }
        self.counters.rate_limited += 1;
        let notify = state
            .last_limited_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= 1000);
        if notify {
            state.last_limited_ms = Some(now_ms);
            self.error(
                session,
                ErrorType::SignalingLimited,
                "too many messages: dropped",
            );
        }
        false
    }

    /// The `ROOM_GET_LOGS` bucket: false (with at most one `signaling-limited` a second) when
    /// the request must be dropped.
    fn admit_log_request(&mut self, session: SessionId, now_ms: u64) -> bool {
        let Some(state) = self.sessions.get_mut(&session) else {
            return false;
        };
        if state.log_bucket.take(now_ms) {
            return true;
        }
        self.counters.rate_limited += 1;
        self.error(
            session,
            ErrorType::SignalingLimited,
            "too many ROOM_GET_LOGS: dropped",
        );
        false
    }

    fn session_of(&self, app: &str, peer: &str) -> Option<SessionId> {
        self.apps.get(app)?.peers.get(peer)?.session
    }

    /// Open peers of an app, for `GET /api/apikeys/{key}/clients/`.
    pub fn list_peers(&self, key: &str) -> Result<Vec<String>, RestError> {
        let app = self.apps.get(key).ok_or(RestError::UnknownKey)?;
        if !app.config.rest_api {
            return Err(RestError::Disabled);
        }
        let mut ids: Vec<String> = app
            .peers
            .iter()
            .filter(|(_, p)| p.session.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Whether a peer is open, for `GET /api/apikeys/{key}/peers/{id}/exists`.
    pub fn peer_exists(&self, key: &str, id: &str) -> Result<bool, RestError> {
        let app = self.apps.get(key).ok_or(RestError::UnknownKey)?;
        Ok(app.peers.get(id).is_some_and(|p| p.session.is_some()))
    }
}

#[cfg(test)]
mod tests;
