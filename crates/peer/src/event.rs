//! `PeerEvent`: what [`Peer::next_event`](crate::Peer::next_event) yields.

use crate::error::PeerError;
use peer_connection::router::IncomingRequest;
use peer_connection::{DataConnection, MediaConnection};

/// An event of the Peer (the SDK's Peer events, and the reconnects and refusals the SDK does
/// not report).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerEvent {
    /// `open`: the server accepted the Peer under this id. The first event.
    Open(String),
    /// `connection`: a remote peer opened a DataConnection to this Peer. It is already being
    /// answered; wait for its `Open` event before sending.
    Connection(DataConnection),
    /// `call`: a remote peer is calling. Answer with
    /// [`MediaConnection::answer`] (or close it to refuse).
    Call(MediaConnection),
    /// `error`: something failed; the Peer goes on unless a `Disconnected` follows.
    Error(PeerError),
    /// `expiresin`: the credential expires in this many seconds; call
    /// [`update_credential`](crate::Peer::update_credential).
    ExpiresIn(u64),
    /// The signaling socket dropped; attempt `attempt` to reconnect follows (after a delay).
    /// Existing connections stay up.
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
        /// Why the socket dropped or the last attempt failed.
        reason: String,
    },
    /// The signaling socket is back, with the same peer id.
    Reconnected,
    /// An incoming connection or call was refused before anything was created for it (the
    /// connection limit, or the [`incoming`](crate::PeerOptions::incoming) policy); the remote
    /// was told to close it.
    Refused {
        /// What was asked.
        request: IncomingRequest,
        /// Why it was refused.
        reason: String,
    },
    /// `disconnected`: the signaling socket is gone for good (after `disconnect()`, a rejection
    /// or failed reconnects). Existing connections stay up; no new ones can be made.
    Disconnected(String),
    /// `close`: the Peer was destroyed. The last event.
    Close,
}
