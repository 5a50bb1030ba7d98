//! Long-polling against the real server: handshake, text and XHR2 binary payloads, CORS, and the
//! probe/upgrade to WebSocket with the noop that releases the pending poll.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use peer_protocol::engineio::{decode_payload, encode_payload, Frame, Packet};
use peer_protocol::socketio::encode_event;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ORIGIN: &str = "http://127.0.0.1:5555";

/// CORS for XHR with `withCredentials`: the Origin echoed, credentials allowed.
fn assert_credentialed_cors(head: &str) {
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("access-control-allow-origin: {ORIGIN}")),
        "{head}"
    );
    assert!(
        lower.contains("access-control-allow-credentials: true"),
        "{head}"
    );
}

fn base(id: &str, token: &str) -> String {
    format!("/socket.io/?apiKey={KEY}&token={token}&platform=javascript&sdk_version=4.4.5&peerId={id}&EIO=3&transport=polling")
}

fn messages(body: &[u8], binary: bool) -> Vec<Packet> {
    decode_payload(body, binary).expect("payload")
}

/// Opens a polling session; returns the sid and the packets of the handshake response.
async fn handshake(server: &TestServer, id: &str, token: &str) -> (String, Vec<Packet>) {
    let (status, head, body) = http(
        server,
        "GET",
        &format!("{}&t=a", base(id, token)),
        &[("Origin", ORIGIN)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_credentialed_cors(&head);
    let packets = messages(&body, false);
    let Packet::Open(json) = &packets[0] else {
        panic!("no open packet: {packets:?}")
    };
    let v: Value = serde_json::from_str(json).expect("json");
    assert_eq!(v["upgrades"], json!(["websocket"]));
    assert_eq!(v["pingInterval"], 25000);
    (v["sid"].as_str().expect("sid").to_owned(), packets)
}

#[tokio::test]
async fn polling_session_sends_and_receives() {
    let server = TestServer::start("");
    let (sid, packets) = handshake(&server, "alice", "t1").await;
    assert_eq!(packets[1], Packet::Message("0".into()));
    assert_eq!(
        packets[2],
        Packet::Message("2[\"OPEN\",{\"peerId\":\"alice\"}]".into())
    );
    let (mut bob, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    // A POST with two packets (ping and an event) in the text format; é and emoji count in UTF-16.
    let event = encode_event(
        "SEND_OFFER",
        &json!({"offer": {"sdp": "é😀"}, "dst": "bob", "connectionId": "dc", "connectionType": "data"}),
        &[],
    );
    let body = encode_payload(&[Packet::Ping(String::new()).encode(), event[0].clone()]);
    let (status, _, ok) = http(
        &server,
        "POST",
        &format!("{}&sid={sid}", base("alice", "t1")),
        &[
            ("Content-Type", "text/plain;charset=UTF-8"),
            ("Origin", ORIGIN),
        ],
        &body.body,
    )
    .await;
    assert_eq!((status, ok.as_slice()), (200, b"ok".as_slice()));
    assert_eq!(bob.expect("OFFER").await.payload["offer"]["sdp"], "é😀");
    // The pong comes back on the next GET, then bob's answer.
    bob.emit(
        "SEND_ANSWER",
        &json!({"answer": {}, "dst": "alice", "connectionId": "dc", "connectionType": "data"}),
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let (status, _, body) = http(
            &server,
            "GET",
            &format!("{}&sid={sid}", base("alice", "t1")),
            &[],
            b"",
        )
        .await;
        assert_eq!(status, 200);
        got.extend(messages(&body, false));
    }
    assert_eq!(got[0], Packet::Pong(String::new()));
    let Packet::Message(answer) = &got[1] else {
        panic!("{got:?}")
    };
    assert!(answer.starts_with("2[\"ANSWER\""), "{answer}");
}

#[tokio::test]
async fn binary_payloads_both_ways() {
    let server = TestServer::start("");
    let (sid, _) = handshake(&server, "alice", "t1").await;
    let (mut bob, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    let url = format!("{}&sid={sid}", base("alice", "t1"));
    let post = |frames: Vec<Frame>| {
        let server = &server;
        let url = url.clone();
        async move {
            let body = encode_payload(&frames);
            let ct = body.content_type;
            http(server, "POST", &url, &[("Content-Type", ct)], &body.body)
                .await
                .0
        }
    };
    assert_eq!(
        post(encode_event(
            "ROOM_JOIN",
            &json!({"roomName": "r", "roomType": "mesh"}),
            &[]
        ))
        .await,
        200
    );
    bob.emit("ROOM_JOIN", &json!({"roomName": "r", "roomType": "mesh"}))
        .await;
    bob.expect("ROOM_USER_JOIN").await;
    // alice (polling) sends binary room data in the XHR2 format.
    let blob = bytes::Bytes::from_static(&[0, 1, 2, 255, 254, 4]);
    let frames = encode_event(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": {"_placeholder": true, "num": 0}}),
        std::slice::from_ref(&blob),
    );
    assert_eq!(post(frames).await, 200);
    assert_eq!(
        bob.expect("ROOM_DATA").await.attachments,
        vec![blob.clone()]
    );
    // bob sends binary; alice's poll gets an application/octet-stream body.
    bob.emit_binary(
        "ROOM_SEND_DATA",
        &json!({"roomName": "r", "data": [{"_placeholder": true, "num": 0}, "tail"]}),
        std::slice::from_ref(&blob),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, head, body) = http(&server, "GET", &url, &[], b"").await;
        let binary = head
            .to_ascii_lowercase()
            .contains("content-type: application/octet-stream");
        seen.extend(messages(&body, binary));
        if seen.iter().any(|p| matches!(p, Packet::BinaryMessage(_))) {
            break;
        }
    }
    assert!(seen.contains(&Packet::BinaryMessage(blob)), "{seen:?}");
}

#[tokio::test]
async fn upgrade_probe_releases_pending_poll() {
    let server = TestServer::start("");
    let (sid, _) = handshake(&server, "alice", "t1").await;
    let url = format!("{}&sid={sid}", base("alice", "t1"));
    let pending = {
        let port = server.port;
        let url = url.clone();
        tokio::spawn(async move {
            let fake = TestServerRef { port };
            fake.get(&url).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let ws_url = format!("ws://127.0.0.1:{}/socket.io/?apiKey={KEY}&token=t1&peerId=alice&EIO=3&transport=websocket&sid={sid}", server.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("ws");
    ws.send(Message::Text("2probe".into()))
        .await
        .expect("probe");
    assert_eq!(
        ws.next().await.expect("reply").expect("ok"),
        Message::Text("3probe".into())
    );
    // engine.io-client pauses polling and waits for the pending poll before it sends `5`, so the
    // server must release that poll (with a noop) as soon as the probe succeeded.
    let body = tokio::time::timeout(std::time::Duration::from_secs(2), pending)
        .await
        .expect("pending poll released right after the probe")
        .expect("poll task");
    assert_eq!(messages(&body, false), vec![Packet::Noop]);
    // `5` and the first event often arrive in one read: the event must not be lost.
    let (mut bob, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    ws.feed(Message::Text("5".into())).await.expect("upgrade");
    ws.feed(Message::Text(
        "42[\"SEND_OFFER\",{\"offer\":{},\"dst\":\"bob\",\"connectionId\":\"dc\",\"connectionType\":\"data\"}]".into(),
    ))
    .await
    .expect("event");
    ws.flush().await.expect("flush");
    assert_eq!(bob.expect("OFFER").await.payload["src"], "alice");
    // Messages now flow over the WebSocket.
    bob.emit(
        "SEND_OFFER",
        &json!({"offer": {}, "dst": "alice", "connectionId": "dc", "connectionType": "data"}),
    )
    .await;
    let msg = ws.next().await.expect("frame").expect("ok");
    let Message::Text(text) = msg else {
        panic!("{msg:?}")
    };
    assert!(text.as_str().starts_with("42[\"OFFER\""), "{text}");
    ws.send(Message::Text("2".into())).await.expect("ping");
    assert_eq!(
        ws.next().await.expect("pong").expect("ok"),
        Message::Text("3".into())
    );
}

/// A minimal stand-in to call `http` from a spawned task (the server is owned by the test).
struct TestServerRef {
    port: u16,
}

impl TestServerRef {
    async fn get(&self, path: &str) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
        raw[split + 4..].to_vec()
    }
}

#[tokio::test]
async fn preflight_and_cors() {
    let server = TestServer::start("");
    let (status, head, _) = http(
        &server,
        "OPTIONS",
        "/socket.io/?EIO=3&transport=polling&sid=x",
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-headers: content-type"),
        "{head}"
    );
    assert_credentialed_cors(&head);
}

#[tokio::test]
async fn twenty_mib_room_data_over_polling() {
    let server = TestServer::start("");
    let (sid, _) = handshake(&server, "alice", "t1").await;
    let (mut bob, _) = Client::open(&server, KEY, Some("bob"), "t2").await;
    let url = format!("{}&sid={sid}", base("alice", "t1"));
    let join = encode_payload(&encode_event(
        "ROOM_JOIN",
        &json!({"roomName": "big", "roomType": "mesh"}),
        &[],
    ));
    assert_eq!(
        http(
            &server,
            "POST",
            &url,
            &[("Content-Type", join.content_type)],
            &join.body
        )
        .await
        .0,
        200
    );
    bob.emit("ROOM_JOIN", &json!({"roomName": "big", "roomType": "mesh"}))
        .await;
    bob.expect("ROOM_USER_JOIN").await;
    // alice (polling) sends 20 MiB; bob (WebSocket) gets it whole.
    let blob = bytes::Bytes::from(
        (0..20 * 1024 * 1024u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let frames = encode_event(
        "ROOM_SEND_DATA",
        &json!({"roomName": "big", "data": {"_placeholder": true, "num": 0}}),
        std::slice::from_ref(&blob),
    );
    let body = encode_payload(&frames);
    assert_eq!(
        http(
            &server,
            "POST",
            &url,
            &[("Content-Type", body.content_type)],
            &body.body
        )
        .await
        .0,
        200
    );
    let got = bob.expect("ROOM_DATA").await;
    assert!(got.attachments[0] == blob, "attachment arrived intact");
    // bob sends 20 MiB back; alice's poll carries it in one binary payload.
    bob.emit_binary(
        "ROOM_SEND_DATA",
        &json!({"roomName": "big", "data": {"_placeholder": true, "num": 0}}),
        std::slice::from_ref(&blob),
    )
    .await;
    let mut received = None;
    for _ in 0..5 {
        let (_, head, body) = http(&server, "GET", &url, &[], b"").await;
        let binary = head
            .to_ascii_lowercase()
            .contains("content-type: application/octet-stream");
        received = messages(&body, binary).into_iter().find_map(|p| match p {
            Packet::BinaryMessage(b) => Some(b),
            _ => None,
        });
        if received.is_some() {
            break;
        }
    }
    assert!(
        received.as_ref() == Some(&blob),
        "20 MiB arrived over polling"
    );
}
