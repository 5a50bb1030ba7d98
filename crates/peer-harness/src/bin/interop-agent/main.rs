//! A Rust peer driven by JSON lines, for the browser interop scenarios of the conformance suite
//! (`conformance/skyway.test.mjs`, through `conformance/rust-agent.mjs`) and for poking at a
//! server by hand.
//!
//! ```text
//! cargo run -p peer-harness --bin interop-agent -- --port 9000 --key KEY --id rusty
//! ```
//!
//! `--host H` names the server's host (default 127.0.0.1); `--no-turn` does not ask the server
//! for TURN credentials (asked for by default, and used with the server's TURN URLs).
//!
//! It prints one JSON object per line for every event:
//!
//! - Peer: `open` (`id`), `error` (`type`, `message`), `peer-close`.
//! - Data: `connection` (with `conn`, `remote`, `label`, `metadata`, `serialization`),
//!   `connected` (the answer to `connect`), `conn-open`, `data` (described: `{kind:"text",value}`,
//!   `{kind:"json",value}`, `{kind:"bytes",length,firstBad}` where `firstBad` is the first byte
//!   that breaks the test pattern `(i*7 + (i>>8) + 3) & 0xff`, or -1), `sent`, `close`.
//!   Connections opened by others are echoed: every message goes back as it came.
//! - Media: `call` (`conn`, `remote`, `metadata`: an incoming call, not answered until the
//!   `answer` command), `called` (`conn`: the answer to `call`), `answered` (`conn`), `stream`
//!   (`conn`, `id`), `track` (`conn`, `kind`, `codec`, `mime`, `payloadType`, `streamId`),
//!   `media-stats` (`conn`, `kind`, `codec`, `packets`, `frames`, `keyframes`: what arrived on a
//!   remote track so far, every 500 ms and once more when the track ends), `media-error`
//!   (`conn`, `message`), `close` (`conn`). For every remote video track one keyframe is asked
//!   for (RTCP PLI) when it starts.
//!
//! Commands on stdin, one JSON object per line:
//!
//! - `{"cmd":"connect","peer":ID,"conn":CID,"serialization":S,"label":L,"metadata":M}`
//! - `{"cmd":"send","conn":CID,"data":{"kind":"text"|"json","value":V}}` or
//!   `{"kind":"bytes","length":N}` (the test pattern)
//! - `{"cmd":"call","peer":ID,"conn":CID?,"video":MEDIA|null,"audio":MEDIA|null,
//!   "options":{"metadata":M,"videoCodec":C,"audioCodec":C,"videoBandwidth":N,
//!   "audioBandwidth":N,"videoReceiveEnabled":B,"audioReceiveEnabled":B}}`: without `video` and
//!   `audio` the call sends no stream at all (a receive-only call).
//! - `{"cmd":"answer","conn":CID,"video":MEDIA|null,"audio":MEDIA|null,
//!   "options":{"videoCodec":C,"audioCodec":C,"videoBandwidth":N,"audioBandwidth":N}}`
//! - `{"cmd":"replace","conn":CID,"video":MEDIA|null,"audio":MEDIA|null}`: `replace_stream`
//!   with new file sources (the old ones stop); answered by `replaced` (`conn`).
//! - `{"cmd":"close","conn":CID,"force":B}` (data or media connections)
//! - `{"cmd":"ice","conn":CID}`: answered by `ice` (`conn`, `restarts`: ICE restarts this
//!   side offered, `troubled`: ICE is disconnected now, `state`)
//! - `{"cmd":"destroy"}`
//!
//! `MEDIA` is `{"codec":"VP8"|"VP9"|"H264"|"opus"|"PCMU","file":PATH,"fps":N?}`: a local track
//! of that codec fed by the file (IVF, H264 Annex-B, Ogg Opus or raw µ-law), looped and paced
//! in real time until the connection closes.
//!
//! Rooms: see [`room`] (`join`, `room-send`, `room-log`, `room-leave` and the `room-*` events).
//!
//! The library's log goes to stderr, filtered by `RUST_LOG` (e.g. `peer_connection=debug`).

use peer::media::{FileOptions, FileSource, FrameCounter};
use peer::{
    AnswerOptions, CallOptions, Codec, ConnectOptions, Connection, Data, DataConnection,
    DataConnectionEvent, LocalAddresses, MediaConnection, MediaConnectionEvent, MediaKind,
    MediaStream, Peer, PeerEvent, PeerOptions, RemoteTrack,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

mod room;

fn emit(v: Value) {
    println!("{v}");
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + (i >> 8) + 3) & 0xff) as u8)
        .collect()
}

/// Bytes described: their length and the first that breaks the test pattern (-1: none).
fn describe_bytes(b: &[u8]) -> Value {
    let first_bad = b
        .iter()
        .enumerate()
        .position(|(i, x)| *x != ((i * 7 + (i >> 8) + 3) & 0xff) as u8)
        .map(|p| p as i64)
        .unwrap_or(-1);
    json!({"kind": "bytes", "length": b.len(), "firstBad": first_bad})
}

fn describe(d: &Data) -> Value {
    match d {
        Data::Text(s) => json!({"kind": "text", "value": s}),
        Data::Json(v) => json!({"kind": "json", "value": v}),
        Data::Bytes(b) => describe_bytes(b),
        Data::Packed(v) => json!({"kind": "packed", "value": format!("{v:?}")}),
    }
}

/// The agent's connections (both kinds) and the file sources feeding each media connection.
#[derive(Default)]
struct State {
    conns: Mutex<HashMap<String, Connection>>,
    /// Dropping a connection's sources stops them.
    sources: Mutex<HashMap<String, Vec<FileSource>>>,
}

type Shared = Arc<State>;

impl State {
    fn insert(&self, conn: Connection) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(conn.id().to_owned(), conn);
        }
    }

    fn get(&self, id: Option<String>) -> Result<Connection, String> {
        id.and_then(|id| self.conns.lock().ok()?.get(&id).cloned())
            .ok_or_else(|| "unknown conn".to_string())
    }

    /// Keeps `sources` playing for `conn` until it closes.
    fn keep_sources(&self, conn: &MediaConnection, sources: Vec<FileSource>) {
        if let Ok(mut m) = self.sources.lock() {
            m.entry(conn.id().to_owned()).or_default().extend(sources);
        }
        if conn.state() == peer::ConnectionState::Closed {
            self.stop_sources(conn.id());
        }
    }

    fn stop_sources(&self, id: &str) {
        let removed = self.sources.lock().ok().and_then(|mut m| m.remove(id));
        for s in removed.into_iter().flatten() {
            s.stop();
        }
    }
}

/// Reports a data connection's events; echoes data back when `echo`.
fn watch(conn: DataConnection, echo: bool) {
    tokio::spawn(async move {
        while let Some(ev) = conn.next_event().await {
            match ev {
                DataConnectionEvent::Open => emit(json!({"event": "conn-open", "conn": conn.id()})),
                DataConnectionEvent::Data(d) => {
                    emit(json!({"event": "data", "conn": conn.id(), "data": describe(&d)}));
                    if echo {
                        if let Err(e) = conn.send(d).await {
                            emit(
                                json!({"event": "error", "type": "send", "message": e.to_string()}),
                            );
                        }
                    }
                }
                DataConnectionEvent::Error(e) => {
                    emit(json!({"event": "error", "type": "data", "message": e.to_string()}))
                }
                DataConnectionEvent::Close => emit(json!({"event": "close", "conn": conn.id()})),
                other => {
                    emit(json!({"event": "other", "conn": conn.id(), "what": format!("{other:?}")}))
                }
            }
        }
    });
}

/// Reports a media connection's events; counts what arrives on each remote track.
fn watch_media(conn: MediaConnection, state: Shared) {
    tokio::spawn(async move {
        while let Some(ev) = conn.next_event().await {
            match ev {
                MediaConnectionEvent::Stream(id) => {
                    emit(json!({"event": "stream", "conn": conn.id(), "id": id}))
                }
                MediaConnectionEvent::Track(track) => {
                    emit(
                        json!({"event": "track", "conn": conn.id(), "kind": track.kind().as_str(),
                        "codec": track.encoding_name(), "mime": track.mime_type(),
                        "payloadType": track.payload_type(), "streamId": track.stream_id()}),
                    );
                    tokio::spawn(count_track(conn.id().to_owned(), track));
                }
                MediaConnectionEvent::Error(e) => emit(
                    json!({"event": "media-error", "conn": conn.id(), "message": e.to_string()}),
                ),
                MediaConnectionEvent::Close => {
                    state.stop_sources(conn.id());
                    emit(json!({"event": "close", "conn": conn.id()}));
                }
                other => {
                    emit(json!({"event": "other", "conn": conn.id(), "what": format!("{other:?}")}))
                }
            }
        }
    });
}

/// Reads a remote track's RTP into a [`FrameCounter`] (asking for a keyframe first if it is
/// video) and prints `media-stats` every 500 ms until the track ends.
async fn count_track(conn: String, track: RemoteTrack) {
    let kind = track.kind();
    let name = track.encoding_name();
    // A codec this crate does not know (AV1, say) is only counted in packets.
    let mut counter = track.codec().map(FrameCounter::new);
    let mut packets: u64 = 0;
    if kind == MediaKind::Video {
        if let Err(e) = track.request_keyframe().await {
            emit(json!({"event": "media-error", "conn": conn, "message": format!("PLI: {e}")}));
        }
    }
    let stats = |counter: &Option<FrameCounter>, packets: u64| {
        json!({"event": "media-stats", "conn": conn, "kind": kind.as_str(), "codec": name,
            "packets": packets, "frames": counter.as_ref().map(FrameCounter::frames),
            "keyframes": counter.as_ref().map(FrameCounter::keyframes)})
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            read = track.read_rtp() => match read {
                Ok(p) => {
                    packets += 1;
                    if let Some(c) = counter.as_mut() {
                        c.push(p.header.marker, p.header.timestamp, &p.payload);
                    }
                }
                Err(_) => break,
            },
            _ = tick.tick() => emit(stats(&counter, packets)),
        }
    }
    emit(stats(&counter, packets));
}

/// Builds the stream of a `call` or `answer` command from its `video` and `audio` fields and
/// starts a looped file source for each track. `None` when both are absent or null.
async fn media_stream(cmd: &Value) -> Result<Option<(MediaStream, Vec<FileSource>)>, String> {
    let mut stream = MediaStream::new();
    let mut sources = Vec::new();
    for (field, kind) in [("video", MediaKind::Video), ("audio", MediaKind::Audio)] {
        let Some(spec) = cmd.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let codec: Codec = spec
            .get("codec")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{field}.codec missing"))?
            .parse()
            .map_err(|e| format!("{field}.codec: {e}"))?;
        if codec.kind() != kind {
            return Err(format!("{field}.codec {codec} is not a {kind} codec"));
        }
        let file = spec
            .get("file")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{field}.file missing"))?;
        let fps = match spec.get("fps").map(Value::as_u64) {
            None => None,
            Some(Some(n)) => Some(u32::try_from(n).map_err(|_| format!("{field}.fps too big"))?),
            Some(None) => return Err(format!("{field}.fps is not a number")),
        };
        let track = stream.add_track(codec);
        let options = FileOptions { looped: true, fps };
        let source = FileSource::start(file, track, options)
            .await
            .map_err(|e| format!("{field} source {file}: {e}"))?;
        sources.push(source);
    }
    Ok((!sources.is_empty()).then_some((stream, sources)))
}

/// Reads an optional field of `options` with `get`; a present value of the wrong type is an
/// error.
fn opt<T>(
    options: &Value,
    key: &str,
    get: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, String> {
    match options.get(key).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => get(v)
            .map(Some)
            .ok_or_else(|| format!("options.{key}: unexpected value {v}")),
    }
}

fn kbps(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn call_options(cmd: &Value) -> Result<CallOptions, String> {
    let o = cmd.get("options").cloned().unwrap_or(Value::Null);
    let mut options = CallOptions::new();
    options.connection_id = cmd.get("conn").and_then(Value::as_str).map(str::to_owned);
    options.metadata = o.get("metadata").cloned().filter(|m| !m.is_null());
    options.video_bandwidth = opt(&o, "videoBandwidth", kbps)?;
    options.audio_bandwidth = opt(&o, "audioBandwidth", kbps)?;
    options.video_codec = opt(&o, "videoCodec", string)?;
    options.audio_codec = opt(&o, "audioCodec", string)?;
    options.video_receive_enabled = opt(&o, "videoReceiveEnabled", Value::as_bool)?;
    options.audio_receive_enabled = opt(&o, "audioReceiveEnabled", Value::as_bool)?;
    Ok(options)
}

fn answer_options(cmd: &Value) -> Result<AnswerOptions, String> {
    let o = cmd.get("options").cloned().unwrap_or(Value::Null);
    let mut options = AnswerOptions::new();
    options.video_bandwidth = opt(&o, "videoBandwidth", kbps)?;
    options.audio_bandwidth = opt(&o, "audioBandwidth", kbps)?;
    options.video_codec = opt(&o, "videoCodec", string)?;
    options.audio_codec = opt(&o, "audioCodec", string)?;
    Ok(options)
}

async fn command(peer: &Peer, state: &Shared, cmd: Value) -> Result<(), String> {
    if room::command(peer, state, &cmd).await? {
        return Ok(());
    }
    let s = |k: &str| cmd.get(k).and_then(Value::as_str).map(str::to_owned);
    match s("cmd").as_deref() {
        Some("connect") => {
            let peer_id = s("peer").ok_or("peer missing")?;
            let mut options = ConnectOptions::new().serialization(
                s("serialization")
                    .unwrap_or_else(|| "binary".into())
                    .parse()
                    .map_err(|e| format!("{e}"))?,
            );
            options.connection_id = s("conn");
            options.label = s("label");
            options.metadata = cmd.get("metadata").cloned();
            let c = peer
                .connect(&peer_id, options)
                .await
                .map_err(|e| e.to_string())?;
            state.insert(Connection::Data(c.clone()));
            emit(json!({"event": "connected", "conn": c.id()}));
            watch(c, false);
        }
        Some("send") => {
            let c = state.get(s("conn"))?;
            let c = c.as_data().ok_or("not a data connection")?;
            let d = cmd.get("data").ok_or("data missing")?;
            let data = match d.get("kind").and_then(Value::as_str) {
                Some("text") => Data::Text(d["value"].as_str().unwrap_or_default().to_owned()),
                Some("json") => Data::Json(d["value"].clone()),
                Some("bytes") => {
                    Data::Bytes(pattern(d["length"].as_u64().unwrap_or(0) as usize).into())
                }
                _ => return Err("bad data kind".into()),
            };
            c.send(data).await.map_err(|e| e.to_string())?;
            emit(json!({"event": "sent", "conn": c.id()}));
        }
        Some("call") => {
            let peer_id = s("peer").ok_or("peer missing")?;
            let options = call_options(&cmd)?;
            let media = media_stream(&cmd).await?;
            let (stream, sources) = match media {
                Some((stream, sources)) => (Some(stream), sources),
                None => (None, Vec::new()),
            };
            let c = peer
                .call(&peer_id, stream.as_ref(), options)
                .await
                .map_err(|e| e.to_string())?;
            state.insert(Connection::Media(c.clone()));
            state.keep_sources(&c, sources);
            emit(json!({"event": "called", "conn": c.id()}));
            watch_media(c, state.clone());
        }
        Some("answer") => {
            let c = state.get(s("conn"))?;
            let c = c.as_media().ok_or("not a media connection")?;
            let options = answer_options(&cmd)?;
            let media = media_stream(&cmd).await?;
            let (stream, sources) = match media {
                Some((stream, sources)) => (Some(stream), sources),
                None => (None, Vec::new()),
            };
            state.keep_sources(c, sources);
            if let Err(e) = c.answer(stream.as_ref(), options).await {
                state.stop_sources(c.id());
                return Err(e.to_string());
            }
            emit(json!({"event": "answered", "conn": c.id()}));
        }
        Some("replace") => {
            let c = state.get(s("conn"))?;
            let c = c.as_media().ok_or("not a media connection")?;
            let (stream, sources) = media_stream(&cmd)
                .await?
                .ok_or("replace needs a video or audio source")?;
            state.stop_sources(c.id());
            state.keep_sources(c, sources);
            c.replace_stream(&stream).await.map_err(|e| e.to_string())?;
            emit(json!({"event": "replaced", "conn": c.id()}));
        }
        Some("close") => {
            let c = state.get(s("conn"))?;
            c.close(cmd.get("force").and_then(Value::as_bool).unwrap_or(false))
                .await;
        }
        Some("ice") => {
            let c = state.get(s("conn"))?;
            emit(
                json!({"event": "ice", "conn": c.id(), "restarts": c.ice_restarts(),
                "troubled": c.ice_trouble_since().is_some(), "state": format!("{:?}", c.state())}),
            );
        }
        Some("destroy") => peer.destroy().await,
        _ => return Err("unknown cmd".into()),
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Logs go to stderr (stdout carries the events), filtered by RUST_LOG.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut options = PeerOptions::new(
        arg("--key").unwrap_or_else(|| "peerdev0-0000-0000-0000-000000000000".into()),
    );
    options.port = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(9000);
    if let Some(host) = arg("--host") {
        options.host = host;
    }
    // TURN credentials are asked for by default (the server's embedded TURN, when it has one).
    options.turn = !args.iter().any(|a| a == "--no-turn");
    options.config.local_addresses = LocalAddresses::WithLoopback;
    let peer = match Peer::new(arg("--id").as_deref(), options).await {
        Ok(p) => p,
        Err(e) => {
            emit(json!({"event": "error", "type": e.type_str(), "message": e.message}));
            std::process::exit(1);
        }
    };
    let state: Shared = Arc::default();
    let events_peer = peer.clone();
    let events_state = state.clone();
    tokio::spawn(async move {
        while let Some(ev) = events_peer.next_event().await {
            match ev {
                PeerEvent::Open(id) => emit(json!({"event": "open", "id": id})),
                PeerEvent::Connection(c) => {
                    // Recorded before it is reported, so a command naming it always finds it.
                    events_state.insert(Connection::Data(c.clone()));
                    emit(
                        json!({"event": "connection", "conn": c.id(), "remote": c.remote_id(),
                        "label": c.label(), "metadata": c.metadata(),
                        "serialization": c.serialization().as_str()}),
                    );
                    watch(c, true);
                }
                PeerEvent::Call(c) => {
                    events_state.insert(Connection::Media(c.clone()));
                    emit(
                        json!({"event": "call", "conn": c.id(), "remote": c.remote_id(),
                        "metadata": c.metadata()}),
                    );
                    watch_media(c, events_state.clone());
                }
                PeerEvent::Error(e) => {
                    emit(json!({"event": "error", "type": e.type_str(), "message": e.message}))
                }
                PeerEvent::Close => emit(json!({"event": "peer-close"})),
                other => emit(json!({"event": "other", "debug": format!("{other:?}")})),
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let result = match serde_json::from_str::<Value>(&line) {
            Ok(cmd) => command(&peer, &state, cmd).await,
            Err(e) => Err(format!("bad command line: {e}")),
        };
        if let Err(message) = result {
            emit(json!({"event": "error", "type": "command", "message": message}));
        }
    }
    peer.destroy().await;
}
