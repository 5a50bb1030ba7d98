//! Server configuration: the TOML file read by `peer-server --config FILE`, its defaults, and the
//! development configuration used when no file is given.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;

/// The key of the development app used when no configuration file is given.
pub const DEV_API_KEY: &str = "peerdev0-0000-0000-0000-000000000000";
/// The secret of the development app.
pub const DEV_SECRET: &str = "peer-dev-secret";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:9000` (`:0` picks a free port).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The applications (API keys) this server serves.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Size and rate limits.
    #[serde(default)]
    pub limits: Limits,
    /// Keepalive, reconnect, credential and I/O timing.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Operator endpoints.
    #[serde(default)]
    pub admin: Admin,
    /// The SFU of `mode: 'sfu'` rooms.
    #[serde(default)]
    pub sfu: SfuSection,
    /// The embedded TURN server.
    #[serde(default)]
    pub turn: TurnSection,
    /// Prometheus metrics and health endpoints, on a listener of their own.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Cluster mode: several nodes sharing peers through Redis.
    #[serde(default)]
    pub cluster: ClusterSection,
}

/// `[cluster]`: several nodes sharing peers through Redis (in progress: peer ids and relayed
/// signaling; see `docs/decisions.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// `redis://host:port/db`. Default none: a single node, no Redis.
    pub redis: Option<String>,
    /// Prefix of the keys and channels, so deployments can share a Redis. Default `peer`.
    pub prefix: String,
}

impl Default for ClusterSection {
    fn default() -> ClusterSection {
        ClusterSection {
            redis: None,
            prefix: "peer".into(),
        }
    }
}

/// `[metrics]`: `/metrics` (Prometheus text format), `/healthz` and `/readyz` on their own
/// listener, off the public port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// `IP:PORT` to serve them on, e.g. `127.0.0.1:9100`. Default none: not served.
    pub listen: Option<SocketAddr>,
}

/// `[turn]`: the embedded TURN server (UDP, and TCP on the same port).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSection {
    /// Run it. Default true.
    pub enabled: bool,
    /// `IP:PORT` for UDP and TCP. Default: the `listen` IP, port 3478; when left to the
    /// default, a port in use only disables TURN (with an error in the log). Port 0 picks one.
    pub listen: Option<SocketAddr>,
    /// The shared secret of the credentials (username `<expiry>:<key>$<peerId>`, password
    /// Base64(HMAC-SHA1(secret, username))). Default: a random one per process, so only this
    /// server issues them; set it when an app's backend issues credentials too.
    pub secret: Option<String>,
    /// The realm. Default "peer".
    pub realm: String,
    /// The address relay candidates announce and `turnUrls` name (1:1 NAT). Default none.
    pub public_ip: Option<std::net::IpAddr>,
    /// Peer ranges relaying may reach although refused by default (loopback, private, ...),
    /// e.g. `["127.0.0.0/8"]` for tests on one machine. Default none.
    pub relay_allow: Vec<String>,
    /// Lifetime of the credentials the server issues in `OPEN`, seconds. Default 86400.
    pub credential_ttl: u64,
    /// Issue `turnCredential` in `OPEN` to every peer, browsers included (for deployments whose
    /// DNS points the SDK's hard-coded TURN host at this server). Default false: only Rust
    /// peers that ask (`turn: true`) get one.
    pub credential_to_browsers: bool,
    /// Allocations per user (`<key>$<peerId>`). Default 10.
    pub max_allocations_per_user: usize,
    /// Allocations in all. Default 10000.
    pub max_allocations: usize,
    /// Relayed bytes per second per allocation, each way. Default 2500000 (20 Mbit/s).
    pub bytes_per_second: u64,
    /// TURN over TCP on the same port. Default true.
    pub tcp: bool,
    /// TCP connections at most. Default 10000.
    pub max_tcp_connections: usize,
}

impl Default for TurnSection {
    fn default() -> TurnSection {
        TurnSection {
            enabled: true,
            listen: None,
            secret: None,
            realm: "peer".into(),
            public_ip: None,
            relay_allow: Vec::new(),
            credential_ttl: 86_400,
            credential_to_browsers: false,
            max_allocations_per_user: 10,
            max_allocations: 10_000,
            bytes_per_second: 2_500_000,
            tcp: true,
            max_tcp_connections: 10_000,
        }
    }
}

/// `[sfu]`: the media backend of SFU rooms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SfuSection {
    /// Forward media in SFU rooms. Default true; false answers `SFU_GET_OFFER` with
    /// `ERROR sfu-limited`.
    pub enabled: bool,
    /// The one UDP socket all SFU media goes through, `IP:PORT`. Default: the `listen` address
    /// (the same IP and port number, over UDP), so a firewall opens one port for both. Port 0
    /// picks a free port. An unspecified IP (`0.0.0.0`) announces every local IPv4 address.
    pub udp: Option<SocketAddr>,
    /// The address announced in the SFU's candidates instead of the local one, for a server
    /// behind 1:1 NAT (a cloud instance's public IP). Default none.
    pub public_ip: Option<std::net::IpAddr>,
    /// Members with media per SFU room; past it, `ERROR sfu-limited`. Default 32.
    pub max_members_per_room: usize,
    /// Forwarded tracks (one per subscriber and published track) in the whole server; past it,
    /// the tracks that do not fit are not offered and the subscriber gets `ERROR sfu-limited`.
    /// Default 10000.
    pub max_forwarded_tracks: usize,
    /// Forwarded sections one member's connection may accumulate (each track that came and
    /// went stays as an inactive section: webrtc 0.17.2 never reuses one); past it the
    /// member's media session ends with `ERROR sfu-limited` until it joins again. Default 256.
    pub max_sections_per_member: usize,
    /// Packets a subscriber's NACKs may have resent per forwarded track and second (a token
    /// bucket holding one second's worth); the rest of its NACKs are ignored, so a subscriber
    /// on a bad path, or a hostile one, cannot take the server's time from the others.
    /// Default 200.
    pub max_retransmits_per_track_per_second: u32,
    /// Tests only: percent of the RTP sent to members whose peer id starts with
    /// `test_loss_peer_prefix` that the SFU drops, as network loss would (to exercise NACK).
    /// Default 0: off.
    pub test_loss_percent: u64,
    /// Tests only: see `test_loss_percent`. Default empty.
    pub test_loss_peer_prefix: String,
}

impl Default for SfuSection {
    fn default() -> SfuSection {
        SfuSection {
            enabled: true,
            udp: None,
            public_ip: None,
            max_members_per_room: 32,
            max_forwarded_tracks: 10_000,
            max_sections_per_member: 256,
            max_retransmits_per_track_per_second: 200,
            test_loss_percent: 0,
            test_loss_peer_prefix: String::new(),
        }
    }
}

/// Operator endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Serve `GET /stats` (JSON: sessions, connections, queued and inbound bytes, peers, rooms,
    /// tasks) to clients on the loopback interface. Default false.
    pub stats: bool,
}

/// One application: an API key with its secret and switches.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The API key, in the SDK's format `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lowercase, digits).
    pub key: String,
    /// The secret used to check credentials (`authToken`).
    pub secret: String,
    /// Whether the REST API (`listAllPeers`) is enabled. Default true.
    #[serde(default = "yes")]
    pub rest_api: bool,
    /// Whether peers must present a valid credential. Default false.
    #[serde(default)]
    pub require_credential: bool,
    /// The browser origins (`https://app.example`) whose pages may use this key: the REST API
    /// and the Engine.IO handshake refuse other `Origin`s (403, no CORS headers). Empty (the
    /// default): any origin, and the server warns at start that the app is open.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("rest_api", &self.rest_api)
            .field("require_credential", &self.require_credential)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

/// Size and rate limits, all per server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most members of one room. Default 100.
    pub max_room_members: usize,
    /// Most rooms one peer may be in at once. Default 32.
    pub max_rooms_per_peer: usize,
    /// Longest peer id, in bytes. Default 128.
    pub max_peer_id_len: usize,
    /// Longest room name, in bytes. Default 256.
    pub max_room_name_len: usize,
    /// Sustained messages per second one socket may send (token bucket rate). Default 200.
    pub messages_per_second: u32,
    /// Messages one socket may send in a burst (token bucket size). Default 400.
    pub message_burst: u32,
    /// Largest Socket.IO message (text plus attachments), in bytes. Default 21 MiB, which holds the
    /// SDK's 20 MiB room data with its framing.
    pub max_payload_bytes: usize,
    /// Most bytes queued for one slow client before its session is closed. Default 64 MiB.
    pub max_outbox_bytes: usize,
    /// Entries kept in each room's log (`ROOM_GET_LOGS`). Default 1000.
    pub room_log_entries: usize,
    /// Bytes of entry text kept in each room's log; the oldest entries go first. Default 1 MiB.
    pub room_log_bytes: usize,
    /// Sustained `ROOM_GET_LOGS` requests per second one socket may send (a bucket of its own,
    /// as an answer can be large). Default 1.
    pub log_requests_per_second: u32,
    /// `ROOM_GET_LOGS` requests one socket may send in a burst. Default 5.
    pub log_request_burst: u32,
    /// Most concurrent Engine.IO sessions. Default 100000 (and never more than the connection
    /// limit allows).
    pub max_sessions: usize,
    /// Most open TCP connections. 0 (the default): as many as the file-descriptor limit allows
    /// with headroom (1/16 of it, at least 64, stays free). Clients past the limit get `503`.
    pub max_connections: usize,
    /// Most connections that have not sent a complete request yet. Default 1024.
    pub max_unbound_connections: usize,
    /// Most inbound bytes held at once for polling bodies and WebSocket messages in progress,
    /// over the whole server. Default 256 MiB.
    pub max_inbound_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_room_members: 100,
            max_rooms_per_peer: 32,
            max_peer_id_len: 128,
            max_room_name_len: 256,
            messages_per_second: 200,
            message_burst: 400,
            max_payload_bytes: 21 * 1024 * 1024,
            max_outbox_bytes: 64 * 1024 * 1024,
            room_log_entries: 1000,
            room_log_bytes: 1024 * 1024,
            log_requests_per_second: 1,
            log_request_burst: 5,
            max_sessions: 100_000,
            max_connections: 0,
            max_unbound_connections: 1024,
            max_inbound_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Engine.IO `pingInterval` announced to clients, in ms. Default 25000.
    pub ping_interval_ms: u64,
    /// Engine.IO `pingTimeout`, in ms. A session silent for interval + timeout is dropped. Default 5000.
    pub ping_timeout_ms: u64,
    /// How long a dropped peer's id, rooms and contacts are kept for a reconnect with the same
    /// token, in ms. Default 30000.
    pub reconnect_grace_ms: u64,
    /// `AUTH_EXPIRES_IN` is sent when this many seconds of the credential remain. Default 60.
    pub auth_expiry_warning_secs: u64,
    /// How far in the future a credential timestamp may lie, in seconds. Default 30.
    pub auth_max_skew_secs: u64,
    /// Longest a write to a client may make no progress, in ms; a polling client whose queued
    /// messages wait this long without a poll is cut off too. Default 10000.
    pub write_ms: u64,
    /// Longest a request head may take, from the connection's start or from the request's first
    /// byte, in ms. Default 10000.
    pub head_ms: u64,
    /// Longest a request body or a WebSocket message in progress may take, in ms. Default 30000.
    pub body_ms: u64,
    /// How long an idle keep-alive connection stays open, in ms. Default 60000.
    pub keepalive_idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 5_000,
            reconnect_grace_ms: 30_000,
            auth_expiry_warning_secs: 60,
            auth_max_skew_secs: 30,
            write_ms: 10_000,
            head_ms: 10_000,
            body_ms: 30_000,
            keepalive_idle_ms: 60_000,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

fn yes() -> bool {
    true
}

/// Why a configuration is unusable.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The development configuration: 127.0.0.1:9000 with one app, [`DEV_API_KEY`].
    pub fn development() -> Config {
        Config {
            listen: default_listen(),
            apps: vec![AppConfig {
                key: DEV_API_KEY.into(),
                secret: DEV_SECRET.into(),
                rest_api: true,
                require_credential: false,
                allowed_origins: Vec::new(),
            }],
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            admin: Admin::default(),
            sfu: SfuSection::default(),
            turn: TurnSection::default(),
            metrics: MetricsSection::default(),
            cluster: ClusterSection::default(),
        }
    }

    /// Checks keys, duplicates and limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.turn.enabled {
            for r in &self.turn.relay_allow {
                if let Err(e) = r.parse::<peer_turn::policy::IpRange>() {
                    return Err(ConfigError(format!("[turn] relay_allow: {e}")));
                }
            }
            if self.turn.secret.as_deref() == Some("") {
                return Err(ConfigError("[turn] secret is empty".into()));
            }
            if self.turn.credential_ttl == 0 || self.turn.max_allocations == 0 {
                return Err(ConfigError(
                    "[turn] credential_ttl and max_allocations must be at least 1".into(),
                ));
            }
        }
        if self.apps.is_empty() {
            return Err(ConfigError("at least one [[apps]] entry is needed".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for app in &self.apps {
            if !peer_protocol::ids::is_valid_api_key(&app.key) {
                return Err(ConfigError(format!(
                    "app key {:?} does not match the SDK's key format xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (a-z, 0-9)",
                    app.key
                )));
            }
            if !seen.insert(app.key.as_str()) {
                return Err(ConfigError(format!("app key {} is listed twice", app.key)));
            }
            if app.secret.is_empty() {
                return Err(ConfigError(format!("app {} has an empty secret", app.key)));
            }
            for origin in &app.allowed_origins {
                if origin.is_empty() || origin.ends_with('/') || !origin.contains("://") {
                    return Err(ConfigError(format!(
                        "app {}: allowed origin {origin:?} is not an origin like \"https://app.example\" (scheme, host, optional port, no path)",
                        app.key
                    )));
                }
            }
        }
        if self.sfu.enabled
            && (self.sfu.max_members_per_room == 0
                || self.sfu.max_forwarded_tracks == 0
                || self.sfu.max_sections_per_member == 0)
        {
            return Err(ConfigError(
                "[sfu] max_members_per_room, max_forwarded_tracks and max_sections_per_member must be at least 1".into(),
            ));
        }
        let l = &self.limits;
        if l.max_room_members == 0
            || l.max_peer_id_len == 0
            || l.max_room_name_len == 0
            || l.message_burst == 0
            || l.log_request_burst == 0
            || l.max_unbound_connections == 0
        {
            return Err(ConfigError("limits must be positive".into()));
        }
        if l.max_payload_bytes < 1024 {
            return Err(ConfigError(
                "limits.max_payload_bytes must be at least 1024".into(),
            ));
        }
        if l.max_inbound_bytes < l.max_payload_bytes {
            return Err(ConfigError(
                "limits.max_inbound_bytes must be at least limits.max_payload_bytes".into(),
            ));
        }
        let t = &self.timeouts;
        if t.ping_interval_ms < 1000 || t.ping_timeout_ms < 1000 {
            return Err(ConfigError(
                "ping_interval_ms and ping_timeout_ms must be at least 1000".into(),
            ));
        }
        if t.write_ms < 100 || t.head_ms < 100 || t.body_ms < 100 || t.keepalive_idle_ms < 100 {
            return Err(ConfigError(
                "write_ms, head_ms, body_ms and keepalive_idle_ms must be at least 100".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_issue_example_with_defaults() {
        let c = Config::from_toml(
            r#"
            listen = "127.0.0.1:9000"
            [[apps]]
            key = "11111111-2222-3333-4444-555555555555"
            secret = "change-me"
            rest_api = true
            require_credential = false
            "#,
        )
        .unwrap();
        assert_eq!(c.apps.len(), 1);
        assert!(c.apps[0].rest_api);
        assert_eq!(c.limits.max_payload_bytes, 21 * 1024 * 1024);
        assert_eq!(c.timeouts.ping_interval_ms, 25_000);
    }

    #[test]
    fn rejects_bad_configs() {
        for bad in [
            "",
            "[[apps]]\nkey = \"BAD\"\nsecret = \"s\"",
            "[[apps]]\nkey = \"11111111-2222-3333-4444-555555555555\"\nsecret = \"\"",
            "[[apps]]\nkey = \"11111111-2222-3333-4444-555555555555\"\nsecret = \"s\"\nunknown = 1",
            "listen = \"nope\"\n[[apps]]\nkey = \"11111111-2222-3333-4444-555555555555\"\nsecret = \"s\"",
            "[[apps]]\nkey = \"11111111-2222-3333-4444-555555555555\"\nsecret = \"s\"\nallowed_origins = [\"https://a.example/\"]",
            "[[apps]]\nkey = \"11111111-2222-3333-4444-555555555555\"\nsecret = \"s\"\n[limits]\nmax_inbound_bytes = 10",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
        assert!(Config::development().validate().is_ok());
    }

    #[test]
    fn secret_is_not_debug_printed() {
        assert!(!format!("{:?}", Config::development()).contains(DEV_SECRET));
    }
}
