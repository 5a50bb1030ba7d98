//! [`Connection`]: a DataConnection or a MediaConnection, as a Peer keeps them (the SDK's
//! `peer.connections` holds both kinds). What the two share is answered once, from their common
//! core; only what differs (answers, offers) is dispatched by kind, in [`crate::router`].

use crate::core::{ConnectionKind, Core};
use crate::data_connection::DataConnection;
use crate::media_connection::MediaConnection;
use crate::state::ConnectionState;
use crate::stats::ConnectionStats;
use std::sync::Arc;

/// One connection of a Peer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Connection {
    /// A data connection (`peer.connect`, the `connection` event).
    Data(DataConnection),
    /// A media connection (`peer.call`, the `call` event).
    Media(MediaConnection),
}

impl Connection {
    pub(crate) fn core(&self) -> &Arc<Core> {
        match self {
            Connection::Data(c) => c.core(),
            Connection::Media(c) => c.core(),
        }
    }

    /// The connection id.
    pub fn id(&self) -> &str {
        &self.core().ids.id
    }

    /// The remote peer's id.
    pub fn remote_id(&self) -> &str {
        &self.core().ids.remote_id
    }

    /// `data` or `media`.
    pub fn kind(&self) -> ConnectionKind {
        self.core().ids.kind
    }

    /// `data` or `media`, as the SDK's `type`.
    pub fn connection_type(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The room the connection belongs to, if any.
    pub fn room_name(&self) -> Option<&str> {
        self.core().ids.room.as_deref()
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.core().state()
    }

    /// The data connection, if this is one.
    pub fn as_data(&self) -> Option<&DataConnection> {
        match self {
            Connection::Data(c) => Some(c),
            Connection::Media(_) => None,
        }
    }

    /// The media connection, if this is one.
    pub fn as_media(&self) -> Option<&MediaConnection> {
        match self {
            Connection::Media(c) => Some(c),
            Connection::Data(_) => None,
        }
    }

    /// Bytes, packets and round-trip time of the connection.
    pub async fn stats(&self) -> ConnectionStats {
        ConnectionStats::of(&self.core().pc).await
    }

    /// Closes the connection (see the connection types' `close`).
    pub async fn close(&self, force: bool) {
        match self {
            Connection::Data(c) => c.close(force).await,
            Connection::Media(c) => c.close(force).await,
        }
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        self.core().closed().await
    }

    /// Whether this side made the connection (`connect` or `call`); only it renegotiates, and
    /// so only it restarts ICE.
    pub fn is_originator(&self) -> bool {
        self.core().ids.originator
    }

    /// Since when ICE has been disconnected (no traffic from the remote for a few seconds),
    /// while it is; `None` while it is fine.
    pub fn ice_trouble_since(&self) -> Option<std::time::Instant> {
        self.core().ice_trouble_since()
    }

    /// Restarts ICE (see [`DataConnection::restart_ice`], [`MediaConnection::restart_ice`]).
    pub async fn restart_ice(&self) -> Result<(), crate::ConnectionError> {
        match self {
            Connection::Data(c) => c.restart_ice().await,
            Connection::Media(c) => c.restart_ice().await,
        }
    }

    /// ICE restarts this side offered so far.
    pub fn ice_restarts(&self) -> u32 {
        self.core().ice_restarts()
    }
}

impl From<DataConnection> for Connection {
    fn from(c: DataConnection) -> Connection {
        Connection::Data(c)
    }
}

impl From<MediaConnection> for Connection {
    fn from(c: MediaConnection) -> Connection {
        Connection::Media(c)
    }
}
