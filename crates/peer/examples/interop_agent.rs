//! A Rust peer driven by JSON lines, for the browser interop suite
//! (`conformance/rust-interop.test.mjs`) and for poking at a server by hand.
//!
//! ```text
//! cargo run -p peer --example interop_agent -- --port 9000 --key KEY --id rusty
//! ```
//!
//! It prints one JSON object per line for every event: `open`, `connection` (with `label`,
//! `metadata`, `serialization`), `conn-open`, `data` (described: `{kind:"text",value}`,
//! `{kind:"json",value}`, `{kind:"bytes",length,firstBad}` where `firstBad` is the first byte
//! that breaks the test pattern `(i*7 + (i>>8) + 3) & 0xff`, or -1), `close`, `error`.
//! Connections opened by others are echoed: every message goes back as it came.
//!
//! Commands on stdin, one JSON object per line:
//! `{"cmd":"connect","peer":ID,"conn":CID,"serialization":S,"label":L,"metadata":M}`,
//! `{"cmd":"send","conn":CID,"data":{"kind":"text"|"json","value":V}}` or
//! `{"kind":"bytes","length":N}` (the test pattern), `{"cmd":"close","conn":CID,"force":B}`,
//! `{"cmd":"destroy"}`.

use peer::{
    ConnectOptions, Data, DataConnection, DataConnectionEvent, LocalAddresses, Peer, PeerEvent,
    PeerOptions,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};

fn emit(v: Value) {
    println!("{v}");
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + (i >> 8) + 3) & 0xff) as u8)
        .collect()
}

fn describe(d: &Data) -> Value {
    match d {
        Data::Text(s) => json!({"kind": "text", "value": s}),
        Data::Json(v) => json!({"kind": "json", "value": v}),
        Data::Bytes(b) => {
            let first_bad = b
                .iter()
                .enumerate()
                .position(|(i, x)| *x != ((i * 7 + (i >> 8) + 3) & 0xff) as u8)
                .map(|p| p as i64)
                .unwrap_or(-1);
            json!({"kind": "bytes", "length": b.len(), "firstBad": first_bad})
        }
        Data::Packed(v) => json!({"kind": "packed", "value": format!("{v:?}")}),
    }
}

type Conns = Arc<Mutex<HashMap<String, DataConnection>>>;

/// Reports a connection's events; echoes data back when `echo`.
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
            }
        }
    });
}

async fn command(peer: &Peer, conns: &Conns, cmd: Value) -> Result<(), String> {
    let s = |k: &str| cmd.get(k).and_then(Value::as_str).map(str::to_owned);
    let conn = |id: Option<String>| {
        id.and_then(|id| conns.lock().ok()?.get(&id).cloned())
            .ok_or_else(|| "unknown conn".to_string())
    };
    match s("cmd").as_deref() {
        Some("connect") => {
            let peer_id = s("peer").ok_or("peer missing")?;
            let options = ConnectOptions {
                connection_id: s("conn"),
                label: s("label"),
                metadata: cmd.get("metadata").cloned(),
                serialization: s("serialization")
                    .unwrap_or_else(|| "binary".into())
                    .parse()
                    .map_err(|e| format!("{e}"))?,
                ..Default::default()
            };
            let c = peer
                .connect(&peer_id, options)
                .await
                .map_err(|e| e.to_string())?;
            emit(json!({"event": "connected", "conn": c.id()}));
            if let Ok(mut m) = conns.lock() {
                m.insert(c.id().to_owned(), c.clone());
            }
            watch(c, false);
        }
        Some("send") => {
            let c = conn(s("conn"))?;
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
        Some("close") => {
            let c = conn(s("conn"))?;
            c.close(cmd.get("force").and_then(Value::as_bool).unwrap_or(false))
                .await;
        }
        Some("destroy") => peer.destroy().await,
        _ => return Err("unknown cmd".into()),
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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
    options.config.local_addresses = LocalAddresses::WithLoopback;
    let peer = match Peer::new(arg("--id").as_deref(), options).await {
        Ok(p) => p,
        Err(e) => {
            emit(json!({"event": "error", "type": e.type_str(), "message": e.message}));
            std::process::exit(1);
        }
    };
    let conns: Conns = Arc::default();
    let events_peer = peer.clone();
    let events_conns = conns.clone();
    tokio::spawn(async move {
        while let Some(ev) = events_peer.next_event().await {
            match ev {
                PeerEvent::Open(id) => emit(json!({"event": "open", "id": id})),
                PeerEvent::Connection(c) => {
                    emit(
                        json!({"event": "connection", "conn": c.id(), "remote": c.remote_id(),
                        "label": c.label(), "metadata": c.metadata(),
                        "serialization": c.serialization().as_str()}),
                    );
                    if let Ok(mut m) = events_conns.lock() {
                        m.insert(c.id().to_owned(), c.clone());
                    }
                    watch(c, true);
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
            Ok(cmd) => command(&peer, &conns, cmd).await,
            Err(e) => Err(format!("bad command line: {e}")),
        };
        if let Err(message) = result {
            emit(json!({"event": "error", "type": "command", "message": message}));
        }
    }
    peer.destroy().await;
}
