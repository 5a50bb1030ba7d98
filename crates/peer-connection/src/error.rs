//! The connection error type.

use std::fmt;

/// Why a connection operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionError {
    /// The WebRTC stack failed (ICE, DTLS, SCTP, SDP).
    WebRtc(String),
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
        }
    }
}

impl std::error::Error for ConnectionError {}

impl From<webrtc::Error> for ConnectionError {
    fn from(e: webrtc::Error) -> ConnectionError {
        ConnectionError::WebRtc(e.to_string())
    }
}
