//! RTP received on a UDP port into a [`LocalTrack`]: what a GStreamer or ffmpeg pipeline sends
//! (`... ! rtpvp8pay ! udpsink host=127.0.0.1 port=5004`, `ffmpeg ... -f rtp rtp://127.0.0.1:5004`).
//!
//! Each datagram is one RTP packet. Its payload type may be anything: the track writes each
//! negotiated binding's own payload type and SSRC; sequence numbers, timestamps and the marker
//! bit pass through. Header extensions are removed (their ids were not negotiated with the
//! remote peer). RTCP that the sender multiplexes on the same port (RFC 5761: second byte 200 to
//! 204) is ignored; anything else that is not RTP version 2 is dropped and counted.

use super::runner::{Runner, StopSignal};
use crate::error::MediaError;
use crate::track::LocalTrack;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use webrtc::rtp::packet::Packet;
use webrtc::util::Unmarshal;

/// The receive buffer: the largest UDP payload, so that no datagram is cut.
const RECV_BUFFER: usize = 65_536;
/// Consecutive socket errors after which the source gives up.
const MAX_CONSECUTIVE_ERRORS: u32 = 100;

/// What a datagram holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    /// An RTP packet (header extensions removed).
    Rtp(Packet),
    /// An RTCP packet multiplexed on the port (ignored).
    Rtcp,
    /// Not RTP: too short, not version 2, or a bad header, CSRC list, extension or padding.
    Malformed(String),
}

/// Classifies and parses one datagram (pure).
///
/// ```
/// # use peer_media::source::rtp_udp::{classify, Datagram};
/// let rtp = [0x80, 0xe4, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 0x10, 0xaa];
/// match classify(&rtp) {
///     Datagram::Rtp(p) => assert_eq!((p.header.payload_type, p.header.marker), (100, true)),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(classify(&[0x81, 0xc8, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0]), Datagram::Rtcp);
/// assert!(matches!(classify(b"hello"), Datagram::Malformed(_)));
/// // A two-byte-header extension element longer than the packet (webrtc-rs's parser panics).
/// let bad = [0xb1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x86, 0x29, 0xa4, 0xe2, 0x08,
///            0x10, 0x00, 0x00, 0x01, 0x89, 0xd8, 0xf5, 0x00];
/// assert!(matches!(classify(&bad), Datagram::Malformed(_)));
/// ```
pub fn classify(datagram: &[u8]) -> Datagram {
    let [b0, b1, ..] = datagram else {
        return Datagram::Malformed(format!("{} bytes", datagram.len()));
    };
    if b0 >> 6 != 2 {
        return Datagram::Malformed(format!("RTP version {}", b0 >> 6));
    }
    if (200..=204).contains(b1) {
        return Datagram::Rtcp;
    }
    // The header is checked and its extension cut out here: webrtc-rs 0.17.2's parser panics
    // on some malformed extension elements (found by the `rtp_media` fuzz target), and the
    // track rewrites the header anyway.
    let csrc_end = 12 + 4 * usize::from(b0 & 0x0f);
    if datagram.len() < csrc_end {
        return Datagram::Malformed("truncated header or CSRC list".into());
    }
    let mut cleaned;
    let mut bytes = datagram;
    if b0 & 0x10 != 0 {
        let Some(words) = datagram.get(csrc_end + 2..csrc_end + 4) else {
            return Datagram::Malformed("truncated header extension".into());
        };
        let ext_end = csrc_end + 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        if ext_end > datagram.len() {
            return Datagram::Malformed("header extension longer than the packet".into());
        }
        cleaned = Vec::with_capacity(datagram.len() - (ext_end - csrc_end));
        cleaned.extend_from_slice(&datagram[..csrc_end]);
        cleaned.extend_from_slice(&datagram[ext_end..]);
        cleaned[0] &= !0x10;
        bytes = &cleaned;
    }
    if b0 & 0x20 != 0 {
        let pad = usize::from(bytes.last().copied().unwrap_or(0));
        if pad == 0 || pad > bytes.len() - csrc_end {
            return Datagram::Malformed("bad padding length".into());
        }
    }
    match Packet::unmarshal(&mut &bytes[..]) {
        Ok(packet) => Datagram::Rtp(packet),
        Err(e) => Datagram::Malformed(e.to_string()),
    }
}

/// Counters of an [`RtpUdpSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpUdpStats {
    /// RTP packets received and written to the track.
    pub packets: u64,
    /// Bytes of those datagrams.
    pub bytes: u64,
    /// Datagrams dropped as not RTP.
    pub malformed: u64,
    /// RTCP datagrams ignored.
    pub rtcp: u64,
    /// Packets the track refused to send.
    pub write_errors: u64,
    /// Packets larger than [`LARGE_PACKET`]: sent, but a Rust (webrtc-rs) receiver drops them.
    pub oversized: u64,
}

/// RTP packets above this size (plus SRTP's 10-byte tag) exceed the 1,460-byte receive buffer
/// of webrtc-rs peers, which drop them; browsers accept them. Senders should packetize for an
/// MTU of 1,200 (`rtpvp8pay mtu=1200`, ffmpeg `-pkt_size 1200`).
pub const LARGE_PACKET: usize = 1400;

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    malformed: AtomicU64,
    rtcp: AtomicU64,
    write_errors: AtomicU64,
    oversized: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RtpUdpStats {
        RtpUdpStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            rtcp: self.rtcp.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
        }
    }
}

/// Receives RTP on a UDP socket and sends it on a track. Runs until [`RtpUdpSource::stop`] or
/// until dropped.
#[derive(Debug)]
pub struct RtpUdpSource {
    local_addr: SocketAddr,
    runner: Runner<RtpUdpStats>,
    counters: Arc<Counters>,
}

impl RtpUdpSource {
    /// Binds `addr` (port 0 for any free port) and starts forwarding what arrives to `track`.
    pub async fn bind(addr: SocketAddr, track: LocalTrack) -> Result<RtpUdpSource, MediaError> {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|e| MediaError::Io(format!("binding {addr}: {e}")))?;
        let local_addr = socket.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let runner = Runner::spawn(move |stop| run(socket, track, c, stop))?;
        Ok(RtpUdpSource {
            local_addr,
            runner,
            counters,
        })
    }

    /// The bound address (where the pipeline sends).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters so far.
    pub fn stats(&self) -> RtpUdpStats {
        self.counters.snapshot()
    }

    /// Stops receiving and closes the socket.
    pub fn stop(&self) {
        self.runner.stop();
    }

    /// Whether the source has stopped.
    pub fn is_finished(&self) -> bool {
        self.runner.is_finished()
    }

    /// Waits until the source stops and returns the final counters (an error if the socket
    /// failed).
    pub async fn finished(&self) -> Result<RtpUdpStats, MediaError> {
        self.runner.finished().await
    }
}

async fn run(
    socket: UdpSocket,
    track: LocalTrack,
    counters: Arc<Counters>,
    mut stop: StopSignal,
) -> Result<RtpUdpStats, MediaError> {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut errors = 0;
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.stopped() => return Ok(counters.snapshot()),
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, from) = match received {
            Ok(r) => {
                errors = 0;
                r
            }
            Err(e) => {
                // E.g. ICMP errors reported on the socket; give up only if they persist.
                errors += 1;
                tracing::debug!(%e, "RTP source: receive error");
                if errors >= MAX_CONSECUTIVE_ERRORS {
                    return Err(MediaError::Io(format!("receiving RTP: {e}")));
                }
                continue;
            }
        };
        match classify(&buf[..n]) {
            Datagram::Rtp(packet) => {
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                if n > LARGE_PACKET && counters.oversized.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        bytes = n,
                        "RTP source: packets over {LARGE_PACKET} bytes are dropped by Rust \
                         receivers; packetize for an MTU of 1200"
                    );
                }
                if let Err(e) = track.write_rtp(&packet).await {
                    if counters.write_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(%e, "RTP source: writing to the track failed");
                    }
                }
            }
            Datagram::Rtcp => {
                counters.rtcp.fetch_add(1, Ordering::Relaxed);
            }
            Datagram::Malformed(why) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, len = n, %why, "RTP source: malformed datagram dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use webrtc::rtp::header::Header;
    use webrtc::util::Marshal;

    #[test]
    fn rtp_round_trip_and_extensions_removed() {
        let mut p = Packet {
            header: Header {
                version: 2,
                marker: true,
                payload_type: 100,
                sequence_number: 65535,
                timestamp: 1234,
                ssrc: 99,
                ..Default::default()
            },
            payload: Bytes::from_static(&[1, 2, 3]),
        };
        p.header.set_extension(1, Bytes::from_static(&[9])).unwrap();
        let raw = p.marshal().unwrap();
        let Datagram::Rtp(q) = classify(&raw) else {
            panic!("not RTP")
        };
        assert!(!q.header.extension);
        assert!(q.header.extensions.is_empty());
        assert_eq!(q.header.sequence_number, 65535);
        assert_eq!(q.payload, p.payload);
        // Re-marshals as a plain 12-byte header.
        assert_eq!(q.marshal().unwrap().len(), 12 + 3);
    }

    #[test]
    fn rtcp_and_garbage() {
        // Sender report, receiver report, SDES, BYE, APP.
        for pt in 200..=204u8 {
            assert_eq!(classify(&[0x80, pt, 0, 1, 0, 0, 0, 0]), Datagram::Rtcp);
        }
        for bad in [
            &[][..],
            &[0x80],
            &[0x80, 96, 0, 1, 0, 0],
            b"hello world, this is not RTP",
            // Version 2 with 15 CSRCs but no room for them.
            &[0x8f, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2],
            // Padding longer than the payload.
            &[0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9],
        ] {
            assert!(matches!(classify(bad), Datagram::Malformed(_)), "{bad:?}");
        }
    }

    #[test]
    fn random_datagrams_never_panic() {
        let mut rng = peer_testkit::Rng::new(7);
        for len in 0..2000usize {
            let d = rng.bytes(len % 200);
            let _ = classify(&d);
            let mut v2 = d.clone();
            if let Some(b) = v2.first_mut() {
                *b = 0x80 | (*b & 0x3f);
            }
            let _ = classify(&v2);
        }
    }
}
