//! Peer id and API key rules of skyway-js 4.4.5, and server-assigned id generation.

/// Whether `id` satisfies the SDK's peer id rule `^[A-Za-z0-9_-]+(?:[ _-][A-Za-z0-9]+)*$`.
///
/// Every valid id is URL-safe except for single spaces between words, which the SDK sends
/// percent-encoded.
pub fn is_valid_peer_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    // The first part `[A-Za-z0-9_-]+` may swallow any run of `_` and `-`; what follows must be
    // groups of one separator (space, `_` or `-`) then at least one alphanumeric. Since `_` and
    // `-` are allowed in the head, only spaces need care: a space must sit between a head/group
    // character and an alphanumeric, and never be doubled or trailing.
    let is_head = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if !is_head(bytes[0]) {
        return false;
    }
    let mut seen_space = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' {
            seen_space = true;
            // A space must be followed by at least one alphanumeric.
            match bytes.get(i + 1) {
                Some(n) if n.is_ascii_alphanumeric() => {}
                _ => return false,
            }
        } else if !is_head(b) {
            return false;
        } else if seen_space && (b == b'_' || b == b'-') {
            // After a space, `_`/`-` are separators and must be followed by an alphanumeric.
            match bytes.get(i + 1) {
                Some(n) if n.is_ascii_alphanumeric() => {}
                _ => return false,
            }
        }
        i += 1;
    }
    true
}

/// Whether `key` satisfies the SDK's API key rule `^[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}$`.
pub fn is_valid_api_key(key: &str) -> bool {
    let groups: Vec<&str> = key.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == lens.len()
        && groups.iter().zip(lens).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Builds a server-assigned peer id from random bytes: `peer_` followed by 16 lowercase base-36
/// characters. The result always satisfies [`is_valid_peer_id`] and needs no URL encoding.
pub fn assigned_peer_id(random: [u8; 16]) -> String {
    format!("peer_{}", base36_chars(&random))
}

/// One lowercase base-36 character (`0-9a-z`) per random byte: the form of the SDK's random
/// tokens, connection ids and chunk ids.
pub fn base36_chars(random: &[u8]) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    random
        .iter()
        .map(|&b| char::from(ALPHABET[usize::from(b) % 36]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_rule_matches_sdk_examples() {
        for ok in [
            "ABCD 0123",
            "ABCD_0123",
            "ABCD-0123------------abcd-7890",
            "a",
            "_x",
            "--",
            "a b c",
            "a_-b",
            "x-",
        ] {
            assert!(is_valid_peer_id(ok), "{ok:?} should be valid");
        }
        for bad in [
            "", " a", "a ", "a  b", "a b_", "a b-", "é", "a.b", "a/b", "a b -c", "a\nb",
        ] {
            assert!(!is_valid_peer_id(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn api_key_rule() {
        assert!(is_valid_api_key("11111111-2222-3333-4444-555555555555"));
        assert!(is_valid_api_key("abcdefgh-ijkl-mnop-qrst-uvwxyz012345"));
        assert!(!is_valid_api_key("ABCDEFGH-2222-3333-4444-555555555555"));
        assert!(!is_valid_api_key("11111111-2222-3333-4444-55555555555"));
        assert!(!is_valid_api_key("undefined"));
    }

    #[test]
    fn assigned_ids_are_valid() {
        let id = assigned_peer_id([255; 16]);
        assert!(is_valid_peer_id(&id));
        assert_eq!(id.len(), 21);
    }
}
