//! The `type` strings of the server's `ERROR` message.

use serde::{Deserialize, Serialize};

/// An error type the server sends in `ERROR {type, message}`. The SDK surfaces it as the `type`
/// of the Peer's `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorType {
    /// The API key is unknown to the server.
    InvalidKey,
    /// The requested peer id is malformed or too long.
    InvalidId,
    /// The requested peer id is held by another session (another `token`).
    UnavailableId,
    /// A credential is missing, malformed, wrong or expired.
    Authentication,
    /// The destination peer of a relayed message is not connected.
    PeerUnavailable,
    /// A room operation failed: bad name, wrong room type, full room, not a member.
    RoomError,
    /// The operation is not permitted for this API key.
    Permission,
    /// The peer sent messages faster than the server's rate limit; the message was dropped.
    SignalingLimited,
    /// A message was malformed: unknown event, wrong payload types, bad framing, too large.
    InvalidMessage,
    /// The SFU cannot serve the request.
    SfuLimited,
    /// An internal server failure.
    ServerError,
}

impl ErrorType {
    /// All error types, in documentation order.
    pub const ALL: [ErrorType; 11] = [
        ErrorType::InvalidKey,
        ErrorType::InvalidId,
        ErrorType::UnavailableId,
        ErrorType::Authentication,
        ErrorType::PeerUnavailable,
        ErrorType::RoomError,
        ErrorType::Permission,
        ErrorType::SignalingLimited,
        ErrorType::InvalidMessage,
        ErrorType::SfuLimited,
        ErrorType::ServerError,
    ];

    /// The wire string, e.g. `peer-unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidKey => "invalid-key",
            ErrorType::InvalidId => "invalid-id",
            ErrorType::UnavailableId => "unavailable-id",
            ErrorType::Authentication => "authentication",
            ErrorType::PeerUnavailable => "peer-unavailable",
            ErrorType::RoomError => "room-error",
            ErrorType::Permission => "permission",
            ErrorType::SignalingLimited => "signaling-limited",
            ErrorType::InvalidMessage => "invalid-message",
            ErrorType::SfuLimited => "sfu-limited",
            ErrorType::ServerError => "server-error",
        }
    }

    /// When the server sends it, and whether the session is closed afterwards.
    pub fn doc(self) -> &'static str {
        match self {
            ErrorType::InvalidKey => "The `apiKey` of the handshake is unknown. The session is closed.",
            ErrorType::InvalidId => "The requested `peerId` breaks the SDK's id rule or the server's length limit. The session is closed.",
            ErrorType::UnavailableId => "Another session (another `token`) holds the requested `peerId`. The session is closed.",
            ErrorType::Authentication => "The credential is missing, malformed, wrong, out of range or expired. At the handshake and at expiry the session is closed; a bad `UPDATE_CREDENTIAL` keeps the session until the old credential expires.",
            ErrorType::PeerUnavailable => "`dst` of `SEND_OFFER`, `SEND_ANSWER`, `SEND_CANDIDATE` or `SEND_FORCE_CLOSE` is not an open peer of the same API key. The message is dropped.",
            ErrorType::RoomError => "A room request failed: empty or too long name, a `roomType` other than the room's, a full room, or a room message from a non-member. The message is dropped.",
            ErrorType::Permission => "The API key does not allow the operation.",
            ErrorType::SignalingLimited => "The peer exceeded the message rate limit. The message is dropped; the session stays.",
            ErrorType::InvalidMessage => "An unknown event, a payload of the wrong shape, a malformed Socket.IO packet or an oversized message. The message is dropped; malformed Engine.IO framing closes the session instead.",
            ErrorType::SfuLimited => "The SFU cannot serve the room (no media backend, or its capacity is reached).",
            ErrorType::ServerError => "An internal failure of the server.",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
