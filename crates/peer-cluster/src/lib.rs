//! Cluster mode of `peer-server`: several nodes sharing peers and rooms through Redis
//! (`[cluster] redis = "redis://..."`, off by default). This crate holds the parts that are
//! pure and fuzzable, so that the Redis shell stays thin:
//!
//! - [`keys`]: the Redis key and channel layout (peer ids claimed per app, node liveness, the
//!   channels messages travel on);
//! - [`message`]: [`NodeMessage`], what one node tells another (a relayed signaling message for
//!   one of its peers, room membership, room data, a peer gone), and its binary codec, bounded
//!   and checked so that a node can never be made to panic or hold more than a frame's worth;
//! - [`node`]: [`Node`], the thin tokio shell over Redis (liveness, peer id claims, messages).
//!
//! How the pieces fit (see `docs/decisions.md`, "Cluster mode"): a node claims a peer id with
//! `SET NX` under its own node id and a short expiry that it renews while the peer lives, so a
//! dead node's ids are freed by Redis itself; a message for a peer on another node is
//! published on that node's channel, in order per sender (one publishing connection per node);
//! room membership is broadcast; a node whose liveness key expired is gone, and the others
//! send `LEAVE` and `ROOM_USER_LEAVE` for its peers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod keys;
pub mod message;
pub mod node;

pub use keys::NodeId;
pub use message::{DecodeError, NodeMessage, MAX_FRAME};
pub use node::{Claim, ClusterConfig, ClusterError, Node};
