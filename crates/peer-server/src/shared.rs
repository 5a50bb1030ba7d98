//! State shared by every connection: the hub, the session registry, and the glue that feeds
//! transport events into the hub and dispatches its outputs.

use crate::config::Config;
use crate::engine::session::{Push, Session, Transport};
use crate::hub::{ConnectRequest, Disconnect, Hub, MediaEventKind, Output, SessionId};
use bytes::Bytes;
use peer_protocol::engineio::{Frame, Handshake, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::socketio::{connect_frame, PacketKind, SioPacket};
use peer_protocol::{ClientMessage, ErrorType};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The hub and the sinks its outputs go to, under one lock so that outputs are dispatched in the
/// order the hub produced them.
struct Core {
    hub: Hub,
    sinks: HashMap<SessionId, Arc<Session>>,
}

/// Everything the connection tasks share.
pub struct Shared {
    /// The configuration the server was started with.
    pub config: Config,
    core: Mutex<Core>,
    by_sid: Mutex<HashMap<String, Arc<Session>>>,
    next_id: AtomicU64,
}

/// Why a session could not be created.
#[derive(Debug)]
pub enum NewSessionError {
    /// `limits.max_sessions` is reached.
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

impl Shared {
    /// Shared state for `config`.
    pub fn new(config: Config) -> Shared {
        let hub = Hub::new(&config.apps, config.limits.clone(), config.timeouts.clone());
        Shared {
            config,
            core: Mutex::new(Core {
                hub,
                sinks: HashMap::new(),
            }),
            by_sid: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
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

    /// Creates and registers a session.
    pub fn new_session(&self, transport: Transport) -> Result<Arc<Session>, NewSessionError> {
        let mut registry = self.registry();
        if registry.len() >= self.config.limits.max_sessions {
            return Err(NewSessionError::TooManySessions);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let max_queue = self.config.limits.max_outbox_bytes;
        let session = Arc::new(Session::new(id, new_sid(), transport, max_queue));
        registry.insert(session.sid.clone(), session.clone());
        Ok(session)
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
    pub fn open_session(&self, session: &Arc<Session>, query: &HandshakeQuery) {
        session.push(&[connect_frame()]);
        let request = ConnectRequest {
            session: session.id,
            api_key: query.api_key.clone(),
            token: query.token.clone(),
            peer_id: query.peer_id.clone(),
            credential: query.credential.clone(),
            random_id: random_bytes(),
        };
        let mut core = self.core();
        core.sinks.insert(session.id, session.clone());
        let out = core.hub.connect(request, now_ms());
        self.dispatch(&mut core, out);
    }

    /// Handles one decoded engine packet from the client (any transport). Returns false when the
    /// session must end.
    pub async fn on_packet(&self, session: &Arc<Session>, packet: Packet) -> bool {
        session.touch();
        match packet {
            Packet::Ping(data) => {
                session.push(&[Packet::Pong(data).encode()]);
                true
            }
            Packet::Message(text) => {
                let mut decoder = session.inbound.lock().await;
                if decoder.is_idle() {
                    // Offers, answers and candidates are most of the traffic: relay them without
                    // building a JSON tree when the general path would give the same message.
                    if let Some(msg) = peer_protocol::client::parse_relay_fast(&text) {
                        drop(decoder);
                        self.on_message(session, msg);
                        return true;
                    }
                }
                let result = decoder.feed_text(&text);
                drop(decoder);
                self.on_decoded(session, result)
            }
            Packet::BinaryMessage(data) => self.on_binary(session, data).await,
            Packet::Close => {
                self.finish(session, Disconnect::Clean);
                // Also ends a pending long-poll at once.
                session.close(false);
                false
            }
            Packet::Open(_) | Packet::Pong(_) | Packet::Upgrade | Packet::Noop => true,
        }
    }

    async fn on_binary(&self, session: &Arc<Session>, data: Bytes) -> bool {
        let mut decoder = session.inbound.lock().await;
        let result = decoder.feed_binary(data);
        let too_big = decoder.pending_bytes() > self.config.limits.max_payload_bytes;
        if too_big {
            *decoder =
                peer_protocol::socketio::Decoder::new(crate::engine::session::MAX_ATTACHMENTS);
        }
        drop(decoder);
        if too_big {
            self.invalid(session, "binary attachments exceed the payload limit");
            return true;
        }
        self.on_decoded(session, result)
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
        let mut core = self.core();
        let out = core.hub.handle(session.id, msg, now_ms());
        self.dispatch(&mut core, out);
    }

    /// Reports a malformed message to the client as `ERROR invalid-message`.
    pub fn invalid(&self, session: &Session, reason: &str) {
        tracing::debug!(session = session.id, %reason, "invalid message");
        let mut core = self.core();
        let out = core.hub.invalid_message(session.id, reason, now_ms());
        self.dispatch(&mut core, out);
    }

    /// Sends an `ERROR` and closes the session (used for malformed Engine.IO framing).
    pub fn fail(&self, session: &Session, kind: ErrorType, reason: &str) {
        tracing::debug!(session = session.id, %reason, "closing session after a protocol error");
        let mut core = self.core();
        let out = core.hub.error_to(session.id, kind, reason);
        self.dispatch(&mut core, out);
        drop(core);
        session.close(true);
    }

    /// Ends a session once: unregisters it and tells the hub how it ended.
    pub fn finish(&self, session: &Session, how: Disconnect) {
        let removed = self.registry().remove(&session.sid).is_some();
        let mut core = self.core();
        core.sinks.remove(&session.id);
        let out = core.hub.disconnect(session.id, how, now_ms());
        self.dispatch(&mut core, out);
        if removed {
            tracing::debug!(session = session.id, ?how, "session finished");
        }
    }

    fn dispatch(&self, core: &mut Core, outputs: Vec<Output>) {
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut more = Vec::new();
            for output in pending {
                match output {
                    Output::Send { to, frames, event } => {
                        let Some(sink) = core.sinks.get(&to) else {
                            continue;
                        };
                        match sink.push(&frames) {
                            Push::Queued | Push::Closing => {}
                            Push::Overflow => {
                                tracing::warn!(
                                    session = to,
                                    event,
                                    "client reads too slowly; closing its session"
                                );
                                sink.close(false);
                            }
                        }
                    }
                    Output::Close { session } => {
                        if let Some(sink) = core.sinks.remove(&session) {
                            sink.close(true);
                        }
                    }
                    Output::Media(ev) => {
                        // No media backend is attached yet: SFU rooms carry signaling and data,
                        // and a request for media is refused clearly.
                        if let (MediaEventKind::GetOffer, Some(session)) = (&ev.kind, ev.session) {
                            more.extend(core.hub.error_to(
                                session,
                                ErrorType::SfuLimited,
                                "this server has no SFU media backend yet",
                            ));
                        }
                    }
                }
            }
            pending = more;
        }
    }

    /// Periodic work: hub timers, and sessions silent past the ping timeout.
    pub fn tick(&self) {
        {
            let mut core = self.core();
            let out = core.hub.tick(now_ms());
            self.dispatch(&mut core, out);
        }
        let t = &self.config.timeouts;
        let limit = Duration::from_millis(t.ping_interval_ms + t.ping_timeout_ms);
        let idle: Vec<Arc<Session>> = self
            .registry()
            .values()
            .filter(|s| s.is_idle_for(limit))
            .cloned()
            .collect();
        for session in idle {
            tracing::debug!(session = session.id, "ping timeout");
            session.close(false);
            self.finish(&session, Disconnect::Dropped);
        }
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
            self.finish(session, Disconnect::Clean);
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
}
