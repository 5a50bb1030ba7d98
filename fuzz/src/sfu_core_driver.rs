//! The `sfu_answer` fuzz target's driver, media side: what `peer-sfu` does with an answer the hub
//! handed over. Its sans-IO [`SfuCore`] takes the answer of a member with an offer in flight,
//! and the shell's steps run as the shell runs them (`shell/session.rs`): [`answer_problem`]
//! first, then the caller's `set_remote` (in the fuzz target, webrtc's parse of the SDP), then
//! the core hears whether the answer was applied. Invariants:
//!
//! - no input panics;
//! - the core passes the SDP on unchanged, once per offer, and drops a copy that arrives while
//!   the first is applied;
//! - [`answer_problem`] decides the same whether lines end in CRLF or LF;
//! - a refused answer ends the member's media session (`Refuse` with the reason, the connection
//!   closed); an applied one brings the next offer, with the track published meanwhile, and a
//!   keyframe request for it once connected;
//! - once both members left, the core holds nothing: no member, forwarded track or deadline.
//!
//! Self-contained (only `peer-sfu`), so the smoke tests of `peer-sfu` and `peer-server` include
//! this file.

use peer_sfu::sdp::answer_problem;
use peer_sfu::{Input, Kind, MemberKey, Output, RoomKey, SfuCore, SfuLimits, TrackId};
use std::time::Instant;

/// The shell's step after [`answer_problem`]: `Err` with the reason when the answer cannot be
/// set as the remote description.
pub type SetRemote = fn(&str) -> Result<(), String>;

/// The track the other member publishes while the answer is on its way.
const TRACK: TrackId = TrackId(1);

/// Runs the answer `sdp` of member `alice` in `room`, with `bob` publishing video meanwhile.
pub fn sfu_core(room: &str, sdp: &str, set_remote: SetRemote) {
    let now = Instant::now();
    let mut core = SfuCore::new(SfuLimits::default());
    let key = |peer: &str| MemberKey {
        room: RoomKey::new("app", room),
        peer: peer.into(),
    };
    let (a, b) = (key("alice"), key("bob"));
    for m in [&a, &b] {
        assert_eq!(core.handle(Input::Joined(m.clone()), now), vec![]);
    }
    for m in [&a, &b] {
        let out = core.handle(Input::OfferWanted(m.clone()), now);
        assert!(
            matches!(out.as_slice(), [Output::CreateSession(k, _), Output::Offer(o, plan)]
                if k == m && o == m && plan.downstream.is_empty()),
            "first offer: {out:?}"
        );
    }
    // Alice's first offer is in flight: bob's track waits for her answer.
    let out = core.handle(Input::TrackArrived(b.clone(), TRACK, Kind::Video), now);
    assert_eq!(out, vec![], "an offer while one is in flight");

    let answer = Input::Answer(a.clone(), sdp.to_owned());
    let apply = vec![Output::ApplyAnswer(a.clone(), sdp.to_owned())];
    assert_eq!(core.handle(answer.clone(), now), apply);
    assert_eq!(
        core.handle(answer.clone(), now),
        vec![],
        "a copy applied twice"
    );

    let problem = answer_problem(sdp);
    assert_eq!(
        problem,
        answer_problem(&sdp.replace("\r\n", "\n")),
        "line endings changed the verdict"
    );
    let verdict = match problem {
        Some(p) => Err(p.to_owned()),
        None => set_remote(sdp),
    };
    match verdict {
        Err(why) => {
            let out = core.handle(Input::SessionFailed(a.clone(), why.clone()), now);
            assert!(
                out.contains(&Output::Refuse(a.clone(), why))
                    && out.contains(&Output::CloseSession(a.clone())),
                "refused answer: {out:?}"
            );
            assert_eq!(core.members(), 1);
            assert_eq!(core.handle(answer, now), vec![], "an answer after the end");
        }
        Ok(()) => {
            let out = core.handle(Input::AnswerApplied(a.clone()), now);
            let next = out.iter().find_map(|o| match o {
                Output::Offer(k, plan) if *k == a => Some(plan),
                _ => None,
            });
            let tracks: Option<Vec<TrackId>> =
                next.map(|p| p.downstream.iter().map(|d| d.track).collect());
            assert_eq!(tracks, Some(vec![TRACK]), "next offer: {out:?}");
            let mut out = core.handle(Input::Connected(a.clone()), now);
            assert_eq!(core.handle(answer, now), apply);
            out.extend(core.handle(Input::AnswerApplied(a.clone()), now));
            assert_eq!(
                out.iter()
                    .filter(|o| **o == Output::RequestKeyframe(TRACK))
                    .count(),
                1,
                "keyframe requests: {out:?}"
            );
            assert_eq!(core.forwarded_tracks(), 1);
        }
    }
    for m in [a, b] {
        let _ = core.handle(Input::Left(m), now);
    }
    assert_eq!(
        (core.members(), core.forwarded_tracks(), core.poll_timeout()),
        (0, 0, None),
        "the core keeps state after every member left"
    );
}
