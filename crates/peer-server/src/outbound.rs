//! [`Outbound`]: what the hub sends to other nodes (cluster mode), queued by the shared state
//! for the cluster task (`crate::cluster`), which sends it in order.

use crate::hub::{RemoteFrames, RemoteMessage, RoomRoute};

/// What the hub sends to other nodes, in the order it produced them.
#[derive(Debug)]
pub enum Outbound {
    /// A relayed message for a peer on another node.
    Relay(RemoteMessage),
    /// A room operation, for the room's home.
    Room(RoomRoute),
    /// A room's message for a member on another node.
    Frames(RemoteFrames),
    /// A peer gone from this node: its id is given up.
    Release {
        /// The app key.
        app: String,
        /// The peer id.
        peer: String,
    },
}

/// Messages waiting for the cluster task; past this the hub's outputs for other nodes are
/// dropped (logged; a relay's sender gets `peer-unavailable`), so a Redis that stalls cannot
/// make the node queue without limit.
pub const QUEUE: usize = 65_536;
