//! The `webrtc` API every SFU connection is built from: one video codec (VP8) and Opus, so a
//! publisher's packets fit every subscriber; NACK with a 1,024-packet retransmission ring per
//! downstream video sender (the default 8,192 costs about 0.9 MiB each), answered within each
//! track's retransmission budget (`nack_cap`); RTCP reports; TWCC
//! feedback for the browsers' bandwidth estimation (`configure_twcc_receiver_only` adds the
//! `transport-cc` feedback and header extension); and one guarded UDP socket shared by every
//! connection.

use crate::shell::loss::{LossTargets, LossyConn};
use crate::shell::nack_cap::{NackCapBuilder, NackTotals};
use crate::shell::stats::Counters;
use crate::shell::SfuConfig;
use peer_connection::guard::GuardConn;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use webrtc::api::interceptor_registry::{configure_rtcp_reports, configure_twcc_receiver_only};
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_mux::{UDPMux, UDPMuxDefault, UDPMuxParams};
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::interceptor::nack::generator::Generator;
use webrtc::interceptor::nack::responder::Responder;
use webrtc::interceptor::registry::Registry;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::rtp_transceiver::RTCPFeedback;

/// log2 of the retransmission ring per downstream video sender: 1,024 packets, about 1 s of
/// 1 Mbit/s video.
const NACK_RING_LOG2: u8 = 10;

/// The API and the shared socket.
pub(crate) struct Engine {
    pub api: API,
    pub mux: Arc<UDPMuxDefault>,
    pub local_addr: SocketAddr,
    /// The test loss injector, when configured.
    pub loss: Option<Arc<LossTargets>>,
}

impl Engine {
    pub async fn new(config: &SfuConfig, counters: Arc<Counters>) -> Result<Engine, String> {
        let socket = UdpSocket::bind(config.udp)
            .await
            .map_err(|e| format!("cannot bind the SFU's UDP socket {}: {e}", config.udp))?;
        let local_addr = socket
            .local_addr()
            .map_err(|e| format!("the SFU's UDP socket: {e}"))?;
        let dropped = AtomicU64::new(0);
        let conn = GuardConn::new(socket, move |from, why| {
            let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(%from, why, dropped = n, "SFU dropped a datagram that would crash the media stack");
            }
        });
        let loss = config
            .test_loss
            .as_ref()
            .filter(|(_, percent)| *percent > 0)
            .map(|(prefix, percent)| Arc::new(LossTargets::new(prefix.clone(), *percent)));
        let mux = match &loss {
            Some(targets) => {
                tracing::warn!(prefix = %targets.prefix, percent = targets.percent, "SFU test loss injection is on");
                UDPMuxDefault::new(UDPMuxParams::new(LossyConn {
                    inner: conn,
                    targets: targets.clone(),
                }))
            }
            None => UDPMuxDefault::new(UDPMuxParams::new(conn)),
        };

        let mut media = MediaEngine::default();
        let video_fb = vec![
            fb("goog-remb", ""),
            fb("ccm", "fir"),
            fb("nack", ""),
            fb("nack", "pli"),
        ];
        media
            .register_codec(
                RTCRtpCodecParameters {
                    capability: RTCRtpCodecCapability {
                        mime_type: MIME_TYPE_VP8.to_owned(),
                        clock_rate: 90000,
                        channels: 0,
                        sdp_fmtp_line: String::new(),
                        rtcp_feedback: video_fb,
                    },
                    payload_type: 96,
                    ..Default::default()
                },
                RTPCodecType::Video,
            )
            .map_err(|e| e.to_string())?;
        media
            .register_codec(
                RTCRtpCodecParameters {
                    capability: RTCRtpCodecCapability {
                        mime_type: MIME_TYPE_OPUS.to_owned(),
                        clock_rate: 48000,
                        channels: 2,
                        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                        rtcp_feedback: Vec::new(),
                    },
                    payload_type: 111,
                    ..Default::default()
                },
                RTPCodecType::Audio,
            )
            .map_err(|e| e.to_string())?;
        let mut registry = Registry::new();
        // Before the responder: it sees only the NACKs the budget granted.
        let per_second = config.limits.max_retransmits_per_track_per_second;
        registry.add(Box::new(NackCapBuilder {
            per_second,
            burst: per_second,
            totals: Arc::new(NackTotals::new(counters)),
        }));
        registry.add(Box::new(
            Responder::builder().with_log2_size(NACK_RING_LOG2),
        ));
        registry.add(Box::new(Generator::builder()));
        registry = configure_rtcp_reports(registry);
        registry = configure_twcc_receiver_only(registry, &mut media).map_err(|e| e.to_string())?;

        let mut settings = SettingEngine::default();
        settings.set_udp_network(UDPNetwork::Muxed(mux.clone()));
        settings.set_network_types(vec![NetworkType::Udp4]);
        let ip = local_addr.ip();
        if ip.is_loopback() {
            settings.set_include_loopback_candidate(true);
        }
        if !ip.is_unspecified() {
            // Candidates only for the address the socket is bound to.
            settings.set_ip_filter(Box::new(move |candidate: IpAddr| candidate == ip));
        }
        if let Some(public) = config.public_ip {
            settings.set_nat_1to1_ips(vec![public.to_string()], RTCIceCandidateType::Host);
        }
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build();
        Ok(Engine {
            api,
            mux,
            local_addr,
            loss,
        })
    }

    pub async fn close(&self) {
        if let Err(e) = self.mux.close().await {
            tracing::debug!(error = %e, "closing the SFU socket");
        }
    }
}

fn fb(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    }
}
