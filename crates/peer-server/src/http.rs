//! HTTP routing: Engine.IO at `/socket.io/`, the REST API, CORS preflights, `/health`, and
//! `/stats` when enabled. Each request's CORS answer follows the origin policy of the app it
//! concerns: the `apiKey` of an Engine.IO handshake, the session of a later Engine.IO request,
//! the key in a REST path.

use crate::deadline_io::ConnState;
use crate::engine::{polling, websocket};
use crate::response::{
    engine_error, json_response, origin_refused, preflight, text_response, Cors, EngineErrorCode,
    HttpResponse,
};
use crate::rest;
use crate::shared::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use peer_protocol::engineio::CONTENT_TYPE_BINARY;
use peer_protocol::handshake::{HandshakeQuery, TransportKind};
use std::convert::Infallible;
use std::sync::Arc;

/// The service: routes one request of connection `conn`.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    req: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let _serving = conn.request_started();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = origin.as_deref();
    let path = req.uri().path().to_owned();
    tracing::trace!(method = %req.method(), uri = %req.uri(), "request");
    if path == "/socket.io/" || path == "/socket.io" {
        return Ok(engine(shared, conn, req, origin).await);
    }
    if let Some(rest_path) = path.strip_prefix("/api/apikeys/") {
        let cors = cors_for(&shared, origin, Some(rest::api_key(rest_path)));
        if req.method() == Method::OPTIONS {
            return Ok(preflight(cors));
        }
        if cors == Cors::Refused {
            return Ok(origin_refused());
        }
        if req.method() != Method::GET {
            return Ok(json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method not allowed"}),
                cors,
            ));
        }
        return Ok(rest::route(&shared, rest_path, cors).await);
    }
    let cors = cors_for(&shared, origin, None);
    if req.method() == Method::OPTIONS {
        return Ok(preflight(cors));
    }
    if path == "/" || path == "/health" {
        return Ok(text_response(
            StatusCode::OK,
            "peer-server: signaling for skyway-js 4.4.5\n",
            cors,
        ));
    }
    if path == "/stats" && shared.config.admin.stats && conn.peer.ip().is_loopback() {
        let stats = serde_json::to_value(shared.stats()).unwrap_or_default();
        return Ok(json_response(StatusCode::OK, &stats, Cors::Refused));
    }
    Ok(json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not found"}),
        cors,
    ))
}

/// The CORS answer for `origin` under the policy of the app `api_key`.
fn cors_for<'a>(shared: &Shared, origin: Option<&'a str>, api_key: Option<&str>) -> Cors<'a> {
    match origin {
        None => Cors::Any,
        Some(o) if api_key.is_none_or(|k| shared.origin_allowed(k, o)) => Cors::Echo(o),
        Some(_) => Cors::Refused,
    }
}

async fn engine(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    mut req: Request<Incoming>,
    origin: Option<&str>,
) -> HttpResponse {
    let query = HandshakeQuery::parse(req.uri().query().unwrap_or(""));
    // A request with a `sid` belongs to that session's app; a handshake to its `apiKey`.
    let session = query.sid.as_deref().and_then(|sid| shared.session(sid));
    let api_key = match &session {
        Some(s) => Some(s.api_key.as_str()),
        None => query.api_key.as_deref(),
    };
    let cors = cors_for(&shared, origin, api_key);
    if req.method() == Method::OPTIONS {
        return preflight(cors);
    }
    if cors == Cors::Refused {
        return origin_refused();
    }
    if query.eio.as_deref() != Some("3") {
        return engine_error(
            EngineErrorCode::UnsupportedVersion,
            "Unsupported protocol version",
            cors,
        );
    }
    let unknown_sid = || engine_error(EngineErrorCode::UnknownSid, "Session ID unknown", cors);
    match (query.transport_kind(), req.method().clone()) {
        (Some(TransportKind::WebSocket), Method::GET) => {
            if query.sid.is_some() && session.is_none() {
                return unknown_sid();
            }
            websocket_upgrade(shared, conn, &mut req, query, cors)
        }
        (Some(TransportKind::Polling), Method::GET) => match (query.sid.is_some(), session) {
            (false, _) => polling::handshake(&shared, &query, cors).await,
            (true, Some(session)) => polling::poll(&shared, session, cors).await,
            (true, None) => unknown_sid(),
        },
        (Some(TransportKind::Polling), Method::POST) => {
            // The session is checked before a byte of the body is read.
            let Some(session) = session else {
                return match query.sid {
                    Some(_) => unknown_sid(),
                    None => engine_error(EngineErrorCode::BadRequest, "POST needs a sid", cors),
                };
            };
            let binary = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with(CONTENT_TYPE_BINARY));
            polling::post(&shared, session, req.into_body(), binary, cors).await
        }
        (None, _) => engine_error(EngineErrorCode::UnknownTransport, "Transport unknown", cors),
        _ => engine_error(EngineErrorCode::BadRequest, "Bad handshake method", cors),
    }
}

fn websocket_upgrade(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    req: &mut Request<Incoming>,
    query: HandshakeQuery,
    cors: Cors<'_>,
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
            cors,
        );
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    // Boxed: the query lives in the connection's future for its whole life.
    let query = Box::new(query);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => websocket::run(shared, upgraded, query, conn).await,
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
