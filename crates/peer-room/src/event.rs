//! [`RoomEvent`]: what a room reports, as the SDK's room events.

use crate::error::RoomError;
use crate::payload::RoomPayload;
use peer_connection::RemoteTrack;

/// What a room reports, in order. `Close` is the last event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RoomEvent {
    /// `open`: the server confirmed the join.
    Open,
    /// `peerJoin`: a member joined after this side.
    PeerJoin(String),
    /// `peerLeave`: a member left (or vanished); its calls are closed.
    PeerLeave(String),
    /// `stream`: a member's stream arrived (once per member and stream id). Its tracks follow
    /// as [`RoomEvent::Track`].
    Stream {
        /// The member it comes from.
        peer_id: String,
        /// The stream id (the browser's `MediaStream.id`).
        stream: String,
    },
    /// A track of a member's stream started: read its RTP, forward it, record it.
    Track {
        /// The member it comes from.
        peer_id: String,
        /// The track.
        track: RemoteTrack,
    },
    /// `data`: room data from another member (never this side's own).
    Data {
        /// The sender.
        src: String,
        /// What it sent.
        data: RoomPayload,
    },
    /// `log`: the room's log, as asked for with `get_log()`: JSON texts
    /// `{"messageType","message","timestamp"}`, oldest first.
    Log(Vec<String>),
    /// Something failed without closing the room (a member's call, say).
    Error(RoomError),
    /// `close`: the room is closed (left, destroyed with its Peer, or not joined in time).
    Close,
}
