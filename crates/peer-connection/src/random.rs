//! Random ids in the SDK's style (base 36).

/// `len` random base-36 characters.
pub fn base36_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock; ids need only be unique, not secret.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(97);
        }
    }
    // 252 = 7 * 36: values below it map evenly; the bias above is irrelevant for ids.
    peer_protocol::ids::base36_chars(&bytes)
}

/// A connection id: `prefix` + 11 base-36 characters (`dc_` / `mc_` in the SDK).
pub fn connection_id(prefix: &str) -> String {
    format!("{prefix}{}", base36_token(11))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_look_like_the_sdk() {
        let id = super::connection_id("dc_");
        assert_eq!(id.len(), 14);
        assert!(id[3..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(super::base36_token(16), super::base36_token(16));
    }
}
