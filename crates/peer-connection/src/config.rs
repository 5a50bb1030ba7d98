//! ICE configuration and the WebRTC API object shared by a Peer's connections.

use crate::error::ConnectionError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::MediaEngine;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;

/// One STUN or TURN server (an `RTCIceServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: String,
    /// TURN password.
    pub credential: String,
}

/// Which candidates ICE may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Relay (TURN) candidates only.
    Relay,
}

/// Which local addresses ICE gathers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LocalAddresses {
    /// Every non-loopback interface (the WebRTC default).
    #[default]
    Interfaces,
    /// Every interface, loopback included.
    WithLoopback,
    /// Loopback only: peers on the same machine, tests.
    LoopbackOnly,
}

/// The RTC configuration of a Peer (the SDK's `config` option plus address policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcConfig {
    /// STUN/TURN servers. Empty by default: the SDK's default STUN host belonged to the retired
    /// service.
    pub ice_servers: Vec<IceServer>,
    /// Candidate policy.
    pub ice_transport_policy: IceTransportPolicy,
    /// Local addresses to gather.
    pub local_addresses: LocalAddresses,
    /// Gather IPv6 candidates as well as IPv4.
    pub ipv6: bool,
}

/// What every connection of a Peer shares: the WebRTC API object and the configuration.
#[derive(Clone)]
pub struct RtcContext {
    /// Data connections: no media engine, no interceptors.
    pub(crate) api: Arc<API>,
    /// Media connections: the default codecs (Opus, G722, PCMU, PCMA, VP8, VP9, H264, AV1,
    /// H265) and interceptors (NACK, RTCP reports, TWCC).
    pub(crate) media_api: Arc<API>,
    pub(crate) config: RTCConfiguration,
}

impl std::fmt::Debug for RtcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcContext")
            .field("ice_servers", &self.config.ice_servers.len())
            .finish()
    }
}

impl RtcContext {
    /// Builds the API object for `config`.
    pub fn new(config: &RtcConfig) -> Result<RtcContext, ConnectionError> {
        let mut s = SettingEngine::default();
        s.detach_data_channels();
        // The answerer's first check often reaches the offerer before its candidate arrives
        // through the server; webrtc-ice then holds that peer-reflexive pair for 1 s before
        // using it (a quarter of connections opened 1 s late in `cargo xtask bench data`).
        s.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
        let mut types = vec![NetworkType::Udp4];
        if config.ipv6 {
            types.push(NetworkType::Udp6);
        }
        s.set_network_types(types);
        match config.local_addresses {
            LocalAddresses::Interfaces => {}
            LocalAddresses::WithLoopback => s.set_include_loopback_candidate(true),
            LocalAddresses::LoopbackOnly => {
                s.set_include_loopback_candidate(true);
                s.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
            }
        }
        let mut media = MediaEngine::default();
        media.register_default_codecs()?;
        let registry = register_default_interceptors(Registry::new(), &mut media)?;
        let media_api = APIBuilder::new()
            .with_setting_engine(s.clone())
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .build();
        let api = APIBuilder::new().with_setting_engine(s).build();
        let rtc = RTCConfiguration {
            ice_servers: config
                .ice_servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            ice_transport_policy: match config.ice_transport_policy {
                IceTransportPolicy::All => RTCIceTransportPolicy::All,
                IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
            },
            ..Default::default()
        };
        Ok(RtcContext {
            api: Arc::new(api),
            media_api: Arc::new(media_api),
            config: rtc,
        })
    }
}
