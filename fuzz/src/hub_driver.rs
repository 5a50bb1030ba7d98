//! The `hub` fuzz target's driver: the signaling state machine of `peer-server` fed a sequence of
//! inputs decoded from bytes (handshakes with a few ids, tokens and keys, messages of every kind
//! over a few rooms, disconnects of every kind, time passing, backend offers), with invariants:
//!
//! - no input panics;
//! - no input produces more outputs than a small multiple of the sessions the hub knows;
//! - every session ends: once every socket is gone and the reconnect grace and the credentials
//!   have run out, the hub holds no peer, session, room or deadline.
//!
//! Self-contained (only the workspace crates), so `peer-server`'s smoke test includes this file.

use peer_protocol::socketio::Event;
use peer_protocol::ClientMessage;
use peer_server::config::{AppConfig, Limits, Timeouts};
use peer_server::hub::{ConnectRequest, Disconnect, Hub, HubCounts, Output, SessionId};
use std::collections::BTreeSet;

const OPEN_KEY: &str = "11111111-2222-3333-4444-555555555555";
const AUTH_KEY: &str = "33333333-2222-3333-4444-555555555555";
const SECRET: &str = "auth";
const PEERS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const ROOMS: [&str; 3] = ["r1", "r2", "r3"];
const T0: u64 = 1_700_000_000_000;
const GRACE_MS: u64 = 2_000;

fn apps() -> Vec<AppConfig> {
    let app = |key: &str, require_credential| AppConfig {
        key: key.into(),
        secret: SECRET.into(),
        rest_api: true,
        require_credential,
        allowed_origins: vec![],
    };
    vec![app(OPEN_KEY, false), app(AUTH_KEY, true)]
}

fn message(kind: u8, arg: u8) -> Option<ClientMessage> {
    let room = ROOMS[usize::from(arg) % ROOMS.len()];
    let dst = PEERS[usize::from(arg >> 2) % PEERS.len()];
    let in_room = arg & 0x80 != 0;
    let room_field = if in_room {
        format!(",\"roomName\":\"{room}\"")
    } else {
        String::new()
    };
    let (name, payload) = match kind % 16 {
        0 => ("SEND_OFFER", format!("{{\"offer\":{{\"sdp\":\"v=0\"}},\"dst\":\"{dst}\",\"connectionId\":\"c\"{room_field}}}")),
        1 => ("SEND_ANSWER", format!("{{\"answer\":{{}},\"dst\":\"{dst}\",\"connectionId\":\"c\"{room_field}}}")),
        2 => ("SEND_CANDIDATE", format!("{{\"candidate\":{{}},\"dst\":\"{dst}\"{room_field}}}")),
        3 => ("SEND_FORCE_CLOSE", format!("{{\"dst\":\"{dst}\",\"connectionId\":\"c\"}}")),
        4 => ("ROOM_JOIN", format!("{{\"roomName\":\"{room}\",\"roomType\":\"mesh\"}}")),
        5 => ("ROOM_JOIN", format!("{{\"roomName\":\"{room}\",\"roomType\":\"sfu\"}}")),
        6 => ("ROOM_LEAVE", format!("{{\"roomName\":\"{room}\"}}")),
        7 => ("ROOM_GET_USERS", format!("{{\"roomName\":\"{room}\",\"type\":\"media\"}}")),
        8 => ("ROOM_GET_LOGS", format!("{{\"roomName\":\"{room}\"}}")),
        9 => ("ROOM_SEND_DATA", format!("{{\"roomName\":\"{room}\",\"data\":{{\"n\":{arg},\"s\":\"{}\"}}}}", "x".repeat(usize::from(arg) * 4))),
        10 => ("SFU_GET_OFFER", format!("{{\"roomName\":\"{room}\"}}")),
        11 => ("SFU_ANSWER", format!("{{\"roomName\":\"{room}\",\"answer\":{{\"type\":\"answer\",\"sdp\":\"v=0\"}}}}")),
        12 => ("SFU_CANDIDATE", format!("{{\"roomName\":\"{room}\",\"candidate\":{{\"candidate\":\"c\"}}}}")),
        13 => ("PING", "null".to_owned()),
        14 => ("UPDATE_CREDENTIAL", format!("{{\"timestamp\":{},\"ttl\":600,\"authToken\":\"bad\"}}", T0 / 1000)),
        _ => ("NO_SUCH_EVENT", "{}".to_owned()),
    };
    ClientMessage::parse(Event::new(name, payload, vec![])).ok()
}

/// Drives a hub with `data`; panics when an invariant breaks.
pub fn hub(data: &[u8]) {
    let limits = Limits {
        max_room_members: 3,
        max_rooms_per_peer: 2,
        messages_per_second: 50,
        message_burst: 20,
        room_log_entries: 4,
        room_log_bytes: 2048,
        ..Limits::default()
    };
    let timeouts = Timeouts {
        reconnect_grace_ms: GRACE_MS,
        auth_expiry_warning_secs: 60,
        ..Timeouts::default()
    };
    let mut h = Hub::new(&apps(), limits, timeouts);
    if data.first().is_some_and(|b| b & 1 == 1) {
        h.attach_sfu();
    }
    let mut now = T0;
    let mut live: BTreeSet<SessionId> = BTreeSet::new();
    let mut next: SessionId = 1;
    for op in data.chunks(4) {
        let [kind, a, b, c] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let pick = |live: &BTreeSet<SessionId>, n: u8| {
            live.iter().nth(usize::from(n) % live.len().max(1)).copied()
        };
        let out = match kind % 8 {
            0 | 1 => {
                let session = next;
                next += 1;
                live.insert(session);
                let auth = a & 1 == 1;
                let peer = PEERS[usize::from(b) % PEERS.len()];
                let credential = auth.then(|| {
                    let ttl = 600 + u64::from(c) * 10;
                    let cred = peer_auth::Credential::issue(
                        SECRET.as_bytes(),
                        peer,
                        now / 1000 - 590,
                        ttl,
                    );
                    serde_json::to_string(&cred).unwrap_or_default()
                });
                h.connect(
                    ConnectRequest {
                        session,
                        api_key: Some(if auth { AUTH_KEY } else { OPEN_KEY }.into()),
                        token: Some(format!("t{}", c % 3)),
                        peer_id: (a & 2 == 0).then(|| peer.to_owned()),
                        credential,
                        random_id: [b; 16],
                        wants_turn: a & 4 == 0,
                        ..Default::default()
                    },
                    now,
                )
            }
            2 | 3 => match (pick(&live, a), message(b, c)) {
                (Some(session), Some(msg)) => h.handle(session, msg, now),
                _ => Vec::new(),
            },
            4 => match pick(&live, a) {
                Some(session) => {
                    live.remove(&session);
                    let how = [Disconnect::Clean, Disconnect::Dropped, Disconnect::Evicted]
                        [usize::from(b) % 3];
                    h.disconnect(session, how, now)
                }
                None => Vec::new(),
            },
            5 => {
                now += u64::from(a) * 50;
                h.handle_timeout(now)
            }
            6 => match pick(&live, a) {
                Some(session) => h.invalid_message(session, "fuzz", now),
                None => Vec::new(),
            },
            _ => {
                let room = ROOMS[usize::from(b) % ROOMS.len()];
                let peer = PEERS[usize::from(c) % PEERS.len()];
                let offer = peer_protocol::rtc::SessionDescription::offer("v=0");
                h.sfu_offer(OPEN_KEY, room, peer, offer, serde_json::Map::new())
            }
        };
        let known = h.counts().sessions + live.len() + 1;
        assert!(
            out.len() <= 8 + 4 * known,
            "{} outputs for {known} sessions",
            out.len()
        );
        for o in &out {
            if let Output::Close { session } = o {
                // The shell ends a closed session: the hub hears it.
                if live.remove(session) {
                    let _ = h.disconnect(*session, Disconnect::Clean, now);
                }
            }
        }
        if let Some(at) = h.poll_timeout() {
            assert!(at >= T0, "deadline in the past of the start");
        }
    }
    for session in std::mem::take(&mut live) {
        let _ = h.disconnect(session, Disconnect::Dropped, now);
    }
    // Past every grace and credential: nothing may stay.
    let end = now + GRACE_MS + 2 * 86_400_000;
    let _ = h.handle_timeout(end);
    assert_eq!(
        h.counts(),
        HubCounts::default(),
        "the hub keeps state after every session ended"
    );
    assert_eq!(h.poll_timeout(), None);
}
