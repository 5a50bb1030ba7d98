//! State shared by every connection: the hub, the session registry, the admission limits, and
//! the glue that feeds transport events into the hub and dispatches its outputs.
//!
//! Layering: this module uses the hub, the sessions and the admission state; the transports
//! (`engine/`) and the HTTP layer use it, never the other way round.

use crate::admission::{Admission, Refusal};
use crate::config::Config;
use crate::hub::{ConnectRequest, Disconnect, Hub, Output, SessionId, SfuRequest, SfuRequestKind};
use crate::outbound::Outbound;
use crate::session::{Push, Session, Transport};
use peer_protocol::engineio::{Frame, Handshake, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::rtc::SessionDescription;
use peer_protocol::socketio::{connect_frame, PacketKind, SioPacket};
use peer_protocol::{ClientMessage, ErrorType};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The hub and the sinks its outputs go to, under one lock so that outputs are dispatched in the
/// order the hub produced them.
struct Core {
    hub: Hub,
    sinks: HashMap<SessionId, Arc<Session>>,
    /// SFU members' latest `Joined` input number, by (app, room, peer): the SFU's events from
    /// before it belong to an earlier membership of the peer (a quick leave and rejoin) and
    /// are dropped.
    sfu_joins: HashMap<(Arc<str>, String, String), u64>,
}

/// Everything the connection tasks share.
pub struct Shared {
    /// The configuration the server was started with.
    pub config: Config,
    /// Connection, session and inbound-byte limits.
    pub admission: Arc<Admission>,
    core: Mutex<Core>,
    by_sid: Mutex<HashMap<String, Arc<Session>>>,
    next_id: AtomicU64,
    max_sessions: usize,
    /// The hub's next deadline (Unix ms), watched by the timer task.
    deadline: watch::Sender<Option<u64>>,
    /// Where SFU requests go, when a media backend is attached.
    sfu: Option<peer_sfu::SfuHandle>,
    /// The embedded TURN server, when it runs.
    turn: Option<peer_turn::TurnServer>,
    /// Gives freed heap memory back to the system (see [`MemoryRelease`]).
    memory_release: Mutex<Option<Releaser>>,
    /// Whether the public listener accepts (`/readyz`).
    ready: AtomicBool,
    /// Cluster mode: the node and the queue of messages for other nodes.
    cluster: Option<ClusterLink>,
}

/// A function that returns the allocator's free memory to the system (the binary passes glibc's
/// `malloc_trim`). The allocator keeps what thousands of connections or a full outbox used
/// after they are gone; [`Shared::sweep`] calls this when the load has fallen well below its
/// recent peak, so a burst does not stay in the process's RSS.
pub type MemoryRelease = Arc<dyn Fn() + Send + Sync>;

/// When a release follows the load's fall, the second one (see [`Releaser`]).
const RELEASE_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// The memory release and when it runs next.
struct Releaser {
    release: MemoryRelease,
    /// Peak load since memory was last released.
    peak: Load,
    /// A second release after a fall, once what the gone load held has been freed.
    again_at: Option<Instant>,
}

/// Peak load since memory was last released.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    connections: usize,
    queued_bytes: usize,
    /// Members with an SFU media session (each holds a peer connection, and its departed
    /// tracks' retransmission buffers, until it leaves).
    sfu_members: u64,
}

impl Load {
    /// Whether `now` is far enough below this peak for a release to be worth its cost.
    fn fell_from(&self, now: Load) -> bool {
        let conns = self.connections.saturating_sub(now.connections);
        let queued = self.queued_bytes.saturating_sub(now.queued_bytes);
        let members = self.sfu_members.saturating_sub(now.sfu_members);
        (conns >= 256 && now.connections <= self.connections * 3 / 4)
            // A smaller crowd that has mostly gone: what its sessions, buffers and tasks used
            // is free now, and a quiet server should not keep it.
            || (conns >= 32 && now.connections <= self.connections / 4)
            || queued >= 16 << 20
            || (members >= 4 && now.sfu_members <= self.sfu_members / 2)
    }

    fn max(self, other: Load) -> Load {
        Load {
            connections: self.connections.max(other.connections),
            queued_bytes: self.queued_bytes.max(other.queued_bytes),
            sfu_members: self.sfu_members.max(other.sfu_members),
        }
    }
}

/// Why a session could not be created.
#[derive(Debug)]
pub enum NewSessionError {
    /// `limits.max_sessions` (or the connection limit) is reached.
    TooManySessions,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::fill(&mut buf).is_err() {
        // The OS random source failing is not recoverable in a meaningful way; fall back to
        // time-derived bytes so the server keeps working (ids stay unique via the session id).
        let t = now_ms().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = t[i % t.len()].wrapping_add(i as u8);
        }
    }
    buf
}

fn new_sid() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<15>())
}

/// What cluster mode adds to the shared state.
struct ClusterLink {
    node: Arc<peer_cluster::Node>,
    remote: tokio::sync::mpsc::Sender<crate::outbound::Outbound>,
    /// Hand-over requests waiting for their answer, by request number.
    handovers: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Option<crate::hub::Imported>>>>,
    next_request: AtomicU64,
}

/// How long a node waits for another to hand a peer over.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

/// Numbers for monitoring (`GET /stats` when enabled) and for tests that check nothing is left.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Engine.IO sessions registered.
    pub sessions: usize,
    /// Of those, sessions on WebSocket (the rest long-poll).
    pub websocket_sessions: usize,
    /// Bytes queued for clients over all sessions.
    pub queued_bytes: usize,
    /// Open TCP connections.
    pub open_connections: usize,
    /// Connections without a complete request yet.
    pub unbound_connections: usize,
    /// Inbound bytes held for bodies and messages in progress.
    pub inbound_bytes: usize,
    /// Connections and requests refused since the start.
    pub refused: u64,
    /// Peers known to the hub (open or in their reconnect grace).
    pub peers: usize,
    /// Rooms.
    pub rooms: usize,
    /// The hub's scheduled deadlines.
    pub timers: usize,
    /// Tasks alive in the runtime.
    pub tasks: usize,
}

impl Shared {
    /// Shared state for `config`, with `max_connections` connection slots.
    pub fn new(config: Config, max_connections: usize) -> Shared {
        let hub = Hub::new(&config.apps, config.limits.clone(), config.timeouts.clone());
        let l = &config.limits;
        let admission = Arc::new(Admission::new(
            max_connections,
            l.max_unbound_connections,
            l.max_inbound_bytes,
        ));
        let max_sessions = l.max_sessions.min(max_connections);
        Shared {
            admission,
            max_sessions,
            core: Mutex::new(Core {
                hub,
                sinks: HashMap::new(),
                sfu_joins: HashMap::new(),
            }),
            by_sid: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            deadline: watch::channel(None).0,
            sfu: None,
            turn: None,
            memory_release: Mutex::new(None),
            ready: AtomicBool::new(false),
            cluster: None,
            config,
        }
    }

    /// Attaches the SFU media backend: the hub sends it SFU requests from now on.
    pub fn attach_sfu(&mut self, handle: peer_sfu::SfuHandle) {
        self.core().hub.attach_sfu();
        self.sfu = Some(handle);
    }

    /// Joins the cluster through `node`; returns what the cluster task needs (see
    /// [`crate::cluster`]).
    pub fn attach_cluster(
        &mut self,
        node: Arc<peer_cluster::Node>,
    ) -> tokio::sync::mpsc::Receiver<crate::outbound::Outbound> {
        let (remote, rx) = tokio::sync::mpsc::channel(crate::outbound::QUEUE);
        self.core().hub.attach_cluster();
        self.cluster = Some(ClusterLink {
            node,
            remote,
            handovers: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
        });
        rx
    }

    /// The cluster node, in cluster mode.
    pub fn cluster_node(&self) -> Option<&Arc<peer_cluster::Node>> {
        self.cluster.as_ref().map(|c| &c.node)
    }

    /// Cluster mode: a message another node sent for one of this node's peers.
    pub fn deliver_remote(&self, app: &str, dst: &str, event: &str, body: &str) {
        self.with_hub(|core| core.hub.deliver_remote(app, dst, event, body));
    }

    /// Cluster mode: a room operation for a room whose home is this node (see
    /// [`Hub::room_input`]).
    pub fn room_input(
        &self,
        app: &str,
        peer: &str,
        session: Option<SessionId>,
        msg: peer_protocol::client::ClientMessage,
    ) {
        self.with_hub(|core| core.hub.room_input(app, peer, session, msg, now_ms()));
    }

    /// Cluster mode: a room's home sent frames for one of this node's peers (see
    /// [`Hub::deliver_frames`]).
    pub fn deliver_frames(
        &self,
        app: &str,
        dst: &str,
        event: &str,
        frames: Vec<peer_protocol::engineio::Frame>,
        note: Option<crate::hub::RoomNote>,
    ) {
        self.with_hub(|core| core.hub.deliver_frames(app, dst, event, frames, note));
    }

    /// Cluster mode: a member of a room whose home died joins it again here, quietly (see
    /// [`Hub::room_rejoin`]).
    pub fn room_rejoin(&self, app: &str, peer: &str, join: peer_protocol::client::RoomJoin) {
        self.with_hub(|core| core.hub.room_rejoin(app, peer, join));
    }

    /// Rooms whose home is another node that peers here are in (see
    /// [`Hub::remote_homed_rooms`]).
    pub fn remote_homed_rooms(&self) -> Vec<(String, String, Vec<String>)> {
        self.core().hub.remote_homed_rooms()
    }

    /// Cluster mode: the home of `room` died (see [`Hub::home_lost`]).
    pub fn home_lost(&self, app: &str, room: &str, gone: &[String]) {
        self.with_hub(|core| core.hub.home_lost(app, room, gone));
    }

    /// Whether `peer` of `app` is on this node (open or in its reconnect grace).
    pub fn has_peer(&self, app: &str, peer: &str) -> bool {
        self.core().hub.has_peer(app, peer)
    }

    /// Whether `room` of `app` lives on this node.
    pub fn has_room(&self, app: &str, room: &str) -> bool {
        self.core().hub.has_room(app, room)
    }

    /// The rooms that live on this node (see [`Hub::room_names`]).
    pub fn room_names(&self) -> Vec<(String, String)> {
        self.core().hub.room_names()
    }

    /// Members on other nodes of the rooms here (see [`Hub::remote_room_members`]).
    pub fn remote_room_members(&self) -> Vec<(String, String, String)> {
        self.core().hub.remote_room_members()
    }

    /// Cluster mode: no node holds `dst`; the sending session is told.
    pub fn remote_unavailable(&self, session: SessionId, dst: &str) {
        self.with_hub(|core| core.hub.remote_unavailable(session, dst));
    }

    /// Contacts of this node's peers on other nodes (see [`Hub::remote_contacts`]).
    pub fn remote_contacts(&self) -> Vec<(String, String, String)> {
        self.core().hub.remote_contacts()
    }

    /// Every peer here, as `(app, peer, open)` (see [`Hub::peer_ids`]).
    pub fn peer_ids(&self) -> Vec<(String, String, bool)> {
        self.core().hub.peer_ids()
    }

    /// Runs `server` and has the hub issue its credentials in `OPEN`.
    pub fn attach_turn(&mut self, server: peer_turn::TurnServer, issuer: crate::hub::TurnIssuer) {
        self.core().hub.attach_turn(issuer);
        self.turn = Some(server);
    }

    /// The TURN server's address, when one runs.
    pub fn turn_addr(&self) -> Option<std::net::SocketAddr> {
        self.turn.as_ref().map(|t| t.local_addr())
    }

    /// Whether the public listener accepts (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Set by the server when it starts and stops accepting.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// The hub's counts now and its totals since it started (for `/metrics`).
    pub fn hub_numbers(&self) -> (crate::hub::HubCounts, crate::hub::Counters) {
        let core = self.core();
        (core.hub.counts(), core.hub.counters().clone())
    }

    /// What the SFU has forwarded, when one is attached.
    pub fn sfu_stats(&self) -> Option<peer_sfu::SfuStats> {
        self.sfu.as_ref().map(|s| s.stats())
    }

    /// What the TURN server holds and has relayed, when it runs.
    pub fn turn_stats(&self) -> Option<peer_turn::TurnStats> {
        self.turn.as_ref().map(|t| t.stats())
    }

    /// The SFU's UDP address, when one is attached.
    pub fn sfu_addr(&self) -> Option<std::net::SocketAddr> {
        self.sfu.as_ref().map(|s| s.local_addr())
    }

    /// An offer or a refusal from the SFU backend, for a member of an SFU room.
    pub fn sfu_event(&self, event: peer_sfu::SfuEvent) {
        self.with_hub(|core| {
            let (member, after) = match &event {
                peer_sfu::SfuEvent::Offer {
                    member,
                    after_input,
                    ..
                }
                | peer_sfu::SfuEvent::Refused {
                    member,
                    after_input,
                    ..
                } => (member, *after_input),
            };
            let key = (
                member.room.app.clone(),
                member.room.room.clone(),
                member.peer.clone(),
            );
            if core
                .sfu_joins
                .get(&key)
                .is_some_and(|&joined| after < joined)
            {
                tracing::debug!(peer = %member.peer, "SFU event of an earlier membership dropped");
                return Vec::new();
            }
            Self::sfu_outputs(core, event)
        });
    }

    fn sfu_outputs(core: &mut Core, event: peer_sfu::SfuEvent) -> Vec<Output> {
        match event {
            peer_sfu::SfuEvent::Offer {
                member, sdp, msids, ..
            } => {
                let msids = msids
                    .into_iter()
                    .map(|(stream, peer)| (stream, Value::String(peer)))
                    .collect();
                core.hub.sfu_offer(
                    &member.room.app,
                    &member.room.room,
                    &member.peer,
                    SessionDescription::offer(sdp),
                    msids,
                )
            }
            peer_sfu::SfuEvent::Refused { member, reason, .. } => {
                core.hub
                    .sfu_refused(&member.room.app, &member.room.room, &member.peer, &reason)
            }
        }
    }

    /// Sets the function that returns freed heap memory to the system.
    pub fn set_memory_release(&self, release: MemoryRelease) {
        if let Ok(mut m) = self.memory_release.lock() {
            *m = Some(Releaser {
                release,
                peak: Load::default(),
                again_at: None,
            });
        }
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn registry(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.by_sid.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks up a session by its Engine.IO `sid`.
    pub fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.registry().get(sid).cloned()
    }

    /// The effective session limit (`max_sessions`, at most the connection limit).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Creates and registers a session.
    pub fn new_session(
        &self,
        transport: Transport,
        api_key: &str,
    ) -> Result<Arc<Session>, NewSessionError> {
        let mut registry = self.registry();
        if registry.len() >= self.max_sessions {
            drop(registry);
            self.admission.refused(Refusal::Sessions);
            return Err(NewSessionError::TooManySessions);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let max_queue = self.config.limits.max_outbox_bytes;
        let session = Arc::new(Session::new(
            id,
            new_sid(),
            api_key.to_owned(),
            transport,
            max_queue,
        ));
        registry.insert(session.sid.clone(), session.clone());
        Ok(session)
    }

    /// Whether a browser page of `origin` may use the app `api_key` (unknown keys: yes, there
    /// is nothing of theirs to protect).
    pub fn origin_allowed(&self, api_key: &str, origin: &str) -> bool {
        self.config
            .apps
            .iter()
            .find(|a| a.key == api_key)
            .is_none_or(|a| {
                a.allowed_origins.is_empty() || a.allowed_origins.iter().any(|o| o == origin)
            })
    }

    /// The Engine.IO open packet for a session.
    pub fn handshake_packet(&self, session: &Session, upgrades: bool) -> Packet {
        Handshake {
            sid: session.sid.clone(),
            upgrades: if upgrades {
                vec!["websocket".into()]
            } else {
                vec![]
            },
            ping_interval: self.config.timeouts.ping_interval_ms,
            ping_timeout: self.config.timeouts.ping_timeout_ms,
        }
        .to_packet()
    }

    /// Connects the Socket.IO layer: queues `40`, then lets the hub open (or reject) the peer.
    /// In cluster mode a requested id is claimed first; one another node holds is refused.
    pub async fn open_session(&self, session: &Arc<Session>, query: &HandshakeQuery) {
        session.push(&[connect_frame()]);
        let mut held_elsewhere = false;
        let mut random_id = random_bytes();
        // A server-assigned id is claimed too, before `OPEN`, so that other nodes route to it
        // at once (another node holding one of 128 random bits is not expected; if it does,
        // one more draw).
        if let (Some(cluster), Some(app), None) = (&self.cluster, &query.api_key, &query.peer_id) {
            let id = peer_protocol::ids::assigned_peer_id(random_id);
            if let Ok(peer_cluster::Claim::HeldBy(_)) = cluster.node.claim(app, &id).await {
                random_id = random_bytes();
                let id = peer_protocol::ids::assigned_peer_id(random_id);
                let _ = cluster.node.claim(app, &id).await;
            }
        }
        let mut imported = None;
        if let (Some(cluster), Some(app), Some(id)) =
            (&self.cluster, &query.api_key, &query.peer_id)
        {
            match cluster.node.claim(app, id).await {
                Ok(peer_cluster::Claim::Claimed) => {}
                Ok(peer_cluster::Claim::HeldBy(node)) => {
                    // The client may be reconnecting through this node: the holder hands the
                    // peer over if the token is the peer's.
                    let handed = match &query.token {
                        Some(token) => self.hand_over_from(cluster, &node, app, id, token).await,
                        None => None,
                    };
                    match handed {
                        Some(state) => imported = Some(state),
                        None => {
                            tracing::debug!(peer = %id, %node, "peer id held by another node");
                            held_elsewhere = true;
                        }
                    }
                }
                Err(e) => {
                    // Redis away: serve the peer here rather than refuse it.
                    tracing::warn!(error = %e, peer = %id, "peer id not claimed in the cluster");
                }
            }
        }
        let request = ConnectRequest {
            session: session.id,
            api_key: query.api_key.clone(),
            token: query.token.clone(),
            peer_id: query.peer_id.clone(),
            credential: query.credential.clone(),
            random_id,
            wants_turn: query.turn,
            held_elsewhere,
            imported,
        };
        self.with_hub(|core| {
            core.sinks.insert(session.id, session.clone());
            core.hub.connect(request, now_ms())
        });
    }

    /// Asks node `holder` to hand `peer` over (its client reconnects here with `token`), and
    /// claims the id once it has; `None` if it did not within [`HANDOVER_WAIT`] or the claim
    /// went to yet another node.
    async fn hand_over_from(
        &self,
        cluster: &ClusterLink,
        holder: &peer_cluster::NodeId,
        app: &str,
        peer: &str,
        token: &str,
    ) -> Option<crate::hub::Imported> {
        let request = cluster.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut h) = cluster.handovers.lock() {
            h.insert(request, tx);
        }
        let msg = peer_cluster::NodeMessage::HandOver {
            app: app.to_owned(),
            peer: peer.to_owned(),
            token: token.to_owned(),
            request,
        };
        let answer = match cluster.node.send(holder, msg).await {
            Ok(()) => tokio::time::timeout(HANDOVER_WAIT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        if let Ok(mut h) = cluster.handovers.lock() {
            h.remove(&request);
        }
        let imported = answer.flatten()?;
        match cluster.node.claim(app, peer).await {
            Ok(peer_cluster::Claim::Claimed) => {
                tracing::debug!(%peer, node = %holder, "peer handed over from another node");
                Some(imported)
            }
            _ => None,
        }
    }

    /// Cluster mode: another node's answer to this node's hand-over request.
    pub fn handed_over(&self, request: u64, imported: Option<crate::hub::Imported>) {
        let waiting = self
            .cluster
            .as_ref()
            .and_then(|c| c.handovers.lock().ok()?.remove(&request));
        if let Some(tx) = waiting {
            let _ = tx.send(imported);
        }
    }

    /// Cluster mode: another node asks for `peer`, whose client reconnects there with `token`
    /// (see [`Hub::hand_over`]).
    pub fn hand_over(&self, app: &str, peer: &str, token: &str) -> Option<crate::hub::Imported> {
        let mut imported = None;
        self.with_hub(|core| {
            let (state, out) = core.hub.hand_over(app, peer, token);
            imported = state;
            out
        });
        imported
    }

    /// Handles one decoded engine packet from the client (any transport). Returns false when the
    /// session must end. A session's packets are handled one at a time, hub call included (the
    /// decoder's lock is held throughout), so per-socket order holds even when a polling client
    /// overlaps its POSTs.
    pub async fn on_packet(&self, session: &Arc<Session>, packet: Packet) -> bool {
        session.touch();
        match packet {
            Packet::Ping(data) => {
                session.push(&[Packet::Pong(data).encode()]);
                true
            }
            Packet::Message(text) => {
                let mut decoder = session.inbound.lock().await;
                let result = decoder.feed_text(text);
                self.on_decoded(session, result)
            }
            Packet::BinaryMessage(data) => {
                let mut decoder = session.inbound.lock().await;
                let result = decoder.feed_binary(data);
                if decoder.pending_bytes() > self.config.limits.max_payload_bytes {
                    decoder.reset();
                    self.invalid(session, "binary attachments exceed the payload limit");
                    return true;
                }
                self.on_decoded(session, result)
            }
            Packet::Close => {
                self.finish(session, Disconnect::Clean);
                // Also ends a pending long-poll at once.
                session.close(false);
                false
            }
            Packet::Open(_) | Packet::Pong(_) | Packet::Upgrade | Packet::Noop => true,
        }
    }

    fn on_decoded(
        &self,
        session: &Arc<Session>,
        result: Result<Option<SioPacket>, peer_protocol::socketio::SioError>,
    ) -> bool {
        match result {
            Ok(None) => true,
            Ok(Some(packet)) => self.on_socketio(session, packet),
            Err(e) => {
                self.invalid(session, &e.to_string());
                true
            }
        }
    }

    fn on_socketio(&self, session: &Arc<Session>, packet: SioPacket) -> bool {
        match packet.kind {
            PacketKind::Event | PacketKind::BinaryEvent => {
                if packet.nsp != "/" {
                    self.invalid(session, "only the root namespace is served");
                    return true;
                }
                // One pass over the text checks syntax, depth and placeholders; nothing is
                // built into a tree, whatever the event (`json_scan`).
                let parsed = packet
                    .into_event()
                    .map_err(|e| e.to_string())
                    .and_then(|ev| ClientMessage::parse(ev).map_err(|e| e.to_string()));
                match parsed {
                    Ok(msg) => self.on_message(session, msg),
                    Err(reason) => self.invalid(session, &reason),
                }
                true
            }
            PacketKind::Disconnect => {
                self.finish(session, Disconnect::Clean);
                session.close(false);
                false
            }
            PacketKind::Connect | PacketKind::Ack | PacketKind::BinaryAck | PacketKind::Error => {
                true
            }
        }
    }

    /// Hands a parsed client message to the hub and dispatches what it says.
    fn on_message(&self, session: &Session, msg: ClientMessage) {
        tracing::trace!(session = session.id, event = msg.event_name(), "in");
        self.with_hub(|core| core.hub.handle(session.id, msg, now_ms()));
    }

    /// Reports a malformed message to the client as `ERROR invalid-message`.
    pub fn invalid(&self, session: &Session, reason: &str) {
        tracing::debug!(session = session.id, %reason, "invalid message");
        self.with_hub(|core| core.hub.invalid_message(session.id, reason, now_ms()));
    }

    /// Sends an `ERROR` and closes the session (used for malformed Engine.IO framing).
    pub fn fail(&self, session: &Session, kind: ErrorType, reason: &str) {
        tracing::debug!(session = session.id, %reason, "closing session after a protocol error");
        self.with_hub(|core| core.hub.error_to(session.id, kind, reason));
        session.close(true);
    }

    /// Ends a session once: unregisters it and tells the hub how it ended.
    pub fn finish(&self, session: &Session, how: Disconnect) {
        let removed = self.registry().remove(&session.sid).is_some();
        self.with_hub(|core| {
            core.sinks.remove(&session.id);
            core.hub.disconnect(session.id, how, now_ms())
        });
        if removed {
            tracing::debug!(session = session.id, ?how, "session finished");
        }
    }

    /// Cuts a session off at once: its queue is freed, its transport ends, and its peer leaves
    /// its rooms and contacts now.
    pub fn evict(&self, session: &Session, reason: &str) {
        if session.evict() {
            tracing::warn!(session = session.id, %reason, "session cut off");
        }
        self.finish(session, Disconnect::Evicted);
    }

    /// Runs `f` on the hub under the lock, dispatches its outputs in order, then cuts off the
    /// sessions whose outbox overflowed (after the lock is released, as that is a hub input of
    /// its own).
    fn with_hub(&self, f: impl FnOnce(&mut Core) -> Vec<Output>) {
        let overflowed = {
            let mut core = self.core();
            let out = f(&mut core);
            self.dispatch(&mut core, out)
        };
        for session in overflowed {
            self.evict(&session, "the client reads too slowly (outbox limit)");
        }
    }

    /// Dispatches outputs under the core lock; returns the sessions whose outbox overflowed.
    fn dispatch(&self, core: &mut Core, outputs: Vec<Output>) -> Vec<Arc<Session>> {
        let mut overflowed = Vec::new();
        for output in outputs {
            match output {
                Output::Send { to, frames, event } => {
                    let Some(sink) = core.sinks.get(&to) else {
                        continue;
                    };
                    match sink.push(&frames) {
                        Push::Queued | Push::Closing => {}
                        Push::Overflow => {
                            tracing::debug!(session = to, event, "outbox full");
                            if let Some(s) = core.sinks.remove(&to) {
                                overflowed.push(s);
                            }
                        }
                    }
                }
                Output::Close { session } => {
                    if let Some(sink) = core.sinks.remove(&session) {
                        sink.close(true);
                    }
                }
                Output::Sfu(request) => match &self.sfu {
                    Some(sfu) => {
                        // A bounded channel: a backend that falls behind refuses, it does not
                        // make the hub wait or queue without limit.
                        let sent = sfu.send_numbered(sfu_input(&request));
                        let key = (
                            request.app.clone(),
                            request.room.clone(),
                            request.peer.clone(),
                        );
                        match (&request.kind, sent) {
                            (SfuRequestKind::Joined, Some(n)) => {
                                core.sfu_joins.insert(key, n);
                            }
                            (SfuRequestKind::Left, _) => {
                                core.sfu_joins.remove(&key);
                            }
                            _ => {}
                        }
                        if sent.is_none() {
                            let out = core.hub.sfu_refused(
                                &request.app,
                                &request.room,
                                &request.peer,
                                "the SFU is overloaded",
                            );
                            overflowed.extend(self.dispatch(core, out));
                        }
                    }
                    None => tracing::debug!(?request, "no SFU backend attached"),
                },
                Output::Remote(msg) => {
                    let from = msg.from;
                    let dst = msg.dst.clone();
                    if !self.to_cluster(Outbound::Relay(msg)) {
                        if let Some(from) = from {
                            let out = core.hub.remote_unavailable(from, &dst);
                            overflowed.extend(self.dispatch(core, out));
                        }
                    }
                }
                Output::Room(route) => {
                    self.to_cluster(Outbound::Room(route));
                }
                Output::RemoteFrames(frames) => {
                    self.to_cluster(Outbound::Frames(frames));
                }
                Output::IdFreed { app, peer } => {
                    self.to_cluster(Outbound::Release { app, peer });
                }
            }
        }
        let next = core.hub.poll_timeout();
        self.deadline.send_if_modified(|d| {
            let changed = *d != next;
            *d = next;
            changed
        });
        overflowed
    }

    /// Queues a message for other nodes; false when it cannot go (not in cluster mode, the
    /// queue full or the cluster task gone). One queue, handled in order by the cluster task:
    /// a sender's messages reach the other node in the order they came.
    fn to_cluster(&self, out: Outbound) -> bool {
        let Some(cluster) = &self.cluster else {
            return false;
        };
        match cluster.remote.try_send(out) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "a message for another node dropped");
                false
            }
        }
    }

    /// A receiver of the hub's next deadline (Unix ms), for the timer task.
    pub fn deadline_watch(&self) -> watch::Receiver<Option<u64>> {
        self.deadline.subscribe()
    }

    /// The hub's deadlines that are due.
    pub fn handle_timeout(&self) {
        self.with_hub(|core| core.hub.handle_timeout(now_ms()));
    }

    /// Periodic sweep of the sessions: those silent past the ping timeout are dropped (their
    /// peer keeps its id for the reconnect grace); polling sessions whose queued frames waited
    /// longer than the write deadline with no poll to take them are cut off.
    pub fn sweep(&self) {
        let t = &self.config.timeouts;
        let idle_limit = Duration::from_millis(t.ping_interval_ms + t.ping_timeout_ms);
        let write_limit = Duration::from_millis(t.write_ms);
        let now = Instant::now();
        let mut idle = Vec::new();
        let mut stuck = Vec::new();
        let mut queued_bytes = 0;
        {
            let mut core = self.core();
            core.hub.compact();
            crate::capacity::shrink_sparse(&mut core.sinks);
            crate::capacity::shrink_sparse(&mut core.sfu_joins);
        }
        let mut registry = self.registry();
        crate::capacity::shrink_sparse(&mut registry);
        for s in registry.values() {
            queued_bytes += s.queued_bytes();
            if s.unpolled_for(now).is_some_and(|d| d > write_limit) {
                stuck.push(s.clone());
            } else if s.is_idle_for(idle_limit) {
                idle.push(s.clone());
            }
        }
        drop(registry);
        let now = Load {
            connections: self.admission.counts().open_connections,
            queued_bytes,
            sfu_members: self.sfu_stats().map_or(0, |s| s.members),
        };
        let seen = Load {
            connections: self.admission.take_peak_connections(),
            ..now
        };
        self.maybe_release_memory(seen, now);
        for session in idle {
            tracing::debug!(session = session.id, "ping timeout");
            session.close(false);
            self.finish(&session, Disconnect::Dropped);
        }
        for session in stuck {
            self.evict(&session, "the client did not poll for what is queued");
        }
    }

    /// `seen` is the highest load since the last sweep, `now` the load at this one.
    fn maybe_release_memory(&self, seen: Load, now: Load) {
        let Ok(mut guard) = self.memory_release.lock() else {
            return;
        };
        let Some(r) = guard.as_mut() else {
            return;
        };
        r.peak = r.peak.max(seen);
        let fell = r.peak.fell_from(now);
        let again = r.again_at.is_some_and(|at| Instant::now() >= at);
        if !fell && !again {
            return;
        }
        if fell {
            r.peak = now;
            // What the load held is freed as its tasks wind down (a peer connection closes its
            // transports after the member is gone): release once more when they have.
            r.again_at = Some(Instant::now() + RELEASE_AGAIN_AFTER);
            tracing::debug!(?now, "load fell; returning freed memory to the system");
        } else {
            r.again_at = None;
        }
        let release = r.release.clone();
        // It walks the allocator's heaps: keep it off the runtime's workers.
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            release();
            tracing::debug!(
                took_us = started.elapsed().as_micros() as u64,
                "memory released"
            );
        });
    }

    /// Closes every session (server shutdown). Clients see the transport close and may reconnect
    /// to a restarted server.
    pub fn close_all(&self) {
        let sessions: Vec<Arc<Session>> = self.registry().values().cloned().collect();
        for s in sessions {
            s.close(false);
        }
    }

    /// Frames for a long-poll response. When the session is closing and its queue is drained,
    /// appends the engine close packet and finishes the session.
    pub fn poll_frames(&self, session: &Session, mut frames: Vec<Frame>) -> Vec<Frame> {
        if session.is_closing() {
            frames.push(Packet::Close.encode());
            let how = if session.is_evicted() {
                Disconnect::Evicted
            } else {
                Disconnect::Clean
            };
            self.finish(session, how);
        }
        frames
    }

    /// Open peers of an app (REST).
    pub fn list_peers(&self, key: &str) -> Result<Vec<String>, crate::hub::RestError> {
        self.core().hub.list_peers(key)
    }

    /// Whether a peer is open (REST).
    pub fn peer_exists(&self, key: &str, id: &str) -> Result<bool, crate::hub::RestError> {
        self.core().hub.peer_exists(key, id)
    }

    /// Current numbers.
    pub fn stats(&self) -> Stats {
        let (sessions, websocket_sessions, queued_bytes) = {
            let registry = self.registry();
            let queued = registry.values().map(|s| s.queued_bytes()).sum();
            let ws = registry
                .values()
                .filter(|s| s.transport() == crate::session::Transport::WebSocket)
                .count();
            (registry.len(), ws, queued)
        };
        let hub = self.core().hub.counts();
        let a = self.admission.counts();
        let tasks = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks())
            .unwrap_or(0);
        Stats {
            sessions,
            websocket_sessions,
            queued_bytes,
            open_connections: a.open_connections,
            unbound_connections: a.unbound_connections,
            inbound_bytes: a.inbound_bytes,
            refused: a.refused,
            peers: hub.peers,
            rooms: hub.rooms,
            timers: hub.timers,
            tasks,
        }
    }
}

/// The SFU backend's form of a hub request.
fn sfu_input(request: &SfuRequest) -> peer_sfu::Input {
    let member = peer_sfu::MemberKey {
        room: peer_sfu::RoomKey::new(request.app.clone(), request.room.clone()),
        peer: request.peer.clone(),
    };
    match &request.kind {
        SfuRequestKind::Joined => peer_sfu::Input::Joined(member),
        SfuRequestKind::Left => peer_sfu::Input::Left(member),
        SfuRequestKind::OfferWanted => peer_sfu::Input::OfferWanted(member),
        SfuRequestKind::Answer(answer) => peer_sfu::Input::Answer(member, answer.sdp.clone()),
        SfuRequestKind::Candidate(c) => {
            peer_sfu::Input::Candidate(member, serde_json::to_string(c).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Load;

    fn load(connections: usize, queued_bytes: usize, sfu_members: u64) -> Load {
        Load {
            connections,
            queued_bytes,
            sfu_members,
        }
    }

    #[test]
    fn memory_goes_back_when_the_load_has_fallen_well_below_its_peak() {
        // A thousand connections, a quarter of them gone.
        assert!(load(1000, 0, 0).fell_from(load(744, 0, 0)));
        assert!(!load(1000, 0, 0).fell_from(load(800, 0, 0)));
        // A crowd of 50 that has gone home.
        assert!(load(50, 0, 0).fell_from(load(10, 0, 0)));
        assert!(!load(50, 0, 0).fell_from(load(20, 0, 0)));
        // A handful coming and going is not worth a release.
        assert!(!load(20, 0, 0).fell_from(load(0, 0, 0)));
        // A drained outbox, and SFU members down to half.
        assert!(load(0, 20 << 20, 0).fell_from(load(0, 1 << 20, 0)));
        assert!(load(0, 0, 8).fell_from(load(0, 0, 4)));
        assert!(!load(0, 0, 3).fell_from(load(0, 0, 0)));
    }
}
