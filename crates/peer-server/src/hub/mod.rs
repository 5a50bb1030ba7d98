//! The signaling state machine: apps, peers, sessions, rooms, credentials.
//!
//! `Hub` does no I/O and reads no clock. The transport shell feeds it inputs (`connect`, `handle`,
//! `disconnect`, `tick`, with the current time) and dispatches the [`Output`]s it returns: encoded
//! frames for a session, session closes, and events for the SFU media backend. Because every
//! input of one socket is fed in order and outputs are dispatched in order, per-socket and
//! per-recipient message order is kept.

mod rate;
mod room;

use crate::config::{AppConfig, Limits, Timeouts};
use peer_auth::Credential;
use peer_protocol::client::{
    ClientMessage, ForceCloseRequest, Relay, RoomGetUsers, RoomJoin, RoomRef, RoomSendData,
    RoomType,
};
use peer_protocol::engineio::Frame;
use peer_protocol::server::{
    self, ForceClose, Open, RawJson, RoomData, RoomLogs, RoomUserJoin, RoomUserLeave, RoomUsers,
};
use peer_protocol::{ids, ErrorType, ServerMessage};
use rate::TokenBucket;
use room::{loggable_data, Room};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

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
    /// An SFU room event for the media backend.
    Media(MediaEvent),
}

/// An event of an SFU room, for the media backend (the SFU).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaEvent {
    /// The API key of the app.
    pub app: String,
    /// The room name.
    pub room: String,
    /// The peer concerned.
    pub peer: String,
    /// The peer's session, when it has one.
    pub session: Option<SessionId>,
    /// What happened.
    pub kind: MediaEventKind,
}

/// Kinds of SFU room events.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEventKind {
    /// The peer joined the room.
    Joined,
    /// The peer left the room (or went away).
    Left,
    /// `SFU_GET_OFFER`.
    GetOffer,
    /// `SFU_ANSWER` with the answer object.
    Answer(Value),
    /// `SFU_CANDIDATE` with the candidate object.
    Candidate(Value),
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
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client said goodbye (`41` or engine close): the peer is gone at once.
    Clean,
    /// The transport dropped: the peer id is kept for the reconnect grace period.
    Dropped,
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
}

struct SessionState {
    app: Arc<str>,
    peer: String,
    bucket: TokenBucket,
    last_limited_ms: Option<u64>,
}

struct App {
    key: Arc<str>,
    config: AppConfig,
    peers: HashMap<String, Peer>,
    rooms: HashMap<String, Room>,
}

/// The signaling state of every app.
pub struct Hub {
    apps: HashMap<String, App>,
    sessions: HashMap<SessionId, SessionState>,
    limits: Limits,
    timeouts: Timeouts,
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
                    },
                )
            })
            .collect();
        Hub {
            apps,
            sessions: HashMap::new(),
            limits,
            timeouts,
            out: Vec::new(),
        }
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
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

    fn error(&mut self, to: SessionId, kind: ErrorType, message: impl Into<String>) {
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

    /// A new session finished its Engine.IO handshake: authenticate it and open the peer.
    pub fn connect(&mut self, req: ConnectRequest, now_ms: u64) -> Vec<Output> {
        let session = req.session;
        let key = req.api_key.unwrap_or_default();
        let Some(app) = self.apps.get(&key) else {
            return self.reject(
                session,
                ErrorType::InvalidKey,
                format!("API key {key:?} is not registered on this server"),
            );
        };
        let require_credential = app.config.require_credential;
        let peer_id = match req.peer_id {
            Some(id) if id.len() > self.limits.max_peer_id_len => {
                return self.reject(
                    session,
                    ErrorType::InvalidId,
                    format!(
                        "peer id is longer than {} bytes",
                        self.limits.max_peer_id_len
                    ),
                );
            }
            Some(id) if !ids::is_valid_peer_id(&id) => {
                return self.reject(
                    session,
                    ErrorType::InvalidId,
                    format!("peer id {id:?} is not valid"),
                );
            }
            Some(id) => id,
            None if require_credential => {
                return self.reject(
                    session,
                    ErrorType::Authentication,
                    "a credential needs a peer id chosen by the app",
                );
            }
            None => {
                let mut id = ids::assigned_peer_id(req.random_id);
                if app.peers.contains_key(&id) {
                    id.push_str(&format!("{session}"));
                }
                id
            }
        };
        let mut expires_at = None;
        if require_credential {
            let verified = match req.credential.as_deref() {
                None | Some("") => Err(peer_auth::AuthError::Missing),
                Some(text) => Credential::from_json(text).and_then(|c| {
                    c.verify(
                        app.config.secret.as_bytes(),
                        &peer_id,
                        unix_secs(now_ms),
                        self.timeouts.auth_max_skew_secs,
                    )
                }),
            };
            match verified {
                Ok(at) => expires_at = Some(at),
                Err(e) => return self.reject(session, ErrorType::Authentication, e.to_string()),
            }
        }
        let token = req.token.unwrap_or_default();
        let Some(app) = self.apps.get_mut(&key) else {
            return self.take();
        };
        let mut replaced = None;
        match app.peers.get_mut(&peer_id) {
            Some(existing) if existing.token.is_empty() || existing.token != token => {
                return self.reject(
                    session,
                    ErrorType::UnavailableId,
                    format!("peer id {peer_id:?} is already in use"),
                );
            }
            Some(existing) => {
                replaced = existing.session.replace(session);
                existing.grace_until_ms = None;
                if expires_at.is_some() {
                    existing.expires_at = expires_at;
                    existing.warned = false;
                }
            }
            None => {
                app.peers.insert(
                    peer_id.clone(),
                    Peer {
                        token,
                        session: Some(session),
                        contacts: BTreeSet::new(),
                        rooms: BTreeSet::new(),
                        expires_at,
                        warned: false,
                        grace_until_ms: None,
                    },
                );
            }
        }
        if let Some(old) = replaced {
            self.sessions.remove(&old);
            self.out.push(Output::Close { session: old });
        }
        self.sessions.insert(
            session,
            SessionState {
                app: self
                    .apps
                    .get(&key)
                    .map_or_else(|| Arc::from(key.as_str()), |a| a.key.clone()),
                peer: peer_id.clone(),
                bucket: TokenBucket::new(
                    self.limits.messages_per_second,
                    self.limits.message_burst,
                    now_ms,
                ),
                last_limited_ms: None,
            },
        );
        tracing::debug!(session, peer = %peer_id, reconnect = replaced.is_some(), "peer open");
        self.send(
            session,
            &ServerMessage::Open(Open {
                peer_id: peer_id.clone(),
                turn_credential: None,
            }),
        );
        self.check_expiry(&key, &peer_id, now_ms);
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
            ClientMessage::RoomJoin(j) => self.room_join(session, &app, &peer, j, now_ms),
            ClientMessage::RoomLeave(r) => self.room_leave(&app, &peer, &r.room_name, now_ms),
            ClientMessage::RoomGetUsers(g) => self.room_get_users(session, &app, &peer, g),
            ClientMessage::RoomGetLogs(r) => self.room_get_logs(session, &app, &peer, r),
            ClientMessage::RoomSendData(d) => self.room_send_data(session, &app, &peer, d, now_ms),
            ClientMessage::SfuGetOffer(r) => {
                self.media(session, &app, &peer, r.room_name, MediaEventKind::GetOffer)
            }
            ClientMessage::SfuAnswer(a) => self.media(
                session,
                &app,
                &peer,
                a.room_name,
                MediaEventKind::Answer(a.answer),
            ),
            ClientMessage::SfuCandidate(c) => self.media(
                session,
                &app,
                &peer,
                c.room_name,
                MediaEventKind::Candidate(c.candidate),
            ),
            ClientMessage::UpdateCredential(v) => {
                self.update_credential(session, &app, &peer, v, now_ms)
            }
        }
        self.take()
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

    fn session_of(&self, app: &str, peer: &str) -> Option<SessionId> {
        self.apps.get(app)?.peers.get(peer)?.session
    }

    /// The session of `dst`, or `peer-unavailable` to `from` when it has none.
    fn route(&mut self, from: SessionId, app: &str, dst: &str) -> Option<SessionId> {
        let to = self.session_of(app, dst);
        if to.is_none() {
            self.error(
                from,
                ErrorType::PeerUnavailable,
                format!("peer {dst:?} is not available"),
            );
        }
        to
    }

    fn relay(
        &mut self,
        from: SessionId,
        app_key: &str,
        src: &str,
        relay: Relay,
        event: &'static str,
    ) {
        let Some(to) = self.route(from, app_key, &relay.dst) else {
            return;
        };
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if let Some(room_name) = &relay.room_name {
            let inside = app
                .rooms
                .get(room_name)
                .is_some_and(|r| r.has(src) && r.has(&relay.dst));
            if !inside {
                self.error(
                    from,
                    ErrorType::RoomError,
                    format!(
                        "{src:?} and {:?} are not both in room {room_name:?}",
                        relay.dst
                    ),
                );
                return;
            }
        }
        // Remember who talked to whom, for LEAVE (no allocation once known).
        if let Some(p) = app.peers.get_mut(src) {
            if !p.contacts.contains(&relay.dst) {
                p.contacts.insert(relay.dst.clone());
            }
        }
        if let Some(p) = app.peers.get_mut(&relay.dst) {
            if !p.contacts.contains(src) {
                p.contacts.insert(src.to_owned());
            }
        }
        let body = RawJson(relay.with_src(src));
        let msg = match event {
            server::event::OFFER => ServerMessage::Offer(body),
            server::event::ANSWER => ServerMessage::Answer(body),
            _ => ServerMessage::Candidate(body),
        };
        self.send(to, &msg);
    }

    fn force_close(&mut self, from: SessionId, app: &str, src: &str, req: ForceCloseRequest) {
        let Some(to) = self.route(from, app, &req.dst) else {
            return;
        };
        let msg = ServerMessage::ForceClose(ForceClose {
            src: src.to_owned(),
            dst: req.dst,
            connection_id: req.connection_id,
        });
        self.send(to, &msg);
    }

    fn member_sessions(
        &self,
        app: &str,
        members: &[String],
        except: Option<&str>,
    ) -> Vec<SessionId> {
        members
            .iter()
            .filter(|m| Some(m.as_str()) != except)
            .filter_map(|m| self.session_of(app, m))
            .collect()
    }

    fn room_join(
        &mut self,
        session: SessionId,
        app_key: &str,
        peer: &str,
        join: RoomJoin,
        now_ms: u64,
    ) {
        let name = join.room_name;
        if name.is_empty() || name.len() > self.limits.max_room_name_len {
            self.error(
                session,
                ErrorType::RoomError,
                format!(
                    "room name must be 1 to {} bytes",
                    self.limits.max_room_name_len
                ),
            );
            return;
        }
        let (max_members, max_rooms, log_cap) = (
            self.limits.max_room_members,
            self.limits.max_rooms_per_peer,
            self.limits.room_log_entries,
        );
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let peer_rooms = app.peers.get(peer).map_or(0, |p| p.rooms.len());
        let room = app
            .rooms
            .entry(name.clone())
            .or_insert_with(|| Room::new(join.room_type, log_cap));
        let problem = if room.kind != join.room_type {
            Some(format!("room {name:?} is a {} room", room.kind.as_str()))
        } else if room.has(peer) {
            None
        } else if room.members.len() >= max_members {
            Some(format!("room {name:?} is full ({max_members} members)"))
        } else if peer_rooms >= max_rooms {
            Some(format!("a peer may be in at most {max_rooms} rooms"))
        } else {
            None
        };
        if let Some(problem) = problem {
            if room.members.is_empty() {
                app.rooms.remove(&name);
            }
            self.error(session, ErrorType::RoomError, problem);
            return;
        }
        let already = room.has(peer);
        if !already {
            room.members.push(peer.to_owned());
        }
        let msg = RoomUserJoin {
            room_name: name.clone(),
            src: peer.to_owned(),
            room_members: room.members.clone(),
        };
        let kind = room.kind;
        if already {
            self.send(session, &ServerMessage::RoomUserJoin(msg));
            return;
        }
        room.log_event(
            server::event::ROOM_USER_JOIN,
            serde_json::to_value(&msg).unwrap_or(Value::Null),
            now_ms,
        );
        if let Some(p) = app.peers.get_mut(peer) {
            p.rooms.insert(name.clone());
        }
        let to = self.member_sessions(app_key, &msg.room_members, None);
        self.send_all(to, &ServerMessage::RoomUserJoin(msg));
        if kind == RoomType::Sfu {
            self.out.push(Output::Media(MediaEvent {
                app: app_key.to_owned(),
                room: name,
                peer: peer.to_owned(),
                session: Some(session),
                kind: MediaEventKind::Joined,
            }));
        }
    }

    /// Removes `peer` from `room_name`, telling the remaining members. Unknown rooms are ignored.
    fn room_leave(&mut self, app_key: &str, peer: &str, room_name: &str, now_ms: u64) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if let Some(p) = app.peers.get_mut(peer) {
            p.rooms.remove(room_name);
        }
        let Some(room) = app.rooms.get_mut(room_name) else {
            return;
        };
        if !room.remove(peer) {
            return;
        }
        let msg = RoomUserLeave {
            room_name: room_name.to_owned(),
            src: peer.to_owned(),
        };
        room.log_event(
            server::event::ROOM_USER_LEAVE,
            serde_json::to_value(&msg).unwrap_or(Value::Null),
            now_ms,
        );
        let members = room.members.clone();
        let kind = room.kind;
        if members.is_empty() {
            app.rooms.remove(room_name);
        }
        let to = self.member_sessions(app_key, &members, None);
        self.send_all(to, &ServerMessage::RoomUserLeave(msg));
        if kind == RoomType::Sfu {
            self.out.push(Output::Media(MediaEvent {
                app: app_key.to_owned(),
                room: room_name.to_owned(),
                peer: peer.to_owned(),
                session: None,
                kind: MediaEventKind::Left,
            }));
        }
    }

    /// The room, if `peer` is a member; otherwise sends `room-error`.
    fn member_room(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        room_name: &str,
    ) -> Option<&mut Room> {
        let is_member = self
            .apps
            .get(app)
            .and_then(|a| a.rooms.get(room_name))
            .is_some_and(|r| r.has(peer));
        if !is_member {
            self.error(
                session,
                ErrorType::RoomError,
                format!("not a member of room {room_name:?}"),
            );
            return None;
        }
        self.apps
            .get_mut(app)
            .and_then(|a| a.rooms.get_mut(room_name))
    }

    fn room_get_users(&mut self, session: SessionId, app: &str, peer: &str, req: RoomGetUsers) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let msg = RoomUsers {
            room_name: req.room_name,
            kind: req.kind,
            user_list: room.members.clone(),
        };
        self.send(session, &ServerMessage::RoomUsers(msg));
    }

    fn room_get_logs(&mut self, session: SessionId, app: &str, peer: &str, req: RoomRef) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let msg = RoomLogs {
            log: room.log(),
            room_name: req.room_name,
        };
        self.send(session, &ServerMessage::RoomLogs(msg));
    }

    fn room_send_data(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        req: RoomSendData,
        now_ms: u64,
    ) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let lens: Vec<usize> = req.attachments.iter().map(|a| a.len()).collect();
        let logged = serde_json::json!({"roomName": req.room_name, "src": peer, "data": loggable_data(&req.data, &lens)});
        room.log_event(server::event::ROOM_DATA, logged, now_ms);
        let members = room.members.clone();
        let msg = RoomData {
            room_name: req.room_name,
            src: peer.to_owned(),
            data: req.data,
            attachments: req.attachments,
        };
        let to = self.member_sessions(app, &members, Some(peer));
        self.send_all(to, &ServerMessage::RoomData(msg));
    }

    fn media(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        room_name: String,
        kind: MediaEventKind,
    ) {
        let Some(room) = self.member_room(session, app, peer, &room_name) else {
            return;
        };
        if room.kind != RoomType::Sfu {
            self.error(
                session,
                ErrorType::RoomError,
                format!("room {room_name:?} is not an SFU room"),
            );
            return;
        }
        self.out.push(Output::Media(MediaEvent {
            app: app.to_owned(),
            room: room_name,
            peer: peer.to_owned(),
            session: Some(session),
            kind,
        }));
    }

    fn update_credential(
        &mut self,
        session: SessionId,
        app_key: &str,
        peer: &str,
        value: Value,
        now_ms: u64,
    ) {
        let skew = self.timeouts.auth_max_skew_secs;
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if !app.config.require_credential {
            // Credentials are not checked for this app: nothing to extend.
            return;
        }
        let result = Credential::from_value(value)
            .and_then(|c| c.verify(app.config.secret.as_bytes(), peer, unix_secs(now_ms), skew));
        match result {
            Ok(expires_at) => {
                if let Some(p) = app.peers.get_mut(peer) {
                    p.expires_at = Some(expires_at);
                    p.warned = false;
                }
                tracing::debug!(session, %peer, expires_at, "credential updated");
                self.check_expiry(app_key, peer, now_ms);
            }
            Err(e) => self.error(session, ErrorType::Authentication, e.to_string()),
        }
    }

    /// Sends `AUTH_EXPIRES_IN` when the warning window is reached, or ends an expired session.
    fn check_expiry(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let warning = self.timeouts.auth_expiry_warning_secs;
        let Some(peer) = self
            .apps
            .get_mut(app_key)
            .and_then(|a| a.peers.get_mut(peer_id))
        else {
            return;
        };
        let (Some(expires_at), Some(session)) = (peer.expires_at, peer.session) else {
            return;
        };
        let now = unix_secs(now_ms);
        if now >= expires_at {
            self.error(session, ErrorType::Authentication, "credential has expired");
            self.out.push(Output::Close { session });
            self.sessions.remove(&session);
            self.remove_peer(app_key, peer_id, now_ms);
        } else if !peer.warned && expires_at - now <= warning {
            peer.warned = true;
            self.send(session, &ServerMessage::AuthExpiresIn(expires_at - now));
        }
    }

    /// A session ended.
    pub fn disconnect(&mut self, session: SessionId, how: Disconnect, now_ms: u64) -> Vec<Output> {
        let Some(state) = self.sessions.remove(&session) else {
            return self.take();
        };
        let grace = self.timeouts.reconnect_grace_ms;
        let Some(peer) = self
            .apps
            .get_mut(&*state.app)
            .and_then(|a| a.peers.get_mut(&state.peer))
        else {
            return self.take();
        };
        if peer.session != Some(session) {
            return self.take();
        }
        peer.session = None;
        if how == Disconnect::Dropped && grace > 0 && !peer.token.is_empty() {
            peer.grace_until_ms = Some(now_ms.saturating_add(grace));
            tracing::debug!(session, peer = %state.peer, "transport dropped; id kept for reconnect");
        } else {
            self.remove_peer(&state.app, &state.peer, now_ms);
        }
        self.take()
    }

    /// Forgets a peer: leaves its rooms and tells its contacts `LEAVE`.
    fn remove_peer(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let Some(peer) = app.peers.remove(peer_id) else {
            return;
        };
        tracing::debug!(peer = %peer_id, "peer gone");
        for room in &peer.rooms {
            self.room_leave(app_key, peer_id, room, now_ms);
        }
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let mut notify = Vec::new();
        for contact in &peer.contacts {
            if let Some(c) = app.peers.get_mut(contact) {
                c.contacts.remove(peer_id);
                if let Some(s) = c.session {
                    notify.push(s);
                }
            }
        }
        self.send_all(notify, &ServerMessage::Leave(peer_id.to_owned()));
    }

    /// Time passed: ends reconnect grace periods and handles credential expiry.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let mut expired_grace = Vec::new();
        let mut credentialed = Vec::new();
        for (key, app) in &self.apps {
            for (id, peer) in &app.peers {
                if peer.grace_until_ms.is_some_and(|t| t <= now_ms) {
                    expired_grace.push((key.clone(), id.clone()));
                } else if peer.expires_at.is_some() && peer.session.is_some() {
                    credentialed.push((key.clone(), id.clone()));
                }
            }
        }
        for (app, id) in expired_grace {
            self.remove_peer(&app, &id, now_ms);
        }
        for (app, id) in credentialed {
            self.check_expiry(&app, &id, now_ms);
        }
        self.take()
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
