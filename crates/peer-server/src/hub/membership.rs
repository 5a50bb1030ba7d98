//! Room operations: join, leave, members, logs and data.
//!
//! Seats: a room's `max_room_members` counts the members with an open session. A member in its
//! reconnect grace keeps its membership (the others still see it, and it is back in the room if
//! it reconnects) but not its seat, so peers that connect, join and drop cannot fill a room for
//! the length of the grace. A member that comes back may take the room past the limit until
//! someone leaves.

use super::*;

impl Hub {
    pub(super) fn room_join(
        &mut self,
        origin: Origin,
        app_key: &str,
        peer: &str,
        join: RoomJoin,
        now_ms: u64,
    ) {
        let name = join.room_name;
        if name.is_empty() || name.len() > self.limits.max_room_name_len {
            self.error_at(
                origin,
                app_key,
                peer,
                ErrorType::RoomError,
                format!(
                    "room name must be 1 to {} bytes",
                    self.limits.max_room_name_len
                ),
            );
            return;
        }
        let (max_members, max_rooms) =
            (self.limits.max_room_members, self.limits.max_rooms_per_peer);
        let log_limits = room::LogLimits {
            entries: self.limits.room_log_entries,
            bytes: self.limits.room_log_bytes,
        };
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let App { rooms, peers, .. } = app;
        // Cluster mode counts the room already when the join leaves the member's node.
        let peer_rooms = peers
            .get(peer)
            .map_or(0, |p| p.rooms.iter().filter(|r| **r != name).count());
        let room = rooms
            .entry(name.clone())
            .or_insert_with(|| Room::new(join.room_type, log_limits));
        // Members in their reconnect grace hold no seat (see the module docs); members on
        // other nodes (cluster mode) do.
        let seated = room
            .members
            .iter()
            .filter(|m| peers.get(m.as_str()).is_none_or(|p| p.session.is_some()))
            .count();
        let problem = if room.kind != join.room_type {
            Some(format!("room {name:?} is a {} room", room.kind.as_str()))
        } else if room.has(peer) {
            None
        } else if seated >= max_members {
            Some(format!("room {name:?} is full ({max_members} members)"))
        } else if peer_rooms >= max_rooms {
            Some(format!("a peer may be in at most {max_rooms} rooms"))
        } else {
            None
        };
        if let Some(problem) = problem {
            if room.members.is_empty() {
                rooms.remove(&name);
            }
            self.error_at(origin, app_key, peer, ErrorType::RoomError, problem);
            return;
        }
        let already = room.has(peer);
        if !already {
            room.members.push(peer.to_owned());
        }
        let msg = RoomUserJoin {
            room_name: name.clone(),
            src: peer.to_owned(),
            room_members: room.members.clone(),
        };
        let kind = room.kind;
        let note = home::RoomNote {
            room: name.clone(),
            sfu: room.kind == RoomType::Sfu,
            members: room.members.clone(),
        };
        if already {
            match origin {
                Origin::Session(s) => self.send(s, &ServerMessage::RoomUserJoin(msg)),
                Origin::Remote => {
                    self.send_remote(app_key, peer, &ServerMessage::RoomUserJoin(msg), Some(note))
                }
            }
            return;
        }
        room.log_event(
            server::event::ROOM_USER_JOIN,
            serde_json::to_value(&msg).unwrap_or(Value::Null),
            now_ms,
        );
        if let Some(p) = peers.get_mut(peer) {
            p.rooms.insert(name.clone());
        }
        let members = msg.room_members.clone();
        let msg = ServerMessage::RoomUserJoin(msg);
        match origin {
            Origin::Session(_) => self.send_members(app_key, &members, None, &msg, Some(&note)),
            Origin::Remote => {
                self.send_members(app_key, &members, Some(peer), &msg, Some(&note));
                self.send_remote(app_key, peer, &msg, Some(note));
            }
        }
        if kind == RoomType::Sfu {
            self.emit_sfu(app_key, &name, peer, SfuRequestKind::Joined);
        }
    }

    /// Removes `peer` from `room_name`, telling the remaining members. Unknown rooms are ignored.
    pub(super) fn room_leave(&mut self, app_key: &str, peer: &str, room_name: &str, now_ms: u64) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if let Some(p) = app.peers.get_mut(peer) {
            p.rooms.remove(room_name);
        }
        let Some(room) = app.rooms.get_mut(room_name) else {
            return;
        };
        if !room.remove(peer) {
            return;
        }
        let msg = RoomUserLeave {
            room_name: room_name.to_owned(),
            src: peer.to_owned(),
        };
        room.log_event(
            server::event::ROOM_USER_LEAVE,
            serde_json::to_value(&msg).unwrap_or(Value::Null),
            now_ms,
        );
        let members = room.members.clone();
        let kind = room.kind;
        if members.is_empty() {
            app.rooms.remove(room_name);
        }
        let note = home::RoomNote {
            room: room_name.to_owned(),
            sfu: kind == RoomType::Sfu,
            members: members.clone(),
        };
        self.send_members(
            app_key,
            &members,
            None,
            &ServerMessage::RoomUserLeave(msg),
            Some(&note),
        );
        if kind == RoomType::Sfu {
            self.emit_sfu(app_key, room_name, peer, SfuRequestKind::Left);
        }
    }

    /// The room, if `peer` is a member; otherwise sends `room-error`.
    pub(super) fn member_room(
        &mut self,
        origin: Origin,
        app: &str,
        peer: &str,
        room_name: &str,
    ) -> Option<&mut Room> {
        let is_member = self
            .apps
            .get(app)
            .and_then(|a| a.rooms.get(room_name))
            .is_some_and(|r| r.has(peer));
        if !is_member {
            self.error_at(
                origin,
                app,
                peer,
                ErrorType::RoomError,
                format!("not a member of room {room_name:?}"),
            );
            return None;
        }
        self.apps
            .get_mut(app)
            .and_then(|a| a.rooms.get_mut(room_name))
    }

    pub(super) fn room_get_users(
        &mut self,
        origin: Origin,
        app: &str,
        peer: &str,
        req: RoomGetUsers,
    ) {
        let Some(room) = self.member_room(origin, app, peer, &req.room_name) else {
            return;
        };
        let msg = RoomUsers {
            room_name: req.room_name,
            kind: req.kind,
            user_list: room.members.clone(),
        };
        self.reply(origin, app, peer, &ServerMessage::RoomUsers(msg));
    }

    /// `ROOM_GET_LOGS` (its own rate limit was applied on the member's node).
    pub(super) fn room_get_logs(&mut self, origin: Origin, app: &str, peer: &str, req: RoomRef) {
        if self
            .member_room(origin, app, peer, &req.room_name)
            .is_none()
        {
            return;
        }
        let Some(room) = self
            .apps
            .get_mut(app)
            .and_then(|a| a.rooms.get_mut(&req.room_name))
        else {
            return;
        };
        let frames = room.logs_frames(&req.room_name);
        self.out.push(match origin {
            Origin::Session(to) => Output::Send {
                to,
                event: server::event::ROOM_LOGS,
                frames,
            },
            Origin::Remote => Output::RemoteFrames(RemoteFrames {
                app: app.to_owned(),
                dst: peer.to_owned(),
                event: server::event::ROOM_LOGS,
                frames,
                note: None,
            }),
        });
    }

    pub(super) fn room_send_data(
        &mut self,
        origin: Origin,
        app: &str,
        peer: &str,
        req: RoomSendData,
        now_ms: u64,
    ) {
        let Some(room) = self.member_room(origin, app, peer, &req.room_name) else {
            return;
        };
        let lens: Vec<usize> = req.attachments.iter().map(|a| a.len()).collect();
        let bytes = req.data.get().len() + lens.iter().sum::<usize>();
        let logged = serde_json::json!({"roomName": req.room_name, "src": peer, "data": loggable_data(req.data.get(), &lens)});
        room.log_event(server::event::ROOM_DATA, logged, now_ms);
        let members = room.members.clone();
        let msg = RoomData {
            room_name: req.room_name,
            src: peer.to_owned(),
            data: req.data,
            attachments: req.attachments,
        };
        self.counters.relayed(server::event::ROOM_DATA);
        self.counters.room_data_bytes += bytes as u64;
        self.send_members(
            app,
            &members,
            Some(peer),
            &ServerMessage::RoomData(msg),
            None,
        );
    }
}
