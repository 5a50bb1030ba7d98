//! The SkyWay `Peer` API in Rust.
//!
//! A [`Peer`] opens on a SkyWay-compatible signaling server (`peer-server`) and exchanges data
//! with `skyway-js@4.4.5` browsers and other Rust peers over [`DataConnection`]s, in every
//! serialization the browser SDK offers (`binary`, `binary-utf8`, `json`, `none`).
//!
//! Calls carry audio and video: [`Peer::call`] and [`PeerEvent::Call`] give a
//! [`MediaConnection`] that sends a [`MediaStream`] of local tracks (fed by RTP on a UDP port
//! or by media files, see [`media::source`]) and reports the remote tracks (forwarded to a UDP
//! port or recorded, see [`media::sink`]).
//!
//! Rooms: [`Peer::join_room`] joins a mesh [`Room`] shared with browsers: a call to every
//! member, room data ([`RoomPayload`]: text, JSON, bytes) and the room's log through the server,
//! and [`RoomEvent`]s for members joining and leaving, their streams and their data.
//!
//! This crate is a thin facade: signaling lives in `peer-transport`, connections in
//! `peer-connection`, rooms in `peer-room`, media in `peer-media` (re-exported as [`media`]),
//! wire types in `peer-protocol`.
//!
//! # Example
//!
//! Two peers on an in-process server: one connects, the other answers and echoes.
//!
//! ```
//! use peer::{ConnectOptions, Data, DataConnectionEvent, LocalAddresses, Peer, PeerEvent, PeerOptions};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut config = peer_server::config::Config::development();
//! # config.listen = "127.0.0.1:0".parse()?;
//! # let server = peer_server::Server::bind(config).await?;
//! # let port = server.local_addr().port();
//! # tokio::spawn(server.run(std::future::pending()));
//! let mut options = PeerOptions::new("peerdev0-0000-0000-0000-000000000000");
//! options.port = port; // a running peer-server (127.0.0.1:9000 by default)
//! options.config.local_addresses = LocalAddresses::LoopbackOnly;
//!
//! let bob = Peer::new(Some("bob"), options.clone()).await?;
//! let alice = Peer::new(Some("alice"), options).await?;
//!
//! tokio::spawn(async move {
//!     while let Some(event) = bob.next_event().await {
//!         if let PeerEvent::Connection(conn) = event {
//!             tokio::spawn(async move {
//!                 while let Some(data) = conn.recv().await {
//!                     let _ = conn.send(data).await; // echo
//!                 }
//!             });
//!         }
//!     }
//! });
//!
//! let conn = alice.connect("bob", ConnectOptions::default()).await?;
//! conn.wait_open().await?;
//! conn.send("héllo 😀").await?;
//! assert_eq!(conn.recv().await, Some(Data::Text("héllo 😀".into())));
//! conn.close(true).await;
//! alice.destroy().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod event;
mod inner;
pub mod options;
pub mod peer;
mod repair;
mod router;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, PeerError};
pub use event::PeerEvent;
pub use options::{IncomingPolicy, PeerCredential, PeerOptions};
pub use peer::Peer;
pub use peer_connection::router::IncomingRequest;
pub use peer_connection::{
    AnswerOptions, CallOptions, Codec, ConnectOptions, Connection, ConnectionError, ConnectionKind,
    ConnectionLimits, ConnectionState, ConnectionStats, Data, DataConnection, DataConnectionEvent,
    DcInit, IceServer, IceTransportPolicy, LocalAddresses, LocalTrack, MediaConnection,
    MediaConnectionEvent, MediaKind, MediaStream, RemoteTrack, RtcConfig, Serialization,
};
pub use peer_media as media;
pub use peer_protocol::ErrorType;
pub use peer_room::{
    Room, RoomError, RoomEvent, RoomMode, RoomOptions, RoomPayload, MAX_ROOM_DATA,
};
pub use peer_transport::ReconnectPolicy;
