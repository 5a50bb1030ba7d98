//! A loss injector for tests (`[sfu] test_loss_percent` with `test_loss_peer_prefix`): drops
//! that share of the RTP the SFU sends to members whose peer id starts with the prefix, after
//! the retransmission ring has kept it, so the subscriber's NACKs can repair it as they would
//! repair loss on the network. RTCP, STUN and DTLS pass. Off unless configured; never for
//! production use.

use async_trait::async_trait;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use webrtc::util::{Conn, Error as UtilError};

/// Whom to drop packets to, and how many.
#[derive(Debug)]
pub(crate) struct LossTargets {
    /// Members whose peer id starts with this lose packets.
    pub prefix: String,
    /// Percent of their RTP packets dropped.
    pub percent: u64,
    addrs: Mutex<HashSet<SocketAddr>>,
    rng: AtomicU64,
}

impl LossTargets {
    pub fn new(prefix: String, percent: u64) -> LossTargets {
        LossTargets {
            prefix,
            percent: percent.min(100),
            addrs: Mutex::new(HashSet::new()),
            rng: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// Whether `peer` is one of the lossy members.
    pub fn applies_to(&self, peer: &str) -> bool {
        !self.prefix.is_empty() && peer.starts_with(&self.prefix)
    }

    /// Packets to `addr` lose their share from now on.
    pub fn add(&self, addr: SocketAddr) {
        if let Ok(mut a) = self.addrs.lock() {
            a.insert(addr);
        }
    }

    /// Whether to drop this datagram to `target`.
    fn should_drop(&self, buf: &[u8], target: SocketAddr) -> bool {
        let rtp = buf.len() >= 2 && (128..=191).contains(&buf[0]) && !(192..=223).contains(&buf[1]);
        if !rtp
            || !self
                .addrs
                .lock()
                .map(|a| a.contains(&target))
                .unwrap_or(false)
        {
            return false;
        }
        // xorshift64: evenly spread, cheap, no dependency.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x % 100 < self.percent
    }
}

/// `inner` with [`LossTargets`] applied to what it sends.
pub(crate) struct LossyConn<C> {
    pub inner: C,
    pub targets: Arc<LossTargets>,
}

#[async_trait]
impl<C: Conn + Send + Sync + 'static> Conn for LossyConn<C> {
    async fn connect(&self, addr: SocketAddr) -> Result<(), UtilError> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, UtilError> {
        self.inner.recv(buf).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), UtilError> {
        self.inner.recv_from(buf).await
    }

    async fn send(&self, buf: &[u8]) -> Result<usize, UtilError> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, UtilError> {
        if self.targets.should_drop(buf, target) {
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> Result<SocketAddr, UtilError> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> Result<(), UtilError> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_its_share_of_rtp_to_the_targets_only() {
        let t = LossTargets::new("lossy".into(), 5);
        assert!(t.applies_to("lossy-1") && !t.applies_to("clean"));
        let target: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let rtp = [0x80u8, 96, 0, 1];
        let rtcp = [0x80u8, 200, 0, 1];
        let stun = [0x00u8, 0x01, 0, 0];
        assert!(!t.should_drop(&rtp, target), "not a target yet");
        t.add(target);
        let dropped = (0..10_000).filter(|_| t.should_drop(&rtp, target)).count();
        assert!((400..=600).contains(&dropped), "{dropped} of 10,000");
        assert!((0..1000).all(|_| !t.should_drop(&rtp, other)));
        assert!((0..1000).all(|_| !t.should_drop(&rtcp, target) && !t.should_drop(&stun, target)));
    }
}
