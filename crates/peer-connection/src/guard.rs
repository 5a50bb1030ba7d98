//! A guard under each media connection's UDP socket against datagrams that crash webrtc-rs.
//!
//! **The upstream defect** (webrtc 0.17.2, rtp 0.17.2, webrtc-srtp 0.17.2): the SRTP session
//! parses an RTP header before it authenticates the packet (`Context::decrypt_rtp`), and
//! `Header::unmarshal` reads header-extension elements with lengths taken from the packet without
//! checking them against the bytes left, so a short extension element makes `copy_to_bytes`
//! panic. SRTCP indexes short packets (4 to 13 bytes) out of bounds the same way. The panic ends
//! the session task that webrtc-srtp spawned; nothing joins it, so the connection's inbound RTP
//! (or RTCP) stops for good while ICE stays up and `read_rtp` waits forever. Anyone who can
//! send from the remote peer's candidate address can do it: the remote peer itself, without
//! knowing any key, since the header is parsed before authentication.
//!
//! **The containment**: every media connection gets its own UDP socket, under a
//! `UDPMuxDefault` (the only hook webrtc-rs offers below SRTP), wrapped in [`GuardConn`], which
//! checks each inbound datagram with [`inspect`] (a pure function mirroring the parser's
//! missing checks) and drops the ones that would panic. The connection hears of it
//! ([`MediaGuard::on_malformed`]): when the datagram came from the remote peer (the selected
//! candidate pair's remote address) it reports an error event and closes; from any other
//! address it is only dropped, since the guard sees datagrams before ICE checks their source
//! and a stranger must not be able to end calls. Everything else goes on. Costs and limits: no server-reflexive candidates are gathered through a mux
//! (webrtc-ice skips them), and relayed (TURN) traffic arrives on the TURN client's own socket,
//! which this guard does not see; see `docs/decisions.md`.

use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::net::UdpSocket;
use webrtc::ice::udp_mux::{UDPMux, UDPMuxDefault, UDPMuxParams};
use webrtc::util::{Conn, Error as UtilError};

/// Why a datagram would crash webrtc-rs's receiver, or `None` if the stack handles it.
///
/// Only SRTP and SRTCP datagrams matter (first byte 128 to 191, demultiplexed as webrtc-rs
/// does: SRTCP when the second byte is 192 to 223). For SRTCP, anything under 14 bytes (no
/// real SRTCP packet is under 22). For SRTP, exactly the header extensions that
/// `rtp::header::Header::unmarshal` would read past the end of the datagram.
pub fn inspect(datagram: &[u8]) -> Option<&'static str> {
    let b = datagram;
    if b.is_empty() || !(128..=191).contains(&b[0]) {
        return None;
    }
    if b.len() >= 4 && (192..=223).contains(&b[1]) {
        return (b.len() < 14).then_some("SRTCP packet shorter than 14 bytes");
    }
    let n = b.len();
    if n < 4 {
        return None;
    }
    let mut at = 12 + 4 * usize::from(b[0] & 0x0f);
    if b[0] & 0x10 == 0 || n < at + 4 {
        // No extension, or a header the parser refuses with an error.
        return None;
    }
    let profile = u16::from_be_bytes([b[at], b[at + 1]]);
    let end = at + 4 + 4 * usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
    at += 4;
    if n < end {
        return None;
    }
    match profile {
        0xBEDE => {
            while at < end {
                let element = b[at];
                at += 1;
                if element == 0 {
                    continue;
                }
                if element >> 4 == 0x0f {
                    break;
                }
                at += usize::from(element & 0x0f) + 1;
                if at > n {
                    return Some("RTP one-byte header extension overruns the packet");
                }
            }
        }
        0x1000 => {
            while at < end {
                let id = b[at];
                at += 1;
                if id == 0 {
                    continue;
                }
                let Some(&len) = b.get(at) else {
                    return Some("RTP two-byte header extension has no length");
                };
                at += 1 + usize::from(len);
                if at > n {
                    return Some("RTP two-byte header extension overruns the packet");
                }
            }
        }
        _ => {}
    }
    None
}

/// Called with the source address and the reason when a datagram is dropped.
type Report = Arc<dyn Fn(SocketAddr, &'static str) + Send + Sync>;

/// Who hears of dropped datagrams, set once the connection exists.
type Listener = OnceLock<Box<dyn Fn(SocketAddr, &'static str) + Send + Sync>>;

/// A UDP socket that drops (and reports) what [`inspect`] refuses.
pub struct GuardConn {
    socket: UdpSocket,
    report: Report,
}

impl GuardConn {
    /// Guards `socket`: datagrams [`inspect`] refuses are dropped and passed to `report` with
    /// their source and the reason (the SFU shares one such socket between all its
    /// connections).
    pub fn new(
        socket: UdpSocket,
        report: impl Fn(SocketAddr, &'static str) + Send + Sync + 'static,
    ) -> GuardConn {
        GuardConn {
            socket,
            report: Arc::new(report),
        }
    }
}

#[async_trait]
impl Conn for GuardConn {
    async fn connect(&self, addr: SocketAddr) -> Result<(), UtilError> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, UtilError> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), UtilError> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            match buf.get(..n).and_then(inspect) {
                // Dropped; an error here would end the mux for good, so read on.
                Some(why) => (self.report)(from, why),
                None => return Ok((n, from)),
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> Result<usize, UtilError> {
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, UtilError> {
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> Result<SocketAddr, UtilError> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> Result<(), UtilError> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// One media connection's guarded socket: the mux to give webrtc-rs, and who to tell.
#[derive(Clone)]
pub struct MediaGuard {
    mux: Arc<UDPMuxDefault>,
    listener: Arc<Listener>,
}

impl std::fmt::Debug for MediaGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaGuard").finish_non_exhaustive()
    }
}

impl MediaGuard {
    /// A guarded UDP socket on all IPv4 interfaces, on a free port.
    pub async fn bind() -> std::io::Result<MediaGuard> {
        let socket = UdpSocket::bind("0.0.0.0:0").await?;
        let listener: Arc<Listener> = Arc::new(OnceLock::new());
        let report: Report = {
            let listener = listener.clone();
            let dropped = AtomicU64::new(0);
            Arc::new(move |from, why| {
                // Logged at 1, 2, 4, 8, ... drops: a flood is counted, not printed.
                let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(%from, why, dropped = n, "dropped a datagram that would crash the media stack");
                }
                if let Some(tell) = listener.get() {
                    tell(from, why);
                }
            })
        };
        let mux = UDPMuxDefault::new(UDPMuxParams::new(GuardConn { socket, report }));
        Ok(MediaGuard { mux, listener })
    }

    /// The mux for `SettingEngine::set_udp_network(UDPNetwork::Muxed(..))`.
    pub fn mux(&self) -> Arc<UDPMuxDefault> {
        self.mux.clone()
    }

    /// Sets who hears of dropped datagrams (once; later calls are ignored).
    pub fn on_malformed(&self, tell: impl Fn(SocketAddr, &'static str) + Send + Sync + 'static) {
        let _ = self.listener.set(Box::new(tell));
    }

    /// Closes the socket and the mux's task (after the peer connection is closed).
    pub async fn close(&self) {
        if let Err(e) = self.mux.close().await {
            tracing::debug!(error = %e, "closing the media socket");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp_with_extension(profile: u16, words: u16, ext: &[u8]) -> Vec<u8> {
        let mut p = vec![0x90, 0x60, 0, 1, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&words.to_be_bytes());
        p.extend_from_slice(ext);
        p
    }

    #[test]
    fn refuses_what_the_parser_would_panic_on() {
        // One-byte element id 1, length 16, with 3 bytes left: the known crash.
        let bad = rtp_with_extension(0xBEDE, 1, &[0x1f, 0, 0, 0]);
        assert!(inspect(&bad).is_some());
        // The same element with its bytes present (the block holds 17 bytes plus padding).
        let mut ok = rtp_with_extension(0xBEDE, 5, &[0x1f]);
        ok.extend_from_slice(&[0; 19]);
        assert_eq!(inspect(&ok), None);
        // Two-byte form: id 1 with length 200.
        let bad2 = rtp_with_extension(0x1000, 1, &[1, 200, 0, 0]);
        assert!(inspect(&bad2).is_some());
        // A declared block longer than the packet is a parser error, not a panic.
        assert_eq!(
            inspect(&rtp_with_extension(0xBEDE, 9, &[0x1f, 0, 0, 0])),
            None
        );
        // Short SRTCP.
        assert!(inspect(&[0x80, 0xc8, 0, 0]).is_some());
        assert_eq!(
            inspect(&[0x80, 0xc8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        // STUN and DTLS pass.
        assert_eq!(inspect(&[0, 1, 0, 0]), None);
        assert_eq!(inspect(&[22, 254, 253]), None);
    }
}
