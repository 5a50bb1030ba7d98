//! `echo`: every message of every incoming connection goes back as it came.

use crate::session;
use anyhow::Result;
use peer::{DataConnection, Peer};

/// Accepts connections until the Peer loses the server (or the process is interrupted).
pub async fn run(peer: Peer) -> Result<()> {
    eprintln!("echo peer listening as \"{}\"", peer.id());
    loop {
        let conn = session::next_connection(&peer).await?;
        println!(
            "connection {} from \"{}\" ({})",
            conn.id(),
            conn.remote_id(),
            conn.serialization()
        );
        tokio::spawn(echo(conn));
    }
}

async fn echo(conn: DataConnection) {
    let (id, remote) = (conn.id().to_owned(), conn.remote_id().to_owned());
    if let Err(e) = session::wait_open(&conn).await {
        println!("connection {id} from \"{remote}\" failed: {e:#}");
        return;
    }
    let mut echoed = 0u64;
    while let Some(data) = conn.recv().await {
        if let Err(e) = conn.send(data).await {
            eprintln!("warning: echo to \"{remote}\" failed: {e}");
            break;
        }
        echoed += 1;
    }
    conn.close(false).await;
    println!("connection {id} from \"{remote}\" closed ({echoed} messages echoed)");
}
