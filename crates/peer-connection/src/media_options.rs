//! Options of `peer.call` and `MediaConnection::answer`, as the SDK takes them.

use peer_media::sdp::Munging;
use serde_json::Value;

/// Options of a call (the SDK's `peer.call(id, stream, options)`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
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
    /// The default options: a random connection id, the stream's kinds, no SDP options.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Sets the connection id.
    #[must_use]
    pub fn connection_id(mut self, id: impl Into<String>) -> CallOptions {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets the metadata the remote side sees.
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> CallOptions {
        self.metadata = Some(metadata);
        self
    }

    /// Caps the video bandwidth (kbps).
    #[must_use]
    pub fn video_bandwidth(mut self, kbps: u32) -> CallOptions {
        self.video_bandwidth = Some(kbps);
        self
    }

    /// Caps the audio bandwidth (kbps).
    #[must_use]
    pub fn audio_bandwidth(mut self, kbps: u32) -> CallOptions {
        self.audio_bandwidth = Some(kbps);
        self
    }

    /// Keeps only this video codec.
    #[must_use]
    pub fn video_codec(mut self, codec: impl Into<String>) -> CallOptions {
        self.video_codec = Some(codec.into());
        self
    }

    /// Keeps only this audio codec.
    #[must_use]
    pub fn audio_codec(mut self, codec: impl Into<String>) -> CallOptions {
        self.audio_codec = Some(codec.into());
        self
    }

    /// Receives video (or not) whatever the stream has.
    #[must_use]
    pub fn video_receive_enabled(mut self, on: bool) -> CallOptions {
        self.video_receive_enabled = Some(on);
        self
    }

    /// Receives audio (or not) whatever the stream has.
    #[must_use]
    pub fn audio_receive_enabled(mut self, on: bool) -> CallOptions {
        self.audio_receive_enabled = Some(on);
        self
    }

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
#[non_exhaustive]
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
    /// The default options: no SDP options.
    pub fn new() -> AnswerOptions {
        AnswerOptions::default()
    }

    /// Caps the video bandwidth (kbps).
    #[must_use]
    pub fn video_bandwidth(mut self, kbps: u32) -> AnswerOptions {
        self.video_bandwidth = Some(kbps);
        self
    }

    /// Caps the audio bandwidth (kbps).
    #[must_use]
    pub fn audio_bandwidth(mut self, kbps: u32) -> AnswerOptions {
        self.audio_bandwidth = Some(kbps);
        self
    }

    /// Keeps only this video codec.
    #[must_use]
    pub fn video_codec(mut self, codec: impl Into<String>) -> AnswerOptions {
        self.video_codec = Some(codec.into());
        self
    }

    /// Keeps only this audio codec.
    #[must_use]
    pub fn audio_codec(mut self, codec: impl Into<String>) -> AnswerOptions {
        self.audio_codec = Some(codec.into());
        self
    }

    pub(crate) fn munging(&self) -> Munging {
        Munging {
            audio_bandwidth: self.audio_bandwidth,
            video_bandwidth: self.video_bandwidth,
            audio_codec: self.audio_codec.clone(),
            video_codec: self.video_codec.clone(),
        }
    }
}
