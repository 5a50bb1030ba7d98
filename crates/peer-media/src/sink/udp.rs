//! Forwarding a [`RemoteTrack`]'s RTP to a UDP address, for a local pipeline to decode:
//!
//! ```text
//! gst-launch-1.0 udpsrc port=6004 caps="<UdpSink::caps()>" ! rtpjitterbuffer ! rtpvp8depay ! vp8dec ! autovideosink
//! ffplay -protocol_whitelist file,udp,rtp -i track.sdp     # track.sdp = UdpSink::sdp()
//! ```
//!
//! Packets are sent as received (the negotiated payload type, SSRC, sequence numbers,
//! timestamps and header extensions kept), one datagram each, from an ephemeral local port.

use super::reader::TrackReader;
use crate::error::MediaError;
use crate::remote::RemoteTrack;
use crate::source::runner::{Runner, StopSignal};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use webrtc::util::Marshal;

/// Counters of a [`UdpSink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpSinkStats {
    /// RTP packets forwarded.
    pub packets: u64,
    /// Bytes of the datagrams sent.
    pub bytes: u64,
    /// Frames received (video: complete frames; audio: packets; 0 for an unknown codec).
    pub frames: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Datagrams the socket refused (e.g. nobody listening, reported by ICMP).
    pub send_errors: u64,
    /// Read errors on the track that were skipped.
    pub read_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    frames: AtomicU64,
    keyframes: AtomicU64,
    send_errors: AtomicU64,
    read_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> UdpSinkStats {
        UdpSinkStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            keyframes: self.keyframes.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            read_errors: self.read_errors.load(Ordering::Relaxed),
        }
    }
}

/// Sends a remote track's RTP packets to a UDP address. Runs until the track ends,
/// [`UdpSink::stop`], or the sink is dropped. It reads the track: do not read the same track
/// elsewhere (e.g. with a [`FileSink`](super::FileSink)).
#[derive(Debug)]
pub struct UdpSink {
    to: SocketAddr,
    local_addr: SocketAddr,
    payload_type: u8,
    caps: String,
    sdp: String,
    runner: Runner<UdpSinkStats>,
    counters: Arc<Counters>,
}

impl UdpSink {
    /// Binds an ephemeral UDP port and starts forwarding `track`'s packets to `to`. For video, a
    /// keyframe is requested at once (and every second until one arrives, at most ten times).
    pub async fn start(track: RemoteTrack, to: SocketAddr) -> Result<UdpSink, MediaError> {
        let bind: SocketAddr = if to.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|e| MediaError::Io(format!("binding {bind}: {e}")))?;
        let local_addr = socket.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (payload_type, caps, sdp) = (
            track.payload_type(),
            track.gstreamer_caps(),
            track.sdp_description(to),
        );
        let c = counters.clone();
        let runner = Runner::spawn(move |stop| run(track, socket, to, c, stop))?;
        Ok(UdpSink {
            to,
            local_addr,
            payload_type,
            caps,
            sdp,
            runner,
            counters,
        })
    }

    /// Where the packets go.
    pub fn to(&self) -> SocketAddr {
        self.to
    }

    /// The local address they are sent from.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The payload type of the packets (the negotiated one).
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// GStreamer caps for a `udpsrc` receiving the packets
    /// (see [`RemoteTrack::gstreamer_caps`]).
    pub fn caps(&self) -> &str {
        &self.caps
    }

    /// An SDP description of the packets for ffmpeg/ffplay
    /// (see [`RemoteTrack::sdp_description`]).
    pub fn sdp(&self) -> &str {
        &self.sdp
    }

    /// The counters so far.
    pub fn stats(&self) -> UdpSinkStats {
        self.counters.snapshot()
    }

    /// Stops forwarding.
    pub fn stop(&self) {
        self.runner.stop();
    }

    /// Whether forwarding has ended.
    pub fn is_finished(&self) -> bool {
        self.runner.is_finished()
    }

    /// Waits until forwarding ends (the track ended, or [`UdpSink::stop`]) and returns the final
    /// counters.
    pub async fn finished(&self) -> Result<UdpSinkStats, MediaError> {
        self.runner.finished().await
    }
}

async fn run(
    track: RemoteTrack,
    socket: UdpSocket,
    to: SocketAddr,
    counters: Arc<Counters>,
    mut stop: StopSignal,
) -> Result<UdpSinkStats, MediaError> {
    let mut reader = TrackReader::new(track);
    while let Some(packet) = reader.next(&mut stop).await? {
        if let Some(c) = reader.counter() {
            counters.frames.store(c.frames(), Ordering::Relaxed);
            counters.keyframes.store(c.keyframes(), Ordering::Relaxed);
        }
        counters
            .read_errors
            .store(reader.read_errors(), Ordering::Relaxed);
        let raw = match packet.marshal() {
            Ok(raw) => raw,
            Err(e) => {
                tracing::debug!(%e, "UDP sink: packet not marshalled");
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        match socket.send_to(&raw, to).await {
            Ok(n) => {
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if counters.send_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::debug!(%e, %to, "UDP sink: send failed");
                }
            }
        }
    }
    Ok(counters.snapshot())
}
