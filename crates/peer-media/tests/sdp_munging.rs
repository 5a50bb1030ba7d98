//! SDP munging on a real Chromium offer (`tests/fixtures/chromium-offer.sdp`, taken from the
//! `SEND_OFFER` of the media trace in the protocol notes), plus a no-panic check over random and
//! truncated input.

use peer_media::sdp::{keep_codec, negotiated_codecs, set_bandwidth};
use peer_media::{MediaError, MediaKind, Munging};

const OFFER: &str = include_str!("fixtures/chromium-offer.sdp");

/// The lines of the section starting with `m=<kind>`.
fn section<'a>(sdp: &'a str, kind: &str) -> Vec<&'a str> {
    let prefix = format!("m={kind} ");
    sdp.lines()
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !l.starts_with(&prefix))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("m="))
        .map(|(_, l)| l)
        .collect()
}

/// The payload types named in a section's `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines.
fn attribute_pts(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .filter_map(|rest| rest.split(' ').next().map(str::to_owned))
        .collect()
}

fn codecs_of(sdp: &str, kind: MediaKind) -> Vec<(u8, String)> {
    negotiated_codecs(sdp)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, c)| c)
        .unwrap_or_default()
}

#[test]
fn fixture_is_a_chromium_offer() {
    let codecs = negotiated_codecs(OFFER);
    assert_eq!(codecs.len(), 2);
    assert_eq!(codecs[0].0, MediaKind::Video);
    assert_eq!(codecs[1].0, MediaKind::Audio);
    assert_eq!(codecs[0].1.len(), 23);
    assert_eq!(codecs[0].1[0], (96, "VP8".to_owned()));
    assert_eq!(codecs[0].1[1], (97, "rtx".to_owned()));
    assert_eq!(codecs[1].1[0], (111, "opus".to_owned()));
}

#[test]
fn keep_vp8_drops_everything_else_in_video() {
    let out = keep_codec(OFFER, MediaKind::Video, "VP8").unwrap();
    let video = section(&out, "video");
    assert_eq!(video[0], "m=video 9 UDP/TLS/RTP/SAVPF 96");
    assert_eq!(codecs_of(&out, MediaKind::Video), vec![(96, "VP8".into())]);
    // VP8's own feedback lines stay, in order.
    let fb: Vec<&str> = video
        .iter()
        .copied()
        .filter(|l| l.starts_with("a=rtcp-fb:"))
        .collect();
    assert_eq!(
        fb,
        [
            "a=rtcp-fb:96 goog-remb",
            "a=rtcp-fb:96 transport-cc",
            "a=rtcp-fb:96 ccm fir",
            "a=rtcp-fb:96 nack",
            "a=rtcp-fb:96 nack pli",
        ]
    );
    assert!(attribute_pts(&video).iter().all(|pt| pt == "96"));
    // rtx (fmtp apt=96), red and ulpfec are gone; the rest of the section is intact.
    assert!(!out.contains("apt="));
    assert!(!out.contains("rtx/"));
    assert!(!out.contains("red/90000"));
    assert!(!out.contains("ulpfec"));
    assert!(out.contains("a=ssrc-group:FID 2893068124 1278922773\r\n"));
    assert!(video.contains(&"a=mid:0"));
    // Audio and the session part are untouched (byte for byte, the fixture being CRLF).
    let audio_start = OFFER.find("m=audio").unwrap();
    assert!(out.ends_with(&OFFER[audio_start..]));
    let video_start = OFFER.find("m=video").unwrap();
    assert!(out.starts_with(&OFFER[..video_start]));
}

#[test]
fn keep_h264_keeps_every_variant() {
    let out = keep_codec(OFFER, MediaKind::Video, "H264").unwrap();
    let video = section(&out, "video");
    assert_eq!(
        video[0],
        "m=video 9 UDP/TLS/RTP/SAVPF 102 104 108 114 116 39"
    );
    let pts: Vec<u8> = codecs_of(&out, MediaKind::Video)
        .iter()
        .map(|(pt, name)| {
            assert_eq!(name, "H264");
            *pt
        })
        .collect();
    assert_eq!(pts, [102, 104, 108, 114, 116, 39]);
    for pt in pts {
        assert!(video.contains(&format!("a=rtcp-fb:{pt} nack pli").as_str()));
        assert!(video
            .iter()
            .any(|l| l.starts_with(&format!("a=fmtp:{pt} level-asymmetry-allowed=1;"))));
    }
    assert!(!out.contains("VP8"));
    assert!(!out.contains("VP9"));
    assert!(!out.contains("AV1"));
    assert!(!out.contains("apt="));
}

#[test]
fn keep_audio_codec_leaves_video_alone() {
    let out = keep_codec(OFFER, MediaKind::Audio, "opus").unwrap();
    assert_eq!(section(&out, "audio")[0], "m=audio 9 UDP/TLS/RTP/SAVPF 111");
    assert_eq!(
        codecs_of(&out, MediaKind::Audio),
        vec![(111, "opus".into())]
    );
    assert!(out.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
    assert!(!out.contains("a=fmtp:63"));
    assert_eq!(section(&out, "video"), section(OFFER, "video"));
}

#[test]
fn codec_names_are_case_sensitive() {
    assert_eq!(
        keep_codec(OFFER, MediaKind::Video, "vp8"),
        Err(MediaError::CodecNotFound("vp8".into()))
    );
    assert_eq!(
        keep_codec(OFFER, MediaKind::Audio, "OPUS"),
        Err(MediaError::CodecNotFound("OPUS".into()))
    );
    // An audio codec is not found among the video payload types.
    assert!(matches!(
        keep_codec(OFFER, MediaKind::Video, "opus"),
        Err(MediaError::CodecNotFound(_))
    ));
}

#[test]
fn bandwidth_is_added_after_c_line_and_replaced() {
    let out = set_bandwidth(OFFER, MediaKind::Video, 300);
    let video = section(&out, "video");
    assert_eq!(
        &video[..4],
        [
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 107 108 109 114 115 116 117 39 40 45 46 98 99 100 101 118 119 120",
            "c=IN IP4 0.0.0.0",
            "b=AS:300",
            "b=TIAS:300000",
        ]
    );
    assert_eq!(section(&out, "audio"), section(OFFER, "audio"));
    // Setting it again replaces the lines instead of adding more.
    let again = set_bandwidth(&out, MediaKind::Video, 1500);
    let video = section(&again, "video");
    assert_eq!(&video[2..4], ["b=AS:1500", "b=TIAS:1500000"]);
    assert_eq!(video.iter().filter(|l| l.starts_with("b=")).count(), 2);
    // And audio gets its own.
    let both = set_bandwidth(&again, MediaKind::Audio, 40);
    assert_eq!(&section(&both, "audio")[2..4], ["b=AS:40", "b=TIAS:40000"]);
    assert_eq!(both.matches("b=").count(), 4);
}

#[test]
fn munging_applies_everything() {
    let m = Munging {
        audio_bandwidth: Some(50),
        video_bandwidth: Some(1000),
        audio_codec: Some("PCMU".into()),
        video_codec: Some("VP9".into()),
    };
    let out = m.apply(OFFER).unwrap();
    assert_eq!(
        negotiated_codecs(&out),
        vec![
            (
                MediaKind::Video,
                vec![(98, "VP9".to_owned()), (100, "VP9".to_owned())]
            ),
            (MediaKind::Audio, vec![(0, "PCMU".to_owned())]),
        ]
    );
    assert!(out.contains("b=AS:1000\r\nb=TIAS:1000000\r\n"));
    assert!(out.contains("b=AS:50\r\nb=TIAS:50000\r\n"));
    // LF input gives the same CRLF output.
    assert_eq!(m.apply(&OFFER.replace("\r\n", "\n")).unwrap(), out);
}

fn exercise(sdp: &str) {
    let _ = set_bandwidth(sdp, MediaKind::Audio, 64);
    let _ = set_bandwidth(sdp, MediaKind::Video, 0);
    let _ = keep_codec(sdp, MediaKind::Video, "VP8");
    let _ = keep_codec(sdp, MediaKind::Audio, "opus");
    let _ = negotiated_codecs(sdp);
}

#[test]
fn garbage_never_panics() {
    let mut rng = peer_testkit::Rng::new(0x2545_f491_4f6c_dd1d);
    // Random bytes.
    for _ in 0..500 {
        let len = (rng.next() % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes));
    }
    // Random lines built from SDP-ish pieces.
    let pieces = [
        "m=video ",
        "m=audio ",
        "m=application ",
        "0 ",
        "9 ",
        "RTP/AVP ",
        "96 ",
        "97",
        "a=rtpmap:",
        "a=fmtp:",
        "a=rtcp-fb:",
        "*",
        "VP8/90000",
        "opus/48000/2",
        "rtx",
        "/",
        " ",
        "b=AS:",
        "c=",
        "i=",
        "\r\n",
        "\n",
        "\r",
    ];
    for _ in 0..2000 {
        let n = (rng.next() % 40) as usize;
        let sdp: String = (0..n)
            .map(|_| pieces[(rng.next() % pieces.len() as u64) as usize])
            .collect();
        exercise(&sdp);
    }
    // Truncated offers, and offers with random bytes replaced.
    for end in (0..OFFER.len()).step_by(7) {
        exercise(&OFFER[..end]);
    }
    for _ in 0..200 {
        let mut bytes = OFFER.as_bytes().to_vec();
        for _ in 0..8 {
            let at = (rng.next() % bytes.len() as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        exercise(&String::from_utf8_lossy(&bytes));
    }
}
