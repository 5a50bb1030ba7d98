//! The mesh room's decisions, driven without sockets.

use super::*;
use crate::payload::RoomPayload;
use serde_json::{json, Map, Value};

fn core(local: &str) -> MeshCore {
    MeshCore::new(local, "r", 64, "mc_t")
}

fn drain(c: &mut MeshCore) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn offer(src: &str, id: &str) -> Offer {
    Offer {
        src: src.into(),
        connection_id: id.into(),
        connection_type: "media".into(),
        room_name: Some("r".into()),
        sdp: format!("sdp of {id}"),
        raw: Map::new(),
    }
}

fn routed(src: &str, id: &str) -> Routed {
    let mut raw = Map::new();
    raw.insert("n".into(), Value::from(id));
    Routed {
        src: src.into(),
        connection_id: id.into(),
        room_name: Some("r".into()),
        raw,
    }
}

/// `local` joined a room where `others` were.
fn joined(local: &str, others: &[&str]) -> MeshCore {
    let mut c = core(local);
    let mut all = ids(others);
    all.push(local.into());
    c.handle_input(RoomInput::UserJoin {
        src: local.into(),
        members: all.clone(),
    });
    c.handle_input(RoomInput::Users {
        kind: "media".into(),
        list: all,
    });
    drain(&mut c);
    c
}

#[test]
fn join_asks_for_the_members_and_calls_each_once() {
    let mut c = core("me");
    c.handle_input(RoomInput::UserJoin {
        src: "me".into(),
        members: ids(&["a", "me", "b"]),
    });
    let out = drain(&mut c);
    assert!(
        matches!(&out[0], Output::Send(ClientMessage::RoomGetUsers(g)) if g.kind == "media" && g.room_name == "r")
    );
    assert!(matches!(&out[1], Output::Emit(RoomEvent::Open)));
    assert_eq!(c.phase(), Phase::Open);
    c.handle_input(RoomInput::Users {
        kind: "media".into(),
        list: ids(&["a", "me", "b"]),
    });
    let out = drain(&mut c);
    let called: Vec<(String, String)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Call { peer, id } => Some((peer.clone(), id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        called,
        vec![("a".into(), "mc_t1".into()), ("b".into(), "mc_t2".into())]
    );
    assert_eq!(c.members(), ids(&["a", "b"]).as_slice());
    // A second list does not call anyone twice.
    c.handle_input(RoomInput::Users {
        kind: "media".into(),
        list: ids(&["a", "me", "b"]),
    });
    assert!(drain(&mut c).is_empty());
}

#[test]
fn glare_the_greater_id_ignores_the_second_offer() {
    // "b" > "a": b ignores a's offer while it has its own call to a.
    let mut b = joined("b", &["a"]);
    b.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("a", "mc_x"))));
    assert!(drain(&mut b).is_empty());
    // "a" < "b": a accepts b's offer and has two calls with b.
    let mut a = joined("a", &["b"]);
    a.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("b", "mc_y"))));
    assert!(matches!(&drain(&mut a)[..], [Output::Answer(o)] if o.connection_id == "mc_y"));
    // A third call from b is past the limit.
    a.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("b", "mc_z"))));
    assert!(drain(&mut a).is_empty());
    // An offer for an existing call renegotiates it.
    a.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("b", "mc_y"))));
    assert!(matches!(&drain(&mut a)[..], [Output::Renegotiate { id, .. }] if id == "mc_y"));
}

#[test]
fn candidates_wait_for_their_call_within_bounds() {
    // "A" < "a": a's offer is answered although "A" called a too (glare rule).
    let mut c = joined("A", &["a", "b"]);
    c.handle_input(RoomInput::Signal(RoomSignal::Candidate(routed(
        "a", "mc_a",
    ))));
    c.handle_input(RoomInput::Signal(RoomSignal::Candidate(routed(
        "a", "mc_a",
    ))));
    // From a stranger: dropped.
    c.handle_input(RoomInput::Signal(RoomSignal::Candidate(routed(
        "x", "mc_x",
    ))));
    assert_eq!(c.pending_counts(), (1, 2));
    assert!(drain(&mut c).is_empty());
    c.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("a", "mc_a"))));
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Answer(o) if o.connection_id == "mc_a"));
    assert_eq!(
        out[1..]
            .iter()
            .filter(|o| matches!(o, Output::DeliverCandidate { id, .. } if id == "mc_a"))
            .count(),
        2
    );
    assert_eq!(c.pending_counts(), (0, 0));
    // A flood of candidates for ids that never come stays bounded.
    for i in 0..1000 {
        c.handle_input(RoomInput::Signal(RoomSignal::Candidate(routed(
            "b",
            &format!("mc_{}", i % 100),
        ))));
    }
    let (queues, total) = c.pending_counts();
    assert!(queues <= MAX_PENDING_CALLS);
    assert!(total <= MAX_PENDING_CALLS * MAX_PENDING_CANDIDATES);
}

#[test]
fn a_leaver_is_forgotten_entirely() {
    let mut c = joined("z", &["a", "b"]);
    c.handle_input(RoomInput::Signal(RoomSignal::Candidate(routed(
        "a", "mc_q",
    ))));
    c.handle_input(RoomInput::UserLeave("a".into()));
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Close(ids) if ids == &vec!["mc_t1".to_string()]));
    assert!(matches!(&out[1], Output::Emit(RoomEvent::PeerLeave(p)) if p == "a"));
    assert_eq!(c.members(), ids(&["b"]).as_slice());
    assert!(c.calls().all(|(_, p)| p != "a"));
    assert_eq!(c.pending_counts(), (0, 0));
    // LEAVE after ROOM_USER_LEAVE, or of a stranger, reports nothing more.
    c.handle_input(RoomInput::PeerGone("a".into()));
    c.handle_input(RoomInput::PeerGone("x".into()));
    assert!(drain(&mut c).is_empty());
    // LEAVE alone (the member's socket died) is a departure too.
    c.handle_input(RoomInput::PeerGone("b".into()));
    assert!(
        matches!(&drain(&mut c)[..], [Output::Close(_), Output::Emit(RoomEvent::PeerLeave(p))] if p == "b")
    );
    // Its signals are dropped now.
    c.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("b", "mc_late"))));
    c.handle_input(RoomInput::Signal(RoomSignal::Answer(routed("b", "mc_t2"))));
    assert!(drain(&mut c).is_empty());
}

#[test]
fn data_from_others_only_and_logs() {
    let mut c = joined("z", &["a"]);
    c.handle_input(RoomInput::Data {
        src: "z".into(),
        data: RoomPayload::from("own"),
    });
    c.handle_input(RoomInput::Data {
        src: "a".into(),
        data: RoomPayload::from(json!({"k": 1})),
    });
    c.handle_input(RoomInput::Logs(vec!["{}".into()]));
    let out = drain(&mut c);
    assert_eq!(out.len(), 2);
    assert!(
        matches!(&out[0], Output::Emit(RoomEvent::Data { src, data }) if src == "a" && data.to_json() == Some(json!({"k": 1})))
    );
    assert!(matches!(&out[1], Output::Emit(RoomEvent::Log(l)) if l.len() == 1));
}

#[test]
fn close_closes_calls_leaves_and_ends() {
    let mut c = joined("z", &["a", "b"]);
    c.close();
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Close(ids) if ids.len() == 2));
    assert!(matches!(&out[1], Output::Send(ClientMessage::RoomLeave(r)) if r.room_name == "r"));
    assert!(matches!(&out[2], Output::Emit(RoomEvent::Close)));
    c.handle_input(RoomInput::UserJoin {
        src: "c".into(),
        members: vec![],
    });
    c.close();
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.phase(), Phase::Closed);
}

#[test]
fn join_timeout_only_while_joining() {
    let mut c = core("z");
    c.join_timed_out();
    let out = drain(&mut c);
    assert!(matches!(
        &out[0],
        Output::Emit(RoomEvent::Error(crate::RoomError::Timeout))
    ));
    assert!(matches!(out.last(), Some(Output::Emit(RoomEvent::Close))));
    let mut open = joined("z", &["a"]);
    open.join_timed_out();
    assert!(drain(&mut open).is_empty());
}

#[test]
fn strangers_data_offers_and_too_many_members() {
    let mut c = joined("z", &["a"]);
    c.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("x", "mc_x"))));
    let mut data = offer("a", "dc_1");
    data.connection_type = "data".into();
    c.handle_input(RoomInput::Signal(RoomSignal::Offer(data)));
    assert!(drain(&mut c).is_empty());

    let mut small = MeshCore::new("z", "r", 2, "mc_t");
    small.handle_input(RoomInput::UserJoin {
        src: "z".into(),
        members: vec![],
    });
    small.handle_input(RoomInput::Users {
        kind: "media".into(),
        list: ids(&["a", "b", "c", "z"]),
    });
    let calls = drain(&mut small)
        .iter()
        .filter(|o| matches!(o, Output::Call { .. }))
        .count();
    assert_eq!(calls, 2);
    assert_eq!(
        small.members().len(),
        3,
        "members past the limit are listed"
    );
    small.handle_input(RoomInput::Signal(RoomSignal::Offer(offer("c", "mc_c"))));
    assert!(drain(&mut small).is_empty());
}

#[test]
fn a_rejoin_keeps_live_calls_and_reconciles_the_members() {
    // z is in a room with a (called), b (called) and c (no call: its call already ended).
    let mut c = joined("z", &["a", "b", "c"]);
    let call_of = |c: &MeshCore, peer: &str| {
        c.calls()
            .find(|(_, p)| *p == peer)
            .map(|(id, _)| id.clone())
    };
    let c_call = call_of(&c, "c").unwrap();
    c.call_closed(&c_call);
    let b_call = call_of(&c, "b").unwrap();
    c.handle_input(RoomInput::Rejoin);
    assert!(matches!(
        &drain(&mut c)[..],
        [Output::Send(ClientMessage::RoomJoin(RoomJoin { room_name, room_type: RoomType::Mesh }))] if room_name == "r"
    ));
    // The fresh session names a (rejoined already) and d (new); b and c are not named yet.
    c.handle_input(RoomInput::UserJoin {
        src: "z".into(),
        members: ids(&["a", "d", "z"]),
    });
    let out = drain(&mut c);
    let evs: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Emit(e) => Some(format!("{e:?}")),
            _ => None,
        })
        .collect();
    // c (no call) leaves, d joins; a and b (live calls) stay without events.
    assert_eq!(evs, ["PeerLeave(\"c\")", "PeerJoin(\"d\")"]);
    assert!(matches!(
        out.last(),
        Some(Output::Send(ClientMessage::RoomGetUsers(_)))
    ));
    assert_eq!(c.members(), ids(&["a", "b", "d"]).as_slice());
    // The member list calls only d: a's call lives on.
    c.handle_input(RoomInput::Users {
        kind: "media".into(),
        list: ids(&["a", "d", "z"]),
    });
    assert!(matches!(&drain(&mut c)[..], [Output::Call { peer, .. }] if peer == "d"));
    // b comes back: no event, it never left.
    c.handle_input(RoomInput::UserJoin {
        src: "b".into(),
        members: ids(&["a", "b", "d", "z"]),
    });
    assert!(drain(&mut c).is_empty());
    // Later its call ending is an ordinary call end, not a departure.
    c.call_closed(&b_call);
    assert!(drain(&mut c).is_empty());
    assert!(c.members().contains(&"b".to_string()));
}

#[test]
fn an_unconfirmed_member_leaves_with_its_last_call() {
    let mut c = joined("z", &["a"]);
    let a_call = c.calls().next().map(|(id, _)| id.clone()).unwrap();
    c.handle_input(RoomInput::Rejoin);
    c.handle_input(RoomInput::UserJoin {
        src: "z".into(),
        members: ids(&["z"]),
    });
    drain(&mut c);
    assert_eq!(c.members(), ids(&["a"]).as_slice());
    // a died while the server was down: its call fails, and it leaves.
    c.call_closed(&a_call);
    assert!(matches!(&drain(&mut c)[..], [Output::Emit(RoomEvent::PeerLeave(p))] if p == "a"));
    assert!(c.members().is_empty());
}

#[test]
fn a_rejoin_while_joining_sends_the_join_again() {
    let mut c = core("z");
    c.handle_input(RoomInput::Rejoin);
    assert!(matches!(
        &drain(&mut c)[..],
        [Output::Send(ClientMessage::RoomJoin(_))]
    ));
    c.handle_input(RoomInput::UserJoin {
        src: "z".into(),
        members: ids(&["z"]),
    });
    assert!(matches!(
        &drain(&mut c)[..],
        [
            Output::Send(ClientMessage::RoomGetUsers(_)),
            Output::Emit(RoomEvent::Open)
        ]
    ));
}
