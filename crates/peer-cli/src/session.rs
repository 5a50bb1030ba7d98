//! Opening the Peer from the common options, and the connection steps every subcommand
//! shares: connecting (with `peer-unavailable` reported as such), accepting, waiting for open,
//! waiting for a call. Connections and calls a command does not take are refused.

use crate::args::Common;
use anyhow::{anyhow, bail, Context, Result};
use peer::{
    ConnectOptions, DataConnection, LocalAddresses, MediaConnection, Peer, PeerEvent, PeerOptions,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the signaling server may take to accept the Peer.
pub const SIGNALING_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a data connection may take to open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `destroy` may take at exit.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once the command is done and the Peer is being destroyed: the events that follow are
/// expected and not reported.
static CLOSING: AtomicBool = AtomicBool::new(false);

/// The server's WebSocket URL, for messages.
pub fn server_url(common: &Common) -> String {
    let scheme = if common.secure { "wss" } else { "ws" };
    format!("{scheme}://{}:{}", common.host, common.port)
}

/// The Peer options of the common flags.
pub fn peer_options(common: &Common) -> PeerOptions {
    let mut options = PeerOptions::new(common.key.clone()).server(
        common.host.clone(),
        common.port,
        common.secure,
    );
    options.debug = common.debug;
    if common.loopback {
        options.config.local_addresses = LocalAddresses::WithLoopback;
    }
    options
}

/// Opens the Peer on the server.
pub async fn open_peer(common: &Common) -> Result<Peer> {
    let url = server_url(common);
    let opening = Peer::new(common.id.as_deref(), peer_options(common));
    let peer = tokio::time::timeout(SIGNALING_TIMEOUT, opening)
        .await
        .map_err(|_| {
            anyhow!("the signaling server at {url} did not answer within {SIGNALING_TIMEOUT:?}")
        })?
        .with_context(|| match &common.id {
            Some(id) => format!("cannot open peer \"{id}\" on {url}"),
            None => format!("cannot open a peer on {url}"),
        })?;
    Ok(peer)
}

/// Opens the Peer, runs `f` with it and destroys it, whatever `f` returned.
pub async fn with_peer<F, Fut>(common: &Common, f: F) -> Result<()>
where
    F: FnOnce(Peer) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let peer = open_peer(common).await?;
    let result = f(peer.clone()).await;
    destroy(&peer).await;
    result
}

/// Destroys the Peer at the end of a command (waiting at most a few seconds); the events that
/// follow are not reported.
pub async fn destroy(peer: &Peer) {
    CLOSING.store(true, Ordering::SeqCst);
    tracing::debug!("destroying the peer");
    if tokio::time::timeout(DESTROY_TIMEOUT, peer.destroy())
        .await
        .is_err()
    {
        tracing::warn!("destroying the peer timed out");
    }
    tracing::debug!("peer destroyed");
}

/// Connects to `remote` and waits until the connection is open. An unknown peer fails with
/// the server's `peer-unavailable` error.
pub async fn connect(peer: &Peer, remote: &str, options: ConnectOptions) -> Result<DataConnection> {
    tracing::debug!(%remote, "connecting");
    let conn = peer.connect(remote, options).await?;
    tracing::debug!(%remote, id = conn.id(), "offer sent; waiting for the connection to open");
    let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
        tokio::select! {
            r = conn.wait_open() => match r {
                Ok(()) => Ok(()),
                // A `peer-unavailable` closes the connection just before its error event.
                Err(_) => Err(match tokio::time::timeout(Duration::from_secs(2), next_error(peer)).await {
                    Ok(e) => e,
                    Err(_) => anyhow!("the connection to \"{remote}\" closed before it opened"),
                }),
            },
            e = next_error(peer) => Err(e),
        }
    })
    .await;
    tracing::debug!(%remote, ?opened, "waiting for open ended");
    match opened {
        Ok(Ok(())) => Ok(conn),
        Ok(Err(e)) => {
            conn.close(true).await;
            tracing::debug!("connection closed");
            Err(e)
        }
        Err(_) => {
            conn.close(true).await;
            tracing::debug!("connection closed");
            bail!(
                "the connection to \"{remote}\" did not open within {OPEN_TIMEOUT:?} \
                 (on one machine, use --loopback on both sides)"
            )
        }
    }
}

/// The next error-like Peer event, as an error. Incoming connections and calls met on the way
/// are refused.
pub async fn next_error(peer: &Peer) -> anyhow::Error {
    loop {
        match peer.next_event().await {
            Some(PeerEvent::Error(e)) => return e.into(),
            Some(PeerEvent::Disconnected(why)) => {
                return anyhow!("disconnected from the signaling server: {why}")
            }
            Some(PeerEvent::Close) | None => return anyhow!("the peer was closed"),
            Some(PeerEvent::Connection(c)) => refuse_quietly(c),
            Some(PeerEvent::Call(c)) => refuse_call(c),
            Some(_) => {}
        }
    }
}

/// Waits for the next incoming connection (not yet open). Incoming calls are refused; Peer
/// errors are printed as warnings; losing the signaling server is an error.
pub async fn next_connection(peer: &Peer) -> Result<DataConnection> {
    loop {
        match peer.next_event().await {
            Some(PeerEvent::Connection(c)) => return Ok(c),
            Some(PeerEvent::Call(c)) => {
                eprintln!(
                    "refused a call from \"{}\" (not taking calls)",
                    c.remote_id()
                );
                refuse_call(c);
            }
            Some(PeerEvent::Error(e)) => eprintln!("warning: {e}"),
            Some(PeerEvent::Disconnected(why)) => {
                bail!("disconnected from the signaling server: {why}")
            }
            Some(PeerEvent::Close) | None => bail!("the peer was closed"),
            Some(_) => {}
        }
    }
}

/// Waits for the next incoming call (not yet answered). Data connections are refused; Peer
/// errors are printed as warnings; losing the signaling server is an error.
pub async fn next_call(peer: &Peer) -> Result<MediaConnection> {
    loop {
        match peer.next_event().await {
            Some(PeerEvent::Call(c)) => return Ok(c),
            Some(PeerEvent::Connection(c)) => {
                eprintln!(
                    "refused a data connection from \"{}\" (waiting for a call)",
                    c.remote_id()
                );
                refuse_quietly(c);
            }
            Some(PeerEvent::Error(e)) => eprintln!("warning: {e}"),
            Some(PeerEvent::Disconnected(why)) => {
                bail!("disconnected from the signaling server: {why}")
            }
            Some(PeerEvent::Close) | None => bail!("the peer was closed"),
            Some(_) => {}
        }
    }
}

/// Waits until an incoming connection is open.
pub async fn wait_open(conn: &DataConnection) -> Result<()> {
    match tokio::time::timeout(OPEN_TIMEOUT, conn.wait_open()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => bail!(
            "the connection from \"{}\" closed before it opened",
            conn.remote_id()
        ),
        Err(_) => {
            conn.close(true).await;
            bail!(
                "the connection from \"{}\" did not open within {OPEN_TIMEOUT:?}",
                conn.remote_id()
            )
        }
    }
}

/// Closes an unwanted incoming connection in the background.
pub fn refuse_quietly(conn: DataConnection) {
    tokio::spawn(async move { conn.close(true).await });
}

/// Refuses an unwanted incoming call in the background (the caller's call closes).
pub fn refuse_call(call: MediaConnection) {
    tokio::spawn(async move { call.close(true).await });
}

/// Keeps reading the Peer's events in the background once a command has its connection, so
/// that the event queue never fills: later incoming connections and calls are refused with a
/// note, errors are printed as warnings.
pub fn drain_events(peer: Peer) {
    tokio::spawn(async move {
        while let Some(ev) = peer.next_event().await {
            if CLOSING.load(Ordering::SeqCst) {
                continue;
            }
            match ev {
                PeerEvent::Connection(c) => {
                    eprintln!("refused a connection from \"{}\" (busy)", c.remote_id());
                    refuse_quietly(c);
                }
                PeerEvent::Call(c) => {
                    eprintln!("refused a call from \"{}\" (busy)", c.remote_id());
                    refuse_call(c);
                }
                PeerEvent::Error(e) => eprintln!("warning: {e}"),
                PeerEvent::Disconnected(why) => {
                    eprintln!("warning: disconnected from the signaling server: {why}")
                }
                _ => {}
            }
        }
    });
}
