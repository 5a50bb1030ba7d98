//! The `sfu_answer` fuzz target's driver, server side: a client's `SFU_ANSWER` as `peer-server`
//! takes it (the WebSocket text frame decoded to an Engine.IO packet, a Socket.IO packet on the
//! root namespace, an event and a [`ClientMessage`]), then handed to the hub. Invariants:
//!
//! - no input panics;
//! - a decoded `SFU_ANSWER` re-encodes ([`ClientMessage::encode`]) to one frame that decodes to
//!   the same message;
//! - the hub hands the answer to the SFU backend unchanged (one [`SfuRequestKind::Answer`] for
//!   the sender and the room it named, and nothing else) when the sender is a member of that SFU
//!   room, and never when it is not.
//!
//! What the backend then does with the answer is `sfu_core_driver.rs`. Self-contained (only the
//! workspace crates), so `peer-server`'s smoke test includes this file.

use peer_protocol::client::{RoomJoin, RoomRef, RoomType, SfuAnswer};
use peer_protocol::engineio::{Frame, Packet};
use peer_protocol::rtc::SessionDescription;
use peer_protocol::socketio::{self, PacketKind};
use peer_protocol::{server, ClientMessage};
use peer_server::config::{AppConfig, Limits, Timeouts};
use peer_server::hub::{ConnectRequest, Hub, Output, SessionId, SfuRequest, SfuRequestKind};
use peer_server::session::MAX_ATTACHMENTS;
use std::sync::Arc;

const KEY: &str = "11111111-2222-3333-4444-555555555555";
const T0: u64 = 1_700_000_000_000;
/// The room the answers whose SDP is the whole input are for.
const SDP_ROOM: &str = "sfu-room";
/// The peer that answers (session 1), the other member of its room (session 2) and a peer in
/// no room (session 3).
const PEERS: [&str; 3] = ["alice", "bob", "carol"];

/// Decodes one WebSocket text frame as a server session does; `None` unless it is a client
/// message on the root namespace.
pub fn decode_client_frame(frame: &str) -> Option<ClientMessage> {
    let Ok(Packet::Message(text)) = Packet::decode_text(frame) else {
        return None;
    };
    let (packet, attachments) = socketio::parse_packet(&text, MAX_ATTACHMENTS).ok()?;
    if attachments > 0 || packet.kind != PacketKind::Event || packet.nsp != "/" {
        // A binary event waits for attachments; the text of an SFU answer never has any.
        return None;
    }
    ClientMessage::parse(packet.into_event().ok()?).ok()
}

/// Checks that a decoded answer re-encodes to one text frame that decodes to itself.
fn check_round_trip(answer: &SfuAnswer) {
    let msg = ClientMessage::SfuAnswer(answer.clone());
    let frames = msg.encode();
    let [Frame::Text(text)] = frames.as_slice() else {
        panic!("an SFU answer encodes as one text frame: {frames:?}");
    };
    let text = std::str::from_utf8(text).expect("text frames are UTF-8");
    assert_eq!(
        decode_client_frame(text).as_ref(),
        Some(&msg),
        "{text} does not decode to the answer it encodes"
    );
}

/// A hub with the three peers open and the SFU backend attached.
fn hub() -> Hub {
    let app = AppConfig {
        key: KEY.into(),
        secret: "secret".into(),
        rest_api: false,
        require_credential: false,
        allowed_origins: vec![],
    };
    let mut hub = Hub::new(&[app], Limits::default(), Timeouts::default());
    hub.attach_sfu();
    for (session, peer) in (1..).zip(PEERS) {
        let out = hub.connect(
            ConnectRequest {
                session,
                api_key: Some(KEY.into()),
                token: Some("token".into()),
                peer_id: Some(peer.into()),
                ..Default::default()
            },
            T0,
        );
        assert!(
            sent(&out, session, server::event::OPEN),
            "{peer} is not open: {out:?}"
        );
    }
    hub
}

/// Whether `out` sends an `event` to `session`.
fn sent(out: &[Output], session: SessionId, event: &str) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Send { to, event: e, .. } if *to == session && *e == event))
}

/// The requests `out` makes of the SFU backend.
fn to_backend(out: &[Output]) -> Vec<&SfuRequest> {
    out.iter()
        .filter_map(|o| match o {
            Output::Sfu(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Hands `answer` to a hub from its sender, a member of the SFU room it names (when the hub
/// lets both peers join), after asking for an offer; returns it if it reached the backend.
fn through_hub(answer: &SfuAnswer) -> Option<SfuAnswer> {
    let mut hub = hub();
    let room = answer.room_name.clone();
    let mut joined = true;
    for session in [1, 2] {
        let join = RoomJoin {
            room_name: room.clone(),
            room_type: RoomType::Sfu,
        };
        let out = hub.handle(session, ClientMessage::RoomJoin(join), T0);
        joined &= sent(&out, session, server::event::ROOM_USER_JOIN);
    }
    let msg = ClientMessage::SfuAnswer(answer.clone());
    // A peer in no room: the answer goes nowhere.
    let out = hub.handle(3, msg.clone(), T0);
    assert!(
        to_backend(&out).is_empty(),
        "a non-member's answer reached the SFU: {out:?}"
    );
    let _ = hub.handle(
        1,
        ClientMessage::SfuGetOffer(RoomRef { room_name: room }),
        T0,
    );
    let out = hub.handle(1, msg, T0);
    if !joined {
        assert!(
            to_backend(&out).is_empty(),
            "an answer for a room the sender is not in reached the SFU: {out:?}"
        );
        return None;
    }
    let expected = SfuRequest {
        app: Arc::from(KEY),
        room: answer.room_name.clone(),
        peer: PEERS[0].into(),
        kind: SfuRequestKind::Answer(answer.answer.clone()),
    };
    assert!(
        matches!(out.as_slice(), [Output::Sfu(r)] if *r == expected),
        "the answer reached the SFU as {out:?}"
    );
    Some(answer.clone())
}

/// Runs the input as the text frame a client sends and, whole, as the SDP of a well-formed
/// answer; returns the answers the hub handed to the SFU backend, in order.
pub fn sfu_answer(data: &[u8]) -> Vec<SfuAnswer> {
    let text = String::from_utf8_lossy(data);
    let mut reached = Vec::new();
    if let Some(ClientMessage::SfuAnswer(answer)) = decode_client_frame(&text) {
        check_round_trip(&answer);
        reached.extend(through_hub(&answer));
    }
    let answer = SfuAnswer {
        room_name: SDP_ROOM.into(),
        answer: SessionDescription::answer(text.into_owned()),
    };
    check_round_trip(&answer);
    let got = through_hub(&answer);
    assert!(got.is_some(), "a member's answer did not reach the SFU");
    reached.extend(got);
    reached
}
