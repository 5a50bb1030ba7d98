//! The entry points of a Peer's router (the `peer` facade) into its rooms: joining, and
//! delivering what the server sent. The [`Room`] type keeps only the application's methods.
//!
//! Order: a room is registered (the `register` callback) *before* `ROOM_JOIN` leaves, so the
//! server's `ROOM_USER_JOIN` finds it.

use crate::error::RoomError;
use crate::input::RoomInput;
use crate::options::{RoomMode, RoomOptions};
use crate::room::{Room, RoomContext};
use peer_protocol::client::{ClientMessage, RoomJoin, RoomType};
use std::sync::Arc;

/// Joins room `name` (the SDK's `peer.joinRoom`): creates the room, lets `register` record it,
/// sends `ROOM_JOIN`, and returns at once; [`RoomEvent::Open`](crate::RoomEvent::Open) follows
/// when the server confirms. `on_close` runs once when the room closes. An empty name is
/// refused as the SDK refuses it.
pub async fn join(
    ctx: RoomContext,
    name: &str,
    options: RoomOptions,
    register: impl FnOnce(&Room),
    on_close: impl FnOnce() + Send + 'static,
) -> Result<Room, RoomError> {
    if name.is_empty() {
        return Err(RoomError::InvalidData("the room name is empty".into()));
    }
    let room_type = match options.mode {
        RoomMode::Mesh => RoomType::Mesh,
        RoomMode::Sfu => RoomType::Sfu,
    };
    let signal = ctx.signal.clone();
    let deadline = options.join_timeout;
    let room = Room::new(ctx, name, options, Box::new(on_close));
    register(&room);
    let sent = signal
        .send(ClientMessage::RoomJoin(RoomJoin {
            room_name: name.to_owned(),
            room_type,
        }))
        .await;
    if let Err(e) = sent {
        room.close().await;
        return Err(e.into());
    }
    let weak = Arc::downgrade(&room.inner);
    tokio::spawn(async move {
        tokio::time::sleep(deadline).await;
        if let Some(inner) = weak.upgrade() {
            inner.join_timed_out().await;
        }
    });
    Ok(room)
}

/// Hands `room` one message of the server's (or a peer's departure).
pub async fn deliver(room: &Room, input: RoomInput) {
    room.deliver(input).await;
}
