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
/// `apiKey=..&token=..&platform=rust&sdk_version=..[&peerId=..][&credential=..][&turn=1]&EIO=3&transport=websocket`.
pub fn handshake_query(
    key: &str,
    token: &str,
    peer_id: Option<&str>,
    credential_json: Option<&str>,
    request_turn: bool,
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
    if request_turn {
        q.push_str("&turn=1");
    }
    q.push_str("&EIO=3&transport=websocket");
    q
}

/// A token of 11 base-36 characters, like the SDK's `randomToken()`.
pub fn token_from(random: [u8; 11]) -> String {
    peer_protocol::ids::base36_chars(&random)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_protocol::handshake::HandshakeQuery;

    #[test]
    fn server_parses_what_we_send() {
        let cred = r#"{"timestamp":1,"ttl":600,"authToken":"a+b/="}"#;
        let q = handshake_query("k", "tok", Some("a b"), Some(cred), false);
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
        let t = token_from([0xff; 11]);
        assert_eq!(t.len(), 11);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_eq!(
            token_from([0, 35, 36, 1, 2, 3, 4, 5, 6, 7, 8]),
            "0z012345678"
        );
    }
}
