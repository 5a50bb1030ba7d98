//! The SFU member core driven by hand: the join flow, offers and their msids, streams named
//! late, members leaving, closing.

use super::*;
use crate::payload::RoomPayload;

fn core() -> SfuRoomCore {
    SfuRoomCore::new("me", "r")
}

fn drain(c: &mut SfuRoomCore) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn events(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Emit(e) => Some(format!("{e:?}")),
            _ => None,
        })
        .collect()
}

fn open(c: &mut SfuRoomCore) {
    c.handle_input(RoomInput::UserJoin {
        src: "me".into(),
        members: vec!["a".into(), "me".into()],
    });
    let out = drain(c);
    assert!(matches!(out[0], Output::Emit(RoomEvent::Open)));
    assert!(matches!(
        &out[1],
        Output::Send(ClientMessage::SfuGetOffer(RoomRef { room_name })) if room_name == "r"
    ));
    assert_eq!(c.members(), ["a"]);
}

fn offer(c: &mut SfuRoomCore, msids: &[(&str, &str)]) -> Vec<Output> {
    c.handle_input(RoomInput::SfuOffer {
        sdp: "v=0".into(),
        msids: msids
            .iter()
            .map(|(s, p)| (s.to_string(), p.to_string()))
            .collect(),
    });
    drain(c)
}

#[test]
fn the_own_join_opens_and_asks_for_the_offer() {
    let mut c = core();
    // Offers before the join is confirmed are not applied.
    assert!(offer(&mut c, &[]).is_empty());
    open(&mut c);
    assert_eq!(c.phase(), Phase::Open);
    let out = offer(&mut c, &[("sa", "a")]);
    assert!(matches!(&out[..], [Output::SfuOffer { first: true, .. }]));
    let out = offer(&mut c, &[("sa", "a")]);
    assert!(matches!(&out[..], [Output::SfuOffer { first: false, .. }]));
}

#[test]
fn streams_are_named_by_msids_even_when_they_come_first() {
    let mut c = core();
    open(&mut c);
    offer(&mut c, &[("sa", "a")]);
    c.remote_stream("sa".into());
    c.remote_stream("sa".into());
    assert_eq!(
        events(&drain(&mut c)),
        vec![r#"Stream { peer_id: "a", stream: "sa" }"#]
    );
    // b's stream arrives before an offer names it: it waits, then comes out. The own entry
    // of the map is skipped.
    c.remote_stream("sb".into());
    assert!(drain(&mut c).is_empty());
    c.handle_input(RoomInput::UserJoin {
        src: "b".into(),
        members: vec![],
    });
    let out = offer(&mut c, &[("sa", "a"), ("sb", "b"), ("sme", "me")]);
    assert_eq!(
        events(&out),
        vec![
            r#"PeerJoin("b")"#.to_string(),
            r#"Stream { peer_id: "b", stream: "sb" }"#.to_string()
        ]
    );
    c.remote_stream("sme".into());
    assert!(drain(&mut c).is_empty(), "the own stream is never reported");
}

#[test]
fn a_leaver_is_dropped_and_data_from_others_is_reported() {
    let mut c = core();
    open(&mut c);
    offer(&mut c, &[("sa", "a")]);
    c.remote_stream("sa".into());
    drain(&mut c);
    c.handle_input(RoomInput::Data {
        src: "a".into(),
        data: RoomPayload::text("hi"),
    });
    c.handle_input(RoomInput::Data {
        src: "me".into(),
        data: RoomPayload::text("echo"),
    });
    assert_eq!(drain(&mut c).len(), 1);
    c.handle_input(RoomInput::UserLeave("a".into()));
    assert_eq!(events(&drain(&mut c)), vec![r#"PeerLeave("a")"#]);
    assert!(c.members().is_empty());
    // Its stream id is forgotten: a stream under it now waits for a new map.
    c.remote_stream("sa".into());
    assert!(drain(&mut c).is_empty());
}

#[test]
fn closing_leaves_and_closes_the_connection_once() {
    let mut c = core();
    open(&mut c);
    offer(&mut c, &[]);
    c.close();
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Send(ClientMessage::RoomLeave(_))));
    assert!(matches!(&out[1], Output::SfuClose));
    assert!(matches!(&out[2], Output::Emit(RoomEvent::Close)));
    c.close();
    c.connection_closed();
    assert!(drain(&mut c).is_empty());
    // A join that never comes times out.
    let mut c = core();
    c.join_timed_out();
    let out = events(&drain(&mut c));
    assert_eq!(out, vec!["Error(Timeout)".to_string(), "Close".to_string()]);
}

#[test]
fn parked_streams_are_bounded() {
    let mut c = core();
    open(&mut c);
    for i in 0..(MAX_PARKED + 10) {
        c.remote_stream(format!("s{i}"));
    }
    assert_eq!(c.parked.len(), MAX_PARKED);
}

#[test]
fn a_rejoin_drops_the_old_connection_and_asks_for_a_new_offer() {
    let mut c = core();
    open(&mut c);
    offer(&mut c, &[("sa", "a")]);
    c.remote_stream("sa".into());
    assert_eq!(
        events(&drain(&mut c)),
        ["Stream { peer_id: \"a\", stream: \"sa\" }"]
    );
    c.handle_input(RoomInput::Rejoin);
    let out = drain(&mut c);
    assert!(matches!(
        &out[..],
        [
            Output::Send(ClientMessage::RoomJoin(RoomJoin {
                room_type: RoomType::Sfu,
                ..
            })),
            Output::SfuClose
        ]
    ));
    // The fresh session names b, not a (yet).
    c.handle_input(RoomInput::UserJoin {
        src: "me".into(),
        members: vec!["b".into(), "me".into()],
    });
    let out = drain(&mut c);
    assert_eq!(events(&out), ["PeerLeave(\"a\")", "PeerJoin(\"b\")"]);
    assert!(matches!(
        out.last(),
        Some(Output::Send(ClientMessage::SfuGetOffer(_)))
    ));
    assert_eq!(c.members(), ["b"]);
    // The next offer creates a new connection, and a's stream is reported again once a is back.
    c.handle_input(RoomInput::UserJoin {
        src: "a".into(),
        members: vec![],
    });
    drain(&mut c);
    let out = offer(&mut c, &[("sa", "a"), ("sb", "b")]);
    assert!(matches!(&out[..], [Output::SfuOffer { first: true, .. }]));
    c.remote_stream("sa".into());
    assert_eq!(
        events(&drain(&mut c)),
        ["Stream { peer_id: \"a\", stream: \"sa\" }"]
    );
}
