//! [`ConnectionStats`]: what a connection has carried, from the WebRTC stack's statistics.

use std::time::Duration;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::stats::StatsReportType;

/// Bytes and packets through a connection's transport and its round-trip time, read from the
/// selected (nominated) ICE candidate pair.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Bytes sent (everything on the wire after ICE: DTLS, SCTP, SRTP).
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets (datagrams) sent.
    pub packets_sent: u64,
    /// Packets (datagrams) received.
    pub packets_received: u64,
    /// The latest round-trip time measured by ICE, if any.
    pub rtt: Option<Duration>,
}

impl ConnectionStats {
    /// Reads the statistics of `pc`.
    pub(crate) async fn of(pc: &RTCPeerConnection) -> ConnectionStats {
        let report = pc.get_stats().await;
        let mut stats = ConnectionStats::default();
        let mut best: Option<(bool, u64)> = None;
        for entry in report.reports.values() {
            let StatsReportType::CandidatePair(pair) = entry else {
                continue;
            };
            // The nominated pair, or else the busiest one.
            let rank = (pair.nominated, pair.bytes_sent + pair.bytes_received);
            if best.is_some_and(|b| b >= rank) {
                continue;
            }
            best = Some(rank);
            stats = ConnectionStats {
                bytes_sent: pair.bytes_sent,
                bytes_received: pair.bytes_received,
                packets_sent: u64::from(pair.packets_sent),
                packets_received: u64::from(pair.packets_received),
                rtt: (pair.current_round_trip_time > 0.0)
                    .then(|| Duration::from_secs_f64(pair.current_round_trip_time)),
            };
        }
        stats
    }
}
