//! The socket under each HTTP connection, with the deadlines hyper does not keep:
//!
//! - a write that makes no progress for `write` fails (a client that stops reading a long-poll
//!   response or a REST answer cannot hold the connection and its buffers);
//! - a request head must be complete within `head` of the connection's start (first request) or
//!   of its first byte (later requests), so a client trickling header bytes is cut off however
//!   slowly it sends.
//!
//! Between requests, hyper's own header timer (`keepalive_idle`) ends idle keep-alive
//! connections. [`ConnState`] is what the connection's service and this wrapper share: the
//! number of requests seen, and the connection's slot in [`crate::admission`].

use crate::admission::ConnSlot;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// What one connection's service and socket share.
#[derive(Debug)]
pub struct ConnState {
    /// The connection's admission slot (held as long as any part of the connection lives,
    /// including a WebSocket task after an upgrade).
    pub slot: ConnSlot,
    /// The client's address.
    pub peer: SocketAddr,
    /// Requests whose head arrived.
    requests: AtomicU64,
    /// Requests being served (head arrived, response not produced yet).
    in_flight: AtomicU64,
}

/// A request being served; dropped when its response is produced.
#[derive(Debug)]
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnState {
    /// The state of a new connection.
    pub fn new(slot: ConnSlot, peer: SocketAddr) -> ConnState {
        ConnState {
            slot,
            peer,
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// A request head arrived (called by the service); the request is served until the guard
    /// is dropped. Bytes that arrive meanwhile are its body, not a new request's head.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.slot.bind();
        InFlight(self.clone())
    }

    fn between_requests(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }
}

/// The deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Longest a write may make no progress.
    pub write: Duration,
    /// Longest a request head may take.
    pub head: Duration,
}

/// A `TcpStream` with a write-progress deadline and a request-head deadline.
#[derive(Debug)]
pub struct DeadlineIo {
    stream: TcpStream,
    state: Arc<ConnState>,
    deadlines: Deadlines,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// The head deadline and the request count when it was armed; a new request disarms it.
    head_timer: Option<(Pin<Box<Sleep>>, u64)>,
}

impl DeadlineIo {
    /// Wraps the socket of a just-accepted connection; the first request's head deadline starts
    /// now.
    pub fn new(stream: TcpStream, state: Arc<ConnState>, deadlines: Deadlines) -> DeadlineIo {
        let armed_at = state.requests();
        DeadlineIo {
            stream,
            state,
            deadlines,
            write_timer: None,
            head_timer: Some((Box::pin(tokio::time::sleep(deadlines.head)), armed_at)),
        }
    }

    /// The socket, for a WebSocket connection that leaves hyper.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }

    /// Fails the read once the head deadline passed with no new request.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let requests = self.state.requests();
        if let Some((sleep, armed_at)) = &mut self.head_timer {
            if *armed_at != requests {
                self.head_timer = None;
            } else if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not complete in time",
                ));
            }
        }
        Poll::Pending
    }

    /// A write's outcome under the deadline: progress resets it, a pending write runs it.
    fn deadline_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => match self.poll_write_deadline(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(self.deadlines.write)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read in time",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() > before;
                let requests = this.state.requests();
                // The first bytes of a later request start its head deadline (bytes during a
                // request are its body, which has a deadline of its own).
                if got && this.head_timer.is_none() && requests > 0 && this.state.between_requests()
                {
                    this.head_timer =
                        Some((Box::pin(tokio::time::sleep(this.deadlines.head)), requests));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.poll_head(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.deadline_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.deadline_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Admission;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair(deadlines: Deadlines) -> (DeadlineIo, TcpStream, Arc<ConnState>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let admission = Arc::new(Admission::new(10, 10, 1000));
        let state = Arc::new(ConnState::new(admission.admit().unwrap(), peer));
        (
            DeadlineIo::new(server, state.clone(), deadlines),
            client,
            state,
        )
    }

    #[tokio::test]
    async fn a_silent_first_request_times_out_and_a_request_disarms_it() {
        let d = Deadlines {
            write: Duration::from_secs(5),
            head: Duration::from_millis(100),
        };
        let (mut io, _client, _) = pair(d).await;
        let mut buf = [0u8; 8];
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);

        let (mut io, mut client, state) = pair(d).await;
        state.request_started();
        let read = tokio::time::timeout(Duration::from_millis(300), io.read(&mut buf)).await;
        assert!(read.is_err(), "no deadline between requests");
        // The first byte of the next request arms it again.
        client.write_all(b"G").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        assert_eq!(
            io.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }

    #[tokio::test]
    async fn a_write_to_a_client_that_does_not_read_fails() {
        let d = Deadlines {
            write: Duration::from_millis(200),
            head: Duration::from_secs(5),
        };
        let (mut io, _client, _) = pair(d).await;
        let chunk = vec![0u8; 1 << 20];
        let result = async {
            loop {
                if let Err(e) = io.write_all(&chunk).await {
                    return e;
                }
            }
        };
        let e = tokio::time::timeout(Duration::from_secs(10), result)
            .await
            .expect("the write deadline fires");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
