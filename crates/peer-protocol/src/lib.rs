//! Wire types and pure codecs of the signaling protocol that `skyway-js@4.4.5` speaks.
//!
//! Layers, bottom up:
//! - [`engineio`]: Engine.IO revision 3 packets, WebSocket frames and long-polling payloads.
//! - [`socketio`]: Socket.IO protocol 4 packets with binary attachments.
//! - [`client`] and [`server`]: the signaling messages in each direction, as serde types with the
//!   exact wire names; [`error_type`]: the `ERROR` types.
//! - [`client_encode`] and [`server_parse`]: the reverse directions, for clients of a server.
//! - [`json_scan`]: the one pass that checks a client's JSON (syntax, depth, placeholders)
//!   before anything looks inside it; [`raw`]: JSON carried as text; [`rtc`]: session
//!   descriptions and ICE candidates.
//! - [`handshake`]: the handshake query (`apiKey`, `token`, `peerId`, `credential`).
//! - [`ids`]: the SDK's peer id and API key rules.
//! - [`catalog`]: the message catalogue that `docs/protocol.md` is generated from.
//!
//! Nothing here does I/O or keeps time; every decoder returns a typed error on bad input.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod client;
pub mod client_encode;
pub mod engineio;
pub mod error_type;
pub mod handshake;
pub mod ids;
pub mod json_scan;
pub mod raw;
pub mod rtc;
pub mod server;
pub mod server_parse;
pub mod socketio;

pub use client::ClientMessage;
pub use error_type::ErrorType;
pub use raw::RawJson;
pub use server::ServerMessage;
