//! The connection error type.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A failure of the WebRTC stack: what was being done, and the stack's own error as the
/// [`source`](Error::source) when there is one.
#[derive(Clone)]
pub struct StackError {
    what: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl StackError {
    /// A failure with the stack's error as its source.
    pub fn new(source: impl Error + Send + Sync + 'static) -> StackError {
        StackError {
            what: source.to_string(),
            source: Some(Arc::new(source)),
        }
    }

    /// A failure described by `what`, with no underlying error.
    pub fn msg(what: impl Into<String>) -> StackError {
        StackError {
            what: what.into(),
            source: None,
        }
    }
}

impl fmt::Debug for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StackError").field(&self.what).finish()
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl PartialEq for StackError {
    fn eq(&self, other: &StackError) -> bool {
        self.what == other.what
    }
}

impl Eq for StackError {}

/// Why a connection operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The WebRTC stack failed (ICE, DTLS, SCTP, SDP); the stack's error is the source.
    WebRtc(StackError),
    /// The signaling channel is gone (the Peer was destroyed).
    SignalingClosed,
    /// The data channel is not open yet.
    NotOpen,
    /// The connection is closed.
    Closed,
    /// A message is larger than the channel can carry in one piece (`json` and `none` are not
    /// chunked); use `binary` for large data.
    MessageTooLarge {
        /// The message size in bytes.
        size: usize,
        /// The largest message the channel carries.
        max: usize,
    },
    /// The value cannot be sent with this serialization (bytes over `json`, say).
    Unsupported(String),
    /// A remote offer or answer was malformed.
    InvalidSignal(String),
    /// Data from the remote peer could not be decoded; the message was dropped.
    InvalidData(String),
    /// The remote side sent media datagrams that would have crashed the WebRTC stack; they were
    /// dropped and the connection closed (see [`crate::guard`]).
    MalformedMedia(String),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::WebRtc(e) => write!(f, "WebRTC: {e}"),
            ConnectionError::SignalingClosed => f.write_str("the signaling channel is closed"),
            ConnectionError::NotOpen => f.write_str("the connection is not open yet"),
            ConnectionError::Closed => f.write_str("the connection is closed"),
            ConnectionError::MessageTooLarge { size, max } => write!(
                f,
                "a message of {size} bytes exceeds the channel's limit of {max} bytes"
            ),
            ConnectionError::Unsupported(e) => write!(f, "unsupported: {e}"),
            ConnectionError::InvalidSignal(e) => write!(f, "invalid signaling message: {e}"),
            ConnectionError::InvalidData(e) => write!(f, "invalid data from the remote peer: {e}"),
            ConnectionError::MalformedMedia(e) => {
                write!(f, "malformed media from the remote peer: {e}")
            }
        }
    }
}

impl Error for ConnectionError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConnectionError::WebRtc(e) => e.source.as_deref().map(|s| s as &(dyn Error + 'static)),
            _ => None,
        }
    }
}

impl From<webrtc::Error> for ConnectionError {
    fn from(e: webrtc::Error) -> ConnectionError {
        ConnectionError::WebRtc(StackError::new(e))
    }
}

impl From<webrtc::data::Error> for ConnectionError {
    fn from(e: webrtc::data::Error) -> ConnectionError {
        ConnectionError::WebRtc(StackError::new(e))
    }
}

impl ConnectionError {
    /// A stack failure described by `what`.
    pub(crate) fn stack(what: impl Into<String>) -> ConnectionError {
        ConnectionError::WebRtc(StackError::msg(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_error_is_the_source() {
        let e = ConnectionError::from(webrtc::Error::ErrConnectionClosed);
        let source = e.source().expect("a source");
        assert_eq!(
            source.to_string(),
            webrtc::Error::ErrConnectionClosed.to_string()
        );
        assert!(source.downcast_ref::<webrtc::Error>().is_some());
        assert!(ConnectionError::Closed.source().is_none());
    }
}
