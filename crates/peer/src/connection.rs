//! [`Connection`]: a DataConnection or a MediaConnection, as the Peer keeps them (the SDK's
//! `peer.connections` holds both kinds).

use peer_connection::signal::CandidateInit;
use peer_connection::{ConnectionError, ConnectionState, DataConnection, MediaConnection};

/// One connection of the Peer.
#[derive(Debug, Clone)]
pub enum Connection {
    /// A data connection (`peer.connect`, the `connection` event).
    Data(DataConnection),
    /// A media connection (`peer.call`, the `call` event).
    Media(MediaConnection),
}

impl Connection {
    /// The connection id.
    pub fn id(&self) -> &str {
        match self {
            Connection::Data(c) => c.id(),
            Connection::Media(c) => c.id(),
        }
    }

    /// The remote peer's id.
    pub fn remote_id(&self) -> &str {
        match self {
            Connection::Data(c) => c.remote_id(),
            Connection::Media(c) => c.remote_id(),
        }
    }

    /// `data` or `media`, as the SDK's `type`.
    pub fn connection_type(&self) -> &'static str {
        match self {
            Connection::Data(_) => "data",
            Connection::Media(_) => "media",
        }
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        match self {
            Connection::Data(c) => c.state(),
            Connection::Media(c) => c.state(),
        }
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

    /// Closes the connection (see the connection types' `close`).
    pub async fn close(&self, force: bool) {
        match self {
            Connection::Data(c) => c.close(force).await,
            Connection::Media(c) => c.close(force).await,
        }
    }

    pub(crate) async fn closed(&self) {
        match self {
            Connection::Data(c) => c.closed().await,
            Connection::Media(c) => c.closed().await,
        }
    }

    pub(crate) async fn handle_answer(&self, sdp: &str) -> Result<(), ConnectionError> {
        match self {
            Connection::Data(c) => c.handle_answer(sdp).await,
            Connection::Media(c) => c.handle_answer(sdp).await,
        }
    }

    pub(crate) async fn handle_candidate(
        &self,
        cand: CandidateInit,
    ) -> Result<(), ConnectionError> {
        match self {
            Connection::Data(c) => c.handle_candidate(cand).await,
            Connection::Media(c) => c.handle_candidate(cand).await,
        }
    }

    pub(crate) async fn handle_remote_close(&self) {
        match self {
            Connection::Data(c) => c.handle_remote_close().await,
            Connection::Media(c) => c.handle_remote_close().await,
        }
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
