//! The room error type.

use peer_connection::ConnectionError;
use std::fmt;

/// Why a room operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomError {
    /// The data is larger than a room carries in one send (20 MiB, measured as the SDK measures
    /// it: the encoded text, or the first binary attachment).
    TooLarge {
        /// The measured size in bytes.
        size: usize,
        /// The largest size allowed.
        limit: usize,
    },
    /// The data is not a room payload (a placeholder that names no attachment, say).
    InvalidData(String),
    /// The room is closed (or its Peer is gone).
    Closed,
    /// The room did not open within its join timeout.
    Timeout,
    /// The option or mode is not supported (yet).
    Unsupported(String),
    /// The signaling socket is gone.
    SignalingClosed,
    /// A member connection failed.
    Connection(ConnectionError),
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomError::TooLarge { size, limit } => {
                write!(
                    f,
                    "room data of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            RoomError::InvalidData(why) => write!(f, "invalid room data: {why}"),
            RoomError::Closed => f.write_str("the room is closed"),
            RoomError::Timeout => f.write_str("the room did not open in time"),
            RoomError::Unsupported(what) => write!(f, "unsupported: {what}"),
            RoomError::SignalingClosed => f.write_str("the signaling socket is closed"),
            RoomError::Connection(e) => write!(f, "member connection: {e}"),
        }
    }
}

impl std::error::Error for RoomError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RoomError::Connection(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConnectionError> for RoomError {
    fn from(e: ConnectionError) -> RoomError {
        match e {
            ConnectionError::SignalingClosed => RoomError::SignalingClosed,
            other => RoomError::Connection(other),
        }
    }
}
