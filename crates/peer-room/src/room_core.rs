//! [`RoomCore`]: the decisions of a room of either kind, behind one interface, so that the
//! [`Room`](crate::Room) handle, its events, its outbox and its log requests serve both.

use crate::input::RoomInput;
use crate::mesh_core::{MeshCore, Output};
use crate::sfu_core::SfuRoomCore;

/// A mesh room's or an SFU room's core.
pub(crate) enum RoomCore {
    /// One call per member.
    Mesh(MeshCore),
    /// One connection with the SFU server.
    Sfu(SfuRoomCore),
}

impl RoomCore {
    pub(crate) fn members(&self) -> &[String] {
        match self {
            RoomCore::Mesh(c) => c.members(),
            RoomCore::Sfu(c) => c.members(),
        }
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        match self {
            RoomCore::Mesh(c) => c.poll_output(),
            RoomCore::Sfu(c) => c.poll_output(),
        }
    }

    pub(crate) fn handle_input(&mut self, input: RoomInput) {
        match self {
            RoomCore::Mesh(c) => c.handle_input(input),
            RoomCore::Sfu(c) => c.handle_input(input),
        }
    }

    pub(crate) fn close(&mut self) {
        match self {
            RoomCore::Mesh(c) => c.close(),
            RoomCore::Sfu(c) => c.close(),
        }
    }

    pub(crate) fn join_timed_out(&mut self) {
        match self {
            RoomCore::Mesh(c) => c.join_timed_out(),
            RoomCore::Sfu(c) => c.join_timed_out(),
        }
    }

    /// Mesh rooms: call `id` is gone.
    pub(crate) fn call_closed(&mut self, id: &str) {
        if let RoomCore::Mesh(c) = self {
            c.call_closed(id);
        }
    }

    /// SFU rooms: the SFU core, for the connection's stream and track events.
    pub(crate) fn sfu(&mut self) -> Option<&mut SfuRoomCore> {
        match self {
            RoomCore::Sfu(c) => Some(c),
            RoomCore::Mesh(_) => None,
        }
    }
}
