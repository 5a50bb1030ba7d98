//! Feeding a [`LocalTrack`](crate::LocalTrack).
//!
//! - [`RtpUdpSource`] ([`rtp_udp`]): RTP from a local pipeline (GStreamer, ffmpeg) on a UDP port.
//! - [`FileSource`] ([`file`](mod@file)): IVF (VP8, VP9), H264 Annex-B, Ogg Opus and raw µ-law files,
//!   paced in real time, optionally looped.
//!
//! The file formats are parsed by pure, synchronous parsers over byte slices ([`ivf`],
//! [`annexb`], [`ogg`], [`opus`]): malformed input gives a [`MediaError`](crate::MediaError)
//! or skipped data, never a panic. Only the run loops use tokio.
//!
//! ```no_run
//! # async fn demo() -> Result<(), peer_media::MediaError> {
//! use peer_media::source::{FileOptions, FileSource, RtpUdpSource};
//! use peer_media::{Codec, MediaStream};
//!
//! let mut stream = MediaStream::new();
//! let video = stream.add_track(Codec::Vp8);
//! let audio = stream.add_track(Codec::Opus);
//! // gst-launch-1.0 videotestsrc is-live=true ! vp8enc deadline=1 ! rtpvp8pay pt=100
//! //   ! udpsink host=127.0.0.1 port=5004
//! let camera = RtpUdpSource::bind("127.0.0.1:5004".parse().unwrap(), video).await?;
//! let music = FileSource::start(
//!     "music.ogg",
//!     audio,
//!     FileOptions { looped: true, ..Default::default() },
//! )
//! .await?;
//! // ... call a peer with `stream` ...
//! music.stop();
//! camera.stop();
//! # Ok(())
//! # }
//! ```

pub mod annexb;
pub mod file;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub(crate) mod packetizer;
pub mod rtp_udp;
pub(crate) mod runner;
pub(crate) mod vp9_payload;

pub use file::{FileFormat, FileOptions, FileSource, FileSourceStats};
pub use rtp_udp::{RtpUdpSource, RtpUdpStats};
