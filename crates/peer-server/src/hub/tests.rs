//! Unit tests of the hub state machine: inputs in, outputs checked, no I/O.

use super::*;
use crate::config::{AppConfig, Limits, Timeouts};
use peer_protocol::socketio::{parse_packet, Event};
use peer_protocol::RawJson;
use serde_json::json;

const KEY: &str = "11111111-2222-3333-4444-555555555555";
const AUTH_KEY: &str = "33333333-2222-3333-4444-555555555555";
const T0: u64 = 1_700_000_000_000;

/// A hub with only the open app and the given limits.
fn one_app_hub(limits: Limits) -> Hub {
    let app = AppConfig {
        key: KEY.into(),
        secret: "s".into(),
        rest_api: true,
        require_credential: false,
        allowed_origins: vec![],
    };
    Hub::new(&[app], limits, Timeouts::default())
}

fn hub() -> Hub {
    let apps = vec![
        AppConfig {
            key: KEY.into(),
            secret: "s".into(),
            rest_api: true,
            require_credential: false,
            allowed_origins: vec![],
        },
        AppConfig {
            key: AUTH_KEY.into(),
            secret: "auth".into(),
            rest_api: false,
            require_credential: true,
            allowed_origins: vec![],
        },
    ];
    Hub::new(&apps, Limits::default(), Timeouts::default())
}

/// Decoded events per session from outputs.
fn events(outputs: &[Output]) -> Vec<(SessionId, String, Value)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, frames, .. } => {
                let text = std::str::from_utf8(frames[0].as_bytes()).ok()?;
                let (p, _) = parse_packet(&text[1..], 8).ok()?;
                let ev = p.into_event().ok()?;
                let payload = ev.payload_value();
                Some((*to, ev.name, payload))
            }
            _ => None,
        })
        .collect()
}

fn closes(outputs: &[Output]) -> Vec<SessionId> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Close { session } = o {
                Some(*session)
            } else {
                None
            }
        })
        .collect()
}

fn open(h: &mut Hub, session: SessionId, id: &str, token: &str) -> Vec<Output> {
    h.connect(
        ConnectRequest {
            session,
            api_key: Some(KEY.into()),
            token: Some(token.into()),
            peer_id: Some(id.into()),
            ..Default::default()
        },
        T0,
    )
}

fn msg(name: &str, payload: Value) -> ClientMessage {
    ClientMessage::parse(Event::new(name, payload.to_string(), vec![])).expect("valid message")
}

#[test]
fn open_with_given_and_assigned_id() {
    let mut h = hub();
    let ev = events(&open(&mut h, 1, "alice", "t1"));
    assert_eq!(ev, vec![(1, "OPEN".into(), json!({"peerId": "alice"}))]);
    let out = h.connect(
        ConnectRequest {
            session: 2,
            api_key: Some(KEY.into()),
            token: Some("t2".into()),
            random_id: [7; 16],
            ..Default::default()
        },
        T0,
    );
    let ev = events(&out);
    let id = ev[0].2["peerId"].as_str().unwrap();
    assert!(peer_protocol::ids::is_valid_peer_id(id) && id.starts_with("peer_"));
}

#[test]
fn unavailable_id_and_token_reclaim() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    let out = open(&mut h, 2, "alice", "other");
    assert_eq!(events(&out)[0].2["type"], "unavailable-id");
    assert_eq!(closes(&out), vec![2]);
    // Same token while the old session is alive: the new one takes over (and resumes it).
    let out = open(&mut h, 3, "alice", "t1");
    assert_eq!(closes(&out), vec![1]);
    assert_eq!(
        events(&out)[0],
        (
            3,
            "OPEN".into(),
            json!({"peerId": "alice", "resumed": true})
        )
    );
    // A dropped session keeps the id for the grace period.
    h.disconnect(3, Disconnect::Dropped, T0);
    assert_eq!(
        events(&open(&mut h, 4, "alice", "x"))[0].2["type"],
        "unavailable-id"
    );
    assert_eq!(events(&open(&mut h, 5, "alice", "t1"))[0].1, "OPEN");
}

#[test]
fn invalid_key_and_id() {
    let mut h = hub();
    let out = h.connect(
        ConnectRequest {
            session: 1,
            api_key: Some("nope".into()),
            ..Default::default()
        },
        T0,
    );
    assert_eq!(events(&out)[0].2["type"], "invalid-key");
    assert_eq!(closes(&out), vec![1]);
    let out = open(&mut h, 2, "bad id!", "t");
    assert_eq!(events(&out)[0].2["type"], "invalid-id");
}

#[test]
fn relay_stamps_src_and_keeps_fields() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    let payload = json!({"offer": {"type": "offer", "sdp": "v=0"}, "dst": "bob", "connectionId": "dc_1", "connectionType": "data",
        "metadata": {"m": [1, 2]}, "serialization": "json", "label": "l", "dcInit": {"ordered": true}, "src": "mallory"});
    let out = h.handle(1, msg("SEND_OFFER", payload.clone()), T0);
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, 2);
    assert_eq!(ev[0].1, "OFFER");
    let mut expected = payload;
    expected["src"] = json!("alice");
    assert_eq!(ev[0].2, expected);
    let out = h.handle(
        1,
        msg("SEND_CANDIDATE", json!({"candidate": {}, "dst": "carol"})),
        T0,
    );
    assert_eq!(
        events(&out)[0],
        (
            1,
            "ERROR".into(),
            json!({"type": "peer-unavailable", "message": "peer \"carol\" is not available"})
        )
    );
}

#[test]
fn apps_are_isolated() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    let cred = peer_auth::Credential::issue(b"auth", "bob", T0 / 1000, 3600);
    let out = h.connect(
        ConnectRequest {
            session: 2,
            api_key: Some(AUTH_KEY.into()),
            token: Some("t".into()),
            peer_id: Some("bob".into()),
            credential: Some(serde_json::to_string(&cred).unwrap()),
            ..Default::default()
        },
        T0,
    );
    assert_eq!(events(&out)[0].1, "OPEN");
    let out = h.handle(
        2,
        msg("SEND_OFFER", json!({"offer": {}, "dst": "alice"})),
        T0,
    );
    assert_eq!(events(&out)[0].2["type"], "peer-unavailable");
    assert_eq!(h.list_peers(KEY).unwrap(), vec!["alice".to_string()]);
    assert_eq!(h.list_peers(AUTH_KEY), Err(RestError::Disabled));
    assert_eq!(h.peer_exists(KEY, "bob"), Ok(false));
}

#[test]
fn leave_goes_to_contacts_on_destroy_and_after_grace() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    open(&mut h, 3, "carol", "t3");
    h.handle(1, msg("SEND_OFFER", json!({"offer": {}, "dst": "bob"})), T0);
    let out = h.disconnect(1, Disconnect::Clean, T0);
    assert_eq!(events(&out), vec![(2, "LEAVE".into(), json!("alice"))]);
    h.handle(
        2,
        msg("SEND_OFFER", json!({"offer": {}, "dst": "carol"})),
        T0,
    );
    assert!(events(&h.disconnect(2, Disconnect::Dropped, T0)).is_empty());
    assert!(events(&h.handle_timeout(T0 + 1000)).is_empty());
    assert_eq!(
        events(&h.handle_timeout(T0 + 30_000)),
        vec![(3, "LEAVE".into(), json!("bob"))]
    );
}

#[test]
fn mesh_room_flow() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    let ev = events(&h.handle(
        1,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
        T0,
    ));
    assert_eq!(
        ev,
        vec![(
            1,
            "ROOM_USER_JOIN".into(),
            json!({"roomName": "r", "src": "alice", "roomMembers": ["alice"]})
        )]
    );
    let ev = events(&h.handle(
        2,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
        T0,
    ));
    assert_eq!(ev.len(), 2);
    assert!(ev
        .iter()
        .all(|e| e.2 == json!({"roomName": "r", "src": "bob", "roomMembers": ["alice", "bob"]})));
    let ev = events(&h.handle(
        2,
        msg("ROOM_GET_USERS", json!({"roomName": "r", "type": "media"})),
        T0,
    ));
    assert_eq!(
        ev[0].2,
        json!({"roomName": "r", "type": "media", "userList": ["alice", "bob"]})
    );
    let ev = events(&h.handle(
        1,
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": {"k": 1}})),
        T0,
    ));
    assert_eq!(
        ev,
        vec![(
            2,
            "ROOM_DATA".into(),
            json!({"roomName": "r", "src": "alice", "data": {"k": 1}})
        )]
    );
    // Room-scoped relay inside the room works; one for a room they do not share is dropped.
    let ev = events(&h.handle(
        1,
        msg(
            "SEND_OFFER",
            json!({"offer": {}, "dst": "bob", "roomName": "r"}),
        ),
        T0,
    ));
    assert_eq!(ev[0].1, "OFFER");
    assert_eq!(ev[0].2["roomName"], "r");
    let ev = events(&h.handle(
        1,
        msg(
            "SEND_OFFER",
            json!({"offer": {}, "dst": "bob", "roomName": "other"}),
        ),
        T0,
    ));
    assert_eq!(ev, vec![]);
    let ev = events(&h.handle(1, msg("ROOM_GET_LOGS", json!({"roomName": "r"})), T0));
    let log = ev[0].2["log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    let first: Value = serde_json::from_str(log[0].as_str().unwrap()).unwrap();
    assert_eq!(first["messageType"], "ROOM_USER_JOIN");
    assert_eq!(first["timestamp"], json!(T0));
    let ev = events(&h.handle(2, msg("ROOM_LEAVE", json!({"roomName": "r"})), T0));
    assert_eq!(
        ev,
        vec![(
            1,
            "ROOM_USER_LEAVE".into(),
            json!({"roomName": "r", "src": "bob"})
        )]
    );
    let ev = events(&h.handle(
        2,
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": 1})),
        T0,
    ));
    assert_eq!(ev[0].2["type"], "room-error");
    // Wrong type for an existing room.
    let ev = events(&h.handle(
        2,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "sfu"})),
        T0,
    ));
    assert_eq!(ev[0].2["type"], "room-error");
    // Disconnect leaves rooms.
    h.handle(
        2,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
        T0,
    );
    let ev = events(&h.disconnect(2, Disconnect::Clean, T0));
    assert!(ev.contains(&(
        1,
        "ROOM_USER_LEAVE".into(),
        json!({"roomName": "r", "src": "bob"})
    )));
}

#[test]
fn room_size_limit() {
    let mut h = one_app_hub(Limits {
        max_room_members: 1,
        ..Limits::default()
    });
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    h.handle(
        1,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
        T0,
    );
    let ev = events(&h.handle(
        2,
        msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
        T0,
    ));
    assert_eq!(ev[0].2["type"], "room-error");
}

#[test]
fn credentials_expiry_warning_and_update() {
    let mut h = hub();
    let now_s = T0 / 1000;
    let connect = |h: &mut Hub, session, cred: Option<String>| {
        h.connect(
            ConnectRequest {
                session,
                api_key: Some(AUTH_KEY.into()),
                token: Some(format!("t{session}")),
                peer_id: Some(format!("p{session}")),
                credential: cred,
                ..Default::default()
            },
            T0,
        )
    };
    let c = |peer: &str, ts: u64, ttl: u64, secret: &[u8]| {
        serde_json::to_string(&peer_auth::Credential::issue(secret, peer, ts, ttl)).unwrap()
    };
    // Missing, wrong, expired, future.
    for (session, cred) in [
        (1, None),
        (2, Some(c("p2", now_s, 3600, b"wrong"))),
        (3, Some(c("p3", now_s - 700, 600, b"auth"))),
        (4, Some(c("p4", now_s + 120, 3600, b"auth"))),
        (5, Some("{".into())),
    ] {
        let out = connect(&mut h, session, cred);
        assert_eq!(
            events(&out)[0].2["type"],
            "authentication",
            "session {session}"
        );
        assert_eq!(closes(&out), vec![session]);
    }
    // Valid, expiring in 10 s: OPEN then an immediate AUTH_EXPIRES_IN.
    let out = connect(&mut h, 6, Some(c("p6", now_s - 590, 600, b"auth")));
    let ev = events(&out);
    assert_eq!(ev[0].1, "OPEN");
    assert_eq!(ev[1], (6, "AUTH_EXPIRES_IN".into(), json!(10)));
    // A bad update is refused; a good one extends the session.
    let bad = RawJson::from_text(c("p6", now_s, 3600, b"nope")).unwrap();
    assert_eq!(
        events(&h.handle(6, ClientMessage::UpdateCredential(bad), T0))[0].2["type"],
        "authentication"
    );
    let good = RawJson::from_text(c("p6", now_s, 3600, b"auth")).unwrap();
    assert!(events(&h.handle(6, ClientMessage::UpdateCredential(good), T0)).is_empty());
    assert!(closes(&h.handle_timeout(T0 + 20_000)).is_empty());
    // Without an update, expiry ends the session.
    connect(&mut h, 7, Some(c("p7", now_s - 590, 600, b"auth")));
    let out = h.handle_timeout(T0 + 10_000);
    assert_eq!(closes(&out), vec![7]);
    assert_eq!(events(&out)[0].2["type"], "authentication");
}

#[test]
fn rate_limit_drops_and_reports_once() {
    let mut h = one_app_hub(Limits {
        messages_per_second: 1,
        message_burst: 2,
        ..Limits::default()
    });
    open(&mut h, 1, "alice", "t1");
    let mut errors = 0;
    for _ in 0..10 {
        let ev = events(&h.handle(
            1,
            msg("ROOM_JOIN", json!({"roomName": "r", "roomType": "mesh"})),
            T0,
        ));
        errors += ev
            .iter()
            .filter(|e| e.2["type"] == "signaling-limited")
            .count();
    }
    assert_eq!(errors, 1);
}

fn join(h: &mut Hub, session: SessionId, room: &str, kind: &str) -> Vec<Output> {
    h.handle(
        session,
        msg("ROOM_JOIN", json!({"roomName": room, "roomType": kind})),
        T0,
    )
}

#[test]
fn without_a_backend_the_hub_refuses_sfu_offers_itself() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    let out = join(&mut h, 1, "s", "sfu");
    assert!(!out.iter().any(|o| matches!(o, Output::Sfu(_))));
    let out = h.handle(1, msg("SFU_GET_OFFER", json!({"roomName": "s"})), T0);
    assert_eq!(
        events(&out),
        vec![(
            1,
            "ERROR".into(),
            json!({"type": "sfu-limited", "message": "this server has no SFU media backend"})
        )]
    );
}

#[test]
fn sfu_exchange_is_typed_both_ways() {
    let mut h = hub();
    h.attach_sfu();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    let sfu = |out: &[Output]| -> Vec<SfuRequest> {
        out.iter()
            .filter_map(|o| match o {
                Output::Sfu(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    };
    let out = join(&mut h, 1, "s", "sfu");
    assert_eq!(sfu(&out)[0].kind, SfuRequestKind::Joined);
    let out = h.handle(1, msg("SFU_GET_OFFER", json!({"roomName": "s"})), T0);
    assert_eq!(sfu(&out)[0].kind, SfuRequestKind::OfferWanted);
    let out = h.handle(
        1,
        msg(
            "SFU_ANSWER",
            json!({"roomName": "s", "answer": {"type": "answer", "sdp": "v=0"}}),
        ),
        T0,
    );
    assert_eq!(
        sfu(&out)[0].kind,
        SfuRequestKind::Answer(peer_protocol::rtc::SessionDescription::answer("v=0"))
    );
    let out = h.handle(
        1,
        msg("SFU_CANDIDATE", json!({"roomName": "s", "candidate": {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": 0}})),
        T0,
    );
    let SfuRequestKind::Candidate(c) = &sfu(&out)[0].kind else {
        panic!("not a candidate")
    };
    assert_eq!((c.candidate.as_str(), c.sdp_m_line_index), ("c", Some(0)));
    // Not a member: room-error, nothing for the backend.
    let out = h.handle(2, msg("SFU_GET_OFFER", json!({"roomName": "s"})), T0);
    assert!(sfu(&out).is_empty());
    assert_eq!(events(&out)[0].2["type"], "room-error");
    // The backend's offer reaches members only.
    let offer = peer_protocol::rtc::SessionDescription::offer("v=0");
    let mut msids = serde_json::Map::new();
    msids.insert("stream-a".into(), json!("alice"));
    let out = h.sfu_offer(KEY, "s", "alice", offer.clone(), msids.clone());
    assert_eq!(
        events(&out),
        vec![(
            1,
            "SFU_OFFER".into(),
            json!({"roomName": "s", "offer": {"type": "offer", "sdp": "v=0"}, "msids": {"stream-a": "alice"}})
        )]
    );
    assert!(h.sfu_offer(KEY, "s", "bob", offer, msids).is_empty());
    let out = h.sfu_refused(KEY, "s", "alice", "full");
    assert_eq!(events(&out)[0].2["type"], "sfu-limited");
    let out = h.disconnect(1, Disconnect::Clean, T0);
    assert_eq!(sfu(&out)[0].kind, SfuRequestKind::Left);
}

#[test]
fn seats_held_for_the_grace_do_not_count() {
    let mut h = one_app_hub(Limits {
        max_room_members: 3,
        ..Limits::default()
    });
    // Three peers join and drop: they keep membership for the grace, not their seats.
    for (session, id) in [(1, "a"), (2, "b"), (3, "c")] {
        open(&mut h, session, id, id);
        join(&mut h, session, "r", "mesh");
        h.disconnect(session, Disconnect::Dropped, T0);
    }
    for (session, id) in [(4, "d"), (5, "e"), (6, "f")] {
        open(&mut h, session, id, id);
        let ev = events(&join(&mut h, session, "r", "mesh"));
        assert_eq!(ev[0].1, "ROOM_USER_JOIN", "{id}: {ev:?}");
    }
    open(&mut h, 7, "g", "g");
    assert_eq!(
        events(&join(&mut h, 7, "r", "mesh"))[0].2["type"],
        "room-error"
    );
    // A dropped member that comes back is still in the room.
    open(&mut h, 8, "a", "a");
    let ev = events(&h.handle(
        8,
        msg("ROOM_GET_USERS", json!({"roomName": "r", "type": "media"})),
        T0,
    ));
    assert_eq!(ev[0].2["userList"].as_array().map(Vec::len), Some(6));
}

#[test]
fn deadlines_are_polled_not_scanned() {
    let mut h = hub();
    assert_eq!(h.poll_timeout(), None);
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    assert_eq!(
        h.poll_timeout(),
        None,
        "an open peer without a credential has no deadline"
    );
    h.disconnect(1, Disconnect::Dropped, T0);
    assert_eq!(h.poll_timeout(), Some(T0 + 30_000));
    // Coming back cancels the deadline.
    open(&mut h, 3, "alice", "t1");
    assert_eq!(h.poll_timeout(), None);
    h.disconnect(3, Disconnect::Dropped, T0 + 5);
    assert!(h.handle_timeout(T0 + 29_000).is_empty());
    assert_eq!(h.counts().peers, 2);
    h.handle_timeout(T0 + 30_005);
    assert_eq!((h.counts().peers, h.counts().timers), (1, 0));
}

#[test]
fn an_evicted_peer_leaves_at_once() {
    let mut h = hub();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    join(&mut h, 1, "r", "mesh");
    join(&mut h, 2, "r", "mesh");
    h.handle(1, msg("SEND_OFFER", json!({"offer": {}, "dst": "bob"})), T0);
    let ev = events(&h.disconnect(1, Disconnect::Evicted, T0));
    assert!(
        ev.contains(&(
            2,
            "ROOM_USER_LEAVE".into(),
            json!({"roomName": "r", "src": "alice"})
        )),
        "{ev:?}"
    );
    assert!(ev.contains(&(2, "LEAVE".into(), json!("alice"))), "{ev:?}");
    assert_eq!((h.counts().peers, h.poll_timeout()), (1, None));
}

#[test]
fn log_requests_have_their_own_bucket_and_share_one_encoding() {
    let mut h = one_app_hub(Limits {
        log_requests_per_second: 1,
        log_request_burst: 2,
        ..Limits::default()
    });
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "bob", "t2");
    join(&mut h, 1, "r", "mesh");
    join(&mut h, 2, "r", "mesh");
    let get = |h: &mut Hub, session, t| {
        h.handle(session, msg("ROOM_GET_LOGS", json!({"roomName": "r"})), t)
    };
    let frames = |out: &[Output]| match &out[0] {
        Output::Send { frames, .. } => frames.clone(),
        other => panic!("{other:?}"),
    };
    let a = frames(&get(&mut h, 1, T0));
    let b = frames(&get(&mut h, 2, T0));
    assert!(Arc::ptr_eq(&a, &b), "one encoding for both");
    get(&mut h, 1, T0);
    assert_eq!(
        events(&get(&mut h, 1, T0))[0].2["type"],
        "signaling-limited"
    );
    assert_eq!(events(&get(&mut h, 1, T0 + 1000))[0].1, "ROOM_LOGS");
    // Other messages still flow meanwhile.
    h.handle(
        1,
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": 1})),
        T0,
    );
    let c = frames(&get(&mut h, 2, T0 + 1000));
    assert!(!Arc::ptr_eq(&a, &c), "re-encoded after the log changed");
}

#[test]
fn turn_credentials_go_to_peers_that_ask_and_check_out() {
    let mut h = hub();
    h.attach_turn(TurnIssuer {
        secret: b"turn-secret".to_vec(),
        ttl_secs: 600,
        urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
        to_every_peer: false,
    });
    // A browser (no `turn=1`): a plain OPEN, as before.
    let ev = events(&open(&mut h, 1, "browser", "t1"));
    assert_eq!(ev, vec![(1, "OPEN".into(), json!({"peerId": "browser"}))]);
    // A Rust peer asking: a credential for it and the server's URLs.
    let out = h.connect(
        ConnectRequest {
            session: 2,
            api_key: Some(KEY.into()),
            token: Some("t2".into()),
            peer_id: Some("rusty".into()),
            wants_turn: true,
            ..Default::default()
        },
        T0,
    );
    let ev = events(&out);
    let open = &ev[0].2;
    assert_eq!(
        open["turnUrls"],
        json!(["turn:127.0.0.1:3478?transport=udp"])
    );
    let username = open["turnCredential"]["username"].as_str().unwrap();
    assert_eq!(username, format!("{}:{KEY}$rusty", T0 / 1000 + 600));
    let (_, password) =
        peer_auth::check_turn_username(b"turn-secret", username, T0 / 1000).expect("valid");
    assert_eq!(open["turnCredential"]["credential"], json!(password));
}

#[test]
fn open_says_resumed_only_when_the_session_was_kept() {
    let mut h = hub();
    let first = events(&open(&mut h, 1, "alice", "t1"));
    assert_eq!(first[0].1, "OPEN");
    assert_eq!(first[0].2, json!({"peerId": "alice"}));
    // Dropped, then back within the grace with the same token: the kept session resumes.
    h.disconnect(1, Disconnect::Dropped, T0);
    let again = events(&open(&mut h, 2, "alice", "t1"));
    assert_eq!(again[0].2, json!({"peerId": "alice", "resumed": true}));
    // After the grace the peer is gone: a fresh session, no `resumed`.
    h.disconnect(2, Disconnect::Dropped, T0);
    h.handle_timeout(T0 + 60_000);
    let fresh = events(&open(&mut h, 3, "alice", "t1"));
    assert_eq!(fresh[0].2, json!({"peerId": "alice"}));
}

#[test]
fn cluster_mode_sends_what_is_not_here_to_the_shell() {
    let mut h = hub();
    h.attach_cluster();
    open(&mut h, 1, "alice", "t1");
    // An id another node holds is refused.
    let out = h.connect(
        ConnectRequest {
            session: 2,
            api_key: Some(KEY.into()),
            peer_id: Some("bob".into()),
            held_elsewhere: true,
            ..Default::default()
        },
        T0,
    );
    assert_eq!(events(&out)[0].2["type"], "unavailable-id");
    // A relay to a peer that is not here goes out as Remote, src filled in, no error.
    let out = h.handle(
        1,
        msg(
            "SEND_OFFER",
            json!({"offer": {"sdp": "v=0"}, "dst": "carol", "connectionId": "dc_1"}),
        ),
        T0,
    );
    let remote: Vec<&RemoteMessage> = out
        .iter()
        .filter_map(|o| match o {
            Output::Remote(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(remote.len(), 1, "{out:?}");
    assert_eq!(
        (remote[0].from, remote[0].dst.as_str(), remote[0].event),
        (Some(1), "carol", "OFFER")
    );
    let body: Value = serde_json::from_str(&remote[0].body).unwrap();
    assert_eq!(body["src"], "alice");
    assert!(events(&out).is_empty());
    // What another node sends for a peer here reaches it; for one not here, nothing happens.
    let ev = events(&h.deliver_remote(KEY, "alice", "ANSWER", r#"{"src":"carol","answer":{}}"#));
    assert_eq!(
        ev,
        vec![(1, "ANSWER".into(), json!({"src": "carol", "answer": {}}))]
    );
    assert!(h.deliver_remote(KEY, "nobody", "ANSWER", "{}").is_empty());
    assert!(h.deliver_remote(KEY, "alice", "OPEN", "{}").is_empty());
    assert!(h
        .deliver_remote(KEY, "alice", "OFFER", "not json")
        .is_empty());
    // When no node has it, the sender hears so.
    let ev = events(&h.remote_unavailable(1, "carol"));
    assert_eq!(ev[0].2["type"], "peer-unavailable");

    // LEAVE crosses nodes both ways: carol (elsewhere) was a contact of alice, and a remote
    // dave who sent alice an offer becomes one.
    h.deliver_remote(KEY, "alice", "OFFER", r#"{"src":"dave","offer":{}}"#);
    let ev = events(&h.deliver_remote(KEY, "alice", "LEAVE", r#""carol""#));
    assert_eq!(ev, vec![(1, "LEAVE".into(), json!("carol"))]);
    let out = h.disconnect(1, Disconnect::Clean, T0);
    let mut leaves: Vec<(Option<SessionId>, String, &str, String)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Remote(m) => Some((m.from, m.dst.clone(), m.event, m.body.clone())),
            _ => None,
        })
        .collect();
    leaves.sort();
    assert_eq!(
        leaves,
        vec![(None, "dave".into(), "LEAVE", "\"alice\"".into())],
        "carol already left; dave hears that alice is gone"
    );
}

/// Decoded events of the `RemoteFrames` in `outputs`: (member, event, payload, note).
fn remote_frames(outputs: &[Output]) -> Vec<(String, String, Value, Option<RoomNote>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::RemoteFrames(f) => {
                let text = std::str::from_utf8(f.frames[0].as_bytes()).ok()?;
                let (p, _) = parse_packet(&text[1..], 8).ok()?;
                let ev = p.into_event().ok()?;
                let payload = ev.payload_value();
                Some((f.dst.clone(), ev.name, payload, f.note.clone()))
            }
            _ => None,
        })
        .collect()
}

fn routes(outputs: &[Output]) -> Vec<RoomRoute> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Room(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn join_msg(room: &str) -> ClientMessage {
    msg("ROOM_JOIN", json!({"roomName": room, "roomType": "mesh"}))
}

#[test]
fn cluster_rooms_live_on_their_home_and_answer_members_elsewhere() {
    let mut h = hub();
    h.attach_cluster();
    open(&mut h, 1, "alice", "t1");
    // A room operation goes to the shell, which finds the room's home; here it is this node.
    let out = h.handle(1, join_msg("r"), T0);
    let r = routes(&out);
    assert_eq!(r.len(), 1, "{out:?}");
    assert_eq!(
        (
            r[0].room.as_str(),
            r[0].peer.as_str(),
            r[0].session,
            r[0].rejoin
        ),
        ("r", "alice", Some(1), false)
    );
    assert!(events(&out).is_empty());
    let ev = events(&h.room_input(KEY, "alice", Some(1), join_msg("r"), T0));
    assert_eq!(ev[0].1, "ROOM_USER_JOIN");
    assert!(h.has_room(KEY, "r"));

    // bob, on another node, joins: alice hears it here; bob gets his through his node, with
    // the member list.
    let out = h.room_input(KEY, "bob", None, join_msg("r"), T0);
    assert_eq!(events(&out)[0].2["src"], "bob");
    let rf = remote_frames(&out);
    assert_eq!(rf.len(), 1, "{out:?}");
    assert_eq!(
        (rf[0].0.as_str(), rf[0].1.as_str()),
        ("bob", "ROOM_USER_JOIN")
    );
    assert_eq!(
        rf[0].3,
        Some(RoomNote {
            room: "r".into(),
            sfu: false,
            members: vec!["alice".into(), "bob".into()]
        })
    );
    assert_eq!(
        h.remote_room_members(),
        vec![(KEY.to_owned(), "r".to_owned(), "bob".to_owned())]
    );
    // bob's data reaches alice; alice's reaches bob through his node.
    let out = h.room_input(
        KEY,
        "bob",
        None,
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": 1})),
        T0,
    );
    assert_eq!(events(&out)[0].2["src"], "bob");
    let out = h.room_input(
        KEY,
        "alice",
        Some(1),
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": 2})),
        T0,
    );
    assert_eq!(remote_frames(&out)[0].2["data"], 2);
    // A stranger elsewhere is told it is no member, through its node.
    let out = h.room_input(
        KEY,
        "eve",
        None,
        msg("ROOM_SEND_DATA", json!({"roomName": "r", "data": 3})),
        T0,
    );
    let rf = remote_frames(&out);
    assert_eq!((rf[0].0.as_str(), rf[0].1.as_str()), ("eve", "ERROR"));
    assert_eq!(rf[0].2["type"], "room-error");
    // An operation from a session that is no longer the peer's is dropped (a leave is not).
    assert!(h
        .room_input(KEY, "alice", Some(9), join_msg("r2"), T0)
        .is_empty());
    assert!(!h.has_room(KEY, "r2"));
    // A quiet rejoin adds a member without a word to anyone.
    assert!(h
        .room_rejoin(
            KEY,
            "carol",
            RoomJoin {
                room_name: "r".into(),
                room_type: RoomType::Mesh
            }
        )
        .is_empty());
    // bob leaves: alice hears it, and the remaining members' nodes get the new list.
    let out = h.room_input(
        KEY,
        "bob",
        None,
        msg("ROOM_LEAVE", json!({"roomName": "r"})),
        T0,
    );
    assert_eq!(events(&out)[0].1, "ROOM_USER_LEAVE");
    let rf = remote_frames(&out);
    assert_eq!(rf.len(), 1);
    assert_eq!(rf[0].0, "carol");
    assert_eq!(
        rf[0].3.as_ref().map(|n| n.members.clone()),
        Some(vec!["alice".into(), "carol".into()])
    );
}

#[test]
fn a_member_node_keeps_its_peers_rooms_and_rehomes_them() {
    let mut h = hub();
    h.attach_cluster();
    open(&mut h, 1, "alice", "t1");
    open(&mut h, 2, "dave", "t2");
    // The room's home (elsewhere) says alice joined: her node records the room and its
    // members.
    let note = RoomNote {
        room: "r".into(),
        sfu: false,
        members: vec!["bob".into(), "alice".into(), "dave".into()],
    };
    let ev = events(&h.deliver_frames(
        KEY,
        "alice",
        "ROOM_USER_JOIN",
        vec![Frame::text("42[\"ROOM_USER_JOIN\",{}]".into())],
        Some(note.clone()),
    ));
    assert_eq!(ev[0].1, "ROOM_USER_JOIN");
    h.deliver_frames(KEY, "dave", "ROOM_USER_JOIN", Vec::new(), Some(note));
    assert_eq!(
        h.remote_homed_rooms(),
        vec![(
            KEY.to_owned(),
            "r".to_owned(),
            vec!["bob".into(), "alice".into(), "dave".into()]
        )]
    );
    // The home died with bob: alice and dave hear bob leave, and join again quietly.
    let out = h.home_lost(KEY, "r", &["bob".to_owned()]);
    let mut ev = events(&out);
    ev.sort_by_key(|e| e.0);
    assert_eq!(
        ev,
        vec![
            (
                1,
                "ROOM_USER_LEAVE".into(),
                json!({"roomName": "r", "src": "bob"})
            ),
            (
                2,
                "ROOM_USER_LEAVE".into(),
                json!({"roomName": "r", "src": "bob"})
            ),
        ]
    );
    let mut rejoins: Vec<(String, bool)> = routes(&out)
        .into_iter()
        .map(|r| {
            (
                r.peer,
                r.rejoin && matches!(r.msg, ClientMessage::RoomJoin(_)),
            )
        })
        .collect();
    rejoins.sort();
    assert_eq!(rejoins, vec![("alice".into(), true), ("dave".into(), true)]);
    // alice goes: her leave goes to the room's home.
    let out = h.disconnect(1, Disconnect::Clean, T0);
    let r = routes(&out);
    assert_eq!(r.len(), 1, "{out:?}");
    assert!(matches!(r[0].msg, ClientMessage::RoomLeave(_)) && r[0].session.is_none());
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::IdFreed { peer, .. } if peer == "alice")));
    // dave is still in the room: its list stays; once he leaves it too, nothing is kept.
    assert_eq!(h.apps[KEY].mirrors.len(), 1);
    h.handle(2, msg("ROOM_LEAVE", json!({"roomName": "r"})), T0);
    assert!(h.apps[KEY].mirrors.is_empty());
    assert!(h.remote_homed_rooms().is_empty());
}
