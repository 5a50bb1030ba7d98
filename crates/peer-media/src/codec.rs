//! Media kinds and the codecs a Rust peer can send, with their RTP parameters.

use crate::error::MediaError;
use std::fmt;
use std::str::FromStr;
use webrtc::api::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_PCMU, MIME_TYPE_VP8, MIME_TYPE_VP9,
};
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTPCodecType};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl MediaKind {
    /// `audio` or `video`, as in SDP `m=` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }

    /// The `webrtc` crate's codec type.
    pub fn rtp_codec_type(self) -> RTPCodecType {
        match self {
            MediaKind::Audio => RTPCodecType::Audio,
            MediaKind::Video => RTPCodecType::Video,
        }
    }

    /// The kind of a `webrtc` codec type; `None` for `Unspecified`.
    pub fn from_rtp_codec_type(t: RTPCodecType) -> Option<MediaKind> {
        match t {
            RTPCodecType::Audio => Some(MediaKind::Audio),
            RTPCodecType::Video => Some(MediaKind::Video),
            _ => None,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec a local track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus, 48 kHz stereo (RFC 7587).
    Opus,
    /// G.711 µ-law, 8 kHz mono.
    Pcmu,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9, profile 0.
    Vp9,
    /// H.264 constrained baseline, packetization mode 1 (RFC 6184).
    H264,
}

impl Codec {
    /// Every codec, video first.
    pub const ALL: [Codec; 5] = [
        Codec::Vp8,
        Codec::Vp9,
        Codec::H264,
        Codec::Opus,
        Codec::Pcmu,
    ];

    /// Audio or video.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus | Codec::Pcmu => MediaKind::Audio,
            Codec::Vp8 | Codec::Vp9 | Codec::H264 => MediaKind::Video,
        }
    }

    /// The SDP `rtpmap` encoding name, spelled as browsers spell it (and as the SDK's
    /// `videoCodec`/`audioCodec` options expect: `opus`, `PCMU`, `VP8`, `VP9`, `H264`).
    pub fn rtpmap_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcmu => "PCMU",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
        }
    }

    /// The MIME type (`video/VP8`, ...).
    pub fn mime_type(self) -> &'static str {
        match self {
            Codec::Opus => MIME_TYPE_OPUS,
            Codec::Pcmu => MIME_TYPE_PCMU,
            Codec::Vp8 => MIME_TYPE_VP8,
            Codec::Vp9 => MIME_TYPE_VP9,
            Codec::H264 => MIME_TYPE_H264,
        }
    }

    /// The RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            Codec::Pcmu => 8_000,
            _ => 90_000,
        }
    }

    /// Audio channels (0 for video).
    pub fn channels(self) -> u16 {
        match self {
            Codec::Opus => 2,
            Codec::Pcmu => 1,
            _ => 0,
        }
    }

    /// The `a=fmtp` parameters this crate registers for the codec.
    pub fn sdp_fmtp_line(self) -> &'static str {
        match self {
            Codec::Opus => "minptime=10;useinbandfec=1",
            Codec::Vp9 => "profile-id=0",
            Codec::H264 => "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            Codec::Pcmu | Codec::Vp8 => "",
        }
    }

    /// The capability a local track of this codec declares.
    pub fn capability(self) -> RTCRtpCodecCapability {
        RTCRtpCodecCapability {
            mime_type: self.mime_type().to_owned(),
            clock_rate: self.clock_rate(),
            channels: self.channels(),
            sdp_fmtp_line: self.sdp_fmtp_line().to_owned(),
            rtcp_feedback: vec![],
        }
    }

    /// The codec of a MIME type (case-insensitive), if it is one of these.
    pub fn from_mime_type(mime: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.mime_type().eq_ignore_ascii_case(mime))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rtpmap_name())
    }
}

impl FromStr for Codec {
    type Err = MediaError;

    /// Parses an encoding name, case-insensitively (`vp8`, `H264`, `opus`, `pcmu`).
    fn from_str(s: &str) -> Result<Codec, MediaError> {
        Codec::ALL
            .into_iter()
            .find(|c| c.rtpmap_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| MediaError::UnsupportedCodec(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Codec::ALL {
            assert_eq!(c.rtpmap_name().parse::<Codec>().unwrap(), c);
            assert_eq!(Codec::from_mime_type(c.mime_type()), Some(c));
        }
        assert_eq!("vp8".parse::<Codec>().unwrap(), Codec::Vp8);
        assert!("AV1".parse::<Codec>().is_err());
        assert_eq!(Codec::Opus.kind(), MediaKind::Audio);
        assert_eq!(Codec::H264.kind(), MediaKind::Video);
    }
}
