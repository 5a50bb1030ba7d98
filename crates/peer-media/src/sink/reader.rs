//! The read loop the sinks share: packets of a remote track, frame counting, keyframe requests.

use crate::codec::MediaKind;
use crate::error::MediaError;
use crate::frames::FrameCounter;
use crate::remote::RemoteTrack;
use crate::source::runner::StopSignal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use webrtc::rtp::packet::Packet;

/// Keyframe requests while no keyframe arrived: one at start, then one per interval.
const PLI_INTERVAL: Duration = Duration::from_secs(1);
/// At most this many requests.
const MAX_PLIS: u32 = 10;
/// Consecutive read errors (other than the end of the track) after which a sink gives up.
const MAX_CONSECUTIVE_ERRORS: u32 = 100;

/// Reads a remote track for a sink.
pub(crate) struct TrackReader {
    track: RemoteTrack,
    counter: Option<FrameCounter>,
    /// Set once a keyframe arrived (or the reader is gone): the keyframe requests stop.
    keyframe_seen: Arc<AtomicBool>,
    read_errors: u64,
}

impl Drop for TrackReader {
    fn drop(&mut self) {
        self.keyframe_seen.store(true, Ordering::Relaxed);
    }
}

impl TrackReader {
    /// A reader. For video, a task requests a keyframe now and then every second until one
    /// arrives (at most ten times), so a recording or a pipeline gets a decodable picture soon.
    pub(crate) fn new(track: RemoteTrack) -> TrackReader {
        let keyframe_seen = Arc::new(AtomicBool::new(false));
        if track.kind() == MediaKind::Video {
            let (track, seen) = (track.clone(), keyframe_seen.clone());
            tokio::spawn(async move {
                for i in 0..MAX_PLIS {
                    // The first request goes out in any case.
                    if i > 0 && seen.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Err(e) = track.request_keyframe().await {
                        tracing::debug!(%e, "sink: keyframe request failed");
                    }
                    tokio::time::sleep(PLI_INTERVAL).await;
                }
            });
        }
        TrackReader {
            counter: track.codec().map(FrameCounter::new),
            track,
            keyframe_seen,
            read_errors: 0,
        }
    }

    /// The frame counter (`None` for a codec this crate does not know).
    pub(crate) fn counter(&self) -> Option<&FrameCounter> {
        self.counter.as_ref()
    }

    /// Read errors skipped.
    pub(crate) fn read_errors(&self) -> u64 {
        self.read_errors
    }

    /// The next packet (counted); `Ok(None)` when the track ended or the sink was stopped.
    pub(crate) async fn next(
        &mut self,
        stop: &mut StopSignal,
    ) -> Result<Option<Packet>, MediaError> {
        let mut consecutive = 0;
        loop {
            let read = tokio::select! {
                biased;
                _ = stop.stopped() => return Ok(None),
                r = self.track.read_rtp() => r,
            };
            match read {
                Ok(packet) => {
                    if let Some(c) = &mut self.counter {
                        c.push(
                            packet.header.marker,
                            packet.header.timestamp,
                            &packet.payload,
                        );
                        if c.keyframes() > 0 {
                            self.keyframe_seen.store(true, Ordering::Relaxed);
                        }
                    }
                    return Ok(Some(packet));
                }
                Err(MediaError::Closed) => return Ok(None),
                Err(e) => {
                    self.read_errors += 1;
                    consecutive += 1;
                    tracing::debug!(%e, "sink: read error");
                    if consecutive >= MAX_CONSECUTIVE_ERRORS {
                        return Err(e);
                    }
                }
            }
        }
    }
}
