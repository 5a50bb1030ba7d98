//! `send` and `receive`: one file per connection, following [`crate::protocol`].

use crate::args::Common;
use crate::progress::{format_summary, Progress};
use crate::protocol::{self, Control, FileOffer, PIECE_SIZE};
use crate::session;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use peer::{
    ConnectOptions, ConnectionError, Data, DataConnection, DataConnectionEvent, Serialization,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the receiver waits for the next piece before it gives up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one side waits for the other to close after the last message.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// A file opened for sending.
struct Outgoing {
    file: std::fs::File,
    name: String,
    size: u64,
}

/// Opens `path` and reads its name and size; fails before going online if it cannot be read.
fn open_outgoing(path: &Path) -> Result<Outgoing> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {shown}"))?;
    if meta.is_dir() {
        bail!("cannot send {shown}: it is a directory");
    }
    if !meta.is_file() {
        bail!("cannot send {shown}: not a regular file");
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("cannot send {shown}: no file name"))?;
    Ok(Outgoing {
        file,
        name,
        size: meta.len(),
    })
}

/// Sends `path` to `remote` and waits for the receiver's confirmation.
pub async fn send(
    common: &Common,
    remote: &str,
    path: &Path,
    serialization: Serialization,
) -> Result<()> {
    let outgoing = open_outgoing(path)?;
    session::with_peer(common, |peer| async move {
        let options = ConnectOptions::new()
            .metadata(protocol::offer_metadata(&outgoing.name, outgoing.size))
            .serialization(serialization);
        let conn = session::connect(&peer, remote, options).await?;
        session::drain_events(peer);
        let result = send_file(&conn, outgoing).await;
        conn.close(true).await;
        result
    })
    .await
}

async fn send_file(conn: &DataConnection, outgoing: Outgoing) -> Result<()> {
    let Outgoing { file, name, size } = outgoing;
    let remote = conn.remote_id().to_owned();
    let mut file = tokio::fs::File::from_std(file);
    let mut progress = Progress::new(format!("{name} → {remote}"), size);
    let mut sent: u64 = 0;
    while sent < size {
        let want = (size - sent).min(PIECE_SIZE as u64) as usize;
        let mut piece = vec![0u8; want];
        let read = read_full(&mut file, &mut piece).await;
        match read {
            Ok(n) if n == want => {}
            Ok(_) => {
                progress.abandon();
                bail!("{name} shrank while it was being sent");
            }
            Err(e) => {
                progress.abandon();
                return Err(e).with_context(|| format!("reading {name}"));
            }
        }
        if let Err(e) = conn.send(Bytes::from(piece)).await {
            progress.abandon();
            return Err(send_failure(conn, e, sent, size).await);
        }
        sent += want as u64;
        progress.set(sent);
    }
    if let Err(e) = conn.send_json(&protocol::done_message(size)).await {
        progress.abandon();
        return Err(send_failure(conn, e, sent, size).await);
    }
    // The receiver answers once everything is on its disk.
    loop {
        match conn.next_event().await {
            Some(DataConnectionEvent::Data(d)) => {
                match d.to_json().as_ref().and_then(protocol::parse_control) {
                    Some(Control::Received { size: got }) if got == size => break,
                    Some(Control::Received { size: got }) => {
                        progress.abandon();
                        bail!("\"{remote}\" received {got} of {size} bytes");
                    }
                    Some(Control::Error(why)) => {
                        progress.abandon();
                        bail!("\"{remote}\" refused the file: {why}");
                    }
                    _ => {}
                }
            }
            Some(DataConnectionEvent::Close) | None => {
                progress.abandon();
                bail!("\"{remote}\" closed the connection before confirming the transfer");
            }
            Some(_) => {}
        }
    }
    let summary = format_summary(
        &format!("sent {name} to {remote}"),
        size,
        progress.elapsed(),
    );
    progress.finish(&summary);
    Ok(())
}

/// The error of a failed send: the receiver's stated reason if it gave one.
async fn send_failure(
    conn: &DataConnection,
    e: ConnectionError,
    sent: u64,
    size: u64,
) -> anyhow::Error {
    let remote = conn.remote_id();
    if !matches!(e, ConnectionError::Closed) && conn.is_open() {
        return anyhow!(e).context(format!("sending to \"{remote}\""));
    }
    // Events queued before the close are still delivered: look for a `{"error": ...}`.
    let reason = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(ev) = conn.next_event().await {
            if let DataConnectionEvent::Data(d) = ev {
                if let Some(Control::Error(why)) =
                    d.to_json().as_ref().and_then(protocol::parse_control)
                {
                    return Some(why);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    match reason {
        Some(why) => anyhow!("\"{remote}\" refused the file: {why}"),
        None => anyhow!("\"{remote}\" closed the connection after {sent} of {size} bytes"),
    }
}

/// Reads until `buf` is full or the file ends; the number of bytes read.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Receives files into `out`: one transfer at a time, until interrupted, or after the first
/// transfer with `once`.
pub async fn receive(common: &Common, out: &Path, once: bool) -> Result<()> {
    check_out_dir(out)?;
    session::with_peer(common, |peer| async move {
        eprintln!(
            "listening as \"{}\"; saving files to {}",
            peer.id(),
            out.display()
        );
        loop {
            let conn = session::next_connection(&peer).await?;
            let offer = match protocol::parse_offer(conn.metadata()) {
                Ok(offer) if conn.serialization().is_binary() => offer,
                Ok(_) => {
                    let why = format!(
                        "serialization {} cannot carry files; use binary",
                        conn.serialization()
                    );
                    refuse(conn, why);
                    continue;
                }
                Err(why) => {
                    refuse(conn, why);
                    continue;
                }
            };
            match receive_one(&conn, &offer, out).await {
                Ok(path) => println!("{}", path.display()),
                Err(e) if once => return Err(e),
                Err(e) => eprintln!("error: {e:#}"),
            }
            if once {
                return Ok(());
            }
        }
    })
    .await
}

/// Fails unless `out` is a directory this process can create files in.
fn check_out_dir(out: &Path) -> Result<()> {
    let shown = out.display();
    let meta = std::fs::metadata(out).with_context(|| format!("--out {shown}"))?;
    if !meta.is_dir() {
        bail!("--out {shown}: not a directory");
    }
    let probe = out.join(format!(".peer-cli-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("--out {shown}: cannot create files there"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Turns down an incoming connection that is not a usable file transfer: the sender gets
/// `{"error": why}` once the connection is open, then it is closed.
fn refuse(conn: DataConnection, why: String) {
    eprintln!("refused a connection from \"{}\": {why}", conn.remote_id());
    tokio::spawn(async move {
        if session::wait_open(&conn).await.is_ok() {
            let _ = conn.send_json(&protocol::error_message(&why)).await;
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.closed()).await;
        }
        conn.close(true).await;
    });
}

/// Receives one file; its final path.
async fn receive_one(conn: &DataConnection, offer: &FileOffer, out: &Path) -> Result<PathBuf> {
    let remote = conn.remote_id().to_owned();
    eprintln!(
        "receiving {} ({} bytes) from \"{remote}\"",
        offer.name, offer.size
    );
    session::wait_open(conn).await?;
    let part = out.join(format!(".{}.part", offer.name));
    let file = match create_part(&part).await {
        Ok(f) => f,
        Err(e) => {
            let e = e.context(format!("cannot create {}", part.display()));
            reject(conn, &e).await;
            return Err(e);
        }
    };
    let mut progress = Progress::new(format!("{} ← {remote}", offer.name), offer.size);
    let result = async {
        let got = receive_into(conn, file, offer, &mut progress).await?;
        let path = unique_path(out, &offer.name);
        tokio::fs::rename(&part, &path)
            .await
            .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))?;
        Ok::<_, anyhow::Error>((got, path))
    }
    .await;
    match result {
        Ok((got, path)) => {
            let what = format!("received {} from {remote}", path.display());
            progress.finish(&format_summary(&what, got, progress.elapsed()));
            // The sender closes once it has the confirmation.
            let _ = conn.send_json(&protocol::received_message(got)).await;
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.closed()).await;
            conn.close(true).await;
            Ok(path)
        }
        Err(e) => {
            progress.abandon();
            let _ = tokio::fs::remove_file(&part).await;
            reject(conn, &e).await;
            Err(e)
        }
    }
}

/// Tells the sender why the transfer failed (if it can still hear it) and closes.
async fn reject(conn: &DataConnection, e: &anyhow::Error) {
    if conn.is_open() {
        let _ = conn
            .send_json(&protocol::error_message(&format!("{e:#}")))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    }
    conn.close(true).await;
}

/// Creates the temporary file, replacing a stale one from an earlier failed run.
async fn create_part(part: &Path) -> Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    match options.open(part).await {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tokio::fs::remove_file(part).await?;
            Ok(options.open(part).await?)
        }
        other => Ok(other?),
    }
}

/// Writes the pieces into `file` until the sender's `done`; the byte count.
async fn receive_into(
    conn: &DataConnection,
    mut file: tokio::fs::File,
    offer: &FileOffer,
    progress: &mut Progress,
) -> Result<u64> {
    let remote = conn.remote_id();
    let size = offer.size;
    let mut got: u64 = 0;
    loop {
        let ev = tokio::time::timeout(IDLE_TIMEOUT, conn.next_event())
            .await
            .map_err(|_| anyhow!("no data from \"{remote}\" for {IDLE_TIMEOUT:?}"))?;
        match ev {
            Some(DataConnectionEvent::Data(Data::Bytes(piece))) => {
                let n = piece.len() as u64;
                if got + n > size {
                    bail!("\"{remote}\" sent more than the announced {size} bytes");
                }
                file.write_all(&piece).await.context("writing the file")?;
                got += n;
                progress.set(got);
            }
            Some(DataConnectionEvent::Data(d)) => {
                match d.to_json().as_ref().and_then(protocol::parse_control) {
                    Some(Control::Done { size: said }) => {
                        if said.is_some_and(|s| s != size) {
                            bail!(
                                "\"{remote}\" announced {size} bytes but says it sent {}",
                                said.unwrap_or_default()
                            );
                        }
                        if got != size {
                            bail!("received {got} of the announced {size} bytes");
                        }
                        file.flush().await.context("writing the file")?;
                        file.sync_all().await.context("writing the file")?;
                        return Ok(got);
                    }
                    Some(Control::Error(why)) => bail!("\"{remote}\" aborted the transfer: {why}"),
                    _ => bail!("unexpected message from \"{remote}\" during the transfer"),
                }
            }
            Some(DataConnectionEvent::Error(e)) => bail!("bad data from \"{remote}\": {e}"),
            Some(DataConnectionEvent::Close) | None => {
                bail!("\"{remote}\" closed the connection after {got} of {size} bytes")
            }
            Some(_) => {}
        }
    }
}

/// `dir/name`, or `dir/stem (n).ext` with the first free `n` if that exists.
fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    (1u32..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_are_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("peer-cli-unique-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(unique_path(&dir, "a.txt"), dir.join("a.txt"));
        std::fs::write(dir.join("a.txt"), b"x").unwrap();
        assert_eq!(unique_path(&dir, "a.txt"), dir.join("a (1).txt"));
        std::fs::write(dir.join("a (1).txt"), b"x").unwrap();
        assert_eq!(unique_path(&dir, "a.txt"), dir.join("a (2).txt"));
        std::fs::write(dir.join(".rc"), b"x").unwrap();
        assert_eq!(unique_path(&dir, ".rc"), dir.join(".rc (1)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_inputs_are_clear_errors() {
        let e = open_outgoing(Path::new("/nonexistent/file.bin"))
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").starts_with("cannot read /nonexistent/file.bin: "),
            "{e:#}"
        );
        let e = open_outgoing(&std::env::temp_dir()).err().unwrap();
        assert!(format!("{e:#}").contains("is a directory"), "{e:#}");
        let e = check_out_dir(Path::new("/nonexistent/dir")).err().unwrap();
        assert!(
            format!("{e:#}").starts_with("--out /nonexistent/dir: "),
            "{e:#}"
        );
    }
}
