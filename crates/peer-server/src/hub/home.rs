//! Cluster mode: rooms that span nodes. A room lives on one *home* node, which holds its
//! members, its log and (for an SFU room) its media; the shell claims the home in Redis for
//! the first joiner's node. A peer's room operations leave the hub as [`Output::Room`]; the
//! shell hands each to its room's home ([`Hub::room_input`], here or on another node), in the
//! order they came. The home answers members here directly and members elsewhere with
//! [`Output::RemoteFrames`], which their node queues on their session as they are
//! ([`Hub::deliver_frames`]).
//!
//! The member's node keeps the rooms its peer is in (the home says so with a [`RoomNote`]), to
//! leave them when the peer goes. The home counts members on other nodes as seated, and the
//! member's node counts its peer's rooms for `max_rooms_per_peer`.

use super::*;
use bytes::Bytes;
use peer_protocol::client::RoomRef;

/// A room operation of a peer on this node, for the room's home (cluster mode).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomRoute {
    /// The app key.
    pub app: String,
    /// The room name.
    pub room: String,
    /// The member.
    pub peer: String,
    /// The session it came on; `None` for the leave the hub sends for a peer that is gone.
    pub session: Option<SessionId>,
    /// The operation (`ROOM_*` or `SFU_*`).
    pub msg: ClientMessage,
    /// A `ROOM_JOIN` that puts a member back after its room's home died: it joins the room's
    /// new home without a `ROOM_USER_JOIN` to anyone ([`Hub::room_rejoin`]).
    pub rejoin: bool,
}

/// What a room's home tells a member's node with a membership message (`ROOM_USER_JOIN`,
/// `ROOM_USER_LEAVE`): the room's members now. The member's node records whether its peer is
/// among them, and keeps the list, to tell its members who left should the home die. The
/// nodes' own message type, carried as it is.
pub use peer_cluster::message::RoomNote;

/// A room whose home is another node, as a member's node knows it (see [`RoomNote`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Mirror {
    pub(super) sfu: bool,
    pub(super) members: Vec<String>,
}

/// A message for a room member on another node (cluster mode).
#[derive(Debug, Clone)]
pub struct RemoteFrames {
    /// The app key.
    pub app: String,
    /// The member.
    pub dst: String,
    /// The server event, for logging and metrics.
    pub event: &'static str,
    /// The encoded frames, queued on the member's session as they are.
    pub frames: Arc<[Frame]>,
    /// A change of the member's rooms that comes with it.
    pub note: Option<RoomNote>,
}

/// The room a room operation names.
fn room_of(msg: &ClientMessage) -> Option<&str> {
    Some(match msg {
        ClientMessage::RoomJoin(j) => &j.room_name,
        ClientMessage::RoomLeave(r) | ClientMessage::RoomGetLogs(r) => &r.room_name,
        ClientMessage::SfuGetOffer(r) => &r.room_name,
        ClientMessage::RoomGetUsers(g) => &g.room_name,
        ClientMessage::RoomSendData(d) => &d.room_name,
        ClientMessage::SfuAnswer(a) => &a.room_name,
        ClientMessage::SfuCandidate(c) => &c.room_name,
        _ => return None,
    })
}

/// A room operation as it travels to its home node: the client event name, its JSON payload
/// and its attachments (what [`room_op_from_wire`] reads back).
pub fn room_op_to_wire(msg: &ClientMessage) -> Option<(&'static str, String, Vec<Bytes>)> {
    let body = match msg {
        ClientMessage::RoomJoin(j) => serde_json::to_string(j),
        ClientMessage::RoomLeave(r) | ClientMessage::RoomGetLogs(r) => serde_json::to_string(r),
        ClientMessage::SfuGetOffer(r) => serde_json::to_string(r),
        ClientMessage::RoomGetUsers(g) => serde_json::to_string(g),
        ClientMessage::SfuAnswer(a) => serde_json::to_string(a),
        ClientMessage::SfuCandidate(c) => serde_json::to_string(c),
        ClientMessage::RoomSendData(d) => serde_json::to_string(&d.room_name)
            .map(|room| format!("{{\"roomName\":{room},\"data\":{}}}", d.data.get())),
        _ => return None,
    }
    .ok()?;
    let attachments = match msg {
        ClientMessage::RoomSendData(d) => d.attachments.clone(),
        _ => Vec::new(),
    };
    Some((msg.event_name(), body, attachments))
}

/// A room operation from another node (see [`room_op_to_wire`]); checked as a client's would
/// be, and `None` unless it is a room operation.
pub fn room_op_from_wire(
    event: &str,
    body: &str,
    attachments: Vec<Bytes>,
) -> Option<ClientMessage> {
    peer_protocol::json_scan::scan(body, attachments.len()).ok()?;
    let msg = ClientMessage::parse(peer_protocol::socketio::Event::new(
        event,
        body.to_owned(),
        attachments,
    ))
    .ok()?;
    room_of(&msg).is_some().then_some(msg)
}

/// A server event name as the `'static` string outputs carry (`"REMOTE"` for one this
/// server does not send).
pub(super) fn static_event(name: &str) -> &'static str {
    use server::event::*;
    [
        OPEN,
        ERROR,
        OFFER,
        ANSWER,
        CANDIDATE,
        LEAVE,
        FORCE_CLOSE,
        ROOM_USER_JOIN,
        ROOM_USER_LEAVE,
        ROOM_DATA,
        ROOM_LOGS,
        ROOM_USERS,
        SFU_OFFER,
    ]
    .into_iter()
    .find(|e| *e == name)
    .unwrap_or("REMOTE")
}

impl Hub {
    /// Cluster mode: a room operation of `peer` (on `session`) goes to the shell, which finds
    /// the room's home. Checked here first: the peer's room count.
    pub(super) fn route_room(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        msg: ClientMessage,
    ) {
        let Some(room) = room_of(&msg).map(str::to_owned) else {
            return;
        };
        let max_rooms = self.limits.max_rooms_per_peer;
        if let Some(p) = self.apps.get_mut(app).and_then(|a| a.peers.get_mut(peer)) {
            match &msg {
                ClientMessage::RoomJoin(_)
                    if !p.rooms.contains(&room) && p.rooms.len() >= max_rooms =>
                {
                    self.error(
                        session,
                        ErrorType::RoomError,
                        format!("a peer may be in at most {max_rooms} rooms"),
                    );
                    return;
                }
                ClientMessage::RoomLeave(_) => {
                    p.rooms.remove(&room);
                }
                _ => {}
            }
        }
        if matches!(msg, ClientMessage::RoomLeave(_)) {
            self.drop_unused_mirror(app, &room);
        }
        self.out.push(Output::Room(RoomRoute {
            app: app.to_owned(),
            room,
            peer: peer.to_owned(),
            session: Some(session),
            msg,
            rejoin: false,
        }));
    }

    /// Cluster mode, on the room's home: a room operation of `peer`, from `session` on this
    /// node (dropped if that session is no longer the peer's, unless it is a leave) or, with
    /// `None`, from the member's own node.
    pub fn room_input(
        &mut self,
        app: &str,
        peer: &str,
        session: Option<SessionId>,
        msg: ClientMessage,
        now_ms: u64,
    ) -> Vec<Output> {
        let origin = match session {
            Some(s) => {
                let still = self
                    .sessions
                    .get(&s)
                    .is_some_and(|st| &*st.app == app && st.peer == peer);
                if still {
                    Origin::Session(s)
                } else if matches!(msg, ClientMessage::RoomLeave(_)) {
                    Origin::Remote
                } else {
                    return self.take();
                }
            }
            None => Origin::Remote,
        };
        self.room_op(origin, app, peer, msg, now_ms);
        self.take()
    }

    /// Cluster mode, on a member's node: a message from a room's home for `dst`, queued on its
    /// session as it is (dropped if it has none); `note` updates the rooms it is in.
    pub fn deliver_frames(
        &mut self,
        app: &str,
        dst: &str,
        event: &str,
        frames: Vec<Frame>,
        note: Option<RoomNote>,
    ) -> Vec<Output> {
        let Some(p) = self.apps.get_mut(app).and_then(|a| a.peers.get_mut(dst)) else {
            return self.take();
        };
        if let Some(note) = &note {
            if note.members.iter().any(|m| m == dst) {
                p.rooms.insert(note.room.clone());
            } else {
                p.rooms.remove(&note.room);
            }
        }
        let session = p.session;
        if let Some(note) = note {
            self.mirror(app, note);
        }
        if let Some(to) = session {
            let event = static_event(event);
            self.counters.relayed(event);
            self.out.push(Output::Send {
                to,
                event,
                frames: frames.into(),
            });
        }
        self.take()
    }

    /// Sends `msg` to `peer`, a member on another node (cluster mode; nothing otherwise).
    pub(super) fn send_remote(
        &mut self,
        app: &str,
        peer: &str,
        msg: &ServerMessage,
        note: Option<RoomNote>,
    ) {
        if !self.cluster {
            return;
        }
        self.out.push(Output::RemoteFrames(RemoteFrames {
            app: app.to_owned(),
            dst: peer.to_owned(),
            event: msg.event_name(),
            frames: msg.encode().into(),
            note,
        }));
    }

    /// Sends `msg` to the members of a room but `except`: members here on their session,
    /// members on other nodes through theirs. The frames are encoded once.
    /// Members on other nodes get `note` with it.
    pub(super) fn send_members(
        &mut self,
        app: &str,
        members: &[String],
        except: Option<&str>,
        msg: &ServerMessage,
        note: Option<&RoomNote>,
    ) {
        let frames: Arc<[Frame]> = msg.encode().into();
        let event = msg.event_name();
        let Some(a) = self.apps.get(app) else {
            return;
        };
        for m in members.iter().filter(|m| Some(m.as_str()) != except) {
            match a.peers.get(m) {
                Some(p) => {
                    if let Some(to) = p.session {
                        self.out.push(Output::Send {
                            to,
                            event,
                            frames: frames.clone(),
                        });
                    }
                }
                None if self.cluster => self.out.push(Output::RemoteFrames(RemoteFrames {
                    app: app.to_owned(),
                    dst: m.clone(),
                    event,
                    frames: frames.clone(),
                    note: note.cloned(),
                })),
                None => {}
            }
        }
    }

    /// The leave of a peer that is gone from a room whose home is elsewhere (cluster mode).
    pub(super) fn route_leave(&mut self, app: &str, peer: &str, room: &str) {
        self.out.push(Output::Room(RoomRoute {
            app: app.to_owned(),
            room: room.to_owned(),
            peer: peer.to_owned(),
            session: None,
            msg: ClientMessage::RoomLeave(RoomRef {
                room_name: room.to_owned(),
            }),
            rejoin: false,
        }));
    }

    /// Keeps (or, when no peer here is a member any more, forgets) what a room's home said
    /// of the room.
    fn mirror(&mut self, app: &str, note: RoomNote) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        let room = note.room.clone();
        a.mirrors.insert(
            note.room,
            Mirror {
                sfu: note.sfu,
                members: note.members,
            },
        );
        self.drop_unused_mirror(app, &room);
    }

    /// Forgets what a room's home said of `room` once no peer here is in it (it left, or went
    /// away): the list would otherwise stay for every room a peer here was ever in.
    pub(super) fn drop_unused_mirror(&mut self, app: &str, room: &str) {
        if let Some(a) = self.apps.get_mut(app) {
            if !a.peers.values().any(|p| p.rooms.contains(room)) {
                a.mirrors.remove(room);
            }
        }
    }

    /// Rooms whose home is another node and that peers here are in, as `(app, room, members)`
    /// (the members as the home last said; cluster mode checks that the home still lives).
    pub fn remote_homed_rooms(&self) -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for (key, app) in &self.apps {
            for (room, m) in &app.mirrors {
                let here = app.peers.values().any(|p| p.rooms.contains(room));
                if here && !app.rooms.contains_key(room) {
                    out.push((key.clone(), room.clone(), m.members.clone()));
                }
            }
        }
        out
    }

    /// Cluster mode: the home of `room` died. The members here hear `ROOM_USER_LEAVE` for each
    /// member in `gone` (those on dead nodes), and join the room again at a new home, quietly
    /// ([`RoomRoute::rejoin`]), so that the room goes on with its living members. An SFU
    /// room's media was on the dead home: its members get no media until they join again.
    pub fn home_lost(&mut self, app: &str, room: &str, gone: &[String]) -> Vec<Output> {
        let Some(a) = self.apps.get_mut(app) else {
            return self.take();
        };
        let Some(mirror) = a.mirrors.get_mut(room) else {
            return self.take();
        };
        mirror.members.retain(|m| !gone.contains(m));
        let room_type = if mirror.sfu {
            RoomType::Sfu
        } else {
            RoomType::Mesh
        };
        let here: Vec<(String, Option<SessionId>)> = a
            .peers
            .iter()
            .filter(|(_, p)| p.rooms.contains(room))
            .map(|(id, p)| (id.clone(), p.session))
            .collect();
        let sessions: Vec<SessionId> = here.iter().filter_map(|(_, s)| *s).collect();
        for g in gone {
            let msg = ServerMessage::RoomUserLeave(RoomUserLeave {
                room_name: room.to_owned(),
                src: g.clone(),
            });
            self.counters.relayed(server::event::ROOM_USER_LEAVE);
            self.send_all(sessions.iter().copied(), &msg);
        }
        for (peer, _) in here {
            self.out.push(Output::Room(RoomRoute {
                app: app.to_owned(),
                room: room.to_owned(),
                peer,
                session: None,
                msg: ClientMessage::RoomJoin(RoomJoin {
                    room_name: room.to_owned(),
                    room_type,
                }),
                rejoin: true,
            }));
        }
        self.take()
    }

    /// Cluster mode, on a room's new home: a member of the room whose home died joins it again
    /// (see [`Hub::home_lost`]): a member once more, with no message to anyone and no log
    /// entry, as it never left; no seat check (it had one). An SFU member gets no media session
    /// (its media went with the dead home; it joins again for that).
    pub fn room_rejoin(&mut self, app: &str, peer: &str, join: RoomJoin) -> Vec<Output> {
        let log_limits = room::LogLimits {
            entries: self.limits.room_log_entries,
            bytes: self.limits.room_log_bytes,
        };
        let Some(a) = self.apps.get_mut(app) else {
            return self.take();
        };
        // A room made here takes the join's kind; one of the other kind (it has members, as
        // empty rooms are removed) is left as it is.
        let room = a
            .rooms
            .entry(join.room_name.clone())
            .or_insert_with(|| Room::new(join.room_type, log_limits));
        if room.kind == join.room_type && !room.has(peer) {
            room.members.push(peer.to_owned());
            if let Some(p) = a.peers.get_mut(peer) {
                p.rooms.insert(join.room_name.clone());
            }
        }
        self.take()
    }

    /// Whether `peer` of `app` is here (open or in its reconnect grace).
    pub fn has_peer(&self, app: &str, peer: &str) -> bool {
        self.apps
            .get(app)
            .is_some_and(|a| a.peers.contains_key(peer))
    }

    /// Whether `room` of `app` lives here (it has members here, this node being its home).
    pub fn has_room(&self, app: &str, room: &str) -> bool {
        self.apps
            .get(app)
            .is_some_and(|a| a.rooms.contains_key(room))
    }

    /// The rooms that live here, as `(app, room)` (cluster mode renews their home claims).
    pub fn room_names(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, app) in &self.apps {
            out.extend(app.rooms.keys().map(|r| (key.clone(), r.clone())));
        }
        out
    }

    /// Members of the rooms here that are on other nodes, as `(app, room, member)` (cluster
    /// mode takes those of a node that died out of their rooms).
    pub fn remote_room_members(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (key, app) in &self.apps {
            for (name, room) in &app.rooms {
                for m in room.members.iter().filter(|m| !app.peers.contains_key(*m)) {
                    out.push((key.clone(), name.clone(), m.clone()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_operations_cross_nodes_unchanged() {
        let data = ClientMessage::RoomSendData(RoomSendData {
            room_name: "lobby \"1\"".into(),
            data: RawJson::from_text(r#"{"a":[1,{"_placeholder":true,"num":0}]}"#.into()).unwrap(),
            attachments: vec![Bytes::from_static(&[1, 2, 3])],
        });
        let join = ClientMessage::RoomJoin(RoomJoin {
            room_name: "lobby".into(),
            room_type: RoomType::Sfu,
        });
        for msg in [data, join] {
            let (event, body, attachments) = room_op_to_wire(&msg).unwrap();
            assert_eq!(room_op_from_wire(event, &body, attachments), Some(msg));
        }
        assert_eq!(room_op_to_wire(&ClientMessage::Ping), None);
        // What is not a room operation, or not valid, is refused.
        assert_eq!(room_op_from_wire("SEND_LEAVE", "null", Vec::new()), None);
        assert_eq!(room_op_from_wire("ROOM_JOIN", "{", Vec::new()), None);
        assert_eq!(
            room_op_from_wire(
                "ROOM_SEND_DATA",
                r#"{"roomName":"r","data":{"_placeholder":true,"num":3}}"#,
                Vec::new()
            ),
            None
        );
    }

    #[test]
    fn event_names_stay_static() {
        assert_eq!(static_event("ROOM_DATA"), server::event::ROOM_DATA);
        assert_eq!(static_event("SFU_OFFER"), server::event::SFU_OFFER);
        assert_eq!(static_event("NOT_AN_EVENT"), "REMOTE");
    }
}
