//! The REST API against the real server: listAllPeers, exists, 401 and 404, CORS.

mod common;

use common::*;
use serde_json::{json, Value};

async fn get_json(server: &TestServer, path: &str) -> (u16, String, Value) {
    let (status, head, body) = http(
        server,
        "GET",
        path,
        &[("Origin", "http://localhost:1")],
        b"",
    )
    .await;
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn list_and_exists() {
    let server = TestServer::start("");
    let (_a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let (_b, _) = Client::open(&server, KEY, Some("bob%202"), "t2").await;
    let (_c, _) = Client::open(&server, NOREST_KEY, Some("carol"), "t3").await;
    let (status, head, body) = get_json(&server, &format!("/api/apikeys/{KEY}/clients/")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!(["alice", "bob 2"]));
    assert!(head
        .to_ascii_lowercase()
        .contains("access-control-allow-origin: http://localhost:1"));
    let (status, _, body) = get_json(&server, &format!("/api/apikeys/{NOREST_KEY}/clients/")).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().is_some());
    let (status, _, _) = get_json(
        &server,
        "/api/apikeys/00000000-0000-0000-0000-000000000000/clients/",
    )
    .await;
    assert_eq!(status, 404);
    for (id, exists) in [
        ("alice", true),
        ("bob%202", true),
        ("carol", false),
        ("zed", false),
    ] {
        let (status, _, body) =
            get_json(&server, &format!("/api/apikeys/{KEY}/peers/{id}/exists")).await;
        assert_eq!((status, body), (200, json!({"exists": exists})), "{id}");
    }
    let (_, _, body) = get_json(
        &server,
        &format!("/api/apikeys/{NOREST_KEY}/peers/carol/exists"),
    )
    .await;
    assert_eq!(body, json!({"exists": true}));
}
