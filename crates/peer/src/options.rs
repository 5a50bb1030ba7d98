//! `PeerOptions`: the SDK's Peer options, with Rust defaults.

use peer_connection::RtcConfig;
use peer_transport::ReconnectPolicy;
use serde::{Deserialize, Serialize};

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

/// Options of [`Peer::new`](crate::Peer::new).
#[derive(Debug, Clone)]
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
    /// Use the TURN credentials of `OPEN`, if the server sends any, with `turn_urls`.
    pub turn: bool,
    /// The TURN URLs used with `OPEN`'s credentials when `turn` is set.
    pub turn_urls: Vec<String>,
    /// The credential, for keys that require one.
    pub credential: Option<PeerCredential>,
    /// Reconnects after a dropped signaling socket (the SDK's: 2 attempts).
    pub reconnect: ReconnectPolicy,
    /// Extra DER root certificates trusted for `secure` servers.
    pub tls_root_certificates: Vec<Vec<u8>>,
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
            tls_root_certificates: Vec::new(),
        }
    }

    /// Sets the server address.
    pub fn server(mut self, host: impl Into<String>, port: u16, secure: bool) -> PeerOptions {
        self.host = host.into();
        self.port = port;
        self.secure = secure;
        self
    }
}
