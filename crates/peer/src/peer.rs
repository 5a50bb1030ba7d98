//! `Peer`: the facade over signaling (`peer-transport`) and connections (`peer-connection`).

use crate::error::{ErrorKind, PeerError};
use crate::event::PeerEvent;
use crate::inner::{Inner, Life, EVENT_CAPACITY};
use crate::options::PeerOptions;
use crate::router;
use peer_connection::router as conn_router;
use peer_connection::{
    CallOptions, ConnectOptions, Connection, DataConnection, IceServer, MediaConnection,
    MediaStream, RtcContext,
};
use peer_protocol::ids::{is_valid_api_key, is_valid_peer_id};
use peer_room::{router as room_router, Room, RoomContext, RoomOptions};
use peer_transport::{rest, PeerList, ServerAddr, Signaling, SignalingOptions};
use std::collections::HashMap;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, Mutex};

/// The last handle: dropping it destroys the Peer.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.inner.life() == Life::Destroyed {
            return;
        }
        // Closes the connections and the socket as `destroy()` does; the remote peers see
        // `LEAVE`. Outside a runtime there is nothing to run it on, and the socket task has
        // gone with its runtime anyway.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            runtime.spawn(async move { destroy(&inner).await });
        }
    }
}

/// A SkyWay Peer. Cheap to clone; clones share the Peer. Dropping the last clone destroys it
/// (as [`Peer::destroy`]).
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct Peer {
    /// Held for its `Drop`: the last clone destroys the Peer.
    _handle: Arc<Handle>,
    pub(crate) inner: Arc<Inner>,
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
        let fallbacks: Vec<ServerAddr> = options
            .fallback_servers
            .iter()
            .map(|(host, port)| ServerAddr {
                host: host.clone(),
                port: *port,
                secure: options.secure,
            })
            .collect();
        let servers: Vec<ServerAddr> = std::iter::once(server.clone())
            .chain(fallbacks.iter().cloned())
            .collect();
        let mut sig = SignalingOptions::new(server, options.key.clone());
        sig.fallback_servers = fallbacks;
        sig.peer_id = id.map(str::to_owned);
        sig.credential = options
            .credential
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        sig.reconnect = options.reconnect.clone();
        sig.extra_root_certificates = options.tls_root_certificates.clone();
        sig.open_timeout = options.open_timeout;
        sig.connect_timeout = options.connect_timeout;
        sig.handshake_timeout = options.connect_timeout;
        sig.rest_timeout = options.rest_timeout;
        sig.request_turn = options.turn;
        let (signaling, opened, sig_events) = Signaling::connect(sig).await?;

        let mut rtc_config = options.config.clone();
        if let (true, Some(turn)) = (options.turn, &opened.turn_credential) {
            // The app's TURN URLs, else the ones the server named.
            let urls = if options.turn_urls.is_empty() {
                opened.turn_urls.clone()
            } else {
                options.turn_urls.clone()
            };
            if !urls.is_empty() {
                rtc_config.ice_servers.push(IceServer::turn(
                    urls,
                    turn.username.clone(),
                    turn.credential.clone(),
                ));
            }
        }
        let rtc = match RtcContext::with_limits(&rtc_config, options.limits.clone()) {
            Ok(rtc) => rtc,
            Err(e) => {
                signaling.close().await;
                return Err(e.into());
            }
        };
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            id: opened.peer_id.clone(),
            options,
            servers,
            signaling: signaling.clone(),
            rtc,
            signal: Arc::new(router::SignalingSink(signaling.clone())),
            connections: StdMutex::new(HashMap::new()),
            rooms: StdMutex::new(HashMap::new()),
            events_tx,
            events_rx: Mutex::new(events_rx),
            life: AtomicU8::new(Life::Open as u8),
        });
        if inner.logs(3) {
            tracing::info!(peer = %opened.peer_id, "peer open");
        }
        inner.emit(PeerEvent::Open(opened.peer_id)).await;
        tokio::spawn(router::run(Arc::downgrade(&inner), sig_events));
        tokio::spawn(crate::repair::run(
            Arc::downgrade(&inner),
            crate::repair::Policy::default(),
        ));
        Ok(Peer {
            _handle: Arc::new(Handle {
                inner: inner.clone(),
            }),
            inner,
        })
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

    /// The rooms this Peer is in, by name (the SDK's `rooms`).
    pub fn rooms(&self) -> HashMap<String, Room> {
        self.inner
            .all_rooms()
            .into_iter()
            .map(|r| (r.name().to_owned(), r))
            .collect()
    }

    /// The joined room `name`, if this Peer is in it.
    pub fn room(&self, name: &str) -> Option<Room> {
        self.inner.room(name)
    }

    /// Joins room `name` (the SDK's `joinRoom`): a mesh room, where this Peer calls every
    /// member with `options.stream` (receive-only without one) and answers their calls.
    /// Returns at once; [`RoomEvent::Open`](peer_room::RoomEvent::Open) follows when the server
    /// confirms (or use [`Room::wait_open`]). Joining a room already joined returns that room.
    /// An empty name is a `room-error`. With `mode: sfu` this Peer answers the server's offers on one
    /// connection with it and gets one `Stream` per member, named by the offer's `msids`.
    pub async fn join_room(&self, name: &str, options: RoomOptions) -> Result<Room, PeerError> {
        if self.inner.life() != Life::Open {
            return Err(PeerError::new(
                ErrorKind::Disconnected,
                "cannot join a room: the Peer is disconnected",
            ));
        }
        if let Some(room) = self.inner.room(name) {
            return Ok(room);
        }
        let inner = &self.inner;
        let ctx = RoomContext::new(inner.id.clone(), inner.rtc.clone(), inner.signal.clone());
        let weak = Arc::downgrade(inner);
        let owned = name.to_owned();
        let room = room_router::join(
            ctx,
            name,
            options,
            |room| {
                if let Ok(mut rooms) = inner.rooms.lock() {
                    rooms.insert(name.to_owned(), room.clone());
                }
            },
            move || {
                if let Some(inner) = weak.upgrade() {
                    if let Ok(mut rooms) = inner.rooms.lock() {
                        rooms.remove(&owned);
                    }
                }
            },
        )
        .await?;
        Ok(room)
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
        // Registered before the offer leaves, so that an immediate `peer-unavailable`, answer or
        // candidate finds it.
        let inner = &self.inner;
        let conn = conn_router::connect(&inner.rtc, inner.signal.clone(), peer_id, options, |c| {
            inner.register(c)
        })
        .await?;
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
        let inner = &self.inner;
        let conn = conn_router::call(
            &inner.rtc,
            inner.signal.clone(),
            peer_id,
            stream,
            options,
            None,
            |c| inner.register(c),
        )
        .await?;
        Ok(conn)
    }

    /// The open peers of this API key (the SDK's `listAllPeers`). `list-error` when the key's
    /// REST API is disabled.
    pub async fn list_all_peers(&self) -> Result<Vec<String>, PeerError> {
        let o = &self.inner.options;
        let list = rest::list_all_peers(
            self.inner.server(),
            &o.key,
            &o.tls_root_certificates,
            o.rest_timeout,
        )
        .await
        .map_err(rest_error)?;
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
        let o = &self.inner.options;
        rest::peer_exists(
            self.inner.server(),
            &o.key,
            peer_id,
            &o.tls_root_certificates,
            o.rest_timeout,
        )
        .await
        .map_err(rest_error)
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
        disconnect(&self.inner).await;
    }

    /// Closes every connection and the socket (the SDK's `destroy`). Remote peers see `LEAVE`.
    /// Emits [`PeerEvent::Disconnected`] (if still connected) and then [`PeerEvent::Close`].
    pub async fn destroy(&self) {
        destroy(&self.inner).await;
    }

    /// The next event; `None` after [`PeerEvent::Close`] once every earlier event was read.
    #[must_use = "an event taken and dropped is lost"]
    pub async fn next_event(&self) -> Option<PeerEvent> {
        next_event(&self.inner).await
    }

    /// The events as a stream (the same events as [`Peer::next_event`]; use one or the other).
    /// The stream does not keep the Peer alive.
    pub fn events(&self) -> impl futures::Stream<Item = PeerEvent> + Send + 'static {
        futures::stream::unfold(self.inner.clone(), |inner| async move {
            let ev = next_event(&inner).await?;
            Some((ev, inner))
        })
    }
}

/// A REST failure as a Peer error: a timeout, or the server or network failing.
fn rest_error(e: peer_transport::TransportError) -> PeerError {
    let kind = match &e {
        peer_transport::TransportError::Timeout { .. } => ErrorKind::Timeout,
        _ => ErrorKind::Server(peer_protocol::ErrorType::ServerError),
    };
    PeerError::with_source(kind, e.to_string(), e)
}

async fn next_event(inner: &Inner) -> Option<PeerEvent> {
    let mut rx = inner.events_rx.lock().await;
    if inner.life() == Life::Destroyed {
        return rx.try_recv().ok();
    }
    rx.recv().await
}

async fn disconnect(inner: &Inner) {
    if inner.advance(Life::Disconnected) {
        inner.signaling.close().await;
        inner
            .emit(PeerEvent::Disconnected("disconnect() was called".into()))
            .await;
    }
}

async fn destroy(inner: &Inner) {
    if inner.life() == Life::Destroyed {
        return;
    }
    for c in inner.drain_connections() {
        c.close(false).await;
    }
    for room in inner.all_rooms() {
        room.close().await;
    }
    disconnect(inner).await;
    if inner.advance(Life::Destroyed) {
        inner.emit(PeerEvent::Close).await;
    }
}
