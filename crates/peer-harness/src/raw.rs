//! Bare `webrtc` 0.17.2 peer connections for the SFU benchmark's anchors: the bare forwarding
//! loop (`bench-sfu-bare`) and the load peers that talk to it and to Janus without our
//! signaling. Configured as peer-server's SFU is: VP8 (payload type 96) with NACK, PLI and FIR
//! feedback, a 1,024-packet NACK ring, RTCP reports, TWCC feedback.

use anyhow::{Context, Result};
use std::net::IpAddr;
use std::sync::Arc;
use webrtc::api::interceptor_registry::{configure_rtcp_reports, configure_twcc_receiver_only};
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_VP8};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_mux::UDPMuxDefault;
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::interceptor::nack::generator::Generator;
use webrtc::interceptor::nack::responder::Responder;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::rtp_transceiver::RTCPFeedback;

/// The VP8 capability every bare track uses.
pub fn vp8() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: ["goog-remb:", "ccm:fir", "nack:", "nack:pli"]
            .iter()
            .map(|f| {
                let (typ, parameter) = f.split_once(':').unwrap_or((f, ""));
                RTCPFeedback {
                    typ: typ.to_owned(),
                    parameter: parameter.to_owned(),
                }
            })
            .collect(),
    }
}

/// An API for bare connections on `ip` (host candidates of that address only), through one
/// shared UDP socket when `mux` is given.
pub fn api(ip: IpAddr, mux: Option<Arc<UDPMuxDefault>>) -> Result<API> {
    let mut media = MediaEngine::default();
    media
        .register_codec(
            RTCRtpCodecParameters {
                capability: vp8(),
                payload_type: 96,
                ..Default::default()
            },
            RTPCodecType::Video,
        )
        .context("registering VP8")?;
    let mut registry = Registry::new();
    registry.add(Box::new(Responder::builder().with_log2_size(10)));
    registry.add(Box::new(Generator::builder()));
    registry = configure_rtcp_reports(registry);
    registry = configure_twcc_receiver_only(registry, &mut media).context("TWCC")?;
    let mut settings = SettingEngine::default();
    settings.set_network_types(vec![NetworkType::Udp4]);
    if ip.is_loopback() {
        settings.set_include_loopback_candidate(true);
    }
    settings.set_ip_filter(Box::new(move |candidate: IpAddr| candidate == ip));
    if let Some(mux) = mux {
        settings.set_udp_network(UDPNetwork::Muxed(mux));
    }
    Ok(APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build())
}

/// A new peer connection of `api` with no ICE servers.
pub async fn connection(api: &API) -> Result<Arc<RTCPeerConnection>> {
    Ok(Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .context("new peer connection")?,
    ))
}

/// Sets `local` and waits for ICE gathering to complete; returns the SDP with every candidate.
pub async fn set_local_gathered(
    pc: &RTCPeerConnection,
    local: RTCSessionDescription,
) -> Result<String> {
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(local)
        .await
        .context("set_local_description")?;
    let _ = gathered.recv().await;
    Ok(pc
        .local_description()
        .await
        .context("no local description")?
        .sdp)
}

/// Answers `offer` on `pc` with every candidate in the answer.
pub async fn answer(pc: &RTCPeerConnection, offer: String) -> Result<String> {
    pc.set_remote_description(RTCSessionDescription::offer(offer).context("offer")?)
        .await
        .context("set_remote_description(offer)")?;
    let answer = pc.create_answer(None).await.context("create_answer")?;
    set_local_gathered(pc, answer).await
}

/// Makes an offer on `pc` with every candidate in it.
pub async fn offer(pc: &RTCPeerConnection) -> Result<String> {
    let offer = pc.create_offer(None).await.context("create_offer")?;
    set_local_gathered(pc, offer).await
}

/// Applies `answer` to `pc`.
pub async fn apply_answer(pc: &RTCPeerConnection, answer: String) -> Result<()> {
    pc.set_remote_description(RTCSessionDescription::answer(answer).context("answer")?)
        .await
        .context("set_remote_description(answer)")
}

/// Waits (20 s at most) until `pc` is connected.
pub async fn wait_connected(pc: &RTCPeerConnection) -> Result<()> {
    use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while pc.connection_state() != RTCPeerConnectionState::Connected {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("not connected within 20 s: {}", pc.connection_state());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}
