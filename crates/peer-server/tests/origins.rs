//! Who may read an app's peer list and open sessions on its key from a web page: an app with
//! `allowed_origins` answers other `Origin`s with 403 and no CORS headers, on the REST calls, on
//! their preflight, and on the Engine.IO handshake (polling and WebSocket); requests without
//! `Origin` (not from a browser page) and apps without a list keep working as before.

mod common;

use common::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const LOCKED_KEY: &str = "44444444-2222-3333-4444-555555555555";
const GOOD: &str = "https://app.example";
const EVIL: &str = "https://evil.example";

fn server() -> TestServer {
    TestServer::start(&format!(
        "[[apps]]\nkey = \"{LOCKED_KEY}\"\nsecret = \"s\"\nallowed_origins = [\"{GOOD}\"]\n"
    ))
}

fn allow_origin(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("access-control-allow-origin: ")
            .map(str::to_owned)
    })
}

#[tokio::test]
async fn rest_calls_answer_only_allowed_origins() {
    let server = server();
    let path = format!("/api/apikeys/{LOCKED_KEY}/clients/");
    let (status, head, _) = http(&server, "GET", &path, &[("Origin", EVIL)], b"").await;
    assert_eq!((status, allow_origin(&head)), (403, None), "{head}");
    let (status, head, body) = http(&server, "GET", &path, &[("Origin", GOOD)], b"").await;
    assert_eq!((status, allow_origin(&head).as_deref()), (200, Some(GOOD)));
    assert_eq!(body, b"[]");
    let (status, head, _) = http(&server, "GET", &path, &[], b"").await;
    assert_eq!((status, allow_origin(&head).as_deref()), (200, Some("*")));
    let (status, head, _) = http(&server, "OPTIONS", &path, &[("Origin", EVIL)], b"").await;
    assert_eq!((status, allow_origin(&head)), (403, None));
    let exists = format!("/api/apikeys/{LOCKED_KEY}/peers/x/exists");
    let (status, _, _) = http(&server, "GET", &exists, &[("Origin", EVIL)], b"").await;
    assert_eq!(status, 403);
    // An app without a list answers any origin, as before.
    let open = format!("/api/apikeys/{KEY}/clients/");
    let (status, head, _) = http(&server, "GET", &open, &[("Origin", EVIL)], b"").await;
    assert_eq!((status, allow_origin(&head).as_deref()), (200, Some(EVIL)));
}

#[tokio::test]
async fn handshakes_from_other_origins_are_refused() {
    let server = server();
    let polling =
        format!("/socket.io/?apiKey={LOCKED_KEY}&token=t&peerId=p&EIO=3&transport=polling");
    let (status, head, _) = http(&server, "GET", &polling, &[("Origin", EVIL)], b"").await;
    assert_eq!((status, allow_origin(&head)), (403, None));
    let (status, head, _) = http(&server, "GET", &polling, &[("Origin", GOOD)], b"").await;
    assert_eq!((status, allow_origin(&head).as_deref()), (200, Some(GOOD)));

    let ws = |origin: &str| {
        let mut req = server
            .ws_url(&format!("apiKey={LOCKED_KEY}&token=t2&peerId=w"))
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).expect("header"));
        req
    };
    let refused = tokio_tungstenite::connect_async(ws(EVIL)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
    let (mut ok, _) = tokio_tungstenite::connect_async(ws(GOOD))
        .await
        .expect("allowed origin");
    use futures::StreamExt;
    let first = ok.next().await;
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    // Without Origin (a Rust peer, a server): allowed.
    let (_, id) = Client::open(&server, LOCKED_KEY, Some("native"), "tn").await;
    assert_eq!(id, "native");
}
