//! The WebSocket transport: a fresh WebSocket session, or the probe/upgrade of a polling session,
//! then one task per connection that reads client frames in order and writes queued frames.
//!
//! The connection runs on the raw `TcpStream` taken back from hyper after the upgrade, with the
//! frame codec of [`super::wsframe`]. Reads go through a per-thread scratch buffer, so an idle
//! connection holds no read or write buffer at all.
//!
//! Nothing here waits on the client without a deadline: every write must make progress within
//! `timeouts.write_ms`, and a message begun (a partial frame, or a binary event waiting for its
//! attachments) must be complete within `timeouts.body_ms`, its bytes counted against the
//! server's inbound budget meanwhile. An eviction (outbox overflow) ends the task at once, even in
//! the middle of a write, and with it the socket.

use super::wsframe::{self, FrameDecoder, WsMessage, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT};
use crate::admission::InboundHold;
use crate::deadline_io::{ConnState, DeadlineIo};
use crate::hub::Disconnect;
use crate::session::{Session, Transport};
use crate::shared::Shared;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use peer_protocol::engineio::{Frame, Packet};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::ErrorType;
use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a client may take between opening the probe WebSocket and sending `5` (upgrade).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of the per-thread read buffer.
const SCRATCH: usize = 64 * 1024;
/// Frames up to this size are batched into one write.
const BATCH_LIMIT: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; SCRATCH]);
}

/// Largest share of a frame reserved ahead of its bytes.
const MAX_RESERVE: usize = 1024 * 1024;

/// A WebSocket connection: the socket, its frame decoder and its deadlines.
struct Conn {
    stream: TcpStream,
    decoder: FrameDecoder,
    /// Longest a write may make no progress.
    write_timeout: Duration,
}

/// What a read produced.
enum Read {
    /// Messages (possibly none yet).
    Messages(Vec<WsMessage>),
    /// The peer closed the TCP connection.
    Eof,
}

impl Conn {
    /// Reads what is available (waiting until something is) and decodes it.
    async fn read(&mut self) -> io::Result<Result<Read, wsframe::WsError>> {
        loop {
            // `poll_read_ready` keeps the waker in the socket's registration instead of in this
            // future, which lives as long as the connection.
            std::future::poll_fn(|cx| self.stream.poll_read_ready(cx)).await?;
            let (n, out, fed) = match self.read_now() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => other?,
            };
            return Ok(match (n, fed) {
                (0, _) => Ok(Read::Eof),
                (_, Ok(())) => Ok(Read::Messages(out)),
                (_, Err(e)) => Err(e),
            });
        }
    }

    /// One non-blocking read through the per-thread scratch buffer: the bytes read (0 at EOF),
    /// the messages decoded, and whether decoding stopped on an error.
    fn read_now(&mut self) -> io::Result<(usize, Vec<WsMessage>, Result<(), wsframe::WsError>)> {
        let mut out = Vec::new();
        SCRATCH_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let n = self.stream.try_read(&mut buf[..])?;
            let fed = self.decoder.feed(&buf[..n], &mut out);
            Ok((n, out, fed))
        })
    }

    /// Writes all of `buf`; each write must make progress within the write deadline.
    async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match tokio::time::timeout(self.write_timeout, self.stream.write(buf)).await {
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read in time",
                    ))
                }
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => buf = &buf[n..],
                Ok(Err(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes engine frames, small ones batched into one write.
    async fn write_frames(&mut self, frames: &[Frame]) -> io::Result<()> {
        let mut batch = Vec::new();
        for frame in frames {
            let (opcode, payload) = match frame {
                Frame::Text(b) => (OP_TEXT, b),
                Frame::Binary(b) => (OP_BINARY, b),
            };
            if payload.len() <= BATCH_LIMIT {
                wsframe::encode_frame(&mut batch, opcode, payload);
                continue;
            }
            if !batch.is_empty() {
                self.write_all(&batch).await?;
                batch.clear();
            }
            let (header, n) = wsframe::frame_header(opcode, payload.len());
            self.write_all(&header[..n]).await?;
            self.write_all(payload).await?;
        }
        if !batch.is_empty() {
            self.write_all(&batch).await?;
        }
        Ok(())
    }

    async fn write_control(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(payload.len() + 2);
        wsframe::encode_frame(&mut buf, opcode, payload);
        self.write_all(&buf).await
    }

    /// Sends a close frame with `code` and shuts the write side.
    async fn close(&mut self, code: u16) {
        let _ = self.write_control(OP_CLOSE, &code.to_be_bytes()).await;
        let _ = self.stream.shutdown().await;
    }
}

type Taken = Result<(Conn, Vec<WsMessage>), Option<Box<(Conn, wsframe::WsError)>>>;

/// Takes the raw socket back from hyper and decodes any bytes hyper had already read. A plain
/// function, so none of hyper's upgrade parts live in the connection's future.
fn take_socket(upgraded: Upgraded, max_message: usize, write_timeout: Duration) -> Taken {
    let Ok(parts) = upgraded.downcast::<TokioIo<DeadlineIo>>() else {
        tracing::warn!("websocket upgrade on an unexpected connection type");
        return Err(None);
    };
    let mut conn = Conn {
        stream: parts.io.into_inner().into_inner(),
        decoder: FrameDecoder::new(max_message, MAX_RESERVE),
        write_timeout,
    };
    let mut early = Vec::new();
    // The leftover bytes share hyper's whole read buffer, which is released when `parts` goes.
    match conn.decoder.feed(&parts.read_buf, &mut early) {
        Ok(()) => Ok((conn, early)),
        Err(e) => Err(Some(Box::new((conn, e)))),
    }
}

/// Runs a WebSocket connection after the HTTP upgrade.
///
/// This future lives as long as the connection, so its size is memory per idle peer: the
/// one-time and per-message steps are boxed and the handshake query is dropped once used.
///
/// `_conn` is the connection's admission slot, held until the socket closes.
pub async fn run(
    shared: Arc<Shared>,
    upgraded: Upgraded,
    query: Box<HandshakeQuery>,
    _conn: Arc<ConnState>,
) {
    let max_message = shared.config.limits.max_payload_bytes + 64;
    let write_timeout = Duration::from_millis(shared.config.timeouts.write_ms);
    let (mut conn, mut early) = match take_socket(upgraded, max_message, write_timeout) {
        Ok(taken) => taken,
        Err(Some(failed)) => {
            let (mut conn, e) = *failed;
            Box::pin(conn.close(e.close_code())).await;
            return;
        }
        Err(None) => return,
    };
    let session = match query.sid.clone() {
        None => match Box::pin(fresh(&shared, &mut conn, *query)).await {
            Some(s) => s,
            None => return,
        },
        Some(sid) => {
            drop(query);
            let Some(session) = shared.session(&sid) else {
                Box::pin(conn.close(1008)).await;
                return;
            };
            if session.transport() != Transport::Polling {
                return;
            }
            match Box::pin(probe(&session, &mut conn, std::mem::take(&mut early))).await {
                Some(rest) => early = rest,
                None => return,
            }
            session
        }
    };
    let how = serve(&shared, &session, &mut conn, early).await;
    shared.finish(&session, how);
}

/// A session that starts on WebSocket: open packet, then the Socket.IO connect.
async fn fresh(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    query: HandshakeQuery,
) -> Option<Arc<Session>> {
    let api_key = query.api_key.as_deref().unwrap_or("");
    let session = match shared.new_session(Transport::WebSocket, api_key) {
        Ok(s) => s,
        Err(_) => {
            conn.close(1013).await;
            return None;
        }
    };
    let open = shared.handshake_packet(&session, false).encode();
    if conn.write_frames(&[open]).await.is_err() {
        shared.finish(&session, Disconnect::Dropped);
        return None;
    }
    shared.open_session(&session, &query).await;
    Some(session)
}

/// The upgrade of a polling session: `2probe` -> `3probe`, then `5`. False if it did not finish.
async fn probe(
    session: &Arc<Session>,
    conn: &mut Conn,
    early: Vec<WsMessage>,
) -> Option<Vec<WsMessage>> {
    let steps = async {
        let mut pending = std::collections::VecDeque::from(early);
        loop {
            while let Some(msg) = pending.pop_front() {
                let WsMessage::Text(text) = msg else { continue };
                let Ok(text) = std::str::from_utf8(&text) else {
                    return None;
                };
                match Packet::decode_text(text) {
                    Ok(Packet::Ping(data)) if data == "probe" => {
                        if conn
                            .write_frames(&[Packet::Pong(data).encode()])
                            .await
                            .is_err()
                        {
                            return None;
                        }
                        // The client now pauses polling and waits for its pending poll to
                        // return before it sends `5`: release that poll.
                        session.start_probe();
                    }
                    // Whatever came in the same read after `5` belongs to the upgraded session.
                    Ok(Packet::Upgrade) => return Some(Vec::from(pending)),
                    _ => return None,
                }
            }
            match conn.read().await {
                Ok(Ok(Read::Messages(m))) => pending.extend(m),
                _ => return None,
            }
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, steps).await {
        Ok(Some(rest)) => {
            session.touch();
            session.upgrade_to_websocket();
            tracing::debug!(session = session.id, "upgraded to websocket");
            Some(rest)
        }
        _ => None,
    }
}

/// Inbound bytes of a message in progress: their hold on the server's budget and since when a
/// message has been incomplete.
struct Inbound {
    hold: InboundHold,
    since: Option<Instant>,
}

/// Why the inbound accounting ended the session.
enum InboundProblem {
    /// A message stayed incomplete past the body deadline.
    TooSlow,
    /// The server's inbound budget stayed exhausted past the body deadline.
    Busy,
}

impl Inbound {
    /// Re-counts the bytes held for incomplete messages (frames and binary events waiting for
    /// attachments) and waits, at most until the message deadline, for budget to hold them.
    async fn update(
        &mut self,
        conn: &Conn,
        session: &Session,
        limit: Duration,
    ) -> Result<(), InboundProblem> {
        let want = conn.decoder.buffered() + session.inbound.lock().await.pending_bytes();
        if want == 0 {
            self.since = None;
        } else if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        let deadline = self.since.unwrap_or_else(Instant::now) + limit;
        self.hold
            .resize(want, deadline)
            .await
            .map_err(|_| InboundProblem::Busy)
    }

    fn deadline(&self, limit: Duration) -> Option<Instant> {
        self.since.map(|t| t + limit)
    }
}

/// Waits until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The main loop: flush queued frames, read client frames. Returns how the session ended.
async fn serve(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    conn: &mut Conn,
    early: Vec<WsMessage>,
) -> Disconnect {
    let body_limit = Duration::from_millis(shared.config.timeouts.body_ms);
    let mut inbound = Inbound {
        hold: shared.admission.inbound_hold(),
        since: None,
    };
    for msg in early {
        if let Some(how) = Box::pin(on_message(shared, session, conn, msg)).await {
            Box::pin(flush_and_close(session, conn, 1000)).await;
            return how;
        }
    }
    loop {
        let changed = session.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if session.is_evicted() {
            return Disconnect::Evicted;
        }
        let frames = session.drain();
        if !frames.is_empty() {
            let written = tokio::select! {
                written = Box::pin(conn.write_frames(&frames)) => written,
                // Cut off while writing: stop now, the socket goes with this task.
                _ = session.evicted() => return Disconnect::Evicted,
            };
            drop(frames);
            match written {
                Ok(()) => continue,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    shared.evict(session, "the client did not read in time (write deadline)");
                    return Disconnect::Evicted;
                }
                // The client may have said goodbye (`41`) just before closing: its bytes can
                // still sit unread while our write fails. Honour them before calling it a drop.
                Err(_) => return Box::pin(last_words(shared, session, conn)).await,
            }
        }
        if session.is_closing() {
            Box::pin(conn.close(1000)).await;
            return Disconnect::Clean;
        }
        let read = tokio::select! {
            _ = &mut changed => continue,
            read = conn.read() => read,
            _ = sleep_until(inbound.deadline(body_limit)) => {
                return Box::pin(give_up(shared, session, conn, InboundProblem::TooSlow)).await;
            }
        };
        match read {
            Err(e) => {
                tracing::debug!(session = session.id, error = %e, "websocket read failed");
                return Disconnect::Dropped;
            }
            Ok(Ok(Read::Eof)) => {
                tracing::debug!(session = session.id, "websocket closed by the client (EOF)");
                return Disconnect::Dropped;
            }
            Ok(Err(e)) => return Box::pin(protocol_error(shared, session, conn, e)).await,
            Ok(Ok(Read::Messages(messages))) => {
                for msg in messages {
                    if let Some(how) = Box::pin(on_message(shared, session, conn, msg)).await {
                        Box::pin(flush_and_close(session, conn, 1000)).await;
                        return how;
                    }
                }
            }
        }
        if let Err(problem) = inbound.update(conn, session, body_limit).await {
            return Box::pin(give_up(shared, session, conn, problem)).await;
        }
    }
}

/// Ends a session whose incoming message could not be taken in time.
async fn give_up(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    conn: &mut Conn,
    problem: InboundProblem,
) -> Disconnect {
    let (reason, code) = match problem {
        InboundProblem::TooSlow => ("message not completed in time", 1008),
        InboundProblem::Busy => {
            shared
                .admission
                .refused(crate::admission::Refusal::InboundBytes);
            ("server is busy receiving; try again later", 1013)
        }
    };
    tracing::debug!(session = session.id, reason, "ending websocket");
    shared.fail(session, ErrorType::InvalidMessage, reason);
    flush_and_close(session, conn, code).await;
    Disconnect::Dropped
}

/// After a failed write: handles whatever the client sent that is still buffered, so a clean
/// goodbye is not mistaken for a dropped connection.
async fn last_words(shared: &Arc<Shared>, session: &Arc<Session>, conn: &mut Conn) -> Disconnect {
    while let Ok((n, messages, fed)) = conn.read_now() {
        for msg in messages {
            if let Some(how) = on_message(shared, session, conn, msg).await {
                return how;
            }
        }
        if n == 0 || fed.is_err() {
            break;
        }
    }
    tracing::debug!(
        session = session.id,
        "write failed and the client said nothing more"
    );
    Disconnect::Dropped
}

async fn protocol_error(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    conn: &mut Conn,
    e: wsframe::WsError,
) -> Disconnect {
    tracing::debug!(session = session.id, error = %e, "websocket protocol error");
    let reason = if matches!(e, wsframe::WsError::TooBig(_)) {
        "message exceeds the payload limit"
    } else {
        "websocket protocol error"
    };
    shared.fail(session, ErrorType::InvalidMessage, reason);
    flush_and_close(session, conn, e.close_code()).await;
    Disconnect::Dropped
}

/// Ends the connection: writes what is still queued, then a close frame with `code` (each
/// write within the write deadline).
async fn flush_and_close(session: &Session, conn: &mut Conn, code: u16) {
    let frames = session.drain();
    if conn.write_frames(&frames).await.is_ok() {
        conn.close(code).await;
    }
}

/// Handles one client message; `Some` when the session ends.
async fn on_message(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    conn: &mut Conn,
    msg: WsMessage,
) -> Option<Disconnect> {
    let packet = match msg {
        WsMessage::Text(data) => match String::from_utf8(data) {
            Ok(text) => Packet::decode_text_owned(text),
            Err(_) => Err(peer_protocol::engineio::DecodeError::NotUtf8),
        },
        WsMessage::Binary(data) => Packet::decode_binary_bytes(data),
        WsMessage::Ping(data) => {
            let _ = conn.write_control(OP_PONG, &data).await;
            return None;
        }
        WsMessage::Pong => return None,
        WsMessage::Close(code) => {
            tracing::debug!(
                session = session.id,
                ?code,
                "websocket close frame without a Socket.IO goodbye"
            );
            return Some(Disconnect::Dropped);
        }
    };
    match packet {
        Ok(packet) => {
            if shared.on_packet(session, packet).await {
                None
            } else {
                Some(Disconnect::Clean)
            }
        }
        Err(e) => {
            shared.fail(
                session,
                ErrorType::InvalidMessage,
                &format!("malformed engine.io packet: {e}"),
            );
            Some(Disconnect::Clean)
        }
    }
}
