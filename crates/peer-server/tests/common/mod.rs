//! Test harness: starts the real `peer-server` binary with a temporary configuration and speaks
//! Engine.IO v3 / Socket.IO 4 to it over WebSocket and raw HTTP, as the SDK does.
#![allow(dead_code)]

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use peer_protocol::engineio::Packet;
use peer_protocol::socketio::{encode_event, Decoder, PacketKind};
use peer_testkit::{Launch, ProcStats, ServerProcess};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The open app.
pub const KEY: &str = "11111111-2222-3333-4444-555555555555";
/// An app with the REST API off.
pub const NOREST_KEY: &str = "22222222-2222-3333-4444-555555555555";
/// An app requiring credentials.
pub const AUTH_KEY: &str = "33333333-2222-3333-4444-555555555555";
/// The secret of [`AUTH_KEY`].
pub const AUTH_SECRET: &str = "credential-secret";

/// How long to wait for an expected event.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running server process, killed on drop.
pub struct TestServer {
    process: ServerProcess,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl TestServer {
    /// Starts the server with the three test apps plus `extra` TOML (e.g. `[limits]`), and
    /// `GET /stats` enabled.
    pub fn start(extra: &str) -> TestServer {
        TestServer::start_with(extra, Launch::default())
    }

    /// [`TestServer::start`] with launch options (an open-file limit, say).
    pub fn start_with(extra: &str, launch: Launch) -> TestServer {
        let config = format!(
            "listen = \"127.0.0.1:0\"\n\
             [admin]\nstats = true\n\
             [[apps]]\nkey = \"{KEY}\"\nsecret = \"open-secret\"\n\
             [[apps]]\nkey = \"{NOREST_KEY}\"\nsecret = \"norest\"\nrest_api = false\n\
             [[apps]]\nkey = \"{AUTH_KEY}\"\nsecret = \"{AUTH_SECRET}\"\nrequire_credential = true\n{extra}\n"
        );
        let process = ServerProcess::start_with(
            Path::new(env!("CARGO_BIN_EXE_peer-server")),
            &config,
            launch,
        );
        TestServer {
            port: process.port,
            process,
        }
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) {
        self.process.terminate();
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// The port of the operations listener (`[metrics] listen`).
    pub fn metrics_port(&self) -> u16 {
        self.process
            .metrics_port()
            .expect("the server prints its metrics address")
    }

    /// What the process holds now (`/proc`).
    pub fn proc(&self) -> ProcStats {
        ProcStats::read(self.process.pid()).expect("the server process is alive")
    }

    /// Resets the process's peak RSS to its current RSS.
    pub fn reset_peak(&self) {
        assert!(ProcStats::reset_peak(self.process.pid()), "clear_refs");
    }

    /// The server's own numbers (`GET /stats`).
    pub async fn stats(&self) -> Value {
        let (status, _, body) = http(self, "GET", "/stats", &[], b"").await;
        assert_eq!(status, 200, "GET /stats");
        serde_json::from_slice(&body).expect("stats JSON")
    }

    /// The server's log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.process.log_lines()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The exit code, once the process has exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.process.exit_code()
    }

    /// The WebSocket URL for a query.
    pub fn ws_url(&self, query: &str) -> String {
        format!(
            "ws://127.0.0.1:{}/socket.io/?{query}&EIO=3&transport=websocket",
            self.port
        )
    }
}

/// A received Socket.IO event.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Event name.
    pub name: String,
    /// First argument.
    pub payload: Value,
    /// Attachments.
    pub attachments: Vec<Bytes>,
}

/// A received event without its payload parsed (for large payloads).
#[derive(Debug, Clone)]
pub struct RawReceived {
    /// Event name.
    pub name: String,
    /// The payload's JSON text length.
    pub payload_len: usize,
    /// Attachments.
    pub attachments: Vec<Bytes>,
}

/// What the client saw next.
#[derive(Debug)]
pub enum Next {
    /// An event.
    Event(Received),
    /// A Socket.IO disconnect (`41`).
    Disconnect,
    /// The transport closed.
    Closed,
}

/// A raw Engine.IO/Socket.IO client over WebSocket.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    decoder: Decoder,
    /// The Engine.IO sid.
    pub sid: String,
}

impl Client {
    /// Connects with a raw query (without `EIO`/`transport`) and reads the engine open packet.
    pub async fn connect(server: &TestServer, query: &str) -> Client {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_frame_size(None)
            .max_message_size(None);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(server.ws_url(query), Some(config), false)
                .await
                .expect("websocket connect");
        let first = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("open packet in time");
        let Some(Ok(Message::Text(text))) = first else {
            panic!("expected the open packet, got {first:?}")
        };
        let Ok(Packet::Open(json)) = Packet::decode_text(text.as_str()) else {
            panic!("not an open packet: {text}")
        };
        let v: Value = serde_json::from_str(&json).expect("handshake json");
        let sid = v["sid"].as_str().expect("sid").to_owned();
        Client {
            ws,
            decoder: Decoder::new(16),
            sid,
        }
    }

    /// Connects as `peer_id` (or unnamed) on `key` with `token`, and expects `OPEN`.
    pub async fn open(
        server: &TestServer,
        key: &str,
        peer_id: Option<&str>,
        token: &str,
    ) -> (Client, String) {
        let mut query = format!("apiKey={key}&token={token}&platform=javascript&sdk_version=4.4.5");
        if let Some(id) = peer_id {
            query.push_str(&format!("&peerId={id}"));
        }
        let mut c = Client::connect(server, &query).await;
        let ev = c.expect("OPEN").await;
        let id = ev.payload["peerId"].as_str().expect("peerId").to_owned();
        (c, id)
    }

    /// Sends an event.
    pub async fn emit(&mut self, name: &str, payload: &Value) {
        self.emit_binary(name, payload, &[]).await;
    }

    /// Sends an event with attachments (payload must hold the placeholders).
    pub async fn emit_binary(&mut self, name: &str, payload: &Value, attachments: &[Bytes]) {
        for frame in encode_event(name, payload, attachments) {
            let msg = match frame {
                peer_protocol::engineio::Frame::Text(b) => {
                    Message::Text(String::from_utf8(b.to_vec()).expect("utf-8").into())
                }
                peer_protocol::engineio::Frame::Binary(b) => Message::Binary(b),
            };
            self.ws.send(msg).await.expect("send");
        }
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, msg: Message) {
        let _ = self.ws.send(msg).await;
    }

    /// The next event, disconnect or close (engine pongs and `40` are skipped).
    pub async fn next(&mut self, wait: Duration) -> Option<Next> {
        match self.next_event(wait).await? {
            Ok(ev) => {
                let payload = ev.payload_value();
                Some(Next::Event(Received {
                    name: ev.name,
                    payload,
                    attachments: ev.attachments,
                }))
            }
            Err(other) => Some(other),
        }
    }

    /// The next event without building its payload's tree.
    pub async fn next_raw(&mut self, wait: Duration) -> Option<Result<RawReceived, Next>> {
        Some(self.next_event(wait).await?.map(|ev| RawReceived {
            payload_len: ev.payload_json().len(),
            name: ev.name,
            attachments: ev.attachments,
        }))
    }

    /// Expects the next event to be `name` within `wait`, without parsing its payload.
    pub async fn expect_raw(&mut self, name: &str, wait: Duration) -> RawReceived {
        match self.next_raw(wait).await {
            Some(Ok(ev)) if ev.name == name => ev,
            other => panic!("expected {name}, got {other:?}"),
        }
    }

    /// The next event as decoded, or the disconnect/close that came instead.
    async fn next_event(
        &mut self,
        wait: Duration,
    ) -> Option<Result<peer_protocol::socketio::Event, Next>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Err(Next::Closed)),
                Ok(Some(Ok(m))) => m,
            };
            let packet = match msg {
                Message::Text(t) => Packet::decode_text(t.as_str()).expect("engine packet"),
                Message::Binary(b) => Packet::decode_binary_bytes(b).expect("engine binary"),
                Message::Close(_) => return Some(Err(Next::Closed)),
                _ => continue,
            };
            let decoded = match packet {
                Packet::Message(text) => self.decoder.feed_text(text).expect("socket.io packet"),
                Packet::BinaryMessage(b) => self.decoder.feed_binary(b).expect("attachment"),
                Packet::Close => return Some(Err(Next::Closed)),
                _ => continue,
            };
            let Some(p) = decoded else { continue };
            match p.kind {
                PacketKind::Disconnect => return Some(Err(Next::Disconnect)),
                PacketKind::Event | PacketKind::BinaryEvent => {
                    return Some(Ok(p.into_event().expect("event")));
                }
                _ => continue,
            }
        }
    }

    /// Expects the next event to be `name`.
    pub async fn expect(&mut self, name: &str) -> Received {
        match self.next(WAIT).await {
            Some(Next::Event(ev)) if ev.name == name => ev,
            other => panic!("expected {name}, got {other:?}"),
        }
    }

    /// Expects the next event to be `name` within `wait`.
    pub async fn expect_within(&mut self, name: &str, wait: Duration) -> Received {
        match self.next(wait).await {
            Some(Next::Event(ev)) if ev.name == name => ev,
            other => panic!("expected {name}, got {other:?}"),
        }
    }

    /// Expects an `ERROR` of `kind`.
    pub async fn expect_error(&mut self, kind: &str) -> Received {
        let ev = self.expect("ERROR").await;
        assert_eq!(ev.payload["type"], kind, "error payload {:?}", ev.payload);
        ev
    }

    /// Expects nothing for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(next) = self.next(wait).await {
            panic!("expected silence, got {next:?}");
        }
    }

    /// Expects a Socket.IO disconnect and/or transport close.
    pub async fn expect_end(&mut self) {
        match self.next(WAIT).await {
            Some(Next::Disconnect) | Some(Next::Closed) => {}
            other => panic!("expected the session to end, got {other:?}"),
        }
    }

    /// Sends `41` then closes, like `peer.destroy()`: a browser finishes the WebSocket closing
    /// handshake, reading until the server closes, so the socket never ends with a reset.
    pub async fn destroy(mut self) {
        let _ = self.ws.send(Message::Text("41".into())).await;
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Drops the TCP connection without a goodbye.
    pub fn drop_transport(self) {
        drop(self);
    }
}

/// Raw HTTP/1.1 request on a fresh connection; returns (status, headers, body).
pub async fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("tcp connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, raw[split + 4..].to_vec())
}

/// Opens a long-polling session for `peer_id` with `token` on the open app; returns its base
/// path (without `sid`) and its `sid`.
pub async fn polling_session(server: &TestServer, peer_id: &str, token: &str) -> (String, String) {
    let base =
        format!("/socket.io/?apiKey={KEY}&token={token}&peerId={peer_id}&EIO=3&transport=polling");
    let (status, _, body) = http(server, "GET", &base, &[], b"").await;
    assert_eq!(status, 200);
    let packets = peer_protocol::engineio::decode_payload(&body, false).expect("payload");
    let Packet::Open(open) = &packets[0] else {
        panic!("{packets:?}")
    };
    let sid = serde_json::from_str::<Value>(open).expect("json")["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    (base, sid)
}
