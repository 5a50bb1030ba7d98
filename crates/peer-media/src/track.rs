//! Local tracks and the stream a call sends.
//!
//! A [`LocalTrack`] takes RTP packets of its codec. For each connection that negotiated it, the
//! WebRTC stack writes the packet with that connection's payload type and SSRC, so a source can
//! use any payload type it likes (a GStreamer pipeline's `pt=96`, say).

use crate::codec::{Codec, MediaKind};
use crate::error::MediaError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use webrtc::rtp::packet::Packet;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};

struct LocalInner {
    codec: Codec,
    rtp: Arc<TrackLocalStaticRTP>,
    packets: AtomicU64,
    keyframe_requests: AtomicU64,
    keyframe_notify: Notify,
}

/// A track this peer sends. Cheap to clone; clones share the track. One track can be sent on
/// several connections at once.
#[derive(Clone)]
pub struct LocalTrack {
    inner: Arc<LocalInner>,
}

impl std::fmt::Debug for LocalTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTrack")
            .field("id", &self.id())
            .field("codec", &self.inner.codec)
            .finish()
    }
}

impl LocalTrack {
    /// A track of `codec` in the stream `stream_id`, with a random track id.
    pub fn new(codec: Codec, stream_id: &str) -> LocalTrack {
        let id = format!("{}-{}", codec.kind(), random_hex());
        LocalTrack::with_id(codec, &id, stream_id)
    }

    /// A track with a chosen track id (the SDP `msid` track part).
    pub fn with_id(codec: Codec, id: &str, stream_id: &str) -> LocalTrack {
        LocalTrack {
            inner: Arc::new(LocalInner {
                codec,
                rtp: Arc::new(TrackLocalStaticRTP::new(
                    codec.capability(),
                    id.to_owned(),
                    stream_id.to_owned(),
                )),
                packets: AtomicU64::new(0),
                keyframe_requests: AtomicU64::new(0),
                keyframe_notify: Notify::new(),
            }),
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.inner.codec.kind()
    }

    /// The track id.
    pub fn id(&self) -> String {
        self.inner.rtp.id().to_owned()
    }

    /// The id of the stream the track belongs to.
    pub fn stream_id(&self) -> String {
        self.inner.rtp.stream_id().to_owned()
    }

    /// Sends one RTP packet on every connection the track is bound to. The payload type and
    /// SSRC are replaced by each connection's own; sequence numbers and timestamps are kept.
    /// Before any connection is up, the packet is dropped (as a camera's frames are).
    pub async fn write_rtp(&self, packet: &Packet) -> Result<(), MediaError> {
        self.inner.packets.fetch_add(1, Ordering::Relaxed);
        match self.inner.rtp.write_rtp(packet).await {
            Ok(_) => Ok(()),
            // A binding whose transport went away; the others got the packet.
            Err(webrtc::Error::ErrClosedPipe) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// RTP packets written so far.
    pub fn packets_written(&self) -> u64 {
        self.inner.packets.load(Ordering::Relaxed)
    }

    /// The `webrtc` crate's track, to add to a peer connection.
    pub fn webrtc_track(&self) -> Arc<dyn TrackLocal + Send + Sync> {
        self.inner.rtp.clone()
    }

    /// Records that a receiver asked for a keyframe (RTCP PLI or FIR). Called by the connection
    /// that read the request.
    pub fn note_keyframe_request(&self) {
        self.inner.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        self.inner.keyframe_notify.notify_waiters();
    }

    /// How many keyframe requests receivers sent.
    pub fn keyframe_requests(&self) -> u64 {
        self.inner.keyframe_requests.load(Ordering::Relaxed)
    }

    /// Waits for the next keyframe request (a source that can encode one on demand listens).
    pub async fn keyframe_requested(&self) {
        self.inner.keyframe_notify.notified().await;
    }
}

/// The tracks a call sends: at most one audio and one video track are used, as by the SDK.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaStream {
    id: String,
    tracks: Vec<LocalTrack>,
}

impl Default for MediaStream {
    fn default() -> Self {
        MediaStream::new()
    }
}

impl MediaStream {
    /// An empty stream with a random id.
    pub fn new() -> MediaStream {
        MediaStream::with_id(&format!("stream-{}", random_hex()))
    }

    /// An empty stream with a chosen id (the SDP `msid` stream part, which the remote's `stream`
    /// event reports).
    pub fn with_id(id: &str) -> MediaStream {
        MediaStream {
            id: id.to_owned(),
            tracks: Vec::new(),
        }
    }

    /// The stream id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creates a track of `codec` in this stream, adds it and returns it. A second track of the
    /// same kind replaces the first.
    pub fn add_track(&mut self, codec: Codec) -> LocalTrack {
        let track = LocalTrack::new(codec, &self.id);
        self.push(track.clone());
        track
    }

    /// Adds an existing track; a track of the same kind is replaced.
    pub fn push(&mut self, track: LocalTrack) {
        self.tracks.retain(|t| t.kind() != track.kind());
        self.tracks.push(track);
    }

    /// The video track, if any.
    pub fn video(&self) -> Option<&LocalTrack> {
        self.tracks.iter().find(|t| t.kind() == MediaKind::Video)
    }

    /// The audio track, if any.
    pub fn audio(&self) -> Option<&LocalTrack> {
        self.tracks.iter().find(|t| t.kind() == MediaKind::Audio)
    }

    /// The track of `kind`, if any.
    pub fn track(&self, kind: MediaKind) -> Option<&LocalTrack> {
        self.tracks.iter().find(|t| t.kind() == kind)
    }

    /// The tracks in the SDK's order: video first, then audio.
    pub fn tracks(&self) -> Vec<LocalTrack> {
        self.video()
            .into_iter()
            .chain(self.audio())
            .cloned()
            .collect()
    }
}

/// 8 random hex digits.
fn random_hex() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return "00000000".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
