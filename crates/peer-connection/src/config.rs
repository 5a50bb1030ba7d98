//! ICE configuration and the WebRTC API object shared by a Peer's connections.

use crate::error::{ConnectionError, StackError};
use crate::guard::MediaGuard;
use crate::limits::ConnectionLimits;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::MediaEngine;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::RTCPeerConnection;

/// One STUN or TURN server (an `RTCIceServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: String,
    /// TURN password.
    pub credential: String,
}

impl IceServer {
    /// A STUN server, e.g. `stun:stun.example.org:3478`.
    pub fn stun(url: impl Into<String>) -> IceServer {
        IceServer {
            urls: vec![url.into()],
            ..IceServer::default()
        }
    }

    /// A TURN server at `urls` (`turn:` or `turns:`) with its credentials.
    pub fn turn(
        urls: Vec<String>,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> IceServer {
        IceServer {
            urls,
            username: username.into(),
            credential: credential.into(),
        }
    }
}

/// Which candidates ICE may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RtcConfig {
    /// STUN/TURN servers. Empty by default: the SDK's default STUN host belonged to the retired
    /// service.
    pub ice_servers: Vec<IceServer>,
    /// Candidate policy.
    pub ice_transport_policy: IceTransportPolicy,
    /// Local addresses to gather.
    pub local_addresses: LocalAddresses,
    /// Gather IPv6 candidates as well as IPv4 (data connections, and media connections without
    /// the guard).
    pub ipv6: bool,
    /// Give each media connection its own guarded UDP socket ([`crate::guard`]), which drops the
    /// datagrams that crash webrtc-rs 0.17.2's RTP parser and closes the connection that sent
    /// them. Default on. Under the guard a media connection gathers host candidates on IPv4
    /// only and no server-reflexive ones (relay candidates still work, and TURN-relayed traffic
    /// is not inspected).
    pub guard_media: bool,
}

impl Default for RtcConfig {
    fn default() -> RtcConfig {
        RtcConfig {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            local_addresses: LocalAddresses::Interfaces,
            ipv6: false,
            guard_media: true,
        }
    }
}

impl RtcConfig {
    /// Adds a STUN or TURN server.
    #[must_use]
    pub fn ice_server(mut self, server: IceServer) -> RtcConfig {
        self.ice_servers.push(server);
        self
    }

    /// Sets the candidate policy.
    #[must_use]
    pub fn ice_transport_policy(mut self, policy: IceTransportPolicy) -> RtcConfig {
        self.ice_transport_policy = policy;
        self
    }

    /// Sets which local addresses are gathered.
    #[must_use]
    pub fn local_addresses(mut self, addresses: LocalAddresses) -> RtcConfig {
        self.local_addresses = addresses;
        self
    }

    /// Gathers IPv6 candidates too.
    #[must_use]
    pub fn ipv6(mut self, on: bool) -> RtcConfig {
        self.ipv6 = on;
        self
    }

    /// Turns the media socket guard on or off (see [`RtcConfig::guard_media`]).
    #[must_use]
    pub fn guard_media(mut self, on: bool) -> RtcConfig {
        self.guard_media = on;
        self
    }
}

/// What every connection of a Peer shares: the WebRTC API objects, the configuration and the
/// limits.
#[derive(Clone)]
pub struct RtcContext {
    /// Data connections: no media engine, no interceptors.
    pub(crate) api: Arc<API>,
    /// Media connections without the guard: the default codecs (Opus, G722, PCMU, PCMA, VP8,
    /// VP9, H264, AV1, H265) and interceptors (NACK, RTCP reports, TWCC).
    media_api: Arc<API>,
    /// The settings a guarded media connection's own API starts from.
    settings: SettingEngine,
    guard_media: bool,
    pub(crate) config: RTCConfiguration,
    pub(crate) limits: ConnectionLimits,
}

impl std::fmt::Debug for RtcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcContext")
            .field("ice_servers", &self.config.ice_servers.len())
            .finish()
    }
}

/// The API of media connections: the default codecs and interceptors over `settings`.
fn media_api(settings: SettingEngine) -> Result<API, ConnectionError> {
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    Ok(APIBuilder::new()
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build())
}

impl RtcContext {
    /// Builds the API objects for `config`, with the default [`ConnectionLimits`].
    pub fn new(config: &RtcConfig) -> Result<RtcContext, ConnectionError> {
        RtcContext::with_limits(config, ConnectionLimits::default())
    }

    /// Builds the API objects for `config` and `limits`.
    pub fn with_limits(
        config: &RtcConfig,
        limits: ConnectionLimits,
    ) -> Result<RtcContext, ConnectionError> {
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
        let media_api = media_api(s.clone())?;
        let api = APIBuilder::new().with_setting_engine(s.clone()).build();
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
        let mut settings = s;
        // Under the guard a media connection gathers on its own IPv4 socket.
        settings.set_network_types(vec![NetworkType::Udp4]);
        Ok(RtcContext {
            api: Arc::new(api),
            media_api: Arc::new(media_api),
            settings,
            guard_media: config.guard_media,
            config: rtc,
            limits,
        })
    }

    /// The limits of this Peer's connections.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// A new peer connection for media, on its own guarded socket when the guard is on.
    pub(crate) async fn media_peer_connection(
        &self,
    ) -> Result<(RTCPeerConnection, Option<MediaGuard>), ConnectionError> {
        if !self.guard_media {
            let pc = self
                .media_api
                .new_peer_connection(self.config.clone())
                .await?;
            return Ok((pc, None));
        }
        let guard = MediaGuard::bind()
            .await
            .map_err(|e| ConnectionError::WebRtc(StackError::new(e)))?;
        let mut settings = self.settings.clone();
        settings.set_udp_network(UDPNetwork::Muxed(guard.mux()));
        let made = match media_api(settings) {
            Ok(api) => api
                .new_peer_connection(self.config.clone())
                .await
                .map_err(ConnectionError::from),
            Err(e) => Err(e),
        };
        match made {
            Ok(pc) => Ok((pc, Some(guard))),
            Err(e) => {
                guard.close().await;
                Err(e)
            }
        }
    }
}
