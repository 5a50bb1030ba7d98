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
    /// Keepalive, reconnect and credential timing.
    #[serde(default)]
    pub timeouts: Timeouts,
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
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("rest_api", &self.rest_api)
            .field("require_credential", &self.require_credential)
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
    /// Most concurrent Engine.IO sessions. Default 100000.
    pub max_sessions: usize,
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
            max_sessions: 100_000,
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
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 5_000,
            reconnect_grace_ms: 30_000,
            auth_expiry_warning_secs: 60,
            auth_max_skew_secs: 30,
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
            }],
            limits: Limits::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Checks keys, duplicates and limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        }
        let l = &self.limits;
        if l.max_room_members == 0
            || l.max_peer_id_len == 0
            || l.max_room_name_len == 0
            || l.message_burst == 0
        {
            return Err(ConfigError("limits must be positive".into()));
        }
        if l.max_payload_bytes < 1024 {
            return Err(ConfigError(
                "limits.max_payload_bytes must be at least 1024".into(),
            ));
        }
        if self.timeouts.ping_interval_ms < 1000 || self.timeouts.ping_timeout_ms < 1000 {
            return Err(ConfigError(
                "ping_interval_ms and ping_timeout_ms must be at least 1000".into(),
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
