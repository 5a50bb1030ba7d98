//! [`RoomInput`]: what the Peer's router hands a room: the server messages that name it, and
//! the departures of peers (`LEAVE`) that may be its members.

use crate::payload::RoomPayload;
use peer_connection::router::RoomSignal;
use peer_protocol::server::ServerMessage;
use std::collections::BTreeMap;

/// One input of a room.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoomInput {
    /// `ROOM_USER_JOIN`: `src` joined (this side itself: the join is confirmed).
    UserJoin {
        /// Who joined.
        src: String,
        /// The members after the join, if the server listed them.
        members: Vec<String>,
    },
    /// `ROOM_USER_LEAVE`: `src` left.
    UserLeave(String),
    /// `ROOM_USERS`: the members, as asked for after the join.
    Users {
        /// `media` (the only kind this crate asks for) or `data`.
        kind: String,
        /// Every member id; this side's own may be among them.
        list: Vec<String>,
    },
    /// `ROOM_DATA` from a member.
    Data {
        /// The sender.
        src: String,
        /// What it sent.
        data: RoomPayload,
    },
    /// `ROOM_LOGS`.
    Logs(Vec<String>),
    /// A relayed `OFFER`/`ANSWER`/`CANDIDATE` of a member's call.
    Signal(RoomSignal),
    /// `LEAVE`: the peer is gone from the server (its rooms included).
    PeerGone(String),
    /// The Peer's signaling reconnected to a fresh session (the server restarted, or the
    /// reconnect grace ran out), which knows none of its rooms: the room joins again.
    Rejoin,
    /// `SFU_OFFER`: the SFU server's offer, with the complete map from stream id to member.
    SfuOffer {
        /// The offer's SDP.
        sdp: String,
        /// Stream id → peer id (entries that are not strings are dropped).
        msids: BTreeMap<String, String>,
    },
}

impl RoomInput {
    /// The room a server message names and what it is for the room; `None` for messages that
    /// name no room (relayed signals are parsed by the router, which gives them as
    /// [`RoomInput::Signal`]).
    pub fn from_server(msg: ServerMessage) -> Option<(String, RoomInput)> {
        Some(match msg {
            ServerMessage::RoomUserJoin(m) => (
                m.room_name,
                RoomInput::UserJoin {
                    src: m.src,
                    members: m.room_members,
                },
            ),
            ServerMessage::RoomUserLeave(m) => (m.room_name, RoomInput::UserLeave(m.src)),
            ServerMessage::RoomUsers(m) => (
                m.room_name,
                RoomInput::Users {
                    kind: m.kind,
                    list: m.user_list,
                },
            ),
            ServerMessage::RoomData(m) => (
                m.room_name,
                RoomInput::Data {
                    src: m.src,
                    data: RoomPayload::from_wire(m.data, m.attachments),
                },
            ),
            ServerMessage::RoomLogs(m) => (m.room_name, RoomInput::Logs(m.log)),
            ServerMessage::SfuOffer(m) => (
                m.room_name,
                RoomInput::SfuOffer {
                    sdp: m.offer.sdp,
                    msids: m
                        .msids
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                        .collect(),
                },
            ),
            _ => return None,
        })
    }
}
