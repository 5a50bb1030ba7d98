//! Where the signaling server is and who this client is: the options of a signaling session.

use serde_json::Value;
use std::time::Duration;

/// The signaling server's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `true` for `wss`/`https`, `false` for `ws`/`http`.
    pub secure: bool,
}

impl ServerAddr {
    /// The HTTP origin, e.g. `http://127.0.0.1:9000`, used for the REST calls.
    pub fn http_origin(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host_for_url(), self.port)
    }

    /// The WebSocket URL of the Engine.IO endpoint with `query` appended.
    pub fn websocket_url(&self, query: &str) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!(
            "{scheme}://{}:{}/socket.io/?{query}",
            self.host_for_url(),
            self.port
        )
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// How the client retries after the socket drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Attempts after a drop before giving up; the SDK makes 2.
    pub attempts: u32,
    /// Delay before the first attempt; doubled for each further attempt.
    pub delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    /// The SDK's policy: 2 attempts, 1 s doubling up to 5 s.
    fn default() -> ReconnectPolicy {
        ReconnectPolicy {
            attempts: 2,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `n` (1-based), with up to 50 % jitter taken from `jitter`
    /// (0.0..=1.0) as socket.io-client does.
    pub fn delay_for(&self, n: u32, jitter: f64) -> Duration {
        let base = self
            .delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let base = base.min(self.max_delay);
        let factor = 1.0 + (jitter.clamp(0.0, 1.0) - 0.5);
        base.mul_f64(factor).min(self.max_delay)
    }
}

/// Everything a signaling session needs.
#[derive(Debug, Clone)]
pub struct SignalingOptions {
    /// The server.
    pub server: ServerAddr,
    /// The API key (`apiKey`).
    pub key: String,
    /// The requested peer id; `None` lets the server assign one.
    pub peer_id: Option<String>,
    /// The credential object (`{timestamp, ttl, authToken}`), sent as JSON.
    pub credential: Option<Value>,
    /// The session token; a random one when `None`. Reconnects present the same token.
    pub token: Option<String>,
    /// Retry policy after a dropped socket.
    pub reconnect: ReconnectPolicy,
    /// How often the application `PING` is sent after `OPEN`; the SDK uses 25 s.
    pub app_ping_interval: Duration,
    /// How long to wait for the first `OPEN` (the SDK's connect timeout is 20 s).
    pub open_timeout: Duration,
    /// How long one connection attempt (TCP, TLS, WebSocket handshake) may take.
    pub connect_timeout: Duration,
    /// How long a connected socket may take to reach `OPEN` (Engine.IO open, `40`, `OPEN`).
    pub handshake_timeout: Duration,
    /// How long a REST call (`listAllPeers`, `exists`) may take, all of it.
    pub rest_timeout: Duration,
    /// Messages kept while not open; `send` fails beyond this.
    pub max_queued: usize,
    /// Extra DER-encoded root certificates trusted for `wss`/`https` besides the Web PKI roots.
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// Ask the server for a TURN credential in `OPEN` (`turn=1` in the handshake query).
    pub request_turn: bool,
    /// Other addresses of the same service (the nodes of a cluster): when a socket drops, the
    /// reconnect attempts go to [`SignalingOptions::server`] and these in turn, starting with
    /// the server in use (see [`ServerAddr`]). Empty by default.
    pub fallback_servers: Vec<ServerAddr>,
}

impl SignalingOptions {
    /// Options with the SDK's defaults for `server` and `key`.
    pub fn new(server: ServerAddr, key: impl Into<String>) -> SignalingOptions {
        SignalingOptions {
            server,
            key: key.into(),
            peer_id: None,
            credential: None,
            token: None,
            reconnect: ReconnectPolicy::default(),
            app_ping_interval: Duration::from_secs(25),
            open_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            rest_timeout: Duration::from_secs(10),
            max_queued: 4096,
            extra_root_certificates: Vec::new(),
            request_turn: false,
            fallback_servers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let a = ServerAddr {
            host: "::1".into(),
            port: 9,
            secure: true,
        };
        assert_eq!(a.http_origin(), "https://[::1]:9");
        assert_eq!(a.websocket_url("x=1"), "wss://[::1]:9/socket.io/?x=1");
    }

    #[test]
    fn backoff_is_bounded() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.delay_for(1, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay_for(2, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay_for(9, 1.0), Duration::from_secs(5));
        assert_eq!(p.delay_for(u32::MAX, 0.0), Duration::from_millis(2500));
    }
}
