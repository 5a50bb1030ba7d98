//! The SDK's REST calls: `listAllPeers` and `exists`, over plain HTTP/1.1 or HTTPS.

use crate::http1::{parse_response, Response};
use crate::options::ServerAddr;
use crate::tls::client_config;
use crate::TransportError;
use rustls::pki_types::ServerName;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body read (a list of ten thousands of ids fits).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// What `GET /api/apikeys/{key}/clients/` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerList {
    /// The ids of the peers open under the key.
    Peers(Vec<String>),
    /// 401: the REST API is disabled for the key (the SDK's `list-error`).
    Disabled,
}

/// `GET {origin}/api/apikeys/{key}/clients/`, all of it within `timeout`.
pub async fn list_all_peers(
    server: &ServerAddr,
    key: &str,
    extra_roots: &[Vec<u8>],
    timeout: Duration,
) -> Result<PeerList, TransportError> {
    let path = format!(
        "/api/apikeys/{}/clients/",
        crate::query::encode_component(key)
    );
    let r = get(server, &path, extra_roots, timeout).await?;
    match r.status {
        200 => serde_json::from_slice::<Vec<String>>(&r.body)
            .map(PeerList::Peers)
            .map_err(|e| TransportError::Http {
                status: 200,
                message: format!("not a list of ids: {e}"),
            }),
        401 => Ok(PeerList::Disabled),
        status => Err(TransportError::Http {
            status,
            message: String::from_utf8_lossy(&r.body).into_owned(),
        }),
    }
}

/// `GET {origin}/api/apikeys/{key}/peers/{id}/exists`, all of it within `timeout`.
pub async fn peer_exists(
    server: &ServerAddr,
    key: &str,
    peer_id: &str,
    extra_roots: &[Vec<u8>],
    timeout: Duration,
) -> Result<bool, TransportError> {
    let path = format!(
        "/api/apikeys/{}/peers/{}/exists",
        crate::query::encode_component(key),
        crate::query::encode_component(peer_id)
    );
    let r = get(server, &path, extra_roots, timeout).await?;
    if r.status != 200 {
        return Err(TransportError::Http {
            status: r.status,
            message: String::from_utf8_lossy(&r.body).into_owned(),
        });
    }
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| TransportError::Http {
            status: 200,
            message: e.to_string(),
        })?;
    v.get("exists")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| TransportError::Http {
            status: 200,
            message: "no boolean `exists` in the answer".into(),
        })
}

async fn get(
    server: &ServerAddr,
    path: &str,
    extra_roots: &[Vec<u8>],
    timeout: Duration,
) -> Result<Response, TransportError> {
    tokio::time::timeout(timeout, get_now(server, path, extra_roots))
        .await
        .map_err(|_| TransportError::Timeout {
            what: "the REST call",
        })?
}

async fn get_now(
    server: &ServerAddr,
    path: &str,
    extra_roots: &[Vec<u8>],
) -> Result<Response, TransportError> {
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(TransportError::connect)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        server.host, server.port
    );
    let raw = if server.secure {
        let config = client_config(extra_roots)?;
        let name = ServerName::try_from(server.host.clone())
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(TransportError::connect)?;
        exchange(tls, request.as_bytes()).await?
    } else {
        exchange(tcp, request.as_bytes()).await?
    };
    parse_response(&raw).map_err(|message| TransportError::Http { status: 0, message })
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<Vec<u8>, TransportError> {
    stream
        .write_all(request)
        .await
        .map_err(TransportError::connect)?;
    let mut raw = Vec::new();
    let read = (&mut stream).take(MAX_RESPONSE).read_to_end(&mut raw).await;
    match read {
        Ok(_) => Ok(raw),
        // Some TLS servers close without close_notify; what arrived is still usable.
        Err(_) if !raw.is_empty() => Ok(raw),
        Err(e) => Err(TransportError::connect(e)),
    }
}
