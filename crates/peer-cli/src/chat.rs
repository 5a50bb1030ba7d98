//! `chat`: stdin lines out as text, received messages printed as `<remote-id>: ...`.

use crate::session;
use anyhow::{Context, Result};
use peer::{ConnectOptions, Data, DataConnection, DataConnectionEvent, Peer, Serialization};
use std::io::{BufRead, Write};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long queued lines may take to leave before a Ctrl-D close.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs a chat: connects to `remote`, or with `None` waits for the first incoming connection.
pub async fn run(peer: Peer, remote: Option<String>, serialization: Serialization) -> Result<()> {
    // Read stdin from the start, so that lines typed (or piped) while connecting are kept.
    let mut lines = stdin_lines();
    let conn = match remote {
        Some(remote) => {
            eprintln!("connecting to \"{remote}\" as \"{}\"...", peer.id());
            let options = ConnectOptions::new().serialization(serialization);
            session::connect(&peer, &remote, options).await?
        }
        None => {
            eprintln!(
                "listening as \"{}\"; waiting for a peer to connect",
                peer.id()
            );
            accept_first(&peer).await?
        }
    };
    session::drain_events(peer);
    eprintln!(
        "connected to \"{}\" ({}); type lines to send, Ctrl-D to quit",
        conn.remote_id(),
        conn.serialization()
    );
    converse(&conn, &mut lines).await
}

/// The first incoming connection that opens.
async fn accept_first(peer: &Peer) -> Result<DataConnection> {
    loop {
        let conn = session::next_connection(peer).await?;
        eprintln!("incoming connection from \"{}\"", conn.remote_id());
        match session::wait_open(&conn).await {
            Ok(()) => return Ok(conn),
            Err(e) => eprintln!("warning: {e:#}; still waiting"),
        }
    }
}

async fn converse(conn: &DataConnection, lines: &mut mpsc::Receiver<String>) -> Result<()> {
    let remote = conn.remote_id().to_owned();
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if let Err(e) = conn.send(line).await {
                        if !conn.is_open() {
                            eprintln!("\"{remote}\" closed the connection");
                            return Ok(());
                        }
                        return Err(e).context("sending failed");
                    }
                }
                None => {
                    settle(conn).await;
                    conn.close(true).await;
                    eprintln!("closed the connection to \"{remote}\"");
                    return Ok(());
                }
            },
            ev = conn.next_event() => match ev {
                Some(DataConnectionEvent::Data(d)) => {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{}", format_message(&remote, &d))
                        .and_then(|_| out.flush())
                        .context("writing to stdout")?;
                }
                Some(DataConnectionEvent::Error(e)) => eprintln!("warning: {e}"),
                Some(DataConnectionEvent::Close) | None => {
                    eprintln!("\"{remote}\" closed the connection");
                    return Ok(());
                }
                Some(_) => {}
            },
        }
    }
}

/// Gives sent lines a moment to reach the remote side before the close is signaled.
async fn settle(conn: &DataConnection) {
    let _ = tokio::time::timeout(SETTLE_TIMEOUT, async {
        while conn.is_open() && conn.buffered_amount() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// How a received message is printed: text as is, JSON as JSON, bytes as their count.
pub fn format_message(remote: &str, data: &Data) -> String {
    match data {
        Data::Text(s) => format!("{remote}: {s}"),
        Data::Json(v) => format!("{remote}: {v}"),
        Data::Bytes(b) => format!("{remote}: <{} bytes>", b.len()),
        Data::Packed(v) => match v.to_json() {
            Some(j) => format!("{remote}: {j}"),
            None => format!("{remote}: <js-binarypack value>"),
        },
    }
}

/// Reads stdin lines on a thread of their own (a blocking read must not hold up the
/// runtime's shutdown); the channel closes at end of input.
pub(crate) fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match input.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.blocking_send(line).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("warning: reading stdin: {e}");
                    break;
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_printed_by_kind() {
        assert_eq!(
            format_message("bob", &Data::Text("hi there".into())),
            "bob: hi there"
        );
        assert_eq!(
            format_message("bob", &Data::Json(json!({"a": [1, true]}))),
            r#"bob: {"a":[1,true]}"#
        );
        assert_eq!(
            format_message("bob", &Data::Bytes(vec![0u8; 42].into())),
            "bob: <42 bytes>"
        );
    }
}
