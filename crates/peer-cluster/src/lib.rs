//! Cluster mode of `peer-server`: several nodes sharing peers and rooms through Redis
//! (`[cluster] redis = "redis://..."`, off by default). This crate holds the parts that are
//! pure and fuzzable, so that the Redis shell stays thin:
//!
//! - [`keys`]: the Redis key and channel layout (peer ids claimed per app, node liveness, the
//!   channels messages travel on);
//! - [`message`]: [`NodeMessage`], what one node tells another (a relayed signaling message for
//!   one of its peers, a member's room operation for the room's home node, the home's
//!   messages for a member), and its binary codec, bounded and checked so that a node can never
//!   be made to panic or hold more than a frame's worth;
//! - [`node`]: [`Node`], the thin tokio shell over Redis (liveness, peer id claims, messages);
//! - [`stats`]: [`NodeStats`], its counters (messages by kind, Redis latency) for `/metrics`.
//!
//! How the pieces fit (see `docs/decisions.md`, "Cluster mode"): a node claims a peer id with
//! `SET NX` under its own node id and a short expiry that it renews while the peer lives, so a
//! dead node's ids are freed by Redis itself; a message for a peer on another node is
//! published on that node's channel, in order per sender (one publishing connection per node);
//! a room lives on one home node, claimed like an id, and members elsewhere send their room
//! operations there; a node whose liveness key expired is gone, and the others send `LEAVE`
//! and `ROOM_USER_LEAVE` for its peers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod keys;
pub mod message;
pub mod node;
pub mod stats;

pub use keys::NodeId;
pub use message::{DecodeError, NodeMessage, MAX_FRAME};
pub use node::{Claim, ClusterConfig, ClusterError, Node};
pub use stats::{NodeStats, StatsSnapshot};
