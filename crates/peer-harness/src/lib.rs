//! What the harness programs share: the JSON-lines control channel on stdin and stdout, and
//! opening a loopback Peer on a test server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anchor;
pub mod raw;

use anyhow::{bail, Context, Result};
use peer::{LocalAddresses, Peer, PeerEvent, PeerOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// Longest wait for a Peer to open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Prints one JSON line on stdout (the driver's channel).
pub fn reply(v: serde_json::Value) {
    println!("{v}");
}

/// The lines of stdin, read by a plain thread; the channel closes at the end of stdin.
pub fn commands() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
            if tx.send(line.trim().to_owned()).is_err() {
                break;
            }
            line.clear();
        }
    });
    rx
}

/// Opens Peer `id` of app `key` on the server at 127.0.0.1:`port`, with loopback candidates
/// only, and waits for its `open` event.
pub async fn open_peer(port: u16, key: &str, id: &str) -> Result<Peer> {
    if key.is_empty() {
        bail!("--key is required");
    }
    let mut options = PeerOptions::new(key.to_owned());
    options.port = port;
    options.config.local_addresses = LocalAddresses::LoopbackOnly;
    let peer = Peer::new(Some(id), options)
        .await
        .with_context(|| format!("opening peer {id}"))?;
    match tokio::time::timeout(OPEN_TIMEOUT, peer.next_event()).await {
        Ok(Some(PeerEvent::Open(_))) => Ok(peer),
        Ok(other) => bail!("expected the open event of {id}, got {other:?}"),
        Err(_) => bail!("peer {id} did not open within {OPEN_TIMEOUT:?}"),
    }
}
