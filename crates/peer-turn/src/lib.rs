//! The embedded TURN server of `peer-server` (issue 12), built in layers as the SFU is:
//!
//! - [`policy`]: which peer addresses an allocation may relay to (loopback, link-local,
//!   private and other special ranges are refused unless the configuration allows them);
//! - [`quota`]: allocations per user and for the whole server, and a byte budget per
//!   allocation;
//! - [`framing`]: TURN over TCP (RFC 5766 §2.1): STUN messages and padded ChannelData frames
//!   cut out of a byte stream.
//!
//! These are pure and synchronous: tests and fuzzers drive them without sockets. The listeners
//! (UDP and TCP) and the relay, around `turn` 0.17.2's request handling, come next.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod framing;
pub mod policy;
pub mod quota;
