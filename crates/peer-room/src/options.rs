//! [`RoomOptions`]: the SDK's `joinRoom(name, options)`, plus this crate's limits and deadline.

use peer_connection::{AnswerOptions, CallOptions, MediaStream};
use std::time::Duration;

/// How a room carries media: a call to every member (`mesh`), or through the server (`sfu`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoomMode {
    /// One MediaConnection to each member (the SDK's default).
    #[default]
    Mesh,
    /// Media through the server's SFU (not built yet: joining returns
    /// [`RoomError::Unsupported`](crate::RoomError::Unsupported)).
    Sfu,
}

impl RoomMode {
    /// The wire string (`roomType`).
    pub fn as_str(self) -> &'static str {
        match self {
            RoomMode::Mesh => "mesh",
            RoomMode::Sfu => "sfu",
        }
    }
}

/// Options of [`join_room`](crate::router::join) (the SDK's `joinRoom` options).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoomOptions {
    /// `mesh` (the default) or `sfu`.
    pub mode: RoomMode,
    /// The stream sent to every member; `None` joins receive-only.
    pub stream: Option<MediaStream>,
    /// Video bandwidth in kbps (`b=AS`/`b=TIAS` on the SDPs this side sends).
    pub video_bandwidth: Option<u32>,
    /// Audio bandwidth in kbps.
    pub audio_bandwidth: Option<u32>,
    /// Keep only this video codec (`VP8`, `VP9`, `H264`).
    pub video_codec: Option<String>,
    /// Keep only this audio codec (`opus`, `PCMU`).
    pub audio_codec: Option<String>,
    /// Receive video even when the stream has no video track.
    pub video_receive_enabled: Option<bool>,
    /// Receive audio even when the stream has no audio track.
    pub audio_receive_enabled: Option<bool>,
    /// How long the server may take to confirm the join (the own `ROOM_USER_JOIN`) before the
    /// room closes with [`RoomError::Timeout`](crate::RoomError::Timeout). Default 10 s.
    pub join_timeout: Duration,
    /// The most members this side keeps calls with; members past it are listed but not called
    /// and their offers are ignored. Default 64.
    pub max_members: usize,
    /// Room data messages `send` queues before it waits. Default 16.
    pub send_queue: usize,
}

impl Default for RoomOptions {
    fn default() -> RoomOptions {
        RoomOptions {
            mode: RoomMode::Mesh,
            stream: None,
            video_bandwidth: None,
            audio_bandwidth: None,
            video_codec: None,
            audio_codec: None,
            video_receive_enabled: None,
            audio_receive_enabled: None,
            join_timeout: Duration::from_secs(10),
            max_members: 64,
            send_queue: 16,
        }
    }
}

impl RoomOptions {
    /// A mesh room, receive-only until a stream is set.
    pub fn new() -> RoomOptions {
        RoomOptions::default()
    }

    /// Sets the mode.
    #[must_use]
    pub fn mode(mut self, mode: RoomMode) -> RoomOptions {
        self.mode = mode;
        self
    }

    /// Sends `stream` to every member.
    #[must_use]
    pub fn stream(mut self, stream: MediaStream) -> RoomOptions {
        self.stream = Some(stream);
        self
    }

    /// Caps the video bandwidth (kbps).
    #[must_use]
    pub fn video_bandwidth(mut self, kbps: u32) -> RoomOptions {
        self.video_bandwidth = Some(kbps);
        self
    }

    /// Caps the audio bandwidth (kbps).
    #[must_use]
    pub fn audio_bandwidth(mut self, kbps: u32) -> RoomOptions {
        self.audio_bandwidth = Some(kbps);
        self
    }

    /// Keeps only this video codec.
    #[must_use]
    pub fn video_codec(mut self, codec: impl Into<String>) -> RoomOptions {
        self.video_codec = Some(codec.into());
        self
    }

    /// Keeps only this audio codec.
    #[must_use]
    pub fn audio_codec(mut self, codec: impl Into<String>) -> RoomOptions {
        self.audio_codec = Some(codec.into());
        self
    }

    /// Receives video (or not) whatever the stream has.
    #[must_use]
    pub fn video_receive_enabled(mut self, on: bool) -> RoomOptions {
        self.video_receive_enabled = Some(on);
        self
    }

    /// Receives audio (or not) whatever the stream has.
    #[must_use]
    pub fn audio_receive_enabled(mut self, on: bool) -> RoomOptions {
        self.audio_receive_enabled = Some(on);
        self
    }

    /// Sets the join deadline.
    #[must_use]
    pub fn join_timeout(mut self, timeout: Duration) -> RoomOptions {
        self.join_timeout = timeout;
        self
    }

    /// Sets the most members called.
    #[must_use]
    pub fn max_members(mut self, n: usize) -> RoomOptions {
        self.max_members = n;
        self
    }

    /// The options of this side's call to a member (the SDK passes the room's options on).
    pub(crate) fn call_options(&self) -> CallOptions {
        let mut o = CallOptions::new();
        o.video_bandwidth = self.video_bandwidth;
        o.audio_bandwidth = self.audio_bandwidth;
        o.video_codec = self.video_codec.clone();
        o.audio_codec = self.audio_codec.clone();
        o.video_receive_enabled = self.video_receive_enabled;
        o.audio_receive_enabled = self.audio_receive_enabled;
        o
    }

    /// The options of this side's answer to a member's call.
    pub(crate) fn answer_options(&self) -> AnswerOptions {
        let mut o = AnswerOptions::new();
        o.video_bandwidth = self.video_bandwidth;
        o.audio_bandwidth = self.audio_bandwidth;
        o.video_codec = self.video_codec.clone();
        o.audio_codec = self.audio_codec.clone();
        o
    }
}
