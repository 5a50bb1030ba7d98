//! The tokio shell around [`ClientSession`]: one task owns the WebSocket, reconnects with the same
//! id and token after a drop, and reports [`SignalingEvent`]s on a bounded channel.

use crate::options::{ServerAddr, SignalingOptions};
use crate::query::{handshake_query, token_from};
use crate::session::{ClientSession, SessionError, SessionEvent};
use crate::tls::client_config;
use crate::TransportError;
use futures::{SinkExt, StreamExt};
use peer_protocol::client::ClientMessage;
use peer_protocol::engineio::Frame;
use peer_protocol::server::{ErrorMessage, ServerMessage, TurnCredential};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Capacity of the event channel to the consumer.
const EVENT_CAPACITY: usize = 64;
/// Events the socket task keeps while the consumer lags; past this it stops reading the socket
/// (the server's own deadlines then apply) but keeps its keepalive going.
const MAX_UNDELIVERED: usize = 64;
/// Capacity of the command channel.
const COMMAND_CAPACITY: usize = 256;
/// Largest WebSocket message accepted from the server (room data may be 20 MiB).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How long [`Signaling::close`] waits for the socket task to write its last frames.
pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the signaling session reports after it opened.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    /// `OPEN` again after a reconnect (the first `OPEN` is the result of
    /// [`Signaling::connect`]).
    Reopened {
        /// The peer id (the same as before).
        peer_id: String,
        /// The server kept the session through the drop (the peer's rooms and contacts are as
        /// they were). `false`: a fresh session (the server restarted, or the grace ran out),
        /// which knows none of this peer's rooms.
        resumed: bool,
    },
    /// A server message.
    Message(ServerMessage),
    /// The socket dropped; the session is trying to reconnect (after a delay).
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
        /// Why the socket dropped or the last attempt failed.
        reason: String,
    },
    /// The session is over: closed by [`Signaling::close`], rejected by the server, or out of
    /// reconnect attempts. No more events follow.
    Closed {
        /// Why.
        reason: String,
    },
}

/// The result of a successful [`Signaling::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The peer id of the `OPEN`.
    pub peer_id: String,
    /// TURN credentials from the `OPEN`, if any.
    pub turn_credential: Option<TurnCredential>,
    /// The server's TURN URLs from the `OPEN` (`turnUrls`, an extension), if any.
    pub turn_urls: Vec<String>,
    /// The session token (the same across reconnects).
    pub token: String,
}

enum Command {
    Send(ClientMessage),
    UpdateCredential(Value),
    Close,
}

#[derive(Debug, Default)]
struct Status {
    open: bool,
    closed: bool,
    /// The server in use: 0 for [`SignalingOptions::server`], then the fallbacks.
    server: usize,
}

/// A handle to the signaling session; cheap to clone. Dropping every handle closes the session.
#[derive(Debug, Clone)]
pub struct Signaling {
    commands: mpsc::Sender<Command>,
    status: Arc<Mutex<Status>>,
    /// True once the socket task has ended (its close frames written).
    finished: watch::Receiver<bool>,
}

impl Signaling {
    /// Connects to the server and waits for `OPEN`. Fails with the server's reason when it
    /// rejects the handshake (`ERROR` then disconnect), or after `open_timeout` (the socket
    /// task is then stopped, whatever it was waiting on).
    pub async fn connect(
        options: SignalingOptions,
    ) -> Result<(Signaling, Opened, mpsc::Receiver<SignalingEvent>), TransportError> {
        let connector = if options.server.secure {
            Some(Connector::Rustls(client_config(
                &options.extra_root_certificates,
            )?))
        } else {
            Some(Connector::Plain)
        };
        let token = options.token.clone().unwrap_or_else(|| {
            let mut b = [0u8; 11];
            let _ = getrandom::fill(&mut b);
            token_from(b)
        });
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_CAPACITY);
        let (open_tx, open_rx) = oneshot::channel();
        let status = Arc::new(Mutex::new(Status::default()));
        let (finished_tx, finished) = watch::channel(false);
        let timeout = options.open_timeout;
        let mut session = ClientSession::new(
            Instant::now(),
            options.app_ping_interval,
            options.max_queued,
        );
        session.set_handshake_timeout(options.handshake_timeout);
        let task = SocketTask {
            finished: finished_tx,
            session,
            undelivered: std::collections::VecDeque::new(),
            options,
            token: token.clone(),
            connector,
            commands: cmd_rx,
            events: ev_tx,
            status: status.clone(),
            first_open: Some(open_tx),
            last_error: None,
            server: 0,
        };
        let handle = tokio::spawn(task.run());
        let opened = match tokio::time::timeout(timeout, open_rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(TransportError::Closed),
            Err(_) => {
                // Whatever the task waits on (a dial, a handshake), it ends now.
                handle.abort();
                return Err(TransportError::OpenTimeout);
            }
        };
        Ok((
            Signaling {
                commands: cmd_tx,
                status,
                finished,
            },
            Opened {
                peer_id: opened.0,
                turn_credential: opened.1,
                turn_urls: opened.2,
                token,
            },
            ev_rx,
        ))
    }

    /// Sends a message; while the socket is reconnecting it waits in a bounded queue.
    pub async fn send(&self, msg: ClientMessage) -> Result<(), TransportError> {
        self.commands
            .send(Command::Send(msg))
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Sends `UPDATE_CREDENTIAL` and presents `credential` on later reconnects.
    pub async fn update_credential(&self, credential: Value) -> Result<(), TransportError> {
        self.commands
            .send(Command::UpdateCredential(credential))
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Closes the session (`41`, then Engine.IO close) and waits, at most [`CLOSE_WAIT`], until
    /// the socket task has written everything queued before (a `SEND_FORCE_CLOSE`, say), so a
    /// program may exit right after. Idempotent.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
        let mut finished = self.finished.clone();
        let _ = tokio::time::timeout(CLOSE_WAIT, finished.wait_for(|f| *f)).await;
    }

    /// Which server is in use: 0 for [`SignalingOptions::server`], `i` for the fallback
    /// `i - 1` after a failover.
    pub fn server_index(&self) -> usize {
        self.status.lock().map(|s| s.server).unwrap_or(0)
    }

    /// Whether the server's `OPEN` holds on the current socket.
    pub fn is_open(&self) -> bool {
        self.status.lock().map(|s| s.open).unwrap_or(false)
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.status.lock().map(|s| s.closed).unwrap_or(true) || self.commands.is_closed()
    }
}

type OpenResult = Result<(String, Option<TurnCredential>, Vec<String>), TransportError>;

struct SocketTask {
    /// Set when `run` ends.
    finished: watch::Sender<bool>,
    options: SignalingOptions,
    session: ClientSession,
    /// Events the consumer has not taken yet (at most [`MAX_UNDELIVERED`]).
    undelivered: std::collections::VecDeque<SignalingEvent>,
    token: String,
    connector: Option<Connector>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SignalingEvent>,
    status: Arc<Mutex<Status>>,
    first_open: Option<oneshot::Sender<OpenResult>>,
    /// The last `ERROR` of the current socket: why the server then disconnected us.
    last_error: Option<ErrorMessage>,
    /// The server in use (see [`server_at`]).
    server: usize,
}

/// Server `i` of `options`: 0 is [`SignalingOptions::server`], then the fallbacks.
fn server_at(options: &SignalingOptions, i: usize) -> &ServerAddr {
    i.checked_sub(1)
        .and_then(|f| options.fallback_servers.get(f))
        .unwrap_or(&options.server)
}

/// Why a connection attempt failed.
struct DialError {
    reason: String,
    /// `Some(step)` when it failed by taking too long.
    timed_out: Option<&'static str>,
}

enum Ended {
    /// The user closed the session.
    ByUser,
    /// The socket ended; maybe reconnect.
    Dropped(SessionError),
    /// The WebSocket failed.
    Io(String),
}

impl SocketTask {
    async fn run(mut self) {
        let mut attempt = 0u32;
        let (reason, kind, timeout) = loop {
            match self.dial().await {
                Ok(ws) => {
                    self.session.transport_connected(Instant::now());
                    let ended = self.drive(ws).await;
                    let was_open = self.session.is_open();
                    self.session.transport_lost();
                    self.set_open(false);
                    let (why, timed_out) = match ended {
                        Ended::ByUser => break ("closed".to_string(), None, None),
                        Ended::Dropped(e) if !e.reconnectable() && !self.id_held_elsewhere() => {
                            break match self.last_error.take() {
                                Some(err) => (
                                    format!("{e}: {}: {}", err.kind, err.message),
                                    Some(err.kind),
                                    None,
                                ),
                                None => (e.to_string(), None, None),
                            }
                        }
                        Ended::Dropped(SessionError::HandshakeTimeout) => (
                            SessionError::HandshakeTimeout.to_string(),
                            Some("the handshake"),
                        ),
                        Ended::Dropped(e) => (e.to_string(), None),
                        Ended::Io(e) => (e, None),
                    };
                    if self.session.peer_id().is_none() {
                        // Never opened: report the failure of the first connection.
                        break (why, None, timed_out);
                    }
                    if was_open {
                        attempt = 0;
                    } else {
                        // This server did not take us back: the next attempt tries another.
                        self.next_server();
                    }
                    if !self.backoff(&mut attempt, why).await {
                        break (self.gave_up(attempt), None, None);
                    }
                }
                Err(dial) => {
                    if self.session.peer_id().is_none() {
                        break (dial.reason, None, dial.timed_out);
                    }
                    self.next_server();
                    if !self.backoff(&mut attempt, dial.reason).await {
                        break (self.gave_up(attempt), None, None);
                    }
                }
            }
        };
        self.finished.send_replace(true);
        if let Some(tx) = self.first_open.take() {
            let error = match timeout {
                Some(what) => TransportError::Timeout { what },
                None => TransportError::Rejected {
                    reason: reason.clone(),
                    kind,
                },
            };
            let _ = tx.send(Err(error));
        }
        if let Ok(mut s) = self.status.lock() {
            s.open = false;
            s.closed = true;
        }
        // The last event: wait for the consumer (it is gone or reading), but not forever.
        for ev in std::mem::take(&mut self.undelivered) {
            let _ = tokio::time::timeout(CLOSE_WAIT, self.events.send(ev)).await;
        }
        let _ = tokio::time::timeout(
            CLOSE_WAIT,
            self.events.send(SignalingEvent::Closed { reason }),
        )
        .await;
    }

    /// Whether a reconnect was refused with `unavailable-id` while other servers remain to
    /// try: in a cluster, the id may still be held by the node that died under this session
    /// until its claim is taken over, so that is worth another attempt elsewhere.
    fn id_held_elsewhere(&self) -> bool {
        self.session.peer_id().is_some()
            && !self.options.fallback_servers.is_empty()
            && self
                .last_error
                .as_ref()
                .is_some_and(|e| e.kind == peer_protocol::ErrorType::UnavailableId)
    }

    /// Moves on to the next server (a no-op without fallbacks).
    fn next_server(&mut self) {
        let n = 1 + self.options.fallback_servers.len();
        self.server = (self.server + 1) % n;
        if let Ok(mut s) = self.status.lock() {
            s.server = self.server;
        }
    }

    /// The reason given when reconnecting stops.
    fn gave_up(&self, attempts: u32) -> String {
        format!(
            "gave up reconnecting after {} attempt(s)",
            attempts.min(self.options.reconnect.attempts)
        )
    }

    /// Waits before the next attempt; false when the policy is exhausted or the user closed.
    async fn backoff(&mut self, attempt: &mut u32, reason: String) -> bool {
        *attempt += 1;
        if *attempt > self.options.reconnect.attempts {
            return false;
        }
        let mut b = [0u8; 1];
        let _ = getrandom::fill(&mut b);
        let delay = self
            .options
            .reconnect
            .delay_for(*attempt, f64::from(b[0]) / 255.0);
        tracing::info!(attempt = *attempt, ?delay, %reason, "signaling socket dropped; reconnecting");
        self.emit(SignalingEvent::Reconnecting {
            attempt: *attempt,
            reason,
        });
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Close) => return false,
                    Some(cmd) => self.apply(cmd),
                },
                permit = self.events.clone().reserve_owned(), if !self.undelivered.is_empty() => {
                    if let (Ok(permit), Some(ev)) = (permit, self.undelivered.pop_front()) {
                        permit.send(ev);
                    }
                }
            }
        }
    }

    /// Hands an event to the consumer, or keeps it (bounded by the reading side, see
    /// [`MAX_UNDELIVERED`]) when the consumer lags: never waits for it.
    fn emit(&mut self, ev: SignalingEvent) {
        if self.undelivered.is_empty() {
            match self.events.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => self.undelivered.push_back(ev),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        } else {
            self.undelivered.push_back(ev);
        }
    }

    /// Applies a `Send` or `UpdateCredential` command; messages queue in the session until
    /// the socket is open.
    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Send(msg) => {
                if self.session.send(msg).is_err() {
                    tracing::warn!("signaling queue full; message dropped");
                }
            }
            Command::UpdateCredential(c) => {
                match peer_protocol::RawJson::from_value(&c) {
                    Ok(raw) => {
                        let _ = self.session.send(ClientMessage::UpdateCredential(raw));
                    }
                    Err(e) => tracing::warn!(error = %e, "credential not sent"),
                }
                self.options.credential = Some(c);
            }
            Command::Close => {}
        }
    }

    async fn dial(&mut self) -> Result<Ws, DialError> {
        let peer_id = self
            .session
            .peer_id()
            .map(str::to_owned)
            .or_else(|| self.options.peer_id.clone());
        let credential = self
            .options
            .credential
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok());
        let query = handshake_query(
            &self.options.key,
            &self.token,
            peer_id.as_deref(),
            credential.as_deref(),
            self.options.request_turn,
        );
        let url = server_at(&self.options, self.server).websocket_url(&query);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        tracing::debug!(%url, "connecting signaling socket");
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(config),
            true,
            self.connector.clone(),
        );
        match tokio::time::timeout(self.options.connect_timeout, connect).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(DialError {
                reason: e.to_string(),
                timed_out: None,
            }),
            Err(_) => Err(DialError {
                reason: "connecting to the server timed out".into(),
                timed_out: Some("connecting"),
            }),
        }
    }

    fn set_open(&self, open: bool) {
        if let Ok(mut s) = self.status.lock() {
            s.open = open;
        }
    }

    async fn drive(&mut self, mut ws: Ws) -> Ended {
        loop {
            let mut wrote = false;
            while let Some(frame) = self.session.poll_transmit() {
                if let Err(e) = ws.feed(ws_message(frame)).await {
                    return Ended::Io(e.to_string());
                }
                wrote = true;
            }
            if wrote {
                if let Err(e) = ws.flush().await {
                    return Ended::Io(e.to_string());
                }
            }
            while let Some(ev) = self.session.poll_event() {
                self.deliver(ev);
            }
            let deadline = self.session.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let now = Instant::now;
            // While the consumer lags, the socket is not read (the server's deadlines apply to
            // what it queues for us), but pings and commands go on.
            let reading = self.undelivered.len() < MAX_UNDELIVERED;
            self.session.set_paused(Instant::now(), !reading);
            let result = tokio::select! {
                permit = self.events.clone().reserve_owned(), if !self.undelivered.is_empty() => {
                    if let (Ok(permit), Some(ev)) = (permit, self.undelivered.pop_front()) {
                        permit.send(ev);
                    }
                    Ok(())
                }
                msg = ws.next(), if reading => match msg {
                    Some(Ok(Message::Text(t))) => self.session.handle_text(now(), t.as_str()),
                    Some(Ok(Message::Binary(b))) => self.session.handle_binary(now(), b),
                    Some(Ok(Message::Close(_))) | None => return Ended::Io("the server closed the socket".into()),
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => return Ended::Io(e.to_string()),
                },
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Close) | None => {
                        self.session.close();
                        while let Some(frame) = self.session.poll_transmit() {
                            let _ = ws.feed(ws_message(frame)).await;
                        }
                        let _ = ws.flush().await;
                        let _ = ws.close(None).await;
                        return Ended::ByUser;
                    }
                    Some(cmd) => {
                        self.apply(cmd);
                        Ok(())
                    }
                },
                _ = sleep => self.session.handle_timeout(now()),
            };
            if let Err(e) = result {
                // Deliver what arrived before the failure (an ERROR before `41`, say).
                while let Some(ev) = self.session.poll_event() {
                    self.deliver(ev);
                }
                let _ = ws.close(None).await;
                return Ended::Dropped(e);
            }
        }
    }

    fn deliver(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::Open {
                peer_id,
                turn_credential,
                turn_urls,
                resumed,
            } => {
                self.set_open(true);
                self.last_error = None;
                match self.first_open.take() {
                    Some(tx) => {
                        let _ = tx.send(Ok((peer_id, turn_credential, turn_urls)));
                    }
                    None => self.emit(SignalingEvent::Reopened { peer_id, resumed }),
                }
            }
            SessionEvent::Message(msg) => {
                if let ServerMessage::Error(e) = &msg {
                    self.last_error = Some(e.clone());
                }
                if self.first_open.is_none() {
                    self.emit(SignalingEvent::Message(msg));
                }
            }
        }
    }
}

/// The WebSocket message of an engine frame (text frames are ASCII-framed UTF-8).
fn ws_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(b) => Message::Text(String::from_utf8_lossy(&b).into_owned().into()),
        Frame::Binary(b) => Message::Binary(b),
    }
}
