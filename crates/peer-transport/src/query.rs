//! The handshake query string and the session token.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodes like JavaScript's `encodeURIComponent`.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// The `platform` value this client reports.
pub const PLATFORM: &str = "rust";

/// The query of the WebSocket handshake:
/// `apiKey=..&token=..&platform=rust&sdk_version=..[&peerId=..][&credential=..]&EIO=3&transport=websocket`.
pub fn handshake_query(
    key: &str,
    token: &str,
    peer_id: Option<&str>,
    credential_json: Option<&str>,
) -> String {
    let mut q = format!(
        "apiKey={}&token={}&platform={PLATFORM}&sdk_version={}",
        encode_component(key),
        encode_component(token),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(id) = peer_id {
        q.push_str("&peerId=");
        q.push_str(&encode_component(id));
    }
    if let Some(c) = credential_json {
        q.push_str("&credential=");
        q.push_str(&encode_component(c));
    }
    q.push_str("&EIO=3&transport=websocket");
    q
}

/// A base-36 token of 11 characters from 8 random bytes, like the SDK's `randomToken()`.
pub fn token_from(random: [u8; 8]) -> String {
    base36(u64::from_le_bytes(random) % 36u64.pow(11), 11)
}

/// `value` in base 36, left-padded with `0` to at least `width` characters.
pub fn base36(mut value: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    while value > 0 {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_protocol::handshake::HandshakeQuery;

    #[test]
    fn server_parses_what_we_send() {
        let cred = r#"{"timestamp":1,"ttl":600,"authToken":"a+b/="}"#;
        let q = handshake_query("k", "tok", Some("a b"), Some(cred));
        let parsed = HandshakeQuery::parse(&q);
        assert_eq!(parsed.api_key.as_deref(), Some("k"));
        assert_eq!(parsed.token.as_deref(), Some("tok"));
        assert_eq!(parsed.peer_id.as_deref(), Some("a b"));
        assert_eq!(parsed.credential.as_deref(), Some(cred));
    }

    #[test]
    fn encodes_like_js() {
        assert_eq!(encode_component("a b{\"}'()*~"), "a%20b%7B%22%7D'()*~");
    }

    #[test]
    fn tokens_are_base36() {
        let t = token_from([0xff; 8]);
        assert_eq!(t.len(), 11);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_eq!(base36(35, 1), "z");
        assert_eq!(base36(0, 3), "000");
    }
}
