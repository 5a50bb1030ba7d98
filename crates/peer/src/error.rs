//! `PeerError`: the Peer's `error` event and the error of its methods, with the SDK's types and
//! the underlying error as its [`source`](std::error::Error::source).

use peer_connection::ConnectionError;
use peer_protocol::ErrorType;
use peer_room::RoomError;
use peer_transport::TransportError;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

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
    /// A step took longer than its timeout (connecting, the handshake, a REST call).
    Timeout,
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
            ErrorKind::Timeout => "timeout",
        }
    }
}

/// An error of the Peer.
#[derive(Debug, Clone)]
pub struct PeerError {
    /// What kind.
    pub kind: ErrorKind,
    /// A human-readable explanation.
    pub message: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl PartialEq for PeerError {
    fn eq(&self, other: &PeerError) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for PeerError {}

impl PeerError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PeerError {
        PeerError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> PeerError {
        PeerError {
            kind,
            message: message.into(),
            source: Some(Arc::new(source)),
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

impl Error for PeerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

impl From<ConnectionError> for PeerError {
    fn from(e: ConnectionError) -> PeerError {
        PeerError::with_source(ErrorKind::Connection, e.to_string(), e)
    }
}

impl From<RoomError> for PeerError {
    fn from(e: RoomError) -> PeerError {
        let kind = match &e {
            RoomError::TooLarge { .. } => ErrorKind::InvalidArgument,
            RoomError::Timeout => ErrorKind::Timeout,
            RoomError::SignalingClosed | RoomError::Closed => ErrorKind::Disconnected,
            RoomError::Connection(_) => ErrorKind::Connection,
            _ => ErrorKind::Server(peer_protocol::ErrorType::RoomError),
        };
        PeerError::with_source(kind, e.to_string(), e)
    }
}

impl From<TransportError> for PeerError {
    fn from(e: TransportError) -> PeerError {
        let kind = match &e {
            TransportError::Rejected { kind, .. } => kind
                .map(ErrorKind::Server)
                .unwrap_or(ErrorKind::SocketError),
            TransportError::Closed => ErrorKind::Disconnected,
            TransportError::OpenTimeout | TransportError::Timeout { .. } => ErrorKind::Timeout,
            _ => ErrorKind::SocketError,
        };
        let message = match &e {
            TransportError::Rejected { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        PeerError::with_source(kind, message, e)
    }
}
