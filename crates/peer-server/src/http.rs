//! HTTP routing: Engine.IO at `/socket.io/`, the REST API, CORS, and response helpers.

use crate::engine::{polling, websocket};
use crate::rest;
use crate::shared::Shared;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use peer_protocol::engineio::{EncodedPayload, CONTENT_TYPE_BINARY};
use peer_protocol::handshake::{HandshakeQuery, TransportKind};
use std::convert::Infallible;
use std::sync::Arc;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

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

/// Adds CORS headers: the request's Origin echoed with credentials allowed (XHR polling uses
/// `withCredentials`), or `*` when there is no Origin.
pub fn cors(response: &mut HttpResponse, origin: Option<&str>) {
    let headers = response.headers_mut();
    match origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        Some(value) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    origin: Option<&str>,
) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    cors(&mut r, origin);
    r
}

/// A plain-text response.
pub fn text_response(status: StatusCode, text: &'static str, origin: Option<&str>) -> HttpResponse {
    response(
        status,
        "text/html",
        Bytes::from_static(text.as_bytes()),
        origin,
    )
}

/// A JSON response.
pub fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    origin: Option<&str>,
) -> HttpResponse {
    response(
        status,
        "application/json",
        Bytes::from(body.to_string()),
        origin,
    )
}

/// A long-polling payload response.
pub fn payload_response(payload: EncodedPayload, origin: Option<&str>) -> HttpResponse {
    response(StatusCode::OK, payload.content_type, payload.body, origin)
}

/// An Engine.IO error response `{"code":N,"message":"..."}`.
pub fn engine_error(code: EngineErrorCode, message: &str, origin: Option<&str>) -> HttpResponse {
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
        origin,
    )
}

fn preflight(origin: Option<&str>) -> HttpResponse {
    let mut r = response(StatusCode::OK, "text/plain", Bytes::new(), origin);
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

/// The service: routes one request.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = origin.as_deref();
    let path = req.uri().path().to_owned();
    tracing::trace!(method = %req.method(), uri = %req.uri(), "request");
    if req.method() == Method::OPTIONS {
        return Ok(preflight(origin));
    }
    if path == "/socket.io/" || path == "/socket.io" {
        return Ok(engine(shared, req, origin).await);
    }
    if let Some(rest_path) = path.strip_prefix("/api/apikeys/") {
        if req.method() != Method::GET {
            return Ok(json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method not allowed"}),
                origin,
            ));
        }
        return Ok(rest::route(&shared, rest_path, origin));
    }
    if path == "/" || path == "/health" {
        return Ok(text_response(
            StatusCode::OK,
            "peer-server: signaling for skyway-js 4.4.5\n",
            origin,
        ));
    }
    Ok(json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not found"}),
        origin,
    ))
}

async fn engine(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    origin: Option<&str>,
) -> HttpResponse {
    let query = HandshakeQuery::parse(req.uri().query().unwrap_or(""));
    if query.eio.as_deref() != Some("3") {
        return engine_error(
            EngineErrorCode::UnsupportedVersion,
            "Unsupported protocol version",
            origin,
        );
    }
    match (query.transport_kind(), req.method().clone()) {
        (Some(TransportKind::WebSocket), Method::GET) => {
            websocket_upgrade(shared, &mut req, query, origin)
        }
        (Some(TransportKind::Polling), Method::GET) => match query.sid.as_deref() {
            None => polling::handshake(&shared, &query, origin),
            Some(sid) => polling::poll(&shared, sid, origin).await,
        },
        (Some(TransportKind::Polling), Method::POST) => {
            let Some(sid) = query.sid.clone() else {
                return engine_error(EngineErrorCode::BadRequest, "POST needs a sid", origin);
            };
            let binary = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with(CONTENT_TYPE_BINARY));
            // The body limit leaves room for payload framing around the largest message.
            let limit = shared.config.limits.max_payload_bytes
                + shared.config.limits.max_payload_bytes / 8
                + 4096;
            let body = match Limited::new(req.into_body(), limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    if let Some(session) = shared.session(&sid) {
                        shared.invalid(&session, "polling body exceeds the payload limit");
                    }
                    return json_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &serde_json::json!({"code": 3, "message": "payload too large"}),
                        origin,
                    );
                }
            };
            polling::post(&shared, &sid, body, binary, origin).await
        }
        (None, _) => engine_error(
            EngineErrorCode::UnknownTransport,
            "Transport unknown",
            origin,
        ),
        _ => engine_error(EngineErrorCode::BadRequest, "Bad handshake method", origin),
    }
}

fn websocket_upgrade(
    shared: Arc<Shared>,
    req: &mut Request<Incoming>,
    query: HandshakeQuery,
    origin: Option<&str>,
) -> HttpResponse {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (is_upgrade, key) else {
        return engine_error(
            EngineErrorCode::BadRequest,
            "expected a WebSocket upgrade",
            origin,
        );
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    // Boxed: the query lives in the connection's future for its whole life.
    let query = Box::new(query);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => websocket::run(shared, upgraded, query).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}
