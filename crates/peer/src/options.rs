//! `PeerOptions`: the SDK's Peer options, with Rust defaults, and what a Peer accepts from
//! remote peers.

use peer_connection::router::IncomingRequest;
use peer_connection::{ConnectionLimits, RtcConfig};
use peer_transport::ReconnectPolicy;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A credential for API keys that require one: `{timestamp, ttl, authToken}` where
/// `authToken = base64(HMAC-SHA256(secret, "{timestamp}:{ttl}:{peerId}"))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerCredential {
    /// Unix seconds when the credential was made.
    pub timestamp: u64,
    /// Lifetime in seconds (600 to 90,000).
    pub ttl: u64,
    /// Base64 of the HMAC-SHA256 digest.
    pub auth_token: String,
}

/// Decides, before anything is created for it, whether an incoming connection or call is
/// accepted (`true`) or refused (`false`; the remote is told to close it).
pub type IncomingPolicy = Arc<dyn Fn(&IncomingRequest) -> bool + Send + Sync>;

/// Options of [`Peer::new`](crate::Peer::new).
#[derive(Clone)]
#[non_exhaustive]
pub struct PeerOptions {
    /// The API key.
    pub key: String,
    /// The signaling server's host; `127.0.0.1` by default.
    pub host: String,
    /// The signaling server's port; 9000 (peer-server's default) by default.
    pub port: u16,
    /// `wss`/`https` instead of `ws`/`http`.
    pub secure: bool,
    /// The SDK's log level: 0 none, 1 errors, 2 warnings, 3 everything. The Peer's own log lines
    /// (through `tracing`) are filtered by it; the subscriber decides where they go.
    pub debug: u8,
    /// ICE servers and local address policy (the SDK's `config`).
    pub config: RtcConfig,
    /// Ask the server for a TURN credential (`turn=1` in the handshake; peer-server's
    /// embedded TURN server issues one in `OPEN`) and use it with `turn_urls`, or with the
    /// server's own TURN URLs (`OPEN.turnUrls`) when `turn_urls` is empty. Default true, as in
    /// the SDK.
    pub turn: bool,
    /// The TURN URLs used with `OPEN`'s credential when `turn` is set (default: the server's).
    pub turn_urls: Vec<String>,
    /// The credential, for keys that require one.
    pub credential: Option<PeerCredential>,
    /// Reconnects after a dropped signaling socket (the SDK's: 2 attempts).
    pub reconnect: ReconnectPolicy,
    /// Other nodes of the same cluster (`host`, `port`; same `secure`): when the socket drops,
    /// reconnect attempts go to the server and these in turn, and a reconnect refused with
    /// `unavailable-id` (the id still held by a node that died) tries the next one. Give
    /// `reconnect` enough attempts to outlast a dead node's claims (about 10 s). Empty by
    /// default.
    pub fallback_servers: Vec<(String, u16)>,
    /// Extra DER root certificates trusted for `secure` servers.
    pub tls_root_certificates: Vec<Vec<u8>>,
    /// How long [`Peer::new`](crate::Peer::new) waits for `OPEN`. Default 20 s (the SDK's).
    pub open_timeout: Duration,
    /// How long one connection attempt to the server (TCP, TLS, WebSocket) may take, and then
    /// its handshake up to `OPEN`. Default 10 s each.
    pub connect_timeout: Duration,
    /// How long a REST call (`list_all_peers`, `fetch_peer_exists`) may take. Default 10 s.
    pub rest_timeout: Duration,
    /// Most connections (data and media) at once; incoming offers past it are refused before
    /// anything is created for them. Default 64.
    pub max_connections: usize,
    /// Accepts or refuses incoming connections and calls before anything is created for them;
    /// `None` (the default) accepts every one within `max_connections`.
    pub incoming: Option<IncomingPolicy>,
    /// What a remote peer can make one connection hold.
    pub limits: ConnectionLimits,
}

impl std::fmt::Debug for PeerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerOptions")
            .field("key", &self.key)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secure", &self.secure)
            .field("debug", &self.debug)
            .field("config", &self.config)
            .field("turn", &self.turn)
            .field("credential", &self.credential.is_some())
            .field("reconnect", &self.reconnect)
            .field("fallback_servers", &self.fallback_servers)
            .field("max_connections", &self.max_connections)
            .field("incoming", &self.incoming.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PeerOptions {
    /// Options for `key` with every other option at its default.
    pub fn new(key: impl Into<String>) -> PeerOptions {
        PeerOptions {
            key: key.into(),
            host: "127.0.0.1".into(),
            port: 9000,
            secure: false,
            debug: 0,
            config: RtcConfig::default(),
            turn: true,
            turn_urls: Vec::new(),
            credential: None,
            reconnect: ReconnectPolicy::default(),
            fallback_servers: Vec::new(),
            tls_root_certificates: Vec::new(),
            open_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            rest_timeout: Duration::from_secs(10),
            max_connections: 64,
            incoming: None,
            limits: ConnectionLimits::default(),
        }
    }

    /// Sets the server address.
    #[must_use]
    pub fn server(mut self, host: impl Into<String>, port: u16, secure: bool) -> PeerOptions {
        self.host = host.into();
        self.port = port;
        self.secure = secure;
        self
    }

    /// Sets the RTC configuration.
    #[must_use]
    pub fn config(mut self, config: RtcConfig) -> PeerOptions {
        self.config = config;
        self
    }

    /// Sets the credential.
    #[must_use]
    pub fn credential(mut self, credential: PeerCredential) -> PeerOptions {
        self.credential = Some(credential);
        self
    }

    /// Sets the SDK's log level (0 to 3).
    #[must_use]
    pub fn debug(mut self, level: u8) -> PeerOptions {
        self.debug = level;
        self
    }

    /// Sets the reconnect policy.
    #[must_use]
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> PeerOptions {
        self.reconnect = policy;
        self
    }

    /// Adds another node of the same cluster to reconnect through (see
    /// [`PeerOptions::fallback_servers`]).
    #[must_use]
    pub fn fallback_server(mut self, host: impl Into<String>, port: u16) -> PeerOptions {
        self.fallback_servers.push((host.into(), port));
        self
    }

    /// Sets the most connections at once.
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> PeerOptions {
        self.max_connections = n;
        self
    }

    /// Sets the policy that accepts or refuses incoming connections and calls.
    #[must_use]
    pub fn incoming(
        mut self,
        policy: impl Fn(&IncomingRequest) -> bool + Send + Sync + 'static,
    ) -> PeerOptions {
        self.incoming = Some(Arc::new(policy));
        self
    }

    /// Sets what a remote peer can make one connection hold.
    #[must_use]
    pub fn limits(mut self, limits: ConnectionLimits) -> PeerOptions {
        self.limits = limits;
        self
    }

    /// Sets the timeouts: waiting for `OPEN`, one connection attempt, a REST call.
    #[must_use]
    pub fn timeouts(mut self, open: Duration, connect: Duration, rest: Duration) -> PeerOptions {
        self.open_timeout = open;
        self.connect_timeout = connect;
        self.rest_timeout = rest;
        self
    }
}
