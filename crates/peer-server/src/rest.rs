//! The REST API the SDK calls: `listAllPeers` and `fetchPeerExists`.
//!
//! - `GET /api/apikeys/{key}/clients/` -> `["id", ...]`, 401 when the app's REST API is off.
//! - `GET /api/apikeys/{key}/peers/{id}/exists` -> `{"exists": bool}` (always allowed: it reveals
//!   no more than a failed connect would).
//!
//! Unknown keys get 404. Ids are percent-decoded (the browser sends a space as `%20`). The app's
//! origin policy is applied by the caller ([`crate::http`]), which knows the key from the path
//! ([`api_key`]).

use crate::hub::RestError;
use crate::response::{json_response, Cors, HttpResponse};
use crate::shared::Shared;
use hyper::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::json;

/// The API key of a REST path (the part after `/api/apikeys/`).
pub fn api_key(rest_path: &str) -> &str {
    rest_path.split('/').next().unwrap_or("")
}

/// Routes `rest_path`, the part of the path after `/api/apikeys/`.
pub async fn route(shared: &Shared, rest_path: &str, origin: Cors<'_>) -> HttpResponse {
    let parts: Vec<&str> = rest_path.split('/').collect();
    match parts.as_slice() {
        [key, "clients"] | [key, "clients", ""] => match shared.list_peers(key) {
            Ok(mut ids) => {
                // Cluster mode: the open peers of every node (Redis away: this node's).
                if let Some(node) = shared.cluster_node() {
                    match node.open_peers(key).await {
                        Ok(all) => {
                            ids.extend(all);
                            ids.sort();
                            ids.dedup();
                        }
                        Err(e) => tracing::warn!(error = %e, "listAllPeers from this node only"),
                    }
                }
                json_response(StatusCode::OK, &json!(ids), origin)
            }
            Err(e) => rest_error(e, origin),
        },
        [key, "peers", id, "exists"] => {
            let id = percent_decode_str(id).decode_utf8_lossy();
            match shared.peer_exists(key, &id) {
                Ok(mut exists) => {
                    if let (false, Some(node)) = (exists, shared.cluster_node()) {
                        exists = node.is_open(key, &id).await.unwrap_or(false);
                    }
                    json_response(StatusCode::OK, &json!({ "exists": exists }), origin)
                }
                Err(e) => rest_error(e, origin),
            }
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "not found"}),
            origin,
        ),
    }
}

fn rest_error(e: RestError, origin: Cors<'_>) -> HttpResponse {
    match e {
        RestError::UnknownKey => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown API key"}),
            origin,
        ),
        RestError::Disabled => json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "the REST API is disabled for this API key (rest_api = false)"}),
            origin,
        ),
    }
}
