//! The client side of SkyWay signaling, as `skyway-js@4.4.5` speaks it: Engine.IO revision 3 with
//! Socket.IO protocol 4 over a WebSocket (`ws` or `wss`), and the two REST calls.
//!
//! - [`session`]: the session as a pure state machine: handshake, `40`, `OPEN`, the queue of
//!   messages sent before `OPEN`, Engine.IO pings and the application `PING` every 25 s.
//! - [`socket`]: the tokio task that owns the WebSocket and reconnects with the same peer id and
//!   token after a drop ([`Signaling`]).
//! - [`rest`]: `listAllPeers` and `exists`.
//! - [`options`], [`query`], [`tls`], [`http1`]: addresses and policies, the handshake query,
//!   rustls setup, and a minimal HTTP/1.1 response parser.
//!
//! The wire codecs themselves live in `peer-protocol`; nothing here re-implements them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod http1;
pub mod options;
pub mod query;
pub mod rest;
pub mod session;
pub mod socket;
pub mod tls;

pub use error::TransportError;
pub use options::{ReconnectPolicy, ServerAddr, SignalingOptions};
pub use rest::PeerList;
pub use socket::{Opened, Signaling, SignalingEvent};
