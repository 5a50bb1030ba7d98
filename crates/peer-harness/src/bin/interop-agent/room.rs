//! The agent's room commands and events (mesh rooms shared with the browsers).
//!
//! Commands:
//! - `{"cmd":"join","room":R,"video":MEDIA|null,"audio":MEDIA|null,"mode":"mesh"|"sfu"}`: joins
//!   (a mesh room by default) with a stream of looped files, or receive-only; answered by
//!   `room-joined` (`room`).
//! - `{"cmd":"room-send","room":R,"data":D}` with `D` one of `{"kind":"text","value":S}`,
//!   `{"kind":"json","value":V}`, `{"kind":"bytes","length":N}` (the test pattern), or
//!   `{"kind":"json-bytes","value":OBJ,"field":F,"length":N}` (`OBJ` with the pattern's bytes
//!   at `F`); answered by `room-sent` once queued.
//! - `{"cmd":"room-log","room":R}`, `{"cmd":"room-leave","room":R}`.
//!
//! Events: `room-open`, `room-peer-join` / `room-peer-leave` (`peer`), `room-stream` (`peer`,
//! `id`), `room-track` (`peer`, `kind`, `codec`), `media-stats` with `conn` `"R/PEER"`,
//! `room-data` (`src`, `data` described as the data connections' are, with
//! `{kind:"json",value}` holding `{bytes:N,firstBad}` where the browser put an `ArrayBuffer`),
//! `room-log` (`log`), `room-error` (`message`), `room-close`; each with `room`.

use crate::{count_track, describe_bytes, emit, media_stream, pattern, Shared};
use peer::media::FileSource;
use peer::{Peer, Room, RoomEvent, RoomOptions, RoomPayload};
use serde_json::{json, Map, Value};

/// `data` of `room-data`: the payload with each placeholder described as bytes.
fn describe(p: &RoomPayload) -> Value {
    if let Some(s) = p.as_text() {
        return json!({"kind": "text", "value": s});
    }
    if let Some(b) = p.as_bytes() {
        return describe_bytes(b);
    }
    fn resolve(v: Value, parts: &[bytes::Bytes]) -> Value {
        match v {
            Value::Object(m) if m.get("_placeholder") == Some(&Value::Bool(true)) => {
                let part = m
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| parts.get(n as usize));
                match part {
                    Some(b) => {
                        let d = describe_bytes(b);
                        json!({"bytes": d["length"], "firstBad": d["firstBad"]})
                    }
                    None => json!({"badPlaceholder": Value::Object(m)}),
                }
            }
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, resolve(v, parts)))
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| resolve(v, parts)).collect()),
            other => other,
        }
    }
    let value = p.to_json().unwrap_or(Value::Null);
    json!({"kind": "json", "value": resolve(value, p.attachments())})
}

/// The payload a `room-send` command asks for.
fn payload(d: &Value) -> Result<RoomPayload, String> {
    let length = || d["length"].as_u64().unwrap_or(0) as usize;
    Ok(match d.get("kind").and_then(Value::as_str) {
        Some("text") => RoomPayload::text(d["value"].as_str().unwrap_or_default()),
        Some("json") => RoomPayload::json(&d["value"]),
        Some("bytes") => RoomPayload::bytes(pattern(length())),
        Some("json-bytes") => {
            let mut obj = d["value"].clone();
            let field = d["field"].as_str().ok_or("field missing")?;
            obj.as_object_mut()
                .ok_or("value is not an object")?
                .insert(field.to_owned(), RoomPayload::placeholder(0));
            RoomPayload::with_attachments(&obj, vec![pattern(length()).into()])
                .map_err(|e| e.to_string())?
        }
        _ => return Err("bad data kind".into()),
    })
}

/// Reports a room's events until it closes; `sources` play until then.
fn watch_room(room: Room, sources: Vec<FileSource>) {
    tokio::spawn(async move {
        let name = room.name().to_owned();
        while let Some(ev) = room.next_event().await {
            match ev {
                RoomEvent::Open => emit(json!({"event": "room-open", "room": name})),
                RoomEvent::PeerJoin(p) => {
                    emit(json!({"event": "room-peer-join", "room": name, "peer": p}))
                }
                RoomEvent::PeerLeave(p) => {
                    emit(json!({"event": "room-peer-leave", "room": name, "peer": p}))
                }
                RoomEvent::Stream { peer_id, stream } => emit(
                    json!({"event": "room-stream", "room": name, "peer": peer_id, "id": stream}),
                ),
                RoomEvent::Track { peer_id, track } => {
                    emit(json!({"event": "room-track", "room": name, "peer": peer_id,
                        "kind": track.kind().as_str(), "codec": track.encoding_name()}));
                    tokio::spawn(count_track(format!("{name}/{peer_id}"), track));
                }
                RoomEvent::Data { src, data } => emit(
                    json!({"event": "room-data", "room": name, "src": src, "data": describe(&data)}),
                ),
                RoomEvent::Log(log) => emit(json!({"event": "room-log", "room": name, "log": log})),
                RoomEvent::Error(e) => {
                    emit(json!({"event": "room-error", "room": name, "message": e.to_string()}))
                }
                RoomEvent::Close => {
                    emit(json!({"event": "room-close", "room": name}));
                    break;
                }
                other => emit(json!({"event": "other", "debug": format!("{other:?}")})),
            }
        }
        for s in sources {
            s.stop();
        }
    });
}

/// Runs a room command; `Ok(false)` if `cmd` is not one.
pub(crate) async fn command(peer: &Peer, _state: &Shared, cmd: &Value) -> Result<bool, String> {
    let name = || {
        cmd.get("room")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "room missing".to_string())
    };
    let room = |name: &str| peer.room(name).ok_or_else(|| format!("not in room {name}"));
    match cmd.get("cmd").and_then(Value::as_str) {
        Some("join") => {
            let name = name()?;
            let (stream, sources) = match media_stream(cmd).await? {
                Some((stream, sources)) => (Some(stream), sources),
                None => (None, Vec::new()),
            };
            let mut options = RoomOptions::new();
            options.stream = stream;
            if cmd.get("mode").and_then(Value::as_str) == Some("sfu") {
                options = options.mode(peer::RoomMode::Sfu);
            }
            let r = peer
                .join_room(&name, options)
                .await
                .map_err(|e| e.to_string())?;
            emit(json!({"event": "room-joined", "room": name}));
            watch_room(r, sources);
        }
        Some("room-send") => {
            let name = name()?;
            let p = payload(cmd.get("data").ok_or("data missing")?)?;
            room(&name)?.send(p).await.map_err(|e| e.to_string())?;
            emit(json!({"event": "room-sent", "room": name}));
        }
        Some("room-log") => room(&name()?)?.get_log().await.map_err(|e| e.to_string())?,
        Some("room-leave") => room(&name()?)?.close().await,
        _ => return Ok(false),
    }
    Ok(true)
}
