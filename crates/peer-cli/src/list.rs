//! `list`: the open peers of the API key.

use anyhow::{anyhow, Result};
use peer::{ErrorKind, Peer};

/// Prints every open peer id but this command's own, one per line.
pub async fn run(peer: Peer) -> Result<()> {
    let ids = peer.list_all_peers().await.map_err(|e| {
        if e.kind == ErrorKind::ListError {
            anyhow!(
                "{e} (the server does not list peers for this key; enable it with \
                 rest_api = true for the app in the server configuration)"
            )
        } else {
            anyhow!(e).context("listing peers")
        }
    })?;
    let mut out = String::new();
    for id in ids.iter().filter(|id| id.as_str() != peer.id()) {
        out.push_str(id);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
