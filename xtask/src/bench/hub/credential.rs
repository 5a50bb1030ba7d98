//! Credentials for the bench's idle peers, made with `peer-auth` (as an app server would) and
//! percent-encoded for the handshake query.

/// The `credential` query value (percent-encoded JSON) for `peer_id`, valid from now for `ttl`
/// seconds.
pub fn credential_query(secret: &str, peer_id: &str, ttl: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let credential = peer_auth::Credential::issue(secret.as_bytes(), peer_id, now, ttl);
    let json = serde_json::to_string(&credential).unwrap_or_default();
    percent_encoding::utf8_percent_encode(&json, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_value_decodes_to_a_credential_that_verifies() {
        let q = credential_query("s3cret", "peer-1", 3600);
        let json = percent_encoding::percent_decode_str(&q)
            .decode_utf8_lossy()
            .into_owned();
        let c = peer_auth::Credential::from_json(&json).expect("credential");
        assert!(c.verify(b"s3cret", "peer-1", c.timestamp, 0).is_ok());
    }
}
