//! The accept loop: each connection gets an admission slot and a [`DeadlineIo`] socket under
//! hyper, or, past a limit, a prompt `503` and a close.
//!
//! When `accept` itself fails for want of file descriptors (something else of the process used
//! the headroom), a reserve descriptor is given up for a moment to accept the waiting client
//! and refuse it, instead of leaving it unanswered in the kernel's queue and retrying in a loop.

use crate::admission::Refusal;
use crate::deadline_io::{ConnState, DeadlineIo, Deadlines};
use crate::http;
use crate::response::REFUSED_CONNECTION;
use crate::shared::Shared;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Refused connections being closed politely at once; past this they are just dropped.
const MAX_CLOSING_REFUSED: usize = 128;
/// How long a refused connection may take to read its `503`.
const REFUSED_LINGER: Duration = Duration::from_secs(1);

/// Accepts connections until the future is dropped.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let closing = Arc::new(AtomicUsize::new(0));
    let mut reserve = open_reserve();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) if is_out_of_descriptors(&e) => {
                shared.admission.refused(Refusal::Accept);
                // Free the reserve descriptor, take the waiting client, refuse it, re-reserve.
                drop(reserve.take());
                if let Ok((stream, _)) = listener.accept().await {
                    // No descriptor to spare for a polite close: answer and drop.
                    let _ = stream.try_write(REFUSED_CONNECTION);
                }
                reserve = open_reserve();
                if reserve.is_none() {
                    // Nothing to give up: do not spin on the failing accept.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        let slot = match shared.admission.admit() {
            Ok(slot) => slot,
            Err(why) => {
                shared.admission.refused(why);
                refuse(stream, &closing);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::new(slot, peer));
        tokio::spawn(serve(shared.clone(), stream, state));
    }
}

/// Serves one HTTP connection (and hands a WebSocket upgrade to its own task).
async fn serve(shared: Arc<Shared>, stream: TcpStream, state: Arc<ConnState>) {
    let t = &shared.config.timeouts;
    let deadlines = Deadlines {
        write: Duration::from_millis(t.write_ms),
        head: Duration::from_millis(t.head_ms),
    };
    let keepalive_idle = Duration::from_millis(t.keepalive_idle_ms);
    let io = DeadlineIo::new(stream, state.clone(), deadlines);
    let service = {
        let shared = shared.clone();
        service_fn(move |req| http::handle(shared.clone(), state.clone(), req))
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // hyper's header timer starts when it waits for a request head, so between requests it
        // is the keep-alive idle timeout; `DeadlineIo` bounds the head itself.
        .header_read_timeout(keepalive_idle)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "http connection ended");
    }
}

/// Answers `503` on a connection that cannot be served and closes it, reading (briefly) what
/// the client sent so the close does not reset the answer away.
fn refuse(stream: TcpStream, closing: &Arc<AtomicUsize>) {
    // The socket buffer of a fresh connection holds the whole answer.
    let _ = stream.try_write(REFUSED_CONNECTION);
    if closing.fetch_add(1, Ordering::AcqRel) >= MAX_CLOSING_REFUSED {
        closing.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let closing = closing.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(REFUSED_LINGER, async {
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        closing.fetch_sub(1, Ordering::AcqRel);
    });
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23) | Some(24))
}

/// A descriptor kept open to be given up when `accept` runs out.
fn open_reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}
