//! Media for SkyWay peers on the `webrtc` crate: what a `MediaConnection` sends and receives.
//!
//! - [`codec`]: the media kinds and the codecs a Rust peer sends (Opus, PCMU, VP8, VP9, H264).
//! - [`track`]: [`LocalTrack`] (RTP in, with the payload type and SSRC of each negotiated
//!   binding written by the stack) and [`MediaStream`], the tracks a call sends.
//! - [`remote`]: [`RemoteTrack`], a received track: RTP out, keyframe requests (PLI).
//! - [`sdp`]: the SDP munging `skyway-js@4.4.5` applies for `videoBandwidth`/`audioBandwidth`
//!   and `videoCodec`/`audioCodec` (pure text functions).
//! - [`frames`]: counting frames and keyframes in received RTP (pure); [`headers`]: VP8 and
//!   VP9 frame headers (keyframe flag, picture size; pure).
//! - [`source`]: feeding a local track from RTP on a UDP port or from IVF, H264 Annex-B and Ogg
//!   Opus files paced in real time; [`sink`]: forwarding a remote track to a UDP port or into
//!   IVF/Ogg files.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod error;
pub mod frames;
pub mod headers;
pub mod remote;
pub mod sdp;
pub mod sink;
pub mod source;
pub mod track;

pub use codec::{Codec, MediaKind};
pub use error::MediaError;
pub use frames::FrameCounter;
pub use remote::RemoteTrack;
pub use sdp::Munging;
pub use sink::{FileSink, UdpSink};
pub use source::{FileOptions, FileSource, RtpUdpSource};
pub use track::{LocalTrack, MediaStream};
