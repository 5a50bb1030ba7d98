//! The embedded TURN server of `peer-server` (issue 12), built in layers as the SFU is:
//!
//! - [`policy`]: which peer addresses an allocation may relay to (loopback, link-local,
//!   private and other special ranges are refused unless the configuration allows them);
//! - [`quota`]: allocations per user and for the whole server, and a byte budget per
//!   allocation;
//! - [`framing`]: TURN over TCP (RFC 5766 §2.1): STUN messages and padded ChannelData frames
//!   cut out of a byte stream.
//!
//! - [`peek`]: what the server reads of a client's STUN message before `turn` handles it
//!   (method, USERNAME, every XOR-PEER-ADDRESS) and the error responses it sends itself.
//!
//! These are pure and synchronous: tests and fuzzers drive them without sockets.
//! [`server`] is the tokio shell: [`TurnServer`] on one UDP socket, around `turn` 0.17.2's
//! request handling, with TURN REST credentials (`peer_auth::turn`), and `tcp.rs` for TURN over
//! TCP on the same port.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod framing;
mod handler;
pub mod peek;
pub mod policy;
pub mod quota;
pub mod server;
mod tcp;

pub use handler::TurnStats;
pub use server::{TurnConfig, TurnError, TurnServer};
