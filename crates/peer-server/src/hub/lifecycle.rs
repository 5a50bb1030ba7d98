//! Peer lifecycle: the handshake (ids, tokens, credentials), credential renewal and expiry,
//! disconnects, reconnect grace periods and LEAVE, and the deadlines that drive them.

use super::*;

impl Hub {
    /// Issues TURN credentials in `OPEN` from now on, as `turn` says.
    pub fn attach_turn(&mut self, turn: TurnIssuer) {
        self.turn = Some(turn);
    }

    /// A new session finished its Engine.IO handshake: authenticate it and open the peer.
    pub fn connect(&mut self, req: ConnectRequest, now_ms: u64) -> Vec<Output> {
        let session = req.session;
        let key = req.api_key.unwrap_or_default();
        let Some(app) = self.apps.get(&key) else {
            return self.reject(
                session,
                ErrorType::InvalidKey,
                format!("API key {key:?} is not registered on this server"),
            );
        };
        let require_credential = app.config.require_credential;
        let peer_id = match req.peer_id {
            Some(id) if id.len() > self.limits.max_peer_id_len => {
                return self.reject(
                    session,
                    ErrorType::InvalidId,
                    format!(
                        "peer id is longer than {} bytes",
                        self.limits.max_peer_id_len
                    ),
                );
            }
            Some(id) if !ids::is_valid_peer_id(&id) => {
                return self.reject(
                    session,
                    ErrorType::InvalidId,
                    format!("peer id {id:?} is not valid"),
                );
            }
            Some(id) => id,
            None if require_credential => {
                return self.reject(
                    session,
                    ErrorType::Authentication,
                    "a credential needs a peer id chosen by the app",
                );
            }
            None => {
                let mut id = ids::assigned_peer_id(req.random_id);
                if app.peers.contains_key(&id) {
                    id.push_str(&format!("{session}"));
                }
                id
            }
        };
        let mut expires_at = None;
        if require_credential {
            let verified = match req.credential.as_deref() {
                None | Some("") => Err(peer_auth::AuthError::Missing),
                Some(text) => Credential::from_json(text).and_then(|c| {
                    c.verify(
                        app.config.secret.as_bytes(),
                        &peer_id,
                        unix_secs(now_ms),
                        self.timeouts.auth_max_skew_secs,
                    )
                }),
            };
            match verified {
                Ok(at) => expires_at = Some(at),
                Err(e) => return self.reject(session, ErrorType::Authentication, e.to_string()),
            }
        }
        if req.held_elsewhere {
            return self.reject(
                session,
                ErrorType::UnavailableId,
                format!("peer id {peer_id:?} is already in use"),
            );
        }
        let token = req.token.unwrap_or_default();
        let Some(app) = self.apps.get_mut(&key) else {
            return self.take();
        };
        let mut replaced = None;
        let resumed;
        match app.peers.get_mut(&peer_id) {
            Some(existing)
                if existing.token.is_empty()
                    || !peer_auth::constant_time_eq(
                        existing.token.as_bytes(),
                        token.as_bytes(),
                    ) =>
            {
                return self.reject(
                    session,
                    ErrorType::UnavailableId,
                    format!("peer id {peer_id:?} is already in use"),
                );
            }
            Some(existing) => {
                resumed = true;
                replaced = existing.session.replace(session);
                existing.grace_until_ms = None;
                if let Some(t) = existing.grace_timer.take() {
                    self.timers.cancel(t);
                }
                if expires_at.is_some() {
                    existing.expires_at = expires_at;
                    existing.warned = false;
                }
            }
            None => {
                // A peer handed over by another node resumes there as it would here.
                resumed = req.imported.is_some();
                let imported = req.imported.unwrap_or_default();
                app.peers.insert(
                    peer_id.clone(),
                    Peer {
                        token,
                        session: Some(session),
                        contacts: imported.contacts.into_iter().collect(),
                        rooms: imported.rooms.into_iter().collect(),
                        expires_at,
                        warned: false,
                        grace_until_ms: None,
                        grace_timer: None,
                        credential_timer: None,
                    },
                );
            }
        }
        if let Some(old) = replaced {
            self.sessions.remove(&old);
            self.out.push(Output::Close { session: old });
        }
        self.sessions.insert(
            session,
            SessionState {
                app: self
                    .apps
                    .get(&key)
                    .map_or_else(|| Arc::from(key.as_str()), |a| a.key.clone()),
                peer: peer_id.clone(),
                bucket: TokenBucket::new(
                    self.limits.messages_per_second,
                    self.limits.message_burst,
                    now_ms,
                ),
                log_bucket: TokenBucket::new(
                    self.limits.log_requests_per_second,
                    self.limits.log_request_burst,
                    now_ms,
                ),
                last_limited_ms: None,
            },
        );
        tracing::debug!(session, peer = %peer_id, resumed, "peer open");
        let turn = self
            .turn
            .as_ref()
            .filter(|t| t.to_every_peer || req.wants_turn)
            .map(|t| {
                let c = peer_auth::TurnCredential::issue(
                    &t.secret,
                    &key,
                    &peer_id,
                    unix_secs(now_ms),
                    t.ttl_secs,
                );
                (
                    peer_protocol::server::TurnCredential {
                        username: c.username,
                        credential: c.credential,
                    },
                    t.urls.clone(),
                )
            });
        let (turn_credential, turn_urls) = match turn {
            Some((c, urls)) => (Some(c), urls),
            None => (None, Vec::new()),
        };
        self.send(
            session,
            &ServerMessage::Open(Open {
                peer_id: peer_id.clone(),
                turn_credential,
                turn_urls,
                resumed,
            }),
        );
        self.check_expiry(&key, &peer_id, now_ms);
        self.take()
    }

    pub(super) fn update_credential(
        &mut self,
        session: SessionId,
        app_key: &str,
        peer: &str,
        value: RawJson,
        now_ms: u64,
    ) {
        let skew = self.timeouts.auth_max_skew_secs;
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        if !app.config.require_credential {
            // Credentials are not checked for this app: nothing to extend.
            return;
        }
        let result = Credential::from_json(value.get())
            .and_then(|c| c.verify(app.config.secret.as_bytes(), peer, unix_secs(now_ms), skew));
        match result {
            Ok(expires_at) => {
                if let Some(p) = app.peers.get_mut(peer) {
                    p.expires_at = Some(expires_at);
                    p.warned = false;
                }
                tracing::debug!(session, %peer, expires_at, "credential updated");
                self.check_expiry(app_key, peer, now_ms);
            }
            Err(e) => self.error(session, ErrorType::Authentication, e.to_string()),
        }
    }

    /// Sends `AUTH_EXPIRES_IN` when the warning window is reached, or ends an expired session;
    /// then schedules the peer's next credential deadline.
    pub(super) fn check_expiry(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let warning = self.timeouts.auth_expiry_warning_secs;
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let app_arc = app.key.clone();
        let Some(peer) = app.peers.get_mut(peer_id) else {
            return;
        };
        if let Some(t) = peer.credential_timer.take() {
            self.timers.cancel(t);
        }
        let (Some(expires_at), Some(session)) = (peer.expires_at, peer.session) else {
            // Checked again when the peer reconnects.
            return;
        };
        let now = unix_secs(now_ms);
        if now >= expires_at {
            self.error(session, ErrorType::Authentication, "credential has expired");
            self.out.push(Output::Close { session });
            self.sessions.remove(&session);
            self.remove_peer(app_key, peer_id, now_ms);
            return;
        }
        let warn_now = !peer.warned && expires_at - now <= warning;
        peer.warned |= warn_now;
        let next_secs = if peer.warned {
            expires_at
        } else {
            expires_at.saturating_sub(warning)
        };
        peer.credential_timer = Some(self.timers.schedule(
            next_secs.saturating_mul(1000),
            TimerKey {
                app: app_arc,
                peer: peer_id.to_owned(),
                kind: TimerKind::Credential,
            },
        ));
        if warn_now {
            self.send(session, &ServerMessage::AuthExpiresIn(expires_at - now));
        }
    }

    /// A session ended.
    pub fn disconnect(&mut self, session: SessionId, how: Disconnect, now_ms: u64) -> Vec<Output> {
        let Some(state) = self.sessions.remove(&session) else {
            return self.take();
        };
        let grace = self.timeouts.reconnect_grace_ms;
        let Some(peer) = self
            .apps
            .get_mut(&*state.app)
            .and_then(|a| a.peers.get_mut(&state.peer))
        else {
            return self.take();
        };
        if peer.session != Some(session) {
            return self.take();
        }
        peer.session = None;
        if how == Disconnect::Dropped && grace > 0 && !peer.token.is_empty() {
            let until = now_ms.saturating_add(grace);
            peer.grace_until_ms = Some(until);
            if let Some(t) = peer.grace_timer.take() {
                self.timers.cancel(t);
            }
            peer.grace_timer = Some(self.timers.schedule(
                until,
                TimerKey {
                    app: state.app.clone(),
                    peer: state.peer.clone(),
                    kind: TimerKind::Grace,
                },
            ));
            tracing::debug!(session, peer = %state.peer, "transport dropped; id kept for reconnect");
        } else {
            if how == Disconnect::Evicted {
                tracing::info!(session, peer = %state.peer, "session cut off; the peer is gone");
            }
            self.remove_peer(&state.app, &state.peer, now_ms);
        }
        self.take()
    }

    /// Cluster mode: the client of `peer` reconnects through another node with `token`. If
    /// it is the peer's token, the peer leaves this node quietly (its session, if still here,
    /// is closed; its contacts and rooms hear nothing, as it goes on elsewhere) and what this
    /// node knew of it is returned for the other node; otherwise `None`.
    pub fn hand_over(
        &mut self,
        app_key: &str,
        peer_id: &str,
        token: &str,
    ) -> (Option<Imported>, Vec<Output>) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return (None, self.take());
        };
        let matches = app.peers.get(peer_id).is_some_and(|p| {
            !p.token.is_empty() && peer_auth::constant_time_eq(p.token.as_bytes(), token.as_bytes())
        });
        if !matches {
            return (None, self.take());
        }
        let Some(peer) = app.peers.remove(peer_id) else {
            return (None, self.take());
        };
        for t in [peer.grace_timer, peer.credential_timer]
            .into_iter()
            .flatten()
        {
            self.timers.cancel(t);
        }
        if let Some(session) = peer.session {
            self.sessions.remove(&session);
            self.out.push(Output::Close { session });
        }
        tracing::debug!(peer = %peer_id, "peer handed over to another node");
        for room in &peer.rooms {
            self.drop_unused_mirror(app_key, room);
        }
        let imported = Imported {
            contacts: peer.contacts.into_iter().collect(),
            rooms: peer.rooms.into_iter().collect(),
        };
        (Some(imported), self.take())
    }

    /// Forgets a peer: leaves its rooms and tells its contacts `LEAVE`.
    pub(super) fn remove_peer(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let Some(peer) = app.peers.remove(peer_id) else {
            return;
        };
        for t in [peer.grace_timer, peer.credential_timer]
            .into_iter()
            .flatten()
        {
            self.timers.cancel(t);
        }
        tracing::debug!(peer = %peer_id, "peer gone");
        if self.cluster {
            self.out.push(Output::IdFreed {
                app: app_key.to_owned(),
                peer: peer_id.to_owned(),
            });
        }
        for room in &peer.rooms {
            if self.has_room(app_key, room) {
                self.room_leave(app_key, peer_id, room, now_ms);
            } else if self.cluster {
                // Its home is another node: the leave goes there.
                self.route_leave(app_key, peer_id, room);
                self.drop_unused_mirror(app_key, room);
            }
        }
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let mut notify = Vec::new();
        let mut remote = Vec::new();
        for contact in &peer.contacts {
            if let Some(c) = app.peers.get_mut(contact) {
                c.contacts.remove(peer_id);
                if let Some(s) = c.session {
                    notify.push(s);
                }
            } else if self.cluster {
                remote.push(contact.clone());
            }
        }
        self.send_all(notify, &ServerMessage::Leave(peer_id.to_owned()));
        // Contacts on other nodes hear it there.
        let body = serde_json::to_string(peer_id).unwrap_or_default();
        for dst in remote {
            self.out.push(Output::Remote(RemoteMessage {
                from: None,
                app: app_key.to_owned(),
                dst,
                event: server::event::LEAVE,
                body: body.clone(),
            }));
        }
    }

    /// Time passed: handles the deadlines that are due at `now_ms` (reconnect graces that end,
    /// credential warnings and expiries), and only those.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<Output> {
        while let Some(key) = self.timers.pop_due(now_ms) {
            let Some(peer) = self
                .apps
                .get_mut(&*key.app)
                .and_then(|a| a.peers.get_mut(&key.peer))
            else {
                continue;
            };
            match key.kind {
                TimerKind::Grace => {
                    peer.grace_timer = None;
                    if peer.session.is_none() && peer.grace_until_ms.is_some_and(|t| t <= now_ms) {
                        self.remove_peer(&key.app, &key.peer, now_ms);
                    }
                }
                TimerKind::Credential => {
                    peer.credential_timer = None;
                    self.check_expiry(&key.app, &key.peer, now_ms);
                }
            }
        }
        self.take()
    }
}
