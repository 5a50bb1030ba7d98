//! SkyWay peer-to-peer connections over WebRTC (`webrtc` 0.17.2), interoperable with
//! `skyway-js@4.4.5`.
//!
//! - [`data_connection`]: [`DataConnection`], the SDK's DataConnection: label, metadata,
//!   serialization, `dcInit`, trickle ICE both ways, backpressured `send`, `close(force)`.
//! - [`media_connection`]: [`MediaConnection`], the SDK's MediaConnection: `call`/`answer` with
//!   a [`MediaStream`] of local tracks, receive-only calls, the SDK's SDP options, remote tracks,
//!   `replace_stream`, `close(force)`. [`media_options`]: its options.
//! - [`framing`]: the pure per-serialization message codec (js-binarypack chunks for `binary`).
//! - [`signal`]: parsing and building the `OFFER`/`ANSWER`/`CANDIDATE` payloads; [`sink`]: where
//!   a connection's signaling goes.
//! - [`config`]: ICE servers and local address policy, and the shared WebRTC API object.
//! - [`state`]: [`ConnectionState`] and the waiting both connection kinds share; the trickle-ICE
//!   candidate queues are in the private `candidates` module.
//! - [`data`], [`serialization`], [`error`], [`random`]: values, options, errors and ids.
//!
//! A connection speaks to the signaling server only through a [`sink::SignalSink`], and hears from it through the `handle_*` methods the Peer's
//! router calls; it does not know about sockets.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod candidates;
pub mod config;
pub mod data;
pub mod data_connection;
pub mod error;
pub mod framing;
pub mod media_connection;
pub mod media_options;
pub mod random;
pub mod serialization;
pub mod signal;
pub mod sink;
pub mod state;

pub use config::{IceServer, IceTransportPolicy, LocalAddresses, RtcConfig, RtcContext};
pub use data::Data;
pub use data_connection::{ConnectOptions, DataConnection, DataConnectionEvent};
pub use error::ConnectionError;
pub use media_connection::{MediaConnection, MediaConnectionEvent};
pub use media_options::{AnswerOptions, CallOptions};
pub use peer_media::{Codec, LocalTrack, MediaKind, MediaStream, RemoteTrack};
pub use serialization::{DcInit, Serialization};
pub use sink::{Signal, SignalSink};
pub use state::ConnectionState;
