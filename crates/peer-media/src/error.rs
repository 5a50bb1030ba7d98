//! The media error type.

use std::fmt;

/// Why a media operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The WebRTC stack failed.
    WebRtc(String),
    /// Reading or writing a file or socket failed.
    Io(String),
    /// A file or packet is not in the expected format.
    InvalidFormat(String),
    /// A codec name or combination this crate does not handle.
    UnsupportedCodec(String),
    /// `videoCodec`/`audioCodec` names a codec the SDP does not offer (the SDK throws).
    CodecNotFound(String),
    /// The track or connection is closed.
    Closed,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::WebRtc(e) => write!(f, "WebRTC: {e}"),
            MediaError::Io(e) => write!(f, "I/O: {e}"),
            MediaError::InvalidFormat(e) => write!(f, "invalid format: {e}"),
            MediaError::UnsupportedCodec(c) => write!(f, "unsupported codec: {c}"),
            MediaError::CodecNotFound(c) => write!(f, "codec {c} is not in the SDP"),
            MediaError::Closed => f.write_str("closed"),
        }
    }
}

impl std::error::Error for MediaError {}

impl From<webrtc::Error> for MediaError {
    fn from(e: webrtc::Error) -> MediaError {
        MediaError::WebRtc(e.to_string())
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> MediaError {
        MediaError::Io(e.to_string())
    }
}
