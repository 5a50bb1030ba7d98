//! Sends a file to another peer over a DataConnection: the name and size in the metadata, the
//! bytes in pieces (`send` waits while the channel's buffer is full, so a large file does not
//! fill memory), then a `{"done": true}` message.
//!
//! ```text
//! cargo run -p peer --example send_file -- REMOTE_ID ./photo.jpg
//! ```
//! The receiver sees a `connection` whose metadata is `{"name", "size"}`, then `ArrayBuffer`s.
//! `PEER_PORT` names another port of a local peer-server (development app).

use anyhow::Context;
use peer::{ConnectOptions, Peer, PeerOptions};
use serde_json::json;
use tokio::io::AsyncReadExt;

const PIECE: usize = 256 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(remote), Some(path)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: send_file REMOTE_ID PATH");
    };
    let mut file = tokio::fs::File::open(&path)
        .await
        .with_context(|| format!("opening {path}"))?;
    let size = file.metadata().await?.len();
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let peer = Peer::new(None, options(port())).await?;
    let conn = peer
        .connect(
            &remote,
            ConnectOptions::new().metadata(json!({"name": name, "size": size})),
        )
        .await?;
    conn.wait_open().await?;
    let mut sent = 0u64;
    let mut piece = vec![0u8; PIECE];
    loop {
        let n = file.read(&mut piece).await?;
        if n == 0 {
            break;
        }
        conn.send(piece[..n].to_vec()).await?;
        sent += n as u64;
        eprint!("\r{sent} / {size} bytes");
    }
    conn.send_json(&json!({"done": true})).await?;
    eprintln!("\rsent {name} ({sent} bytes)");
    conn.close(false).await;
    peer.destroy().await;
    Ok(())
}

/// peer-server's development app on 127.0.0.1 (`cargo run -p peer-server`).
fn options(port: u16) -> PeerOptions {
    PeerOptions::new("peerdev0-0000-0000-0000-000000000000").server("127.0.0.1", port, false)
}

/// `PEER_PORT`, 9000 by default.
fn port() -> u16 {
    std::env::var("PEER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000)
}
