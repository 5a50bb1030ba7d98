//! Short-lived TURN credentials in the TURN REST API style (coturn's `use-auth-secret`):
//!
//! - username `"<expiry>:<key>$<peerId>"`, `expiry` in Unix seconds;
//! - password `Base64(HMAC-SHA1(turn secret, username))`.
//!
//! The server derives the password from the username alone, so it stores nothing per
//! credential; a credential is refused once its expiry has passed, which also ends Refreshes of
//! its allocations. The part after the first `:` (`<key>$<peerId>`) is the user that quotas
//! count, so credentials of one peer with different expiries share one quota.
//!
//! Pure: the caller passes the current time.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use std::fmt;

/// The longest username accepted (the API key, the peer id and the expiry with room to spare).
pub const MAX_TURN_USERNAME: usize = 512;

/// A credential as `OPEN.turnCredential` carries it (the object form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    /// `"<expiry>:<key>$<peerId>"`.
    pub username: String,
    /// `Base64(HMAC-SHA1(secret, username))`.
    pub credential: String,
    /// Unix seconds after which the server refuses it.
    pub expires_at: u64,
}

impl TurnCredential {
    /// Issues a credential for `peer_id` of app `key`, valid for `ttl` seconds from `now`.
    pub fn issue(secret: &[u8], key: &str, peer_id: &str, now: u64, ttl: u64) -> TurnCredential {
        let expires_at = now.saturating_add(ttl);
        let username = format!("{expires_at}:{key}${peer_id}");
        let credential = turn_password(secret, &username);
        TurnCredential {
            username,
            credential,
            expires_at,
        }
    }
}

/// The parts of a TURN username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnUser<'a> {
    /// Unix seconds after which the credential is refused.
    pub expires_at: u64,
    /// The API key.
    pub key: &'a str,
    /// The peer id.
    pub peer_id: &'a str,
    /// `<key>$<peerId>`: what quotas count.
    pub user: &'a str,
}

/// Why a TURN username was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnAuthError {
    /// Not `"<expiry>:<key>$<peerId>"` with a decimal expiry and non-empty parts, or too long.
    Malformed,
    /// The expiry has passed.
    Expired,
}

impl fmt::Display for TurnAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnAuthError::Malformed => {
                write!(f, "a TURN username is \"<expiry>:<key>$<peerId>\"")
            }
            TurnAuthError::Expired => write!(f, "the TURN credential has expired"),
        }
    }
}

impl std::error::Error for TurnAuthError {}

/// Splits a username into its parts.
pub fn parse_turn_username(username: &str) -> Result<TurnUser<'_>, TurnAuthError> {
    if username.len() > MAX_TURN_USERNAME {
        return Err(TurnAuthError::Malformed);
    }
    let (expiry, user) = username.split_once(':').ok_or(TurnAuthError::Malformed)?;
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TurnAuthError::Malformed);
    }
    let expires_at: u64 = expiry.parse().map_err(|_| TurnAuthError::Malformed)?;
    let (key, peer_id) = user.split_once('$').ok_or(TurnAuthError::Malformed)?;
    if key.is_empty() || peer_id.is_empty() {
        return Err(TurnAuthError::Malformed);
    }
    Ok(TurnUser {
        expires_at,
        key,
        peer_id,
        user,
    })
}

/// What the TURN server does with a username: parses it, refuses it when expired (at `now`),
/// and returns its parts and the password it must have been issued with.
pub fn check_turn_username<'a>(
    secret: &[u8],
    username: &'a str,
    now: u64,
) -> Result<(TurnUser<'a>, String), TurnAuthError> {
    let user = parse_turn_username(username)?;
    if user.expires_at < now {
        return Err(TurnAuthError::Expired);
    }
    Ok((user, turn_password(secret, username)))
}

/// `Base64(HMAC-SHA1(secret, username))`.
pub fn turn_password(secret: &[u8], username: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credentials_check_out_until_they_expire() {
        let c = TurnCredential::issue(b"turn-secret", "app-key", "alice", 1_000, 3_600);
        assert_eq!(c.username, "4600:app-key$alice");
        assert_eq!(c.expires_at, 4_600);
        let (user, password) = check_turn_username(b"turn-secret", &c.username, 4_600).unwrap();
        assert_eq!(password, c.credential);
        assert_eq!(user.key, "app-key");
        assert_eq!(user.peer_id, "alice");
        assert_eq!(user.user, "app-key$alice");
        assert_eq!(
            check_turn_username(b"turn-secret", &c.username, 4_601),
            Err(TurnAuthError::Expired)
        );
        // Another secret derives another password.
        let (_, other) = check_turn_username(b"other", &c.username, 0).unwrap();
        assert_ne!(other, c.credential);
    }

    #[test]
    fn the_password_is_coturns() {
        // RFC 2202 test case 2 (HMAC-SHA1, key "Jefe"), in Base64: the same digest coturn's
        // use-auth-secret computes for this "username".
        assert_eq!(
            turn_password(b"Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        // The README's Node snippet computes the same for this username.
        assert_eq!(
            turn_password(b"turn-secret", "4600:app-key$alice"),
            "tkzburyeP5UVdTAsshUcML5G93U="
        );
    }

    #[test]
    fn malformed_usernames_are_refused() {
        for bad in [
            "",
            "alice",
            ":key$peer",
            "12x:key$peer",
            "-1:key$peer",
            "99999999999999999999999:key$peer",
            "100:keypeer",
            "100:$peer",
            "100:key$",
            "100",
        ] {
            assert_eq!(
                parse_turn_username(bad),
                Err(TurnAuthError::Malformed),
                "{bad:?}"
            );
        }
        let long = format!("100:key${}", "p".repeat(MAX_TURN_USERNAME));
        assert_eq!(parse_turn_username(&long), Err(TurnAuthError::Malformed));
        // A peer id may itself hold ':' or '$': only the first of each splits.
        let u = parse_turn_username("100:key$pe$er:x").unwrap();
        assert_eq!((u.key, u.peer_id), ("key", "pe$er:x"));
    }
}
