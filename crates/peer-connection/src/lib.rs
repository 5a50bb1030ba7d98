//! SkyWay peer-to-peer connections over WebRTC (`webrtc` 0.17.2), interoperable with
//! `skyway-js@4.4.5`.
//!
//! - [`data_connection`]: [`DataConnection`], the SDK's DataConnection: label, metadata,
//!   serialization, `dcInit`, trickle ICE both ways, backpressured `send`, `close(force)`.
//! - [`media_connection`]: [`MediaConnection`], the SDK's MediaConnection: `call`/`answer` with
//!   a [`MediaStream`] of local tracks, receive-only calls, the SDK's SDP options, remote tracks,
//!   `replace_stream`, `close(force)`. [`media_options`]: its options.
//! - [`connection`]: [`Connection`], either kind, as a Peer keeps them. Both kinds are built on
//!   one private core (ids, peer connection, signaling sink, state, trickle-ICE queues, close).
//! - [`router`]: the entry points of a signaling router (create, accept, refuse, deliver
//!   `OFFER`/`ANSWER`/`CANDIDATE`, remote close); the connection types keep only the
//!   application's methods.
//! - [`framing`]: the pure per-serialization message codec (js-binarypack chunks for `binary`).
//! - [`signal`]: parsing and building the `OFFER`/`ANSWER`/`CANDIDATE` payloads (with `roomName`
//!   for a room's connections); [`sink`]: where a connection's signaling goes.
//! - [`config`]: ICE servers, local address policy, the shared WebRTC API objects;
//!   [`limits`]: what a remote can make a connection hold; [`guard`]: the media socket guard
//!   against datagrams that crash webrtc-rs.
//! - [`state`]: [`ConnectionState`] and the waiting both connection kinds share; [`stats`]:
//!   bytes, packets and round-trip time.
//! - [`data`], [`serialization`], [`error`], [`random`]: values, options, errors and ids.
//!
//! A connection speaks to the signaling server only through a [`sink::SignalSink`], and hears
//! from it through [`router`]; it does not know about sockets.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod candidates;
pub mod config;
pub mod connection;
mod core;
pub mod data;
pub mod data_connection;
pub mod error;
pub mod framing;
pub mod guard;
pub mod limits;
pub mod media_connection;
pub mod media_options;
pub mod random;
pub mod router;
pub mod serialization;
pub mod signal;
pub mod sink;
pub mod state;
pub mod stats;

pub use config::{IceServer, IceTransportPolicy, LocalAddresses, RtcConfig, RtcContext};
pub use connection::Connection;
pub use core::ConnectionKind;
pub use data::Data;
pub use data_connection::{ConnectOptions, DataConnection, DataConnectionEvent};
pub use error::{ConnectionError, StackError};
pub use limits::ConnectionLimits;
pub use media_connection::{MediaConnection, MediaConnectionEvent};
pub use media_options::{AnswerOptions, CallOptions};
pub use peer_media::{Codec, LocalTrack, MediaKind, MediaStream, RemoteTrack};
pub use serialization::{DcInit, Serialization};
pub use sink::{Signal, SignalSink};
pub use state::ConnectionState;
pub use stats::ConnectionStats;
/// The `webrtc` crate this library is built on, for [`MediaConnection::peer_connection`].
pub use webrtc;
