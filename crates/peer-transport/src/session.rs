//! The client's signaling session as a state machine without I/O (in the manner of
//! `quinn-proto`): feed it received WebSocket messages and the time, take from it the frames to
//! write, the next deadline and the events. It lives across reconnects, so messages sent while
//! the socket is down wait in its queue and go out after the next `OPEN`, as in the SDK.

use bytes::Bytes;
use peer_protocol::client::ClientMessage;
use peer_protocol::engineio::{Frame, Handshake, Packet};
use peer_protocol::server::{Open, ServerMessage, TurnCredential};
use peer_protocol::socketio::{self, PacketKind};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Attachments accepted in one binary event from the server.
const MAX_ATTACHMENTS: usize = 64;

/// Something the session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `OPEN`: the server accepted this peer under `peer_id`.
    Open {
        /// The peer id, assigned by the server when none was requested.
        peer_id: String,
        /// TURN credentials, if the server sent any.
        turn_credential: Option<TurnCredential>,
        /// The server's TURN URLs (`turnUrls`, an extension), if it sent any.
        turn_urls: Vec<String>,
        /// The server resumed the session it kept (`resumed`, an extension): after a
        /// reconnect, `false` means a fresh session that knows none of this peer's rooms.
        resumed: bool,
    },
    /// Any other server message.
    Message(ServerMessage),
}

/// Why the current socket is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// Nothing arrived for the ping interval plus the ping timeout.
    PingTimeout,
    /// The server closed the Engine.IO session (`1`).
    EngineClosed,
    /// The server disconnected the namespace (`41`): it rejected this client, so no reconnect.
    ServerDisconnect,
    /// The server broke the Engine.IO or Socket.IO framing.
    Protocol(String),
    /// The server did not complete the handshake (`0{...}`, `40`, `OPEN`) in time.
    HandshakeTimeout,
}

impl SessionError {
    /// Whether the SDK's client would try to reconnect after this.
    pub fn reconnectable(&self) -> bool {
        !matches!(self, SessionError::ServerDisconnect)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::PingTimeout => f.write_str("ping timeout"),
            SessionError::EngineClosed => f.write_str("the server closed the session"),
            SessionError::ServerDisconnect => f.write_str("the server disconnected this client"),
            SessionError::Protocol(e) => write!(f, "protocol error: {e}"),
            SessionError::HandshakeTimeout => {
                f.write_str("the server did not complete the handshake in time")
            }
        }
    }
}

impl std::error::Error for SessionError {}

/// `send` was refused because the queue of unsent messages is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many signaling messages are waiting for the connection to open")
    }
}

impl std::error::Error for QueueFull {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No transport, or waiting for the Engine.IO handshake.
    Connecting,
    /// Engine open; waiting for `40` and `OPEN`.
    EngineOpen,
    /// `OPEN` received: messages flow.
    Open,
}

/// The client session. See the module documentation.
#[derive(Debug)]
pub struct ClientSession {
    phase: Phase,
    decoder: socketio::Decoder,
    queued: VecDeque<ClientMessage>,
    max_queued: usize,
    transmit: VecDeque<Frame>,
    events: VecDeque<SessionEvent>,
    ping_interval: Duration,
    ping_timeout: Duration,
    app_ping_interval: Duration,
    last_received: Instant,
    next_engine_ping: Option<Instant>,
    next_app_ping: Option<Instant>,
    peer_id: Option<String>,
    /// Whether the shell has stopped reading the transport (its consumer lags): what the server
    /// sent waits in the socket, so silence then is not the server's.
    paused: bool,
    /// How long a new transport may take to reach `OPEN`.
    handshake_timeout: Duration,
    /// When the current transport's handshake must be done.
    handshake_deadline: Option<Instant>,
}

/// How long a new transport may take from connecting to `OPEN` unless set otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ClientSession {
    /// A session with no transport yet.
    pub fn new(now: Instant, app_ping_interval: Duration, max_queued: usize) -> ClientSession {
        ClientSession {
            paused: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            handshake_deadline: None,
            phase: Phase::Connecting,
            decoder: socketio::Decoder::new(MAX_ATTACHMENTS),
            queued: VecDeque::new(),
            max_queued,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(5),
            app_ping_interval,
            last_received: now,
            next_engine_ping: None,
            next_app_ping: None,
            peer_id: None,
        }
    }

    /// Sets how long a new transport may take from connecting to `OPEN`.
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.handshake_timeout = timeout;
    }

    /// The shell stops (`true`) or resumes (`false`) reading the transport. While paused the
    /// ping timeout does not run (the server's packets wait unread in the socket); on resume it
    /// counts from now.
    pub fn set_paused(&mut self, now: Instant, paused: bool) {
        if self.paused && !paused {
            self.last_received = now;
        }
        self.paused = paused;
    }

    /// The id of the last `OPEN`, kept across reconnects so they ask for the same id.
    pub fn peer_id(&self) -> Option<&str> {
        self.peer_id.as_deref()
    }

    /// Whether `OPEN` arrived on the current transport.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// A new transport is connected: forget the old one's state, keep the queue.
    pub fn transport_connected(&mut self, now: Instant) {
        self.phase = Phase::Connecting;
        self.decoder = socketio::Decoder::new(MAX_ATTACHMENTS);
        self.transmit.clear();
        self.last_received = now;
        self.next_engine_ping = None;
        self.next_app_ping = None;
        self.handshake_deadline = Some(now + self.handshake_timeout);
    }

    /// The transport is gone; until the next one, messages queue.
    pub fn transport_lost(&mut self) {
        self.phase = Phase::Connecting;
        self.transmit.clear();
        self.next_engine_ping = None;
        self.next_app_ping = None;
        self.handshake_deadline = None;
    }

    /// Sends `msg` now if open, otherwise after the next `OPEN`.
    pub fn send(&mut self, msg: ClientMessage) -> Result<(), QueueFull> {
        if self.phase == Phase::Open {
            self.transmit.extend(msg.encode());
            Ok(())
        } else if self.queued.len() >= self.max_queued {
            Err(QueueFull)
        } else {
            self.queued.push_back(msg);
            Ok(())
        }
    }

    /// Ends the session politely: Socket.IO `41`, then Engine.IO close `1`.
    pub fn close(&mut self) {
        if self.phase != Phase::Connecting {
            self.transmit.push_back(socketio::disconnect_frame());
            self.transmit.push_back(Packet::Close.encode());
        }
        self.queued.clear();
        self.phase = Phase::Connecting;
    }

    /// Handles a WebSocket text message.
    pub fn handle_text(&mut self, now: Instant, text: &str) -> Result<(), SessionError> {
        self.last_received = now;
        let packet =
            Packet::decode_text(text).map_err(|e| SessionError::Protocol(format!("{e:?}")))?;
        self.handle_packet(now, packet)
    }

    /// Handles a WebSocket binary message.
    pub fn handle_binary(&mut self, now: Instant, data: Bytes) -> Result<(), SessionError> {
        self.last_received = now;
        let packet = Packet::decode_binary_bytes(data)
            .map_err(|e| SessionError::Protocol(format!("{e:?}")))?;
        self.handle_packet(now, packet)
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), SessionError> {
        match packet {
            Packet::Open(json) => {
                let hs: Handshake = serde_json::from_str(&json)
                    .map_err(|e| SessionError::Protocol(format!("bad handshake: {e}")))?;
                self.ping_interval = Duration::from_millis(hs.ping_interval.clamp(1000, 600_000));
                self.ping_timeout = Duration::from_millis(hs.ping_timeout.clamp(1000, 600_000));
                self.phase = Phase::EngineOpen;
                self.next_engine_ping = Some(now + self.ping_interval);
                Ok(())
            }
            Packet::Close => Err(SessionError::EngineClosed),
            Packet::Ping(data) => {
                self.transmit.push_back(Packet::Pong(data).encode());
                Ok(())
            }
            Packet::Pong(_) | Packet::Noop | Packet::Upgrade => Ok(()),
            Packet::Message(text) => {
                let sio = self
                    .decoder
                    .feed_text(&text)
                    .map_err(|e| SessionError::Protocol(format!("{e:?}")))?;
                self.handle_sio(now, sio)
            }
            Packet::BinaryMessage(data) => {
                let sio = self
                    .decoder
                    .feed_binary(data)
                    .map_err(|e| SessionError::Protocol(format!("{e:?}")))?;
                self.handle_sio(now, sio)
            }
        }
    }

    fn handle_sio(
        &mut self,
        now: Instant,
        packet: Option<socketio::SioPacket>,
    ) -> Result<(), SessionError> {
        let Some(packet) = packet else {
            return Ok(());
        };
        match packet.kind {
            PacketKind::Connect => Ok(()),
            PacketKind::Disconnect => Err(SessionError::ServerDisconnect),
            PacketKind::Event | PacketKind::BinaryEvent => {
                let event = match packet.into_event() {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = ?e, "ignoring a malformed event from the server");
                        return Ok(());
                    }
                };
                match ServerMessage::parse(event) {
                    Ok(ServerMessage::Open(open)) => {
                        self.on_open(now, open);
                        Ok(())
                    }
                    Ok(msg) => {
                        self.events.push_back(SessionEvent::Message(msg));
                        Ok(())
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring an unexpected message from the server");
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        }
    }

    fn on_open(&mut self, now: Instant, open: Open) {
        self.phase = Phase::Open;
        self.handshake_deadline = None;
        self.peer_id = Some(open.peer_id.clone());
        self.next_app_ping = Some(now + self.app_ping_interval);
        while let Some(msg) = self.queued.pop_front() {
            self.transmit.extend(msg.encode());
        }
        self.events.push_back(SessionEvent::Open {
            peer_id: open.peer_id,
            turn_credential: open.turn_credential,
            turn_urls: open.turn_urls,
            resumed: open.resumed,
        });
    }

    /// Advances the timers: pings to send, or the ping or handshake timeout.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.handshake_deadline.is_some_and(|at| now >= at) {
            return Err(SessionError::HandshakeTimeout);
        }
        if self.phase == Phase::Connecting {
            return Ok(());
        }
        if !self.paused && now >= self.last_received + self.ping_interval + self.ping_timeout {
            return Err(SessionError::PingTimeout);
        }
        if let Some(at) = self.next_engine_ping {
            if now >= at {
                self.transmit
                    .push_back(Packet::Ping(String::new()).encode());
                self.next_engine_ping = Some(now + self.ping_interval);
            }
        }
        if let Some(at) = self.next_app_ping {
            if now >= at {
                self.transmit.extend(ClientMessage::Ping.encode());
                self.next_app_ping = Some(now + self.app_ping_interval);
            }
        }
        Ok(())
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Connecting {
            return self.handshake_deadline;
        }
        let dead =
            (!self.paused).then(|| self.last_received + self.ping_interval + self.ping_timeout);
        [
            dead,
            self.next_engine_ping,
            self.next_app_ping,
            self.handshake_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next frame to write.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_protocol::client::Relay;
    use serde_json::json;

    fn drain(s: &mut ClientSession) -> Vec<String> {
        std::iter::from_fn(|| s.poll_transmit())
            .map(|f| String::from_utf8_lossy(f.as_bytes()).into_owned())
            .collect()
    }

    fn opened(now: Instant) -> ClientSession {
        let mut s = ClientSession::new(now, Duration::from_secs(25), 4);
        s.transport_connected(now);
        s.handle_text(
            now,
            r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        s.handle_text(now, "40").unwrap();
        s
    }

    #[test]
    fn queues_until_open_then_flushes_in_order() {
        let now = Instant::now();
        let mut s = opened(now);
        let relay = Relay::from_payload(&json!({"dst": "b", "candidate": {}})).unwrap();
        s.send(ClientMessage::SendCandidate(relay.clone())).unwrap();
        s.send(ClientMessage::Ping).unwrap();
        assert!(drain(&mut s).is_empty());
        s.handle_text(now, r#"42["OPEN",{"peerId":"a"}]"#).unwrap();
        assert_eq!(
            s.poll_event(),
            Some(SessionEvent::Open {
                peer_id: "a".into(),
                turn_credential: None,
                turn_urls: Vec::new(),
                resumed: false,
            })
        );
        let out = drain(&mut s);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("42[\"SEND_CANDIDATE\""));
        assert_eq!(out[1], "42[\"PING\",null]");
    }

    #[test]
    fn queue_is_bounded() {
        let mut s = ClientSession::new(Instant::now(), Duration::from_secs(25), 2);
        assert!(s.send(ClientMessage::Ping).is_ok());
        assert!(s.send(ClientMessage::Ping).is_ok());
        assert_eq!(s.send(ClientMessage::Ping), Err(QueueFull));
    }

    #[test]
    fn pings_and_timeout() {
        let t0 = Instant::now();
        let mut s = opened(t0);
        s.handle_text(t0, r#"42["OPEN",{"peerId":"a"}]"#).unwrap();
        drain(&mut s);
        let t1 = t0 + Duration::from_secs(25);
        assert_eq!(s.poll_timeout(), Some(t1));
        s.handle_timeout(t1).unwrap();
        assert_eq!(
            drain(&mut s),
            vec!["2".to_string(), "42[\"PING\",null]".into()]
        );
        s.handle_text(t1, "3").unwrap();
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(s.handle_timeout(t2), Err(SessionError::PingTimeout));
    }

    #[test]
    fn server_disconnect_is_final_and_errors_are_events() {
        let now = Instant::now();
        let mut s = opened(now);
        s.handle_text(
            now,
            r#"42["ERROR",{"type":"unavailable-id","message":"taken"}]"#,
        )
        .unwrap();
        assert!(matches!(
            s.poll_event(),
            Some(SessionEvent::Message(ServerMessage::Error(_)))
        ));
        let e = s.handle_text(now, "41").unwrap_err();
        assert!(!e.reconnectable());
    }

    #[test]
    fn no_ping_timeout_while_the_shell_does_not_read() {
        let t0 = Instant::now();
        let mut s = opened(t0);
        s.handle_text(t0, r#"42["OPEN",{"peerId":"a"}]"#).unwrap();
        s.set_paused(t0, true);
        let late = t0 + Duration::from_secs(300);
        assert!(s.handle_timeout(late).is_ok());
        // Pings still go out while paused.
        assert!(drain(&mut s).iter().any(|f| f == "2"));
        s.set_paused(late, false);
        assert!(s.handle_timeout(late + Duration::from_secs(29)).is_ok());
        assert_eq!(
            s.handle_timeout(late + Duration::from_secs(30)),
            Err(SessionError::PingTimeout)
        );
    }

    #[test]
    fn a_handshake_that_never_completes_times_out() {
        let t0 = Instant::now();
        let mut s = ClientSession::new(t0, Duration::from_secs(25), 4);
        s.set_handshake_timeout(Duration::from_secs(3));
        s.transport_connected(t0);
        // Silence: the deadline is the handshake's.
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        assert!(s.handle_timeout(t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(
            s.handle_timeout(t0 + Duration::from_secs(3)),
            Err(SessionError::HandshakeTimeout)
        );
        // Engine open and `40` but no `OPEN`: still the handshake's deadline.
        s.transport_connected(t0);
        s.handle_text(
            t0,
            r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        s.handle_text(t0, "40").unwrap();
        assert_eq!(
            s.handle_timeout(t0 + Duration::from_secs(3)),
            Err(SessionError::HandshakeTimeout)
        );
        // `OPEN` clears it.
        s.transport_connected(t0);
        s.handle_text(
            t0,
            r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        s.handle_text(t0, r#"42["OPEN",{"peerId":"a"}]"#).unwrap();
        assert!(s.handle_timeout(t0 + Duration::from_secs(4)).is_ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let now = Instant::now();
        let mut s = opened(now);
        assert!(s.handle_text(now, "").is_err());
        assert!(s.handle_text(now, "0{").is_err());
        assert!(s.handle_text(now, "42[\"NOPE\",1]").is_ok());
        assert!(s
            .handle_binary(now, Bytes::from_static(b"\x04abc"))
            .is_err());
    }
}
