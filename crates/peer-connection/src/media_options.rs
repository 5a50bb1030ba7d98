//! Options of `peer.call` and `MediaConnection::answer`, as the SDK takes them.

use peer_media::sdp::Munging;
use serde_json::Value;

/// Options of [`MediaConnection::call`](crate::MediaConnection::call) (the SDK's
/// `peer.call(id, stream, options)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallOptions {
    /// The connection id; `mc_` plus a random token when `None`.
    pub connection_id: Option<String>,
    /// Any JSON the remote side sees as `metadata`.
    pub metadata: Option<Value>,
    /// Video bandwidth in kbps: `b=AS` and `b=TIAS` on the video section.
    pub video_bandwidth: Option<u32>,
    /// Audio bandwidth in kbps: `b=AS` and `b=TIAS` on the audio section.
    pub audio_bandwidth: Option<u32>,
    /// Keep only this video codec (`VP8`, `VP9`, `H264`; case-sensitive as in the SDK).
    pub video_codec: Option<String>,
    /// Keep only this audio codec (`opus`, `PCMU`; case-sensitive as in the SDK).
    pub audio_codec: Option<String>,
    /// Receive video even when the stream has no video track.
    pub video_receive_enabled: Option<bool>,
    /// Receive audio even when the stream has no audio track.
    pub audio_receive_enabled: Option<bool>,
}

impl CallOptions {
    pub(crate) fn munging(&self) -> Munging {
        Munging {
            audio_bandwidth: self.audio_bandwidth,
            video_bandwidth: self.video_bandwidth,
            audio_codec: self.audio_codec.clone(),
            video_codec: self.video_codec.clone(),
        }
    }
}

/// Options of [`MediaConnection::answer`](crate::MediaConnection::answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerOptions {
    /// Video bandwidth in kbps.
    pub video_bandwidth: Option<u32>,
    /// Audio bandwidth in kbps.
    pub audio_bandwidth: Option<u32>,
    /// Keep only this video codec.
    pub video_codec: Option<String>,
    /// Keep only this audio codec.
    pub audio_codec: Option<String>,
}

impl AnswerOptions {
    pub(crate) fn munging(&self) -> Munging {
        Munging {
            audio_bandwidth: self.audio_bandwidth,
            video_bandwidth: self.video_bandwidth,
            audio_codec: self.audio_codec.clone(),
            video_codec: self.video_codec.clone(),
        }
    }
}
