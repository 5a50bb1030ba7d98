//! HTTP responses: the body type, JSON and text answers, Engine.IO error codes and CORS.
//!
//! CORS follows the app's `allowed_origins` ([`Cors`]): an allowed origin is echoed with
//! `Access-Control-Allow-Credentials: true` (the SDK's XHR polling uses `withCredentials`), a
//! request without `Origin` gets `*`, and a refused origin gets no CORS headers at all, so a
//! browser page of that origin cannot read the answer.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use peer_protocol::engineio::EncodedPayload;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// The CORS headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cors<'a> {
    /// Echo this origin, with credentials allowed.
    Echo(&'a str),
    /// The request had no `Origin` (not a browser page): `*`.
    Any,
    /// The origin is not allowed: no CORS headers.
    Refused,
}

/// Engine.IO error codes (engine.io 3 server).
#[derive(Debug, Clone, Copy)]
pub enum EngineErrorCode {
    /// 0: unknown transport.
    UnknownTransport,
    /// 1: unknown session id.
    UnknownSid,
    /// 3: bad request.
    BadRequest,
    /// 4: forbidden.
    Forbidden,
    /// 5: unsupported protocol version.
    UnsupportedVersion,
}

/// Adds the CORS headers `cors` asks for.
pub fn add_cors(response: &mut HttpResponse, cors: Cors<'_>) {
    let headers = response.headers_mut();
    match cors {
        Cors::Echo(origin) => {
            if let Ok(value) = HeaderValue::from_str(origin) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        Cors::Any => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        Cors::Refused => {
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    cors: Cors<'_>,
) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_cors(&mut r, cors);
    r
}

/// A plain-text response.
pub fn text_response(status: StatusCode, text: &'static str, cors: Cors<'_>) -> HttpResponse {
    response(
        status,
        "text/html",
        Bytes::from_static(text.as_bytes()),
        cors,
    )
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &serde_json::Value, cors: Cors<'_>) -> HttpResponse {
    response(
        status,
        "application/json",
        Bytes::from(body.to_string()),
        cors,
    )
}

/// A long-polling payload response.
pub fn payload_response(payload: EncodedPayload, cors: Cors<'_>) -> HttpResponse {
    response(StatusCode::OK, payload.content_type, payload.body, cors)
}

/// An Engine.IO error response `{"code":N,"message":"..."}`.
pub fn engine_error(code: EngineErrorCode, message: &str, cors: Cors<'_>) -> HttpResponse {
    let (n, status) = match code {
        EngineErrorCode::UnknownTransport => (0, StatusCode::BAD_REQUEST),
        EngineErrorCode::UnknownSid => (1, StatusCode::BAD_REQUEST),
        EngineErrorCode::BadRequest => (3, StatusCode::BAD_REQUEST),
        EngineErrorCode::Forbidden => (4, StatusCode::FORBIDDEN),
        EngineErrorCode::UnsupportedVersion => (5, StatusCode::BAD_REQUEST),
    };
    json_response(
        status,
        &serde_json::json!({"code": n, "message": message}),
        cors,
    )
}

/// `503 Service Unavailable` with a JSON reason: the server is at a limit; try again later.
pub fn unavailable(message: &str, cors: Cors<'_>) -> HttpResponse {
    let mut r = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"error": message}),
        cors,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `403` for an origin the app does not allow, with no CORS headers.
pub fn origin_refused() -> HttpResponse {
    json_response(
        StatusCode::FORBIDDEN,
        &serde_json::json!({"error": "this origin is not allowed for this API key"}),
        Cors::Refused,
    )
}

/// The answer to a CORS preflight.
pub fn preflight(cors: Cors<'_>) -> HttpResponse {
    if cors == Cors::Refused {
        return origin_refused();
    }
    let mut r = response(StatusCode::OK, "text/plain", Bytes::new(), cors);
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// The bytes of a `503` sent on a connection refused before hyper sees it.
pub const REFUSED_CONNECTION: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 36\r\nRetry-After: 5\r\nConnection: close\r\n\r\n{\"error\":\"server is at its limits\"}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_is_well_formed() {
        let text = std::str::from_utf8(REFUSED_CONNECTION).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }

    #[test]
    fn cors_headers_follow_the_policy() {
        let mut r = text_response(StatusCode::OK, "x", Cors::Echo("https://a.example"));
        add_cors(&mut r, Cors::Echo("https://a.example"));
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://a.example"
        );
        let r = text_response(StatusCode::OK, "x", Cors::Refused);
        assert!(r
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none());
        let r = text_response(StatusCode::OK, "x", Cors::Any);
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}
