//! An echo bot: opens a Peer and sends every message it receives back on the same connection.
//!
//! ```text
//! cargo run -p peer-server &                      # a server on 127.0.0.1:9000
//! cargo run -p peer --example echo_bot -- echo    # the bot, as peer id "echo"
//! ```
//! Then `peer.connect('echo')` from a browser (skyway-js) or another Rust peer, and send.
//! `PEER_PORT` names another port of a local peer-server (development app).

use futures::StreamExt;
use peer::{Peer, PeerEvent, PeerOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let id = std::env::args().nth(1).unwrap_or_else(|| "echo".into());
    let peer = Peer::new(Some(&id), options(port())).await?;
    println!("echoing as {:?}", peer.id());
    let mut events = Box::pin(peer.events());
    while let Some(event) = events.next().await {
        match event {
            PeerEvent::Connection(conn) => {
                println!("{} connected ({})", conn.remote_id(), conn.serialization());
                tokio::spawn(async move {
                    while let Some(data) = conn.recv().await {
                        if conn.send(data).await.is_err() {
                            break;
                        }
                    }
                    println!("{} left", conn.remote_id());
                });
            }
            PeerEvent::Error(e) => eprintln!("error: {e}"),
            PeerEvent::Disconnected(why) => anyhow::bail!("disconnected: {why}"),
            _ => {}
        }
    }
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
