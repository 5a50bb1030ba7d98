//! `Peer`: the facade over signaling (`peer-transport`) and connections (`peer-connection`).

use crate::connection::Connection;
use crate::error::{ErrorKind, PeerError};
use crate::event::PeerEvent;
use crate::options::PeerOptions;
use crate::router;
use peer_connection::{
    CallOptions, ConnectOptions, DataConnection, IceServer, MediaConnection, MediaStream,
    RtcContext, Signal,
};
use peer_protocol::ids::{is_valid_api_key, is_valid_peer_id};
use peer_transport::{rest, PeerList, ServerAddr, Signaling, SignalingOptions};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, Mutex};

/// Capacity of the Peer's event queue.
const EVENT_CAPACITY: usize = 256;

/// Life of the Peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Life {
    Open = 0,
    Disconnected = 1,
    Destroyed = 2,
}

pub(crate) struct Inner {
    pub(crate) id: String,
    pub(crate) options: PeerOptions,
    pub(crate) server: ServerAddr,
    pub(crate) signaling: Signaling,
    pub(crate) rtc: RtcContext,
    pub(crate) signal: Signal,
    pub(crate) connections: StdMutex<HashMap<String, Vec<Connection>>>,
    pub(crate) events_tx: mpsc::Sender<PeerEvent>,
    events_rx: Mutex<mpsc::Receiver<PeerEvent>>,
    pub(crate) life: AtomicU8,
}

impl Inner {
    pub(crate) fn life(&self) -> Life {
        match self.life.load(Ordering::SeqCst) {
            0 => Life::Open,
            1 => Life::Disconnected,
            _ => Life::Destroyed,
        }
    }

    /// Moves to `to` unless already at or past it; true if it moved.
    pub(crate) fn advance(&self, to: Life) -> bool {
        self.life.fetch_max(to as u8, Ordering::SeqCst) < to as u8
    }

    pub(crate) async fn emit(&self, ev: PeerEvent) {
        let _ = self.events_tx.send(ev).await;
    }

    /// Whether log lines at `level` (1 error, 2 warn, 3 everything) pass the `debug` option.
    pub(crate) fn logs(&self, level: u8) -> bool {
        self.options.debug >= level
    }

    pub(crate) fn register(self: &Arc<Self>, conn: Connection) {
        if let Ok(mut map) = self.connections.lock() {
            map.entry(conn.remote_id().to_owned())
                .or_default()
                .push(conn.clone());
        }
        let weak = Arc::downgrade(self);
        let conn = conn.clone();
        tokio::spawn(async move {
            conn.closed().await;
            if let Some(inner) = weak.upgrade() {
                inner.unregister(&conn);
            }
        });
    }

    fn unregister(&self, conn: &Connection) {
        if let Ok(mut map) = self.connections.lock() {
            if let Some(list) = map.get_mut(conn.remote_id()) {
                list.retain(|c| c.id() != conn.id());
                if list.is_empty() {
                    map.remove(conn.remote_id());
                }
            }
        }
    }

    pub(crate) fn find(&self, remote: &str, connection_id: &str) -> Option<Connection> {
        let map = self.connections.lock().ok()?;
        map.get(remote)?
            .iter()
            .find(|c| c.id() == connection_id)
            .cloned()
    }

    pub(crate) fn of(&self, remote: &str) -> Vec<Connection> {
        self.connections
            .lock()
            .ok()
            .and_then(|m| m.get(remote).cloned())
            .unwrap_or_default()
    }

    pub(crate) fn take_all(&self, remote: &str) -> Vec<Connection> {
        self.connections
            .lock()
            .ok()
            .and_then(|mut m| m.remove(remote))
            .unwrap_or_default()
    }
}

/// A SkyWay Peer. Cheap to clone; clones share the Peer.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.inner.id)
            .field("open", &self.is_open())
            .finish()
    }
}

impl Peer {
    /// Opens a Peer on the signaling server: `id` is the requested peer id (`None` lets the
    /// server assign one). Returns once the server's `OPEN` arrived; a refusal (`invalid-key`,
    /// `unavailable-id`, `authentication`, ...) is the error. The first event is
    /// [`PeerEvent::Open`].
    pub async fn new(id: Option<&str>, options: PeerOptions) -> Result<Peer, PeerError> {
        if let Some(id) = id {
            if !is_valid_peer_id(id) {
                return Err(PeerError::new(
                    ErrorKind::InvalidId,
                    format!("ID \"{id}\" is invalid"),
                ));
            }
        }
        if !is_valid_api_key(&options.key) {
            return Err(PeerError::new(
                ErrorKind::InvalidKey,
                format!("API KEY \"{}\" is invalid", options.key),
            ));
        }
        let server = ServerAddr {
            host: options.host.clone(),
            port: options.port,
            secure: options.secure,
        };
        let mut sig = SignalingOptions::new(server.clone(), options.key.clone());
        sig.peer_id = id.map(str::to_owned);
        sig.credential = options
            .credential
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        sig.reconnect = options.reconnect.clone();
        sig.extra_root_certificates = options.tls_root_certificates.clone();
        let (signaling, opened, sig_events) = Signaling::connect(sig).await?;

        let mut rtc_config = options.config.clone();
        if let (true, Some(turn)) = (options.turn, &opened.turn_credential) {
            if !options.turn_urls.is_empty() {
                rtc_config.ice_servers.push(IceServer {
                    urls: options.turn_urls.clone(),
                    username: turn.username.clone(),
                    credential: turn.credential.clone(),
                });
            }
        }
        let rtc = RtcContext::new(&rtc_config)?;
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            id: opened.peer_id.clone(),
            options,
            server,
            signaling: signaling.clone(),
            rtc,
            signal: Arc::new(router::SignalingSink(signaling.clone())),
            connections: StdMutex::new(HashMap::new()),
            events_tx,
            events_rx: Mutex::new(events_rx),
            life: AtomicU8::new(Life::Open as u8),
        });
        if inner.logs(3) {
            tracing::info!(peer = %opened.peer_id, "peer open");
        }
        inner.emit(PeerEvent::Open(opened.peer_id)).await;
        tokio::spawn(router::run(Arc::downgrade(&inner), sig_events));
        Ok(Peer { inner })
    }

    /// The peer id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Whether the Peer is connected to the server (the SDK's `open`). False while the socket
    /// reconnects, and after `disconnect`/`destroy`.
    pub fn is_open(&self) -> bool {
        self.inner.life() == Life::Open && self.inner.signaling.is_open()
    }

    /// Whether `destroy` was called.
    pub fn is_destroyed(&self) -> bool {
        self.inner.life() == Life::Destroyed
    }

    /// The live connections, data and media, by remote peer id (the SDK's `connections`).
    pub fn connections(&self) -> HashMap<String, Vec<Connection>> {
        self.inner
            .connections
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// The rooms this Peer is in (the SDK's `rooms`). Rooms come with the MeshRoom and SfuRoom
    /// work; until then this is always empty.
    pub fn rooms(&self) -> Vec<String> {
        Vec::new()
    }

    /// Opens a DataConnection to `peer_id` (the SDK's `connect`). Returns at once; wait for the
    /// connection's `Open` event (or [`DataConnection::wait_open`]) before sending. An unknown
    /// peer gives a `peer-unavailable` [`PeerEvent::Error`] and closes the connection.
    pub async fn connect(
        &self,
        peer_id: &str,
        options: ConnectOptions,
    ) -> Result<DataConnection, PeerError> {
        if self.inner.life() != Life::Open {
            return Err(PeerError::new(
                ErrorKind::Disconnected,
                "cannot connect: the Peer is disconnected",
            ));
        }
        if peer_id.is_empty() {
            return Err(PeerError::new(ErrorKind::InvalidArgument, "empty peer id"));
        }
        let conn =
            DataConnection::outgoing(&self.inner.rtc, self.inner.signal.clone(), peer_id, options)
                .await?;
        // Registered before the offer leaves, so that an immediate `peer-unavailable`, answer or
        // candidate finds it.
        self.inner.register(Connection::Data(conn.clone()));
        conn.offer().await?;
        Ok(conn)
    }

    /// Calls `peer_id` (the SDK's `call`): sends the stream's tracks (video, then audio), or
    /// only receives when `stream` is `None` (see [`CallOptions`] for receive-only calls,
    /// bandwidth and codec options). Returns at once; remote tracks arrive as the call's
    /// [`MediaConnectionEvent::Track`](peer_connection::MediaConnectionEvent::Track) events. An
    /// unknown peer gives a `peer-unavailable` [`PeerEvent::Error`]
    /// and closes the call.
    pub async fn call(
        &self,
        peer_id: &str,
        stream: Option<&MediaStream>,
        options: CallOptions,
    ) -> Result<MediaConnection, PeerError> {
        if self.inner.life() != Life::Open {
            return Err(PeerError::new(
                ErrorKind::Disconnected,
                "cannot call: the Peer is disconnected",
            ));
        }
        if peer_id.is_empty() {
            return Err(PeerError::new(ErrorKind::InvalidArgument, "empty peer id"));
        }
        let conn = MediaConnection::outgoing(
            &self.inner.rtc,
            self.inner.signal.clone(),
            peer_id,
            stream,
            options,
        )
        .await?;
        self.inner.register(Connection::Media(conn.clone()));
        conn.offer().await?;
        Ok(conn)
    }

    /// The open peers of this API key (the SDK's `listAllPeers`). `list-error` when the key's
    /// REST API is disabled.
    pub async fn list_all_peers(&self) -> Result<Vec<String>, PeerError> {
        let list = rest::list_all_peers(
            &self.inner.server,
            &self.inner.options.key,
            &self.inner.options.tls_root_certificates,
        )
        .await
        .map_err(|e| {
            PeerError::new(
                ErrorKind::Server(peer_protocol::ErrorType::ServerError),
                e.to_string(),
            )
        })?;
        match list {
            PeerList::Peers(ids) => Ok(ids),
            PeerList::Disabled => Err(PeerError::new(
                ErrorKind::ListError,
                "the REST API is disabled for this API key",
            )),
        }
    }

    /// Whether `peer_id` is open under this API key (the SDK's `fetchPeerExists`).
    pub async fn fetch_peer_exists(&self, peer_id: &str) -> Result<bool, PeerError> {
        rest::peer_exists(
            &self.inner.server,
            &self.inner.options.key,
            peer_id,
            &self.inner.options.tls_root_certificates,
        )
        .await
        .map_err(|e| {
            PeerError::new(
                ErrorKind::Server(peer_protocol::ErrorType::ServerError),
                e.to_string(),
            )
        })
    }

    /// Renews the credential (the SDK's `updateCredential`): sent to the server now and
    /// presented on later reconnects.
    pub async fn update_credential(
        &self,
        credential: crate::PeerCredential,
    ) -> Result<(), PeerError> {
        let value = serde_json::to_value(&credential)
            .map_err(|e| PeerError::new(ErrorKind::InvalidArgument, e.to_string()))?;
        self.inner.signaling.update_credential(value).await?;
        Ok(())
    }

    /// Closes the signaling socket but keeps the connections (the SDK's `disconnect`). Emits
    /// [`PeerEvent::Disconnected`].
    pub async fn disconnect(&self) {
        if self.inner.advance(Life::Disconnected) {
            self.inner.signaling.close().await;
            self.inner
                .emit(PeerEvent::Disconnected("disconnect() was called".into()))
                .await;
        }
    }

    /// Closes every connection and the socket (the SDK's `destroy`). Remote peers see `LEAVE`.
    /// Emits [`PeerEvent::Disconnected`] (if still connected) and then [`PeerEvent::Close`].
    pub async fn destroy(&self) {
        if self.inner.life() == Life::Destroyed {
            return;
        }
        let all: Vec<Connection> = self
            .inner
            .connections
            .lock()
            .map(|mut m| m.drain().flat_map(|(_, v)| v).collect())
            .unwrap_or_default();
        for c in all {
            c.close(false).await;
        }
        self.disconnect().await;
        if self.inner.advance(Life::Destroyed) {
            self.inner.emit(PeerEvent::Close).await;
        }
    }

    /// The next event; `None` after [`PeerEvent::Close`] once every earlier event was read.
    pub async fn next_event(&self) -> Option<PeerEvent> {
        let mut rx = self.inner.events_rx.lock().await;
        if self.inner.life() == Life::Destroyed {
            return rx.try_recv().ok();
        }
        rx.recv().await
    }
}
