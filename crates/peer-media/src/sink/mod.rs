//! Consuming a [`RemoteTrack`](crate::RemoteTrack).
//!
//! - [`UdpSink`] ([`udp`]): forwards the RTP packets to a UDP address for GStreamer or ffmpeg,
//!   with the matching caps and SDP.
//! - [`FileSink`] ([`file`](mod@file)): records VP8/VP9 into IVF, Opus into Ogg Opus, H264 into
//!   an Annex-B stream ([`h264`]) and PCMU into raw µ-law.
//!
//! File sinks never block the async runtime on the disk: recorders format in memory and a
//! writer on tokio's blocking thread pool does the file I/O, fed through a bounded queue whose
//! backpressure stops the sink reading its track while the disk lags (see [`file`](mod@file)).
//!
//! A sink reads its track alone (one sink per track). For video, a sink asks the sender for a
//! keyframe (RTCP PLI) when it starts, and every second until one arrives (at most ten times),
//! so the far end gets a decodable picture soon. Packets that arrive before a keyframe are fine.
//!
//! ```no_run
//! # async fn demo(video: peer_media::RemoteTrack, audio: peer_media::RemoteTrack)
//! # -> Result<(), peer_media::MediaError> {
//! use peer_media::sink::{FileSink, UdpSink};
//!
//! let to = "127.0.0.1:6004".parse().unwrap();
//! let forward = UdpSink::start(video, to).await?;
//! println!("gst-launch-1.0 udpsrc port=6004 caps=\"{}\" ! ...", forward.caps());
//! let record = FileSink::start(audio, "call.ogg").await?;
//! // ... later:
//! record.stop();
//! let stats = record.finished().await?;
//! println!("{} packets written", stats.written);
//! # Ok(())
//! # }
//! ```

pub mod file;
pub mod h264;
pub mod ivf;
pub(crate) mod reader;
pub mod udp;
pub mod vpx;
pub(crate) mod writer;

pub use file::{FileSink, FileSinkStats};
pub use udp::{UdpSink, UdpSinkStats};
