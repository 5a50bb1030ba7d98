//! The SFU media backend of `peer-server`, for skyway-js@4.4.5 SFU rooms
//! (`joinRoom(name, {mode: 'sfu'})`, protocol §10): each member sends its media once, to the
//! server, which forwards it to every other member without decoding it.
//!
//! - [`core`]: [`SfuCore`], the decisions with no I/O: who receives which track, the plan of
//!   each member's next offer (one offer at a time, never the same twice), keyframe requests
//!   and their throttle, limits, deadlines. Tests drive it without sockets.
//! - [`plan`]: [`OfferPlan`], a member's downstream tracks and the `msids` map.
//! - [`sdp`]: checks of clients' answers (Plan B is refused).
//! - [`nack_budget`]: the retransmissions one subscriber's NACKs may ask for, per track.
//!
//! - [`shell`]: [`Sfu`], the tokio shell: one guarded UDP socket shared by every connection, a
//!   backend task around the core, and one task per member's `webrtc` 0.17.2 peer connection
//!   that forwards RTP without decoding it and reads each subscriber's RTCP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod nack_budget;
pub mod plan;
pub mod sdp;
pub mod shell;

pub use crate::core::{Input, MemberKey, Output, RoomKey, SfuCore, SfuLimits};
pub use plan::{DownTrack, Kind, OfferPlan, TrackId};
pub use shell::{Sfu, SfuConfig, SfuEvent, SfuHandle, SfuStats};
