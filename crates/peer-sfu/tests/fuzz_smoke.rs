//! Deterministic fuzz smoke test of what the SFU does with a client's answer, with no fuzzing
//! tool needed: mutated SDP answers through the media side of the `sfu_answer` fuzz target
//! (`fuzz/src/sfu_core_driver.rs`, included here): the sans-IO core, `answer_problem` and
//! webrtc's parse of the SDP, as the shell runs them. Nothing panics and the core's state stays
//! consistent; the coverage-guided version is `cargo xtask fuzz 60 sfu_answer`.

#[path = "../../../fuzz/src/sfu_core_driver.rs"]
mod sfu_core_driver;

use peer_testkit::Rng;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

const SEEDS: &[&str] = &[
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendrecv\r\na=msid:s t\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=ssrc-group:FID 1 2\r\na=ssrc:1 cname:c\r\na=ssrc:2 cname:c\r\n",
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=msid-semantic: WMS s\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:video\r\na=ssrc:1 msid:s t\r\n",
    "v=0\no=- 1 2 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\n",
];

/// Pieces that matter to SDP, inserted more often than noise.
const TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "=",
    " ",
    ":",
    "m=",
    "a=",
    "c=IN IP6 ::1\r\n",
    "m=video 0 RTP/AVP 0\r\n",
    "a=msid-semantic:WMS *\r\n",
    "a=msid-semantic: WMS a b\r\n",
    "t=1 2\r\n",
    "r=7d 1h 0 25h\r\n",
    "z=0 -1h\r\n",
    "b=AS:99999999999999999999\r\n",
    "é",
    "4294967296",
];

/// One to four mutations of a seed, on character boundaries.
fn mutated(rng: &mut Rng) -> String {
    let mut out: Vec<char> = SEEDS[rng.below(SEEDS.len())].chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] = char::from(rng.next() as u8 & 0x7f),
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.chars());
            }
            2 => {
                let end = (at + 1 + rng.below(24)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            _ => out.truncate(at),
        }
    }
    out.into_iter().collect()
}

/// The shell's parse of the answer (`shell/session.rs`).
fn webrtc_answer(sdp: &str) -> Result<(), String> {
    RTCSessionDescription::answer(sdp.to_owned())
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn answers_keep_the_core_consistent() {
    for seed in SEEDS {
        sfu_core_driver::sfu_core("room", seed, webrtc_answer);
    }
    assert!(
        webrtc_answer(SEEDS[0]).is_ok(),
        "the unified-plan seed parses"
    );
    let mut rng = Rng::new(0x7366_755f_616e_7377);
    let mut parsed = 0;
    for _ in 0..4000 {
        let sdp = mutated(&mut rng);
        parsed += usize::from(webrtc_answer(&sdp).is_ok());
        sfu_core_driver::sfu_core("room", &sdp, webrtc_answer);
    }
    // The mutations leave enough intact to reach webrtc's parse of the media sections.
    assert!(parsed > 500, "only {parsed} answers parsed");
}
