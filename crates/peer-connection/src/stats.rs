//! [`ConnectionStats`]: what a connection has carried, from the WebRTC stack's statistics.

use std::time::Duration;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::stats::StatsReportType;

/// What a connection has carried: bytes on the wire, data channel messages, RTP packets, and the
/// round-trip time the remote's RTCP reports measured. webrtc-rs 0.17.2 keeps no per-pair packet
/// counts or ICE round-trip times, so those come from the data channel and RTP statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Bytes sent on the wire (everything after ICE: DTLS, SCTP, SRTP).
    pub bytes_sent: u64,
    /// Bytes received on the wire.
    pub bytes_received: u64,
    /// Data channel messages sent (data connections).
    pub messages_sent: u64,
    /// Data channel messages received (data connections).
    pub messages_received: u64,
    /// RTP packets sent (media connections).
    pub packets_sent: u64,
    /// RTP packets received (media connections).
    pub packets_received: u64,
    /// The latest round-trip time from the remote's RTCP receiver reports (media connections
    /// that send), if any.
    pub rtt: Option<Duration>,
}

impl ConnectionStats {
    /// Reads the statistics of `pc`.
    pub(crate) async fn of(pc: &RTCPeerConnection) -> ConnectionStats {
        let report = pc.get_stats().await;
        let mut stats = ConnectionStats::default();
        for entry in report.reports.values() {
            match entry {
                StatsReportType::Transport(t) => {
                    stats.bytes_sent += t.bytes_sent as u64;
                    stats.bytes_received += t.bytes_received as u64;
                }
                StatsReportType::DataChannel(d) => {
                    stats.messages_sent += d.messages_sent as u64;
                    stats.messages_received += d.messages_received as u64;
                }
                StatsReportType::OutboundRTP(o) => stats.packets_sent += o.packets_sent,
                StatsReportType::InboundRTP(i) => stats.packets_received += i.packets_received,
                StatsReportType::RemoteInboundRTP(r) => {
                    if let Some(rtt) = r.round_trip_time.filter(|t| t.is_finite() && *t >= 0.0) {
                        stats.rtt = Some(Duration::from_secs_f64(rtt));
                    }
                }
                _ => {}
            }
        }
        stats
    }
}
