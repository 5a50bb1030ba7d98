//! Peer lifecycle: the handshake (ids, tokens, credentials), credential renewal and expiry, disconnects, reconnect grace periods and LEAVE.

use super::*;

impl Hub {
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
        let token = req.token.unwrap_or_default();
        let Some(app) = self.apps.get_mut(&key) else {
            return self.take();
        };
        let mut replaced = None;
        match app.peers.get_mut(&peer_id) {
            Some(existing) if existing.token.is_empty() || existing.token != token => {
                return self.reject(
                    session,
                    ErrorType::UnavailableId,
                    format!("peer id {peer_id:?} is already in use"),
                );
            }
            Some(existing) => {
                replaced = existing.session.replace(session);
                existing.grace_until_ms = None;
                if expires_at.is_some() {
                    existing.expires_at = expires_at;
                    existing.warned = false;
                }
            }
            None => {
                app.peers.insert(
                    peer_id.clone(),
                    Peer {
                        token,
                        session: Some(session),
                        contacts: BTreeSet::new(),
                        rooms: BTreeSet::new(),
                        expires_at,
                        warned: false,
                        grace_until_ms: None,
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
                last_limited_ms: None,
            },
        );
        tracing::debug!(session, peer = %peer_id, reconnect = replaced.is_some(), "peer open");
        self.send(
            session,
            &ServerMessage::Open(Open {
                peer_id: peer_id.clone(),
                turn_credential: None,
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
        value: Value,
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
        let result = Credential::from_value(value)
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

    /// Sends `AUTH_EXPIRES_IN` when the warning window is reached, or ends an expired session.
    pub(super) fn check_expiry(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let warning = self.timeouts.auth_expiry_warning_secs;
        let Some(peer) = self
            .apps
            .get_mut(app_key)
            .and_then(|a| a.peers.get_mut(peer_id))
        else {
            return;
        };
        let (Some(expires_at), Some(session)) = (peer.expires_at, peer.session) else {
            return;
        };
        let now = unix_secs(now_ms);
        if now >= expires_at {
            self.error(session, ErrorType::Authentication, "credential has expired");
            self.out.push(Output::Close { session });
            self.sessions.remove(&session);
            self.remove_peer(app_key, peer_id, now_ms);
        } else if !peer.warned && expires_at - now <= warning {
            peer.warned = true;
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
            peer.grace_until_ms = Some(now_ms.saturating_add(grace));
            tracing::debug!(session, peer = %state.peer, "transport dropped; id kept for reconnect");
        } else {
            self.remove_peer(&state.app, &state.peer, now_ms);
        }
        self.take()
    }

    /// Forgets a peer: leaves its rooms and tells its contacts `LEAVE`.
    pub(super) fn remove_peer(&mut self, app_key: &str, peer_id: &str, now_ms: u64) {
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let Some(peer) = app.peers.remove(peer_id) else {
            return;
        };
        tracing::debug!(peer = %peer_id, "peer gone");
        for room in &peer.rooms {
            self.room_leave(app_key, peer_id, room, now_ms);
        }
        let Some(app) = self.apps.get_mut(app_key) else {
            return;
        };
        let mut notify = Vec::new();
        for contact in &peer.contacts {
            if let Some(c) = app.peers.get_mut(contact) {
                c.contacts.remove(peer_id);
                if let Some(s) = c.session {
                    notify.push(s);
                }
            }
        }
        self.send_all(notify, &ServerMessage::Leave(peer_id.to_owned()));
    }

    /// Time passed: ends reconnect grace periods and handles credential expiry.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let mut expired_grace = Vec::new();
        let mut credentialed = Vec::new();
        for (key, app) in &self.apps {
            for (id, peer) in &app.peers {
                if peer.grace_until_ms.is_some_and(|t| t <= now_ms) {
                    expired_grace.push((key.clone(), id.clone()));
                } else if peer.expires_at.is_some() && peer.session.is_some() {
                    credentialed.push((key.clone(), id.clone()));
                }
            }
        }
        for (app, id) in expired_grace {
            self.remove_peer(&app, &id, now_ms);
        }
        for (app, id) in credentialed {
            self.check_expiry(&app, &id, now_ms);
        }
        self.take()
    }
}
