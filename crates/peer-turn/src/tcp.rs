//! TURN over TCP (RFC 5766 §2.1): each connection is one client. Its byte stream is cut into
//! messages by [`TcpFramer`] and each is handled as a datagram would be; what `turn` sends the
//! client goes back on the connection, ChannelData padded. The connection's allocation ends
//! with the connection.
//!
//! Limits: at most `max_tcp_connections` at once (past it a new connection is closed at once);
//! a connection must complete a message within [`FIRST_MESSAGE`], and is closed after
//! [`IDLE`] without one (longer than the default allocation lifetime, which Refreshes renew);
//! a write that makes no progress for [`WRITE`] closes it.

use crate::framing::{pad_for_tcp, TcpFramer};
use crate::handler::Ctx;
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use turn::allocation::allocation_manager::Manager;
use turn::allocation::five_tuple::FiveTuple;
use webrtc_util::Conn;

/// The first complete message must arrive within this.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// A connection with no complete message for this long is closed.
pub const IDLE: Duration = Duration::from_secs(660);
/// A write that makes no progress for this long closes the connection.
pub const WRITE: Duration = Duration::from_secs(5);

/// Accepts TURN-over-TCP clients.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    manager: Arc<Manager>,
    ctx: Arc<Ctx>,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let local_addr = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors, say: wait instead of spinning.
                tracing::warn!(error = %e, "TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "TURN TCP connection refused: at the connection limit");
            drop(stream);
            continue;
        };
        let (manager, ctx) = (manager.clone(), ctx.clone());
        tokio::spawn(async move {
            serve(stream, peer, local_addr, &manager, &ctx).await;
            let ft = FiveTuple {
                src_addr: peer,
                dst_addr: local_addr,
                ..Default::default()
            };
            manager.delete_allocation(&ft).await;
            drop(slot);
        });
    }
}

/// Reads and handles one connection's messages until it ends, fails or idles out.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    local_addr: SocketAddr,
    manager: &Arc<Manager>,
    ctx: &Arc<Ctx>,
) {
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let client = Arc::new(TcpClientConn {
        write: Mutex::new(write),
        local_addr,
        peer,
        closed: AtomicBool::new(false),
    });
    let conn: Arc<dyn Conn + Send + Sync> = client.clone();
    let mut framer = TcpFramer::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut deadline = FIRST_MESSAGE;
    loop {
        // Every complete message first.
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    deadline = IDLE;
                    ctx.handle("tcp", &conn, manager, local_addr, peer, frame.bytes())
                        .await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TURN TCP connection closed");
                    return;
                }
            }
        }
        if client.closed.load(Ordering::Relaxed) {
            return;
        }
        let want = framer.room().min(buf.len());
        let n = match tokio::time::timeout(deadline, read.read(&mut buf[..want])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%peer, "TURN TCP connection idle: closed");
                return;
            }
        };
        framer.push(&buf[..n]);
    }
}

/// What `turn` writes to for one TCP client.
struct TcpClientConn {
    write: Mutex<OwnedWriteHalf>,
    local_addr: SocketAddr,
    peer: SocketAddr,
    closed: AtomicBool,
}

fn io(e: &str) -> webrtc_util::Error {
    webrtc_util::Error::Other(e.to_owned())
}

#[async_trait]
impl Conn for TcpClientConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(io("a TURN TCP connection is connected already"))
    }

    async fn recv(&self, _buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Err(io("read by the connection's task"))
    }

    async fn recv_from(&self, _buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Err(io("read by the connection's task"))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.send_to(buf, self.peer).await
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(io("closed"));
        }
        let bytes = pad_for_tcp(buf);
        let mut w = self.write.lock().await;
        match tokio::time::timeout(WRITE, w.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(buf.len()),
            _ => {
                // A client that does not read is cut off; its task sees the flag.
                self.closed.store(true, Ordering::Relaxed);
                let _ = w.shutdown().await;
                Err(io("the TURN TCP client does not read"))
            }
        }
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        // The allocation ended: the connection goes with it.
        self.closed.store(true, Ordering::Relaxed);
        let _ = self.write.lock().await.shutdown().await;
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
