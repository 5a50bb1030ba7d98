//! The SFU exchange, typed both ways. Clients' `SFU_GET_OFFER`, `SFU_ANSWER` and
//! `SFU_CANDIDATE`, and SFU room joins and leaves, become [`SfuRequest`]s for the media backend;
//! the backend's offers and refusals come back through [`Hub::sfu_offer`] and
//! [`Hub::sfu_refused`], which check that the peer is still in the room before anything is sent.
//! Without a backend ([`Hub::attach_sfu`] not called) the hub itself answers `SFU_GET_OFFER`
//! with `ERROR sfu-limited`.

use super::*;
use peer_protocol::rtc::{IceCandidate, SessionDescription};
use peer_protocol::server::SfuOffer;
use serde_json::Map;

/// A request for the SFU media backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SfuRequest {
    /// The API key of the app.
    pub app: Arc<str>,
    /// The room name.
    pub room: String,
    /// The peer concerned.
    pub peer: String,
    /// What happened.
    pub kind: SfuRequestKind,
}

/// Kinds of [`SfuRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum SfuRequestKind {
    /// The peer joined the SFU room.
    Joined,
    /// The peer left the room (or went away).
    Left,
    /// `SFU_GET_OFFER`: the peer wants the server's offer.
    OfferWanted,
    /// `SFU_ANSWER`.
    Answer(SessionDescription),
    /// `SFU_CANDIDATE`.
    Candidate(IceCandidate),
}

impl Hub {
    /// Declares that a media backend takes [`Output::Sfu`] requests from now on.
    pub fn attach_sfu(&mut self) {
        self.sfu_attached = true;
    }

    pub(super) fn emit_sfu(&mut self, app: &str, room: &str, peer: &str, kind: SfuRequestKind) {
        if !self.sfu_attached {
            return;
        }
        let app = self
            .apps
            .get(app)
            .map_or_else(|| Arc::from(app), |a| a.key.clone());
        self.out.push(Output::Sfu(SfuRequest {
            app,
            room: room.to_owned(),
            peer: peer.to_owned(),
            kind,
        }));
    }

    pub(super) fn sfu_request(
        &mut self,
        origin: Origin,
        app: &str,
        peer: &str,
        room_name: String,
        kind: SfuRequestKind,
    ) {
        let Some(room) = self.member_room(origin, app, peer, &room_name) else {
            return;
        };
        if room.kind != RoomType::Sfu {
            self.error_at(
                origin,
                app,
                peer,
                ErrorType::RoomError,
                format!("room {room_name:?} is not an SFU room"),
            );
            return;
        }
        if !self.sfu_attached {
            if kind == SfuRequestKind::OfferWanted {
                self.error_at(
                    origin,
                    app,
                    peer,
                    ErrorType::SfuLimited,
                    "this server has no SFU media backend",
                );
            }
            return;
        }
        self.emit_sfu(app, &room_name, peer, kind);
    }

    /// The backend's offer for `peer` in `room`: sent as `SFU_OFFER` if the peer is still an
    /// open member, otherwise dropped.
    pub fn sfu_offer(
        &mut self,
        app: &str,
        room: &str,
        peer: &str,
        offer: SessionDescription,
        msids: Map<String, Value>,
    ) -> Vec<Output> {
        if let Some(origin) = self.open_member(app, room, peer) {
            let msg = ServerMessage::SfuOffer(SfuOffer {
                room_name: room.to_owned(),
                offer,
                msids,
            });
            self.reply(origin, app, peer, &msg);
        }
        self.take()
    }

    /// The backend refuses `peer` in `room` (a limit, a failure): `ERROR sfu-limited`.
    pub fn sfu_refused(&mut self, app: &str, room: &str, peer: &str, reason: &str) -> Vec<Output> {
        if let Some(origin) = self.open_member(app, room, peer) {
            self.error_at(origin, app, peer, ErrorType::SfuLimited, reason.to_owned());
        }
        self.take()
    }

    /// Where a member of `room` is reached: its session here (`None` in its reconnect
    /// grace), or its node (cluster mode).
    fn open_member(&self, app: &str, room: &str, peer: &str) -> Option<Origin> {
        let a = self.apps.get(app)?;
        if !a.rooms.get(room).is_some_and(|r| r.has(peer)) {
            return None;
        }
        match a.peers.get(peer) {
            Some(p) => p.session.map(Origin::Session),
            None => self.cluster.then_some(Origin::Remote),
        }
    }
}
