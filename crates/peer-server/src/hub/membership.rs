//! Room operations: join, leave, members, logs, data, and SFU events for the media backend.

use super::*;

impl Hub {
    pub(super) fn member_sessions(
        &self,
        app: &str,
        members: &[String],
        except: Option<&str>,
    ) -> Vec<SessionId> {
        members
            .iter()
            .filter(|m| Some(m.as_str()) != except)
            .filter_map(|m| self.session_of(app, m))
            .collect()
    }

    pub(super) fn room_join(
        &mut self,
        session: SessionId,
        app_key: &str,
        peer: &str,
        join: RoomJoin,
        now_ms: u64,
    ) {
        let name = join.room_name;
        if name.is_empty() || name.len() > self.limits.max_room_name_len {
            self.error(
                session,
                ErrorType::RoomError,
                format!(
                    "room name must be 1 to {} bytes",
                    self.limits.max_room_name_len
                ),
            );
            return;
        }
        let (max_members, max_rooms, log_cap) = (
            self.limits.max_room_members,
            self.limits.max_rooms_per_peer,
            self.limits.room_log_entries,
        );
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let peer_rooms = app.peers.get(peer).map_or(0, |p| p.rooms.len());
        let room = app
            .rooms
            .entry(name.clone())
            .or_insert_with(|| Room::new(join.room_type, log_cap));
        let problem = if room.kind != join.room_type {
            Some(format!("room {name:?} is a {} room", room.kind.as_str()))
        } else if room.has(peer) {
            None
        } else if room.members.len() >= max_members {
            Some(format!("room {name:?} is full ({max_members} members)"))
        } else if peer_rooms >= max_rooms {
            Some(format!("a peer may be in at most {max_rooms} rooms"))
        } else {
            None
        };
        if let Some(problem) = problem {
            if room.members.is_empty() {
                app.rooms.remove(&name);
            }
            self.error(session, ErrorType::RoomError, problem);
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
        if already {
            self.send(session, &ServerMessage::RoomUserJoin(msg));
            return;
        }
        room.log_event(
            server::event::ROOM_USER_JOIN,
            serde_json::to_value(&msg).unwrap_or(Value::Null),
            now_ms,
        );
        if let Some(p) = app.peers.get_mut(peer) {
            p.rooms.insert(name.clone());
        }
        let to = self.member_sessions(app_key, &msg.room_members, None);
        self.send_all(to, &ServerMessage::RoomUserJoin(msg));
        if kind == RoomType::Sfu {
            self.out.push(Output::Media(MediaEvent {
                app: app_key.to_owned(),
                room: name,
                peer: peer.to_owned(),
                session: Some(session),
                kind: MediaEventKind::Joined,
            }));
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
        let to = self.member_sessions(app_key, &members, None);
        self.send_all(to, &ServerMessage::RoomUserLeave(msg));
        if kind == RoomType::Sfu {
            self.out.push(Output::Media(MediaEvent {
                app: app_key.to_owned(),
                room: room_name.to_owned(),
                peer: peer.to_owned(),
                session: None,
                kind: MediaEventKind::Left,
            }));
        }
    }

    /// The room, if `peer` is a member; otherwise sends `room-error`.
    pub(super) fn member_room(
        &mut self,
        session: SessionId,
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
            self.error(
                session,
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
        session: SessionId,
        app: &str,
        peer: &str,
        req: RoomGetUsers,
    ) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let msg = RoomUsers {
            room_name: req.room_name,
            kind: req.kind,
            user_list: room.members.clone(),
        };
        self.send(session, &ServerMessage::RoomUsers(msg));
    }

    pub(super) fn room_get_logs(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        req: RoomRef,
    ) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let msg = RoomLogs {
            log: room.log(),
            room_name: req.room_name,
        };
        self.send(session, &ServerMessage::RoomLogs(msg));
    }

    pub(super) fn room_send_data(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        req: RoomSendData,
        now_ms: u64,
    ) {
        let Some(room) = self.member_room(session, app, peer, &req.room_name) else {
            return;
        };
        let lens: Vec<usize> = req.attachments.iter().map(|a| a.len()).collect();
        let logged = serde_json::json!({"roomName": req.room_name, "src": peer, "data": loggable_data(&req.data, &lens)});
        room.log_event(server::event::ROOM_DATA, logged, now_ms);
        let members = room.members.clone();
        let msg = RoomData {
            room_name: req.room_name,
            src: peer.to_owned(),
            data: req.data,
            attachments: req.attachments,
        };
        let to = self.member_sessions(app, &members, Some(peer));
        self.send_all(to, &ServerMessage::RoomData(msg));
    }

    pub(super) fn media(
        &mut self,
        session: SessionId,
        app: &str,
        peer: &str,
        room_name: String,
        kind: MediaEventKind,
    ) {
        let Some(room) = self.member_room(session, app, peer, &room_name) else {
            return;
        };
        if room.kind != RoomType::Sfu {
            self.error(
                session,
                ErrorType::RoomError,
                format!("room {room_name:?} is not an SFU room"),
            );
            return;
        }
        self.out.push(Output::Media(MediaEvent {
            app: app.to_owned(),
            room: room_name,
            peer: peer.to_owned(),
            session: Some(session),
            kind,
        }));
    }
}
