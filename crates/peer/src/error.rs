//! `PeerError`: the Peer's `error` event and the error of its methods, with the SDK's types.

use peer_connection::ConnectionError;
use peer_protocol::ErrorType;
use peer_transport::TransportError;
use std::fmt;

/// The kind of a [`PeerError`]; [`ErrorKind::as_str`] gives the SDK's `type` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An `ERROR` from the server (`peer-unavailable`, `unavailable-id`, `authentication`, ...).
    Server(ErrorType),
    /// The peer id breaks the SDK's id rule (checked before connecting).
    InvalidId,
    /// The API key breaks the SDK's key rule (checked before connecting).
    InvalidKey,
    /// `list_all_peers` is disabled for the key (HTTP 401).
    ListError,
    /// The signaling socket failed or could not be (re)established.
    SocketError,
    /// The operation needs an open Peer and it is disconnected or destroyed.
    Disconnected,
    /// A P2P connection failed.
    Connection,
    /// A parameter is invalid (an id for `connect`, say).
    InvalidArgument,
}

impl ErrorKind {
    /// The SDK's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Server(t) => t.as_str(),
            ErrorKind::InvalidId => "invalid-id",
            ErrorKind::InvalidKey => "invalid-key",
            ErrorKind::ListError => "list-error",
            ErrorKind::SocketError => "socket-error",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Connection => "connection-error",
            ErrorKind::InvalidArgument => "invalid-argument",
        }
    }
}

/// An error of the Peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// What kind.
    pub kind: ErrorKind,
    /// A human-readable explanation.
    pub message: String,
}

impl PeerError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PeerError {
        PeerError {
            kind,
            message: message.into(),
        }
    }

    /// The SDK's `type` string.
    pub fn type_str(&self) -> &'static str {
        self.kind.as_str()
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for PeerError {}

impl From<ConnectionError> for PeerError {
    fn from(e: ConnectionError) -> PeerError {
        PeerError::new(ErrorKind::Connection, e.to_string())
    }
}

impl From<TransportError> for PeerError {
    fn from(e: TransportError) -> PeerError {
        match &e {
            TransportError::Rejected { reason, kind } => PeerError::new(
                kind.map(ErrorKind::Server)
                    .unwrap_or(ErrorKind::SocketError),
                reason.clone(),
            ),
            TransportError::Closed => PeerError::new(ErrorKind::Disconnected, e.to_string()),
            _ => PeerError::new(ErrorKind::SocketError, e.to_string()),
        }
    }
}
