//! The Engine.IO handshake query of skyway-js: `apiKey`, `token`, `peerId`, `credential`, plus
//! the Engine.IO parameters `EIO`, `transport`, `sid`, `b64`.

use percent_encoding::percent_decode_str;

/// The transport named by the `transport` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// XHR long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// The parsed query of an Engine.IO request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeQuery {
    /// `apiKey`.
    pub api_key: Option<String>,
    /// `token`: the SDK's per-Peer random session token.
    pub token: Option<String>,
    /// `peerId`, when the app chose one (or after the first `OPEN`).
    pub peer_id: Option<String>,
    /// `credential`, decoded to its JSON text (decoded twice when the SDK double-encoded it).
    pub credential: Option<String>,
    /// `EIO`: the Engine.IO revision.
    pub eio: Option<String>,
    /// `transport`.
    pub transport: Option<String>,
    /// `sid`, on every request after the handshake.
    pub sid: Option<String>,
    /// `b64=1`: the client cannot receive binary polling bodies.
    pub b64: bool,
    /// `turn=1`: the client asks for a TURN credential in `OPEN` (Rust peers with
    /// `turn: true`; the SDK never sends it).
    pub turn: bool,
}

impl HandshakeQuery {
    /// Parses a raw query string (without `?`). Unknown keys are ignored; a value that is not
    /// valid percent-encoded UTF-8 is treated as absent.
    pub fn parse(query: &str) -> HandshakeQuery {
        let mut q = HandshakeQuery::default();
        for pair in query.split('&') {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(value) = decode(raw) else { continue };
            match key {
                "apiKey" => q.api_key = Some(value),
                "token" => q.token = Some(value),
                "peerId" => q.peer_id = Some(value).filter(|v| !v.is_empty()),
                "credential" => q.credential = Some(decode_credential(value)),
                "EIO" => q.eio = Some(value),
                "transport" => q.transport = Some(value),
                "sid" => q.sid = Some(value),
                "b64" => q.b64 = value == "1" || value == "true",
                "turn" => q.turn = value == "1" || value == "true",
                _ => {}
            }
        }
        q
    }

    /// The requested transport, if it is one this crate knows.
    pub fn transport_kind(&self) -> Option<TransportKind> {
        match self.transport.as_deref() {
            Some("polling") => Some(TransportKind::Polling),
            Some("websocket") => Some(TransportKind::WebSocket),
            _ => None,
        }
    }
}

fn decode(raw: &str) -> Option<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// After one decoding the credential should be JSON. After `updateCredential` the SDK encodes it
/// twice, so a value that does not start with `{` is decoded once more.
fn decode_credential(once: String) -> String {
    if once.trim_start().starts_with('{') {
        return once;
    }
    decode(&once).unwrap_or(once)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trace_query() {
        let q = HandshakeQuery::parse("apiKey=11111111-2222-3333-4444-555555555555&token=dodntass3y7&platform=javascript&sdk_version=4.4.5&peerId=carol-mwwcbuyv0&credential=%7B%22timestamp%22%3A1700000000%2C%22ttl%22%3A3600%2C%22authToken%22%3A%22dGVzdC1obWFjLXRva2VuLWJhc2U2NA%3D%3D%22%7D&EIO=3&transport=polling&t=Q8JY_sA");
        assert_eq!(
            q.api_key.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(q.peer_id.as_deref(), Some("carol-mwwcbuyv0"));
        assert_eq!(
            q.credential.as_deref(),
            Some("{\"timestamp\":1700000000,\"ttl\":3600,\"authToken\":\"dGVzdC1obWFjLXRva2VuLWJhc2U2NA==\"}")
        );
        assert_eq!(q.transport_kind(), Some(TransportKind::Polling));
    }

    #[test]
    fn double_encoded_credential_is_decoded_twice() {
        let q = HandshakeQuery::parse("credential=%257B%2522ttl%2522%253A600%257D&peerId=a%20b");
        assert_eq!(q.credential.as_deref(), Some("{\"ttl\":600}"));
        assert_eq!(q.peer_id.as_deref(), Some("a b"));
    }

    #[test]
    fn bad_encoding_is_absent() {
        let q = HandshakeQuery::parse("peerId=%FF%FE&token");
        assert_eq!(q.peer_id, None);
        assert_eq!(q.token.as_deref(), Some(""));
    }
}
