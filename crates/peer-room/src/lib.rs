//! SkyWay rooms for Rust peers, in the same rooms as `skyway-js@4.4.5` browsers.
//!
//! A [`Room`] is what the SDK's `peer.joinRoom(name, options)` returns: today the `mesh` kind
//! (the SDK's `MeshRoom`), where this side makes one MediaConnection to each member; the `sfu`
//! kind comes with the server's SFU. Room data and logs go through the signaling server.
//!
//! - [`room`]: [`Room`], the application's handle: `members`, `send`, `get_log`,
//!   `replace_stream`, `close`, and [`RoomEvent`]s (`Open`, `PeerJoin`, `PeerLeave`, `Stream`,
//!   `Track`, `Data`, `Log`, `Close`).
//! - [`mesh_core`] (private): the mesh room's decisions with no I/O: members, which calls to make
//!   and answer (the SDK's glare rule), candidates that wait for their call, what leaving
//!   closes. [`mesh`] (private): the shell that carries them out with `peer-connection`.
//! - [`payload`]: [`RoomPayload`], room data (JSON text and binary attachments), and the SDK's
//!   20 MiB check; [`send_queue`] (private): the outbox that spaces sends 100 ms apart.
//! - [`router`]: the Peer facade's entry points: [`router::join`] and [`router::deliver`] with a
//!   [`RoomInput`] ([`input`]).
//! - [`options`], [`event`], [`error`]: [`RoomOptions`], [`RoomEvent`], [`RoomError`].
//!
//! Applications use rooms through the `peer` crate (`Peer::join_room`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod event;
pub mod input;
mod mesh;
mod mesh_core;
pub mod options;
pub mod payload;
pub mod room;
mod room_core;
pub mod router;
mod send_queue;
mod sfu;
mod sfu_core;

pub use error::RoomError;
pub use event::RoomEvent;
pub use input::RoomInput;
pub use options::{RoomMode, RoomOptions};
pub use payload::{RoomPayload, MAX_ROOM_DATA};
pub use room::{Room, RoomContext};
pub use send_queue::MIN_INTERVAL as ROOM_SEND_INTERVAL;
