//! SDP munging as `skyway-js@4.4.5` applies it (`src/shared/sdpUtil.js`) to a local offer or
//! answer before `setLocalDescription`.
//!
//! - [`set_bandwidth`]: `audioBandwidth`/`videoBandwidth`, `b=AS:<kbps>` and
//!   `b=TIAS:<kbps*1000>` in every section of the kind, replacing the section's `b=` lines.
//! - [`keep_codec`]: `audioCodec`/`videoCodec`, only the payload types whose `a=rtpmap` encoding
//!   name equals the option (case-sensitive) stay in sections of the kind; their `rtx`, `red` and
//!   `ulpfec` companions go too.
//! - [`Munging`]: the four options together, in the SDK's order.
//! - [`negotiated_codecs`]: the payload types and encoding names of each audio/video section.
//!
//! The functions work on text line by line and never fail on malformed input: lines they do not
//! understand are kept as they are. Input lines may end with `\n` or `\r\n`; every output line
//! ends with `\r\n` (as `sdp-transform`'s writer does), and blank lines are dropped.

use crate::codec::MediaKind;
use crate::error::MediaError;

/// One media section: its `m=` line (parsed) and every line of the section, `m=` line first.
struct Section<'a> {
    mline: Option<MLine<'a>>,
    lines: Vec<&'a str>,
}

/// The fields of an `m=` line.
struct MLine<'a> {
    media: &'a str,
    port: &'a str,
    proto: &'a str,
    formats: Vec<&'a str>,
}

impl<'a> MLine<'a> {
    /// Parses `m=<media> <port>[/<count>] <proto> <fmt>...`; `None` if a field is missing.
    fn parse(line: &'a str) -> Option<MLine<'a>> {
        let mut fields = line.strip_prefix("m=")?.split_ascii_whitespace();
        let media = fields.next()?;
        let port = fields.next()?;
        let proto = fields.next()?;
        Some(MLine {
            media,
            port,
            proto,
            formats: fields.collect(),
        })
    }

    /// The media kind, if the section is audio or video.
    fn kind(&self) -> Option<MediaKind> {
        match self.media {
            "audio" => Some(MediaKind::Audio),
            "video" => Some(MediaKind::Video),
            _ => None,
        }
    }

    /// Whether the port is 0: the section is rejected (or a stopped transceiver's).
    fn is_rejected(&self) -> bool {
        self.port.split('/').next() == Some("0")
    }

    /// The line with the format list replaced by `formats`.
    fn render(&self, formats: &[&str]) -> String {
        let mut line = format!("m={} {} {}", self.media, self.port, self.proto);
        for f in formats {
            line.push(' ');
            line.push_str(f);
        }
        line
    }
}

/// An SDP split into its session part and media sections.
struct Parsed<'a> {
    session: Vec<&'a str>,
    sections: Vec<Section<'a>>,
}

impl<'a> Parsed<'a> {
    /// Splits `sdp` into lines (`\n` or `\r\n`, blank lines dropped) and sections.
    fn new(sdp: &'a str) -> Parsed<'a> {
        let mut parsed = Parsed {
            session: Vec::new(),
            sections: Vec::new(),
        };
        for line in sdp.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if line.starts_with("m=") {
                parsed.sections.push(Section {
                    mline: MLine::parse(line),
                    lines: vec![line],
                });
            } else if let Some(section) = parsed.sections.last_mut() {
                section.lines.push(line);
            } else {
                parsed.session.push(line);
            }
        }
        parsed
    }

    /// Writes the session lines, then each section's lines as `render` returns them.
    fn write(&self, mut render: impl FnMut(&Section<'a>) -> Vec<String>) -> String {
        let mut out = String::new();
        for line in &self.session {
            out.push_str(line);
            out.push_str("\r\n");
        }
        for section in &self.sections {
            for line in render(section) {
                out.push_str(&line);
                out.push_str("\r\n");
            }
        }
        out
    }
}

impl Section<'_> {
    /// Whether this is an audio or video section of `kind`.
    fn is_kind(&self, kind: MediaKind) -> bool {
        self.mline.as_ref().and_then(MLine::kind) == Some(kind)
    }

    /// The lines unchanged.
    fn unchanged(&self) -> Vec<String> {
        self.lines.iter().map(|l| (*l).to_owned()).collect()
    }

    /// `(payload type, encoding name)` of each `a=rtpmap` line, in line order.
    fn rtpmaps(&self) -> Vec<(&str, &str)> {
        self.lines.iter().filter_map(|l| parse_rtpmap(l)).collect()
    }
}

/// Parses `a=rtpmap:<pt> <name>/<clock>[/<channels>]` into the payload type and name.
fn parse_rtpmap(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("a=rtpmap:")?;
    let (pt, encoding) = rest.split_once(' ')?;
    let pt = pt.trim();
    if !is_payload_type(pt) {
        return None;
    }
    let name = encoding.trim_start().split('/').next()?.trim_end();
    Some((pt, name))
}

/// Whether `s` is a decimal payload type (digits only, non-empty).
fn is_payload_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether two decimal payload types are the same number (`96` and `096` are).
fn same_payload_type(a: &str, b: &str) -> bool {
    a.trim_start_matches('0') == b.trim_start_matches('0')
}

/// The payload type an `a=rtpmap:`, `a=fmtp:` or `a=rtcp-fb:` line is about, if the line is one
/// of those and names a decimal payload type (`a=rtcp-fb:*` does not).
fn per_payload_type_attribute(line: &str) -> Option<&str> {
    let rest = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))?;
    let pt = rest.split_ascii_whitespace().next()?;
    is_payload_type(pt).then_some(pt)
}

/// Sets `b=AS:<kbps>` and `b=TIAS:<kbps*1000>` in every `m=audio` or `m=video` section of
/// `kind`, as the SDK's `audioBandwidth`/`videoBandwidth` options do.
///
/// The section's existing `b=` lines are removed. The new lines go where `sdp-transform` writes
/// them: after the section's `c=` line, or right after the `m=` line (and its `i=` line) if the
/// section has no `c=` line. Other sections, and the session-level `b=` lines, are unchanged.
pub fn set_bandwidth(sdp: &str, kind: MediaKind, kbps: u32) -> String {
    let parsed = Parsed::new(sdp);
    let tias = u64::from(kbps) * 1000;
    parsed.write(|section| {
        if !section.is_kind(kind) {
            return section.unchanged();
        }
        let mut lines: Vec<String> = section
            .lines
            .iter()
            .enumerate()
            .filter(|(i, l)| *i == 0 || !l.starts_with("b="))
            .map(|(_, l)| (*l).to_owned())
            .collect();
        let at = match lines.iter().rposition(|l| l.starts_with("c=")) {
            Some(c) => c + 1,
            None => {
                1 + lines
                    .iter()
                    .skip(1)
                    .take_while(|l| l.starts_with("i="))
                    .count()
            }
        };
        lines.insert(at, format!("b=AS:{kbps}"));
        lines.insert(at + 1, format!("b=TIAS:{tias}"));
        lines
    })
}

/// Keeps only the payload types of codec `codec_name` in every `m=audio` or `m=video` section of
/// `kind`, as the SDK's `audioCodec`/`videoCodec` options do.
///
/// A payload type is kept if it is in the `m=` line and its `a=rtpmap` encoding name equals
/// `codec_name` exactly (case-sensitive: `VP8`, `H264`, `opus`, `PCMU`). The `m=` format list is
/// reduced to those, in their order, and the `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines of every
/// other payload type are removed (so `rtx`, `red` and `ulpfec` go). `a=rtcp-fb:*` lines stay.
/// Sections of the other kind, `m=application` and rejected sections (port 0) are unchanged.
///
/// # Errors
///
/// [`MediaError::CodecNotFound`] if a (non-rejected) section of `kind` has no payload type of the
/// codec; the SDK throws then.
pub fn keep_codec(sdp: &str, kind: MediaKind, codec_name: &str) -> Result<String, MediaError> {
    let parsed = Parsed::new(sdp);
    // The kept payload types of each section (`None`: the section is left alone).
    let mut kept: Vec<Option<Vec<&str>>> = Vec::with_capacity(parsed.sections.len());
    for section in &parsed.sections {
        let Some(mline) = section.mline.as_ref() else {
            kept.push(None);
            continue;
        };
        if mline.kind() != Some(kind) || mline.is_rejected() {
            kept.push(None);
            continue;
        }
        let rtpmaps = section.rtpmaps();
        let pts: Vec<&str> = mline
            .formats
            .iter()
            .copied()
            .filter(|f| {
                rtpmaps
                    .iter()
                    .any(|(pt, name)| *name == codec_name && same_payload_type(pt, f))
            })
            .collect();
        if pts.is_empty() {
            return Err(MediaError::CodecNotFound(codec_name.to_owned()));
        }
        kept.push(Some(pts));
    }
    let mut kept = kept.into_iter();
    Ok(parsed.write(|section| {
        let (Some(Some(pts)), Some(mline)) = (kept.next(), section.mline.as_ref()) else {
            return section.unchanged();
        };
        let mut lines = vec![mline.render(&pts)];
        lines.extend(
            section
                .lines
                .iter()
                .skip(1)
                .filter(|l| match per_payload_type_attribute(l) {
                    Some(pt) => pts.iter().any(|k| same_payload_type(k, pt)),
                    None => true,
                })
                .map(|l| (*l).to_owned()),
        );
        lines
    }))
}

/// The payload types of each `m=audio` and `m=video` section with their `a=rtpmap` encoding
/// names, sections and payload types in SDP order (for tests and logging).
///
/// Payload types without an `a=rtpmap` line in the section, or that are not numbers in 0..=255,
/// are left out; other sections are skipped.
pub fn negotiated_codecs(sdp: &str) -> Vec<(MediaKind, Vec<(u8, String)>)> {
    let parsed = Parsed::new(sdp);
    let mut out = Vec::new();
    for section in &parsed.sections {
        let Some(mline) = section.mline.as_ref() else {
            continue;
        };
        let Some(kind) = mline.kind() else {
            continue;
        };
        let rtpmaps = section.rtpmaps();
        let codecs = mline
            .formats
            .iter()
            .filter_map(|f| {
                let pt = f.parse::<u8>().ok()?;
                let (_, name) = rtpmaps.iter().find(|(p, _)| same_payload_type(p, f))?;
                Some((pt, (*name).to_owned()))
            })
            .collect();
        out.push((kind, codecs));
    }
    out
}

/// The SDK's munging options of a call, answer or room (`audioBandwidth`, `videoBandwidth`,
/// `audioCodec`, `videoCodec`).
///
/// Like the SDK, which tests each option for truthiness, a bandwidth of 0 and an empty codec
/// name count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Munging {
    /// `audioBandwidth`, in kbps.
    pub audio_bandwidth: Option<u32>,
    /// `videoBandwidth`, in kbps.
    pub video_bandwidth: Option<u32>,
    /// `audioCodec`, an rtpmap encoding name (`opus`, `PCMU`, ...).
    pub audio_codec: Option<String>,
    /// `videoCodec`, an rtpmap encoding name (`VP8`, `VP9`, `H264`, ...).
    pub video_codec: Option<String>,
}

impl Munging {
    /// The set bandwidths, audio first.
    fn bandwidths(&self) -> impl Iterator<Item = (MediaKind, u32)> + '_ {
        [
            (MediaKind::Audio, self.audio_bandwidth),
            (MediaKind::Video, self.video_bandwidth),
        ]
        .into_iter()
        .filter_map(|(kind, kbps)| kbps.filter(|k| *k > 0).map(|k| (kind, k)))
    }

    /// The set codecs, audio first.
    fn codecs(&self) -> impl Iterator<Item = (MediaKind, &str)> + '_ {
        [
            (MediaKind::Audio, self.audio_codec.as_deref()),
            (MediaKind::Video, self.video_codec.as_deref()),
        ]
        .into_iter()
        .filter_map(|(kind, name)| name.filter(|n| !n.is_empty()).map(|n| (kind, n)))
    }

    /// Whether no option is set, so [`Munging::apply`] returns the SDP unchanged.
    pub fn is_empty(&self) -> bool {
        self.bandwidths().next().is_none() && self.codecs().next().is_none()
    }

    /// Applies the options in the SDK's order: audio then video bandwidth, then audio then video
    /// codec. With no option set the SDP is returned as it is (not even line endings change).
    ///
    /// # Errors
    ///
    /// [`MediaError::CodecNotFound`] if a codec option names a codec a section of its kind lacks.
    pub fn apply(&self, sdp: &str) -> Result<String, MediaError> {
        let mut out = sdp.to_owned();
        for (kind, kbps) in self.bandwidths() {
            out = set_bandwidth(&out, kind, kbps);
        }
        for (kind, name) in self.codecs() {
            out = keep_codec(&out, kind, name)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\nb=AS:30\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\n\
        a=rtcp-fb:* nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sctp-port:5000\r\n";

    #[test]
    fn bandwidth_without_c_line_goes_after_m_line() {
        let out = set_bandwidth(SMALL, MediaKind::Video, 500);
        assert!(out.contains(
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nb=AS:500\r\nb=TIAS:500000\r\na=rtpmap:96"
        ));
        // Audio keeps its own b= line.
        assert!(out.contains("c=IN IP4 0.0.0.0\r\nb=AS:30\r\na=rtpmap:111"));
    }

    #[test]
    fn bandwidth_replaces_existing_lines() {
        let out = set_bandwidth(SMALL, MediaKind::Audio, 64);
        assert!(out.contains("c=IN IP4 0.0.0.0\r\nb=AS:64\r\nb=TIAS:64000\r\na=rtpmap:111"));
        assert!(!out.contains("b=AS:30"));
        assert_eq!(out.matches("b=").count(), 2);
    }

    #[test]
    fn bandwidth_does_not_overflow() {
        let out = set_bandwidth(SMALL, MediaKind::Audio, u32::MAX);
        assert!(out.contains(&format!("b=TIAS:{}\r\n", u64::from(u32::MAX) * 1000)));
    }

    #[test]
    fn keep_codec_keeps_wildcard_feedback() {
        let out = keep_codec(SMALL, MediaKind::Video, "VP8").unwrap();
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(out.contains("a=rtcp-fb:* nack\r\n"));
        assert!(out.contains("a=rtcp-fb:96 nack pli\r\n"));
        assert!(!out.contains("rtx"));
        assert!(!out.contains("apt="));
        assert!(out.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    }

    #[test]
    fn keep_audio_codec() {
        let out = keep_codec(SMALL, MediaKind::Audio, "PCMU").unwrap();
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"));
        assert!(!out.contains("opus"));
        assert_eq!(
            keep_codec(SMALL, MediaKind::Audio, "G722"),
            Err(MediaError::CodecNotFound("G722".into()))
        );
    }

    #[test]
    fn rejected_section_is_left_alone() {
        let sdp = SMALL.replace("m=video 9 ", "m=video 0 ");
        let out = keep_codec(&sdp, MediaKind::Video, "H264").unwrap();
        assert!(out.contains("m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"));
        assert!(out.contains("a=rtpmap:97 rtx/90000\r\n"));
    }

    #[test]
    fn no_section_of_the_kind_is_not_an_error() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert_eq!(keep_codec(sdp, MediaKind::Video, "VP8").unwrap(), sdp);
    }

    #[test]
    fn lf_input_gives_crlf_output() {
        let lf = SMALL.replace("\r\n", "\n");
        let out = set_bandwidth(&lf, MediaKind::Video, 100);
        assert_eq!(out, set_bandwidth(SMALL, MediaKind::Video, 100));
        assert!(!out.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn munging_order_and_emptiness() {
        let m = Munging::default();
        assert!(m.is_empty());
        let lf = SMALL.replace("\r\n", "\n");
        assert_eq!(m.apply(&lf).unwrap(), lf);
        let zero = Munging {
            audio_bandwidth: Some(0),
            video_codec: Some(String::new()),
            ..Munging::default()
        };
        assert!(zero.is_empty());
        let m = Munging {
            audio_bandwidth: Some(32),
            video_bandwidth: Some(800),
            audio_codec: Some("opus".into()),
            video_codec: Some("VP8".into()),
        };
        assert!(!m.is_empty());
        let out = m.apply(SMALL).unwrap();
        assert!(out.contains("b=AS:32\r\nb=TIAS:32000\r\n"));
        assert!(out.contains("b=AS:800\r\nb=TIAS:800000\r\n"));
        assert_eq!(
            negotiated_codecs(&out),
            vec![
                (MediaKind::Audio, vec![(111, "opus".to_owned())]),
                (MediaKind::Video, vec![(96, "VP8".to_owned())]),
            ]
        );
        let bad = Munging {
            video_codec: Some("AV1".into()),
            ..Munging::default()
        };
        assert_eq!(
            bad.apply(SMALL),
            Err(MediaError::CodecNotFound("AV1".into()))
        );
    }

    #[test]
    fn malformed_lines_do_not_panic() {
        for sdp in [
            "",
            "\r\n\r\n",
            "m=",
            "m=video",
            "m=video 9",
            "m=video 9 RTP/AVP\r\na=rtpmap:",
            "m=video 9 RTP/AVP 96\r\na=rtpmap:96",
            "m=video 9 RTP/AVP 96\r\na=rtpmap:96 \r\na=fmtp:\r\na=rtcp-fb:",
            "m=video 9 RTP/AVP 300 96\r\na=rtpmap:300 VP8/90000\r\na=rtpmap:96 /",
            "m=audio 0/2 RTP/AVP 0",
        ] {
            let _ = set_bandwidth(sdp, MediaKind::Video, 1);
            let _ = keep_codec(sdp, MediaKind::Video, "VP8");
            let _ = keep_codec(sdp, MediaKind::Audio, "opus");
            let _ = negotiated_codecs(sdp);
        }
        // PT 300 is kept by name even though it cannot be a u8 in `negotiated_codecs`.
        let sdp = "m=video 9 RTP/AVP 300 96\r\na=rtpmap:300 VP8/90000\r\n";
        let out = keep_codec(sdp, MediaKind::Video, "VP8").unwrap();
        assert!(out.starts_with("m=video 9 RTP/AVP 300\r\n"));
        assert_eq!(negotiated_codecs(&out), vec![(MediaKind::Video, vec![])]);
    }
}
