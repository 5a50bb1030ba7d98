//! The transport's error type.

use peer_protocol::ErrorType;
use std::error::Error;
use std::fmt;

/// The underlying error of a failed connection: an I/O, TLS or WebSocket error.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Why a signaling or REST operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The WebSocket or TCP connection could not be made or broke; the cause is the source.
    Connect(Cause),
    /// TLS configuration failed (a bad extra root certificate, for example).
    Tls(String),
    /// No `OPEN` arrived within the open timeout.
    OpenTimeout,
    /// A step did not finish in time: `what` names it (connecting, the handshake, a REST call).
    Timeout {
        /// The step that timed out.
        what: &'static str,
    },
    /// The server ended the session before `OPEN` (usually after an `ERROR`).
    Rejected {
        /// What happened, with the server's `ERROR` if there was one.
        reason: String,
        /// The type of the server's `ERROR`, if it sent one.
        kind: Option<ErrorType>,
    },
    /// The session is closed; nothing more can be sent.
    Closed,
    /// Too many messages wait for the connection to open.
    QueueFull,
    /// An HTTP call returned something unexpected.
    Http {
        /// The status code, 0 when the response could not be parsed.
        status: u16,
        /// The body or the parse failure.
        message: String,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Connect(e) => write!(f, "cannot reach the signaling server: {e}"),
            TransportError::Tls(e) => write!(f, "TLS setup failed: {e}"),
            TransportError::OpenTimeout => {
                f.write_str("the server did not open the session in time")
            }
            TransportError::Timeout { what } => write!(f, "{what} timed out"),
            TransportError::Rejected { reason, .. } => {
                write!(f, "the server rejected the session: {reason}")
            }
            TransportError::Closed => f.write_str("the signaling session is closed"),
            TransportError::QueueFull => {
                f.write_str("too many signaling messages are waiting to be sent")
            }
            TransportError::Http { status, message } => write!(f, "HTTP {status}: {message}"),
        }
    }
}

impl Error for TransportError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TransportError::Connect(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl TransportError {
    /// A connection failure caused by `cause`.
    pub fn connect(cause: impl Into<Cause>) -> TransportError {
        TransportError::Connect(cause.into())
    }
}
