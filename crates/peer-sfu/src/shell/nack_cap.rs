//! The interceptor that holds subscribers' NACKs to their [`NackBudget`], placed before
//! `webrtc`'s NACK responder so the responder only sees what the budget granted.
//!
//! One budget per downstream track (the local stream's SSRC) of each connection. NACKs for an
//! SSRC the connection does not send are dropped: the responder would find nothing for them, and
//! keying budgets by them would let a client grow the map.

use crate::nack_budget::{NackBudget, NackRange};
use crate::shell::stats::Counters;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use webrtc::interceptor::stream_info::StreamInfo;
use webrtc::interceptor::{
    Attributes, Interceptor, InterceptorBuilder, RTCPReader, RTCPWriter, RTPReader, RTPWriter,
};
type Result<T> = std::result::Result<T, webrtc::interceptor::Error>;
use webrtc::rtcp::packet::Packet as RtcpPacket;
use webrtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};

/// Totals over the whole SFU (in its [`Counters`]), logged at most once a second while NACKs
/// are refused.
#[derive(Debug, Default)]
pub(crate) struct NackTotals {
    counters: Arc<Counters>,
    last_log: Mutex<Option<Instant>>,
}

impl NackTotals {
    /// Totals kept in `counters`.
    pub(crate) fn new(counters: Arc<Counters>) -> NackTotals {
        NackTotals {
            counters,
            last_log: Mutex::new(None),
        }
    }

    fn add(&self, granted: u32, refused: u32) {
        let c = &self.counters;
        let granted = c
            .nacked_resent
            .fetch_add(u64::from(granted), Ordering::Relaxed)
            + u64::from(granted);
        let refused = c
            .nacked_refused
            .fetch_add(u64::from(refused), Ordering::Relaxed)
            + u64::from(refused);
        if refused == 0 {
            return;
        }
        let now = Instant::now();
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        *last = Some(now);
        tracing::debug!(
            granted,
            refused,
            "SFU NACK budget: retransmissions granted and refused so far"
        );
    }
}

/// Builds one [`NackCap`] per peer connection.
pub(crate) struct NackCapBuilder {
    pub per_second: u32,
    pub burst: u32,
    pub totals: Arc<NackTotals>,
}

impl InterceptorBuilder for NackCapBuilder {
    fn build(&self, _id: &str) -> Result<Arc<dyn Interceptor + Send + Sync>> {
        Ok(Arc::new(NackCap {
            state: Arc::new(CapState {
                per_second: self.per_second,
                burst: self.burst,
                budgets: Mutex::new(HashMap::new()),
                totals: self.totals.clone(),
            }),
        }))
    }
}

/// One connection's budgets, shared by its RTCP readers.
struct CapState {
    per_second: u32,
    burst: u32,
    /// Per local (downstream) SSRC.
    budgets: Mutex<HashMap<u32, NackBudget>>,
    totals: Arc<NackTotals>,
}

impl CapState {
    /// Trims one NACK to its track's budget; `None` when nothing is left of it.
    fn trim(&self, nack: &TransportLayerNack, now: Instant) -> Option<TransportLayerNack> {
        let mut ranges: Vec<NackRange> = nack
            .nacks
            .iter()
            .map(|p| NackRange {
                packet_id: p.packet_id,
                lost_packets: p.lost_packets,
            })
            .collect();
        let admitted = {
            let Ok(mut budgets) = self.budgets.lock() else {
                return None;
            };
            match budgets.get_mut(&nack.media_ssrc) {
                Some(budget) => budget.admit(now, &mut ranges),
                None => {
                    let refused: u32 = ranges.iter().map(NackRange::packets).sum();
                    ranges.clear();
                    crate::nack_budget::Admitted {
                        granted: 0,
                        refused,
                    }
                }
            }
        };
        self.totals.add(admitted.granted, admitted.refused);
        if ranges.is_empty() {
            return None;
        }
        Some(TransportLayerNack {
            sender_ssrc: nack.sender_ssrc,
            media_ssrc: nack.media_ssrc,
            nacks: ranges
                .into_iter()
                .map(|r| NackPair {
                    packet_id: r.packet_id,
                    lost_packets: r.lost_packets,
                })
                .collect(),
        })
    }
}

/// The interceptor of one connection.
struct NackCap {
    state: Arc<CapState>,
}

#[async_trait]
impl Interceptor for NackCap {
    async fn bind_rtcp_reader(
        &self,
        reader: Arc<dyn RTCPReader + Send + Sync>,
    ) -> Arc<dyn RTCPReader + Send + Sync> {
        Arc::new(CappedReader {
            parent: reader,
            state: self.state.clone(),
        })
    }

    async fn bind_rtcp_writer(
        &self,
        writer: Arc<dyn RTCPWriter + Send + Sync>,
    ) -> Arc<dyn RTCPWriter + Send + Sync> {
        writer
    }

    async fn bind_local_stream(
        &self,
        info: &StreamInfo,
        writer: Arc<dyn RTPWriter + Send + Sync>,
    ) -> Arc<dyn RTPWriter + Send + Sync> {
        if let Ok(mut budgets) = self.state.budgets.lock() {
            budgets.insert(
                info.ssrc,
                NackBudget::new(self.state.per_second, self.state.burst),
            );
        }
        writer
    }

    async fn unbind_local_stream(&self, info: &StreamInfo) {
        if let Ok(mut budgets) = self.state.budgets.lock() {
            budgets.remove(&info.ssrc);
        }
    }

    async fn bind_remote_stream(
        &self,
        _info: &StreamInfo,
        reader: Arc<dyn RTPReader + Send + Sync>,
    ) -> Arc<dyn RTPReader + Send + Sync> {
        reader
    }

    async fn unbind_remote_stream(&self, _info: &StreamInfo) {}

    async fn close(&self) -> Result<()> {
        if let Ok(mut budgets) = self.state.budgets.lock() {
            budgets.clear();
        }
        Ok(())
    }
}

/// An RTCP reader that trims NACKs on their way to the responder.
struct CappedReader {
    parent: Arc<dyn RTCPReader + Send + Sync>,
    state: Arc<CapState>,
}

#[async_trait]
impl RTCPReader for CappedReader {
    async fn read(
        &self,
        buf: &mut [u8],
        attributes: &Attributes,
    ) -> Result<(Vec<Box<dyn RtcpPacket + Send + Sync>>, Attributes)> {
        let (packets, attributes) = self.parent.read(buf, attributes).await?;
        if !packets
            .iter()
            .any(|p| p.as_any().is::<TransportLayerNack>())
        {
            return Ok((packets, attributes));
        }
        let now = Instant::now();
        let mut out: Vec<Box<dyn RtcpPacket + Send + Sync>> = Vec::with_capacity(packets.len());
        for p in packets {
            match p.as_any().downcast_ref::<TransportLayerNack>() {
                Some(nack) => {
                    if let Some(trimmed) = self.state.trim(nack, now) {
                        out.push(Box::new(trimmed));
                    }
                }
                None => out.push(p),
            }
        }
        Ok((out, attributes))
    }
}
