//! SkyWay peer authentication.
//!
//! An app server that owns the API key's secret gives each peer a credential
//! `{timestamp, ttl, authToken}` where `authToken = Base64(HMAC-SHA256(secret,
//! "{timestamp}:{ttl}:{peerId}"))`. The signaling server checks it at the handshake and on
//! `UPDATE_CREDENTIAL`, and ends the session when `timestamp + ttl` has passed.
//!
//! [`turn`] issues and checks the short-lived TURN credentials of the embedded TURN server.
//!
//! This crate is pure: the caller passes the current time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod turn;

pub use turn::{check_turn_username, TurnAuthError, TurnCredential, TurnUser};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The shortest allowed `ttl`, in seconds.
pub const MIN_TTL: u64 = 600;
/// The longest allowed `ttl`, in seconds.
pub const MAX_TTL: u64 = 90_000;
/// How far in the future a `timestamp` may lie before it is rejected (clock skew), in seconds.
pub const DEFAULT_MAX_SKEW: u64 = 30;

/// A peer credential as the SDK sends it. Extra fields (such as `peerId` in the official
/// samples) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Unix seconds when the credential was made.
    pub timestamp: u64,
    /// Lifetime in seconds.
    pub ttl: u64,
    /// Base64 of the HMAC-SHA256 digest.
    pub auth_token: String,
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credential was presented but the app requires one.
    Missing,
    /// The credential is not a JSON object with integer `timestamp`, `ttl` and string `authToken`.
    Malformed(String),
    /// The peer id is needed to check a credential, and none was given.
    NoPeerId,
    /// `ttl` is outside 600..=90000.
    TtlOutOfRange(u64),
    /// `timestamp` lies in the future beyond the allowed skew.
    FromTheFuture,
    /// `timestamp + ttl` has passed.
    Expired,
    /// The token does not match.
    BadToken,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => write!(f, "a credential is required for this API key"),
            AuthError::Malformed(e) => write!(f, "malformed credential: {e}"),
            AuthError::NoPeerId => write!(f, "a credential needs a peer id chosen by the app"),
            AuthError::TtlOutOfRange(t) => write!(f, "ttl {t} is outside {MIN_TTL}..={MAX_TTL}"),
            AuthError::FromTheFuture => write!(f, "credential timestamp is in the future"),
            AuthError::Expired => write!(f, "credential has expired"),
            AuthError::BadToken => write!(f, "credential authToken does not match"),
        }
    }
}

impl std::error::Error for AuthError {}

impl Credential {
    /// Parses the JSON text of a credential (the decoded `credential` query value).
    pub fn from_json(text: &str) -> Result<Credential, AuthError> {
        serde_json::from_str(text).map_err(|e| AuthError::Malformed(e.to_string()))
    }

    /// Parses a credential from a JSON value (the `UPDATE_CREDENTIAL` payload).
    pub fn from_value(value: serde_json::Value) -> Result<Credential, AuthError> {
        serde_json::from_value(value).map_err(|e| AuthError::Malformed(e.to_string()))
    }

    /// Makes a credential for `peer_id`, as an app server would.
    pub fn issue(secret: &[u8], peer_id: &str, timestamp: u64, ttl: u64) -> Credential {
        let auth_token = base64::engine::general_purpose::STANDARD
            .encode(digest(secret, timestamp, ttl, peer_id));
        Credential {
            timestamp,
            ttl,
            auth_token,
        }
    }

    /// Unix seconds at which the credential expires.
    pub fn expires_at(&self) -> u64 {
        self.timestamp.saturating_add(self.ttl)
    }

    /// Checks the credential for `peer_id` at unix time `now`, allowing `max_skew` seconds of
    /// clock skew. Returns the expiry time. The token comparison takes constant time.
    pub fn verify(
        &self,
        secret: &[u8],
        peer_id: &str,
        now: u64,
        max_skew: u64,
    ) -> Result<u64, AuthError> {
        if !(MIN_TTL..=MAX_TTL).contains(&self.ttl) {
            return Err(AuthError::TtlOutOfRange(self.ttl));
        }
        if self.timestamp > now.saturating_add(max_skew) {
            return Err(AuthError::FromTheFuture);
        }
        if self.expires_at() <= now {
            return Err(AuthError::Expired);
        }
        let presented = base64::engine::general_purpose::STANDARD
            .decode(self.auth_token.trim())
            .map_err(|_| AuthError::BadToken)?;
        let mut mac = new_mac(secret);
        mac.update(message(self.timestamp, self.ttl, peer_id).as_bytes());
        mac.verify_slice(&presented)
            .map_err(|_| AuthError::BadToken)?;
        Ok(self.expires_at())
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths (for secrets such
/// as session tokens: an early exit would tell an attacker how many leading bytes it guessed).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

fn message(timestamp: u64, ttl: u64, peer_id: &str) -> String {
    format!("{timestamp}:{ttl}:{peer_id}")
}

fn new_mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

fn digest(secret: &[u8], timestamp: u64, ttl: u64, peer_id: &str) -> Vec<u8> {
    let mut mac = new_mac(secret);
    mac.update(message(timestamp, ttl, peer_id).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(constant_time_eq(b"", b""));
    }

    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn known_vector() {
        // HMAC-SHA256("secret", "1700000000:3600:alice"), computed independently with openssl:
        // printf '1700000000:3600:alice' | openssl dgst -sha256 -hmac secret -binary | base64
        let c = Credential::issue(b"secret", "alice", NOW, 3600);
        assert_eq!(c.auth_token.len(), 44);
        assert_eq!(c.auth_token, KNOWN_TOKEN);
    }

    const KNOWN_TOKEN: &str = include_str!("../tests/known_token.txt");

    #[test]
    fn verify_accepts_and_rejects() {
        let c = Credential::issue(b"secret", "alice", NOW, 3600);
        assert_eq!(c.verify(b"secret", "alice", NOW + 10, 30), Ok(NOW + 3600));
        assert_eq!(
            c.verify(b"other", "alice", NOW, 30),
            Err(AuthError::BadToken)
        );
        assert_eq!(
            c.verify(b"secret", "bob", NOW, 30),
            Err(AuthError::BadToken)
        );
        assert_eq!(
            c.verify(b"secret", "alice", NOW + 3600, 30),
            Err(AuthError::Expired)
        );
        assert_eq!(
            c.verify(b"secret", "alice", NOW - 31, 30),
            Err(AuthError::FromTheFuture)
        );
        assert_eq!(c.verify(b"secret", "alice", NOW - 30, 30), Ok(NOW + 3600));
        let short = Credential::issue(b"secret", "alice", NOW, 599);
        assert_eq!(
            short.verify(b"secret", "alice", NOW, 30),
            Err(AuthError::TtlOutOfRange(599))
        );
        let long = Credential::issue(b"secret", "alice", NOW, 90_001);
        assert_eq!(
            long.verify(b"secret", "alice", NOW, 30),
            Err(AuthError::TtlOutOfRange(90_001))
        );
        let mut garbled = c.clone();
        garbled.auth_token = "!!!".into();
        assert_eq!(
            garbled.verify(b"secret", "alice", NOW, 30),
            Err(AuthError::BadToken)
        );
    }

    #[test]
    fn parses_sample_shapes() {
        let c = Credential::from_json(r#"{"peerId":"a","timestamp":1,"ttl":600,"authToken":"x"}"#)
            .unwrap();
        assert_eq!(c.ttl, 600);
        assert!(Credential::from_json(r#"{"timestamp":"1","ttl":600,"authToken":"x"}"#).is_err());
        assert!(Credential::from_json("not json").is_err());
        assert!(Credential::from_json(r#"{"timestamp":-1,"ttl":600,"authToken":"x"}"#).is_err());
    }
}
