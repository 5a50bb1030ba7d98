//! Relaying offers, answers, candidates and force-closes between the peers of one app.

use super::*;

impl Hub {
    /// The session of `dst`, or `peer-unavailable` to `from` when it has none.
    pub(super) fn route(&mut self, from: SessionId, app: &str, dst: &str) -> Option<SessionId> {
        let to = self.session_of(app, dst);
        if to.is_none() {
            self.error(
                from,
                ErrorType::PeerUnavailable,
                format!("peer {dst:?} is not available"),
            );
        }
        to
    }

    pub(super) fn relay(
        &mut self,
        from: SessionId,
        app_key: &str,
        src: &str,
        relay: Relay,
        event: &'static str,
    ) {
        // A peer on another node (a room's members may be on several): its node checks
        // nothing more, as the room's membership lives on the room's home.
        if self.cluster && self.session_of(app_key, &relay.dst).is_none() {
            let dst = relay.dst.clone();
            // A contact on another node: it hears LEAVE when `src` goes.
            if let Some(p) = self
                .apps
                .get_mut(app_key)
                .and_then(|a| a.peers.get_mut(src))
            {
                if !p.contacts.contains(&dst) {
                    p.contacts.insert(dst.clone());
                }
            }
            let body = relay.with_src(src);
            self.out.push(Output::Remote(RemoteMessage {
                from: Some(from),
                app: app_key.to_owned(),
                dst,
                event,
                body: body.get().to_owned(),
            }));
            return;
        }
        let Some(to) = self.route(from, app_key, &relay.dst) else {
            return;
        };
        let cluster = self.cluster;
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if let Some(room_name) = &relay.room_name {
            let inside = match app.rooms.get(room_name) {
                Some(r) => r.has(src) && r.has(&relay.dst),
                // Cluster mode: the room's home is another node, which knows the members.
                None => cluster,
            };
            if !inside {
                // Dropped without an ERROR: a member's offer, answer or trickled candidates
                // still in flight when it or the other side leaves is the normal race of a
                // leave, and the SDK shows every ERROR to the application as an `error` event.
                tracing::debug!(
                    src,
                    dst = %relay.dst,
                    room = %room_name,
                    event,
                    "room relay between peers that are not both members dropped"
                );
                return;
            }
        }
        // Remember who talked to whom, for LEAVE (no allocation once known).
        if let Some(p) = app.peers.get_mut(src) {
            if !p.contacts.contains(&relay.dst) {
                p.contacts.insert(relay.dst.clone());
            }
        }
        if let Some(p) = app.peers.get_mut(&relay.dst) {
            if !p.contacts.contains(src) {
                p.contacts.insert(src.to_owned());
            }
        }
        let body = RawJson(relay.with_src(src));
        let msg = match event {
            server::event::OFFER => ServerMessage::Offer(body),
            server::event::ANSWER => ServerMessage::Answer(body),
            _ => ServerMessage::Candidate(body),
        };
        self.counters.relayed(event);
        self.send(to, &msg);
    }

    pub(super) fn force_close(
        &mut self,
        from: SessionId,
        app: &str,
        src: &str,
        req: ForceCloseRequest,
    ) {
        if self.cluster && self.session_of(app, &req.dst).is_none() {
            let fc = ForceClose {
                src: src.to_owned(),
                dst: req.dst.clone(),
                connection_id: req.connection_id,
            };
            self.out.push(Output::Remote(RemoteMessage {
                from: Some(from),
                app: app.to_owned(),
                dst: req.dst,
                event: server::event::FORCE_CLOSE,
                body: serde_json::to_string(&fc).unwrap_or_default(),
            }));
            return;
        }
        let Some(to) = self.route(from, app, &req.dst) else {
            return;
        };
        let msg = ServerMessage::ForceClose(ForceClose {
            src: src.to_owned(),
            dst: req.dst,
            connection_id: req.connection_id,
        });
        self.counters.relayed(server::event::FORCE_CLOSE);
        self.send(to, &msg);
    }
}
