//! The core driven by hand: join flow, one offer at a time, plans and msids, leaving, keyframe
//! throttle, deadlines, limits, and that nothing stays behind.

use super::*;

fn key(peer: &str) -> MemberKey {
    MemberKey {
        room: RoomKey::new("app", "r"),
        peer: peer.into(),
    }
}

struct Rig {
    core: SfuCore,
    t0: Instant,
}

impl Rig {
    fn new(limits: SfuLimits) -> Rig {
        Rig {
            core: SfuCore::new(limits),
            t0: Instant::now(),
        }
    }

    fn at(&mut self, ms: u64, input: Input) -> Vec<Output> {
        self.core.handle(input, self.t0 + Duration::from_millis(ms))
    }

    /// Joins `peer` and completes its first negotiation; returns its stream id.
    fn join(&mut self, peer: &str) -> String {
        assert_eq!(self.at(0, Input::Joined(key(peer))), vec![]);
        let out = self.at(0, Input::OfferWanted(key(peer)));
        let Output::CreateSession(k, stream) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(k, &key(peer));
        assert!(matches!(&out[1], Output::Offer(k, _) if *k == key(peer)));
        self.answer(peer);
        stream.clone()
    }

    /// Answers the offer in flight of `peer` and applies it; returns what followed. The first
    /// answer also brings the connection up.
    fn answer(&mut self, peer: &str) -> Vec<Output> {
        let out = self.at(0, Input::Answer(key(peer), "v=0".into()));
        assert_eq!(out, vec![Output::ApplyAnswer(key(peer), "v=0".into())]);
        let mut out = self.at(0, Input::AnswerApplied(key(peer)));
        out.extend(self.at(0, Input::Connected(key(peer))));
        out
    }
}

fn offer_of<'a>(out: &'a [Output], peer: &str) -> Option<&'a OfferPlan> {
    out.iter().find_map(|o| match o {
        Output::Offer(k, plan) if k.peer == peer => Some(plan),
        _ => None,
    })
}

fn tracks(plan: &OfferPlan) -> Vec<u64> {
    plan.downstream.iter().map(|d| d.track.0).collect()
}

#[test]
fn members_receive_each_others_tracks_under_one_stream_id_each() {
    let mut r = Rig::new(SfuLimits::default());
    let a_stream = r.join("alice");
    r.join("bob");
    // Alice starts sending: bob gets an offer with both tracks under alice's stream id; alice
    // gets none (nothing changed for her).
    r.at(
        0,
        Input::TrackArrived(key("alice"), TrackId(1), Kind::Video),
    );
    let out = r.at(
        0,
        Input::TrackArrived(key("alice"), TrackId(2), Kind::Audio),
    );
    assert_eq!(out, vec![], "bob's offer for track 1 is still in flight");
    let out = r.answer("bob");
    // Track 1 is bound: keyframe request; then the offer with track 2 as well.
    assert!(
        out.contains(&Output::RequestKeyframe(TrackId(1))),
        "{out:?}"
    );
    let plan = offer_of(&out, "bob").expect("an offer with both tracks");
    assert_eq!(tracks(plan), vec![1, 2]);
    assert!(plan.downstream.iter().all(|d| d.stream_id == a_stream));
    assert_eq!(
        plan.msids().into_iter().collect::<Vec<_>>(),
        vec![(a_stream.clone(), "alice".to_string())]
    );
    assert!(offer_of(&out, "alice").is_none());
    // Audio does not ask for keyframes; an unchanged plan makes no offer.
    let out = r.answer("bob");
    assert_eq!(out, vec![]);
}

#[test]
fn one_offer_at_a_time_carries_every_change_and_keeps_the_section_order() {
    let mut r = Rig::new(SfuLimits::default());
    r.join("a");
    r.join("b");
    r.join("c");
    let out = r.at(0, Input::TrackArrived(key("c"), TrackId(5), Kind::Video));
    assert_eq!(tracks(offer_of(&out, "a").unwrap()), vec![5]);
    assert_eq!(tracks(offer_of(&out, "b").unwrap()), vec![5]);
    // While a's offer is in flight, b publishes twice: no second offer to a yet.
    let out = r.at(0, Input::TrackArrived(key("b"), TrackId(3), Kind::Video));
    assert!(offer_of(&out, "a").is_none());
    assert_eq!(tracks(offer_of(&out, "c").unwrap()), vec![3]);
    let out = r.at(0, Input::TrackArrived(key("b"), TrackId(4), Kind::Audio));
    assert!(offer_of(&out, "a").is_none());
    // After a's answer: one offer with everything, c's track (offered first) still first.
    let out = r.answer("a");
    assert_eq!(tracks(offer_of(&out, "a").unwrap()), vec![5, 3, 4]);
    // A stray answer (none in flight after applying) is dropped.
    r.answer("a");
    assert_eq!(r.at(0, Input::Answer(key("a"), "v=0".into())), vec![]);
}

#[test]
fn a_leaver_disappears_from_every_offer_and_its_session_closes() {
    let mut r = Rig::new(SfuLimits::default());
    let a_stream = r.join("a");
    r.join("b");
    r.at(0, Input::TrackArrived(key("a"), TrackId(1), Kind::Video));
    r.answer("b");
    let out = r.at(0, Input::Left(key("a")));
    assert!(out.contains(&Output::CloseSession(key("a"))), "{out:?}");
    let plan = offer_of(&out, "b").expect("b's offer without a");
    assert!(plan.downstream.is_empty());
    assert!(!plan.msids().contains_key(&a_stream));
    r.answer("b");
    // A rejoin gets a fresh stream id, so the SDK takes it for a new stream.
    let again = r.join("a");
    assert_ne!(again, a_stream);
    // Everyone gone: nothing is held.
    r.at(0, Input::Left(key("a")));
    r.at(0, Input::Left(key("b")));
    assert_eq!(r.core.members(), 0);
    assert_eq!(r.core.forwarded_tracks(), 0);
    assert!(r.core.rooms.is_empty() && r.core.owners.is_empty() && r.core.keyframes.is_empty());
    assert_eq!(r.core.poll_timeout(), None);
}

#[test]
fn keyframe_requests_are_throttled_but_never_lost() {
    let mut r = Rig::new(SfuLimits::default());
    r.join("pub");
    r.join("sub");
    r.at(0, Input::TrackArrived(key("pub"), TrackId(7), Kind::Video));
    let out = r.answer("sub");
    assert_eq!(out, vec![Output::RequestKeyframe(TrackId(7))]);
    // PLIs inside the interval are held, then one goes out when it ends.
    assert_eq!(r.at(100, Input::KeyframeWanted(TrackId(7))), vec![]);
    assert_eq!(r.at(200, Input::KeyframeWanted(TrackId(7))), vec![]);
    let due = r.core.poll_timeout().expect("a pending request");
    assert_eq!(due, r.t0 + KEYFRAME_INTERVAL);
    assert_eq!(
        r.core.handle_timeout(due),
        vec![Output::RequestKeyframe(TrackId(7))]
    );
    assert_eq!(r.core.poll_timeout(), None);
    // After the interval, a request goes out at once. Unknown tracks are ignored.
    assert_eq!(
        r.at(1200, Input::KeyframeWanted(TrackId(7))),
        vec![Output::RequestKeyframe(TrackId(7))]
    );
    assert_eq!(r.at(1200, Input::KeyframeWanted(TrackId(99))), vec![]);
}

#[test]
fn a_subscriber_gets_its_keyframe_once_its_connection_is_up() {
    let mut r = Rig::new(SfuLimits::default());
    r.join("pub");
    r.at(0, Input::TrackArrived(key("pub"), TrackId(4), Kind::Video));
    // A late joiner: its first offer already carries the track.
    r.at(0, Input::Joined(key("late")));
    let out = r.at(0, Input::OfferWanted(key("late")));
    assert_eq!(tracks(offer_of(&out, "late").unwrap()), vec![4]);
    r.at(0, Input::Answer(key("late"), "v=0".into()));
    // Applied, but the connection is not up: a keyframe now would be lost.
    assert_eq!(r.at(10, Input::AnswerApplied(key("late"))), vec![]);
    assert_eq!(
        r.at(60, Input::Connected(key("late"))),
        vec![Output::RequestKeyframe(TrackId(4))]
    );
    // Once is enough.
    assert_eq!(r.at(70, Input::Connected(key("late"))), vec![]);
}

#[test]
fn an_unanswered_offer_ends_the_session() {
    let mut r = Rig::new(SfuLimits::default());
    r.join("a");
    r.at(0, Input::Joined(key("b")));
    let out = r.at(0, Input::OfferWanted(key("b")));
    assert!(offer_of(&out, "b").is_some());
    r.at(0, Input::TrackArrived(key("a"), TrackId(1), Kind::Video));
    assert_eq!(r.core.poll_timeout(), Some(r.t0 + ANSWER_TIMEOUT));
    let out = r.core.handle_timeout(r.t0 + ANSWER_TIMEOUT);
    assert!(
        matches!(&out[0], Output::Refuse(k, why) if *k == key("b") && why.contains("no answer"))
    );
    assert!(out.contains(&Output::CloseSession(key("b"))));
    assert_eq!(r.core.members(), 1);
    // Candidates and answers for the ended session go nowhere.
    assert_eq!(r.at(0, Input::Candidate(key("b"), "c".into())), vec![]);
    assert_eq!(r.at(0, Input::Answer(key("b"), "v=0".into())), vec![]);
}

#[test]
fn candidates_pass_only_once_a_session_exists() {
    let mut r = Rig::new(SfuLimits::default());
    r.at(0, Input::Joined(key("a")));
    assert_eq!(r.at(0, Input::Candidate(key("a"), "c1".into())), vec![]);
    r.at(0, Input::OfferWanted(key("a")));
    assert_eq!(
        r.at(0, Input::Candidate(key("a"), "c2".into())),
        vec![Output::AddCandidate(key("a"), "c2".into())]
    );
}

#[test]
fn limits_refuse_members_and_cap_forwarded_tracks() {
    let mut r = Rig::new(SfuLimits {
        max_members_per_room: 3,
        max_forwarded_tracks: 3,
        max_tracks_per_member: 2,
        ..SfuLimits::default()
    });
    r.join("a");
    r.join("b");
    r.join("c");
    // A fourth member is refused, at the join and at its offer request.
    let out = r.at(0, Input::Joined(key("d")));
    assert!(matches!(&out[..], [Output::Refuse(k, why)] if *k == key("d") && why.contains("full")));
    let out = r.at(0, Input::OfferWanted(key("d")));
    assert!(matches!(&out[..], [Output::Refuse(..)]));
    // a publishes 2 tracks (a third is ignored): b and c would receive 4 in all; the server
    // forwards 3, and the one left short is told once.
    r.at(0, Input::TrackArrived(key("a"), TrackId(1), Kind::Video));
    r.at(0, Input::TrackArrived(key("a"), TrackId(2), Kind::Audio));
    let out = r.at(0, Input::TrackArrived(key("a"), TrackId(3), Kind::Audio));
    assert_eq!(out, vec![]);
    let out_b = r.answer("b");
    let out_c = r.answer("c");
    let got: usize = [&out_b, &out_c]
        .iter()
        .filter_map(|o| offer_of(o, "b").or(offer_of(o, "c")))
        .map(|p| p.downstream.len())
        .sum();
    assert_eq!(
        got, 2,
        "1 + 1 in flight already counted, then the rest up to 3"
    );
    let refusals = out_b
        .iter()
        .chain(&out_c)
        .filter(|o| matches!(o, Output::Refuse(_, why) if why.contains("no more tracks")))
        .count();
    assert_eq!(refusals, 1);
    // b's offer with both tracks is in flight; c keeps the one it has.
    r.answer("b");
    assert_eq!(r.at(0, Input::Answer(key("c"), "v=0".into())), vec![]);
    assert_eq!(r.core.forwarded_tracks(), 3);
    // Leaving frees the count.
    r.at(0, Input::Left(key("b")));
    r.at(0, Input::Left(key("c")));
    assert_eq!(r.core.forwarded_tracks(), 0);
}

#[test]
fn a_connection_that_outgrew_its_sections_ends_and_starts_afresh() {
    let mut r = Rig::new(SfuLimits {
        max_sections_per_member: 3,
        ..SfuLimits::default()
    });
    r.join("stay");
    // Three members come and go, one track each: the third pushes past the limit.
    for (i, peer) in ["x", "y", "z"].iter().enumerate() {
        r.join(peer);
        let out = r.at(
            0,
            Input::TrackArrived(key(peer), TrackId(i as u64 + 1), Kind::Video),
        );
        if i < 2 {
            assert!(offer_of(&out, "stay").is_some());
            r.answer("stay");
            r.at(0, Input::Left(key(peer)));
            r.answer("stay");
        } else {
            // Two sections were used, an inactive one stays: 2 + 1 = 3 fits; leave, then the
            // next track would be the fourth.
            assert!(offer_of(&out, "stay").is_some());
            r.answer("stay");
        }
    }
    r.join("w");
    let out = r.at(0, Input::TrackArrived(key("w"), TrackId(9), Kind::Video));
    assert!(
        out.iter().any(
            |o| matches!(o, Output::Refuse(k, why) if k.peer == "stay" && why.contains("sections"))
        ),
        "{out:?}"
    );
    assert!(out.contains(&Output::CloseSession(key("stay"))));
    // Asking again starts a fresh session with everything current.
    let out = r.at(0, Input::OfferWanted(key("stay")));
    assert!(matches!(&out[0], Output::CreateSession(..)));
    assert_eq!(tracks(offer_of(&out, "stay").unwrap()), vec![3, 9]);
}

#[test]
fn ids_are_sanitized_into_stream_ids() {
    assert_eq!(sanitize("a b/c"), "a_b_c");
    assert_eq!(sanitize(&"x".repeat(200)).len(), 64);
}
