//! The state a Peer's handles and background tasks share: ids, signaling, the WebRTC context,
//! the connections by remote id, the rooms' signaling seam, the event queue, and where the Peer
//! is in its life. [`crate::peer`] (the API) and [`crate::router`] (the background routing)
//! both use it; neither uses the other's internals.

use crate::event::PeerEvent;
use crate::options::PeerOptions;
use peer_connection::{Connection, RtcContext, Signal};
use peer_room::Room;
use peer_transport::{ServerAddr, Signaling};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, Mutex};

/// Capacity of the Peer's event queue.
pub(crate) const EVENT_CAPACITY: usize = 256;

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
    /// The server, then its fallbacks (the one in use: [`Inner::server`]).
    pub(crate) servers: Vec<ServerAddr>,
    pub(crate) signaling: Signaling,
    pub(crate) rtc: RtcContext,
    pub(crate) signal: Signal,
    pub(crate) connections: StdMutex<HashMap<String, Vec<Connection>>>,
    /// The joined rooms' signaling, by room name: a relayed message with a `roomName` goes
    /// there, never to the Peer's P2P connections.
    pub(crate) rooms: StdMutex<HashMap<String, Room>>,
    pub(crate) events_tx: mpsc::Sender<PeerEvent>,
    pub(crate) events_rx: Mutex<mpsc::Receiver<PeerEvent>>,
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

    /// Keeps `conn` until it closes.
    pub(crate) fn register(self: &Arc<Self>, conn: &Connection) {
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

    /// Connections open or opening.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections
            .lock()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
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

    /// Every connection, without taking them.
    pub(crate) fn all_connections(&self) -> Vec<Connection> {
        self.connections
            .lock()
            .map(|m| m.values().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// The server the signaling socket uses now (REST calls go there too).
    pub(crate) fn server(&self) -> &ServerAddr {
        let i = self.signaling.server_index();
        self.servers.get(i).unwrap_or(&self.servers[0])
    }

    /// Whether the server lists `remote` (`exists`); `None` when it could not be asked.
    pub(crate) async fn remote_exists(&self, remote: &str) -> Option<bool> {
        let o = &self.options;
        peer_transport::rest::peer_exists(
            self.server(),
            &o.key,
            remote,
            &o.tls_root_certificates,
            o.rest_timeout,
        )
        .await
        .ok()
    }

    pub(crate) fn drain_connections(&self) -> Vec<Connection> {
        self.connections
            .lock()
            .map(|mut m| m.drain().flat_map(|(_, v)| v).collect())
            .unwrap_or_default()
    }

    /// The room `name`, if this Peer is in it.
    pub(crate) fn room(&self, name: &str) -> Option<Room> {
        self.rooms.lock().ok()?.get(name).cloned()
    }

    /// Every joined room.
    pub(crate) fn all_rooms(&self) -> Vec<Room> {
        self.rooms
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }
}
