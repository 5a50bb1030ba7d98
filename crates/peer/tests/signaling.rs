//! The Peer's signaling against the real peer-server: REST calls, id and key errors,
//! credentials, reconnect after the server restarts, and `wss`/`https` through TLS.

mod common;

use common::*;
use peer::{ConnectOptions, Data, ErrorKind, ErrorType, Peer, PeerCredential, PeerEvent};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_calls() {
    let server = TestServer::start();
    let a = server.peer("rest-a").await;
    let _b = server.peer("rest-b").await;
    let mut ids = a.list_all_peers().await.unwrap();
    ids.sort();
    assert_eq!(ids, vec!["rest-a".to_string(), "rest-b".into()]);
    assert!(a.fetch_peer_exists("rest-b").await.unwrap());
    assert!(!a.fetch_peer_exists("rest-nobody").await.unwrap());
    let norest = Peer::new(Some("rest-c"), server.options(NOREST_KEY))
        .await
        .unwrap();
    let err = norest.list_all_peers().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ListError);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_key_errors() {
    let server = TestServer::start();
    let _a = server.peer("taken").await;
    let err = Peer::new(Some("taken"), server.options(KEY))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Server(ErrorType::UnavailableId),
        "{err}"
    );
    let err = Peer::new(Some("bad id!"), server.options(KEY))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidId);
    let err = Peer::new(Some("x"), server.options("not-a-key"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey);
    let err = Peer::new(
        Some("x"),
        server.options("99999999-2222-3333-4444-555555555555"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server(ErrorType::InvalidKey), "{err}");
    // The server assigns an id when none is asked for.
    let anon = Peer::new(None, server.options(KEY)).await.unwrap();
    assert!(!anon.id().is_empty());
    assert!(anon.is_open());
}

fn credential(id: &str, secret: &str) -> PeerCredential {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = peer_auth::Credential::issue(secret.as_bytes(), id, now, 600);
    PeerCredential {
        timestamp: c.timestamp,
        ttl: c.ttl,
        auth_token: c.auth_token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials() {
    let server = TestServer::start();
    let mut o = server.options(AUTH_KEY);
    o.credential = Some(credential("cred-a", AUTH_SECRET));
    let a = Peer::new(Some("cred-a"), o.clone())
        .await
        .expect("valid credential");
    assert!(matches!(next(&a).await, PeerEvent::Open(_)));
    a.update_credential(credential("cred-a", AUTH_SECRET))
        .await
        .unwrap();

    o.credential = Some(credential("cred-b", "wrong-secret"));
    let err = Peer::new(Some("cred-b"), o.clone()).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Server(ErrorType::Authentication),
        "{err}"
    );
    o.credential = None;
    let err = Peer::new(Some("cred-b"), o).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Server(ErrorType::Authentication),
        "{err}"
    );
    // The renewal was accepted: no error event on a.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.is_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_the_same_id_after_the_server_restarts() {
    let mut server = TestServer::start();
    let port = server.port;
    let a = server.peer("phoenix").await;
    server.kill();
    within("notices the drop", async {
        while a.is_open() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let server = TestServer::start_on(port);
    within("reopens", async {
        while !a.is_open() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(a.id(), "phoenix");
    // It is reachable under its id again.
    let b = server.peer("phoenix-friend").await;
    let conn = b
        .connect("phoenix", ConnectOptions::default())
        .await
        .unwrap();
    let remote = next_connection(&a).await;
    within("open", conn.wait_open()).await.unwrap();
    within("open", remote.wait_open()).await.unwrap();
    remote.send("back").await.unwrap();
    assert_eq!(
        within("recv", conn.recv()).await,
        Some(Data::Text("back".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_and_destroy_events() {
    let server = TestServer::start();
    let a = server.peer("events-a").await;
    a.disconnect().await;
    assert!(matches!(next(&a).await, PeerEvent::Disconnected(_)));
    assert!(!a.is_open());
    let err = a
        .connect("anyone", ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Disconnected);
    a.destroy().await;
    assert!(matches!(next(&a).await, PeerEvent::Close));
    assert!(a.next_event().await.is_none());
}

/// A TLS terminator in front of the server, with a self-signed certificate for `localhost`.
async fn tls_proxy(backend: u16) -> (u16, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = cert.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone().into()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, der)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_and_https() {
    let server = TestServer::start();
    let (port, root) = tls_proxy(server.port).await;
    let mut o = server.options(KEY);
    o.host = "localhost".into();
    o.port = port;
    o.secure = true;
    o.tls_root_certificates = vec![root];
    let a = Peer::new(Some("secure-a"), o.clone())
        .await
        .expect("open over wss");
    assert!(a
        .list_all_peers()
        .await
        .unwrap()
        .contains(&"secure-a".to_string()));
    // Without the root the certificate is refused.
    o.tls_root_certificates.clear();
    let err = Peer::new(Some("secure-b"), o).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SocketError, "{err}");
}
