//! The load generator's clients: the two wire dialects (peer-server's Socket.IO protocol 4 over
//! Engine.IO v3, and PeerServer's plain PeerJS JSON), connecting many peers with bounded
//! concurrency, and the idle and relay (ping-pong) tasks.
//!
//! Every relayed message carries its send time (microseconds on this process's monotonic clock)
//! in its `connectionId`, so the receiver measures the **one-way** latency sender → server →
//! receiver exactly, without halving a round trip.

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// One client connection.
pub type Ws = WebSocketStream<TcpStream>;

/// A realistic host/srflx ICE candidate line as Chrome emits it; with the envelope the relayed
/// frame is about 300 bytes.
const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 203.0.113.7 60684 typ srflx raddr 192.168.1.10 rport 60684 generation 0 ufrag EsAw network-cost 999";

/// Marker preceding the send timestamp inside `connectionId`.
const STAMP_MARK: &str = "\"connectionId\":\"dc_";

/// Digits of the zero-padded microsecond send timestamp.
const STAMP_DIGITS: usize = 16;

/// Upper bound on frames one peer task handles (a safety net beside the time bound).
const MAX_FRAMES_PER_TASK: u64 = 200_000_000;

/// Upper bound on latency samples kept per peer task.
const MAX_SAMPLES_PER_TASK: usize = 4_000_000;

/// The wire dialect of the server under test.
#[derive(Debug, Clone)]
pub enum Dialect {
    /// peer-server: Socket.IO protocol 4 over Engine.IO v3 on a WebSocket, as skyway-js 4.4.5.
    SocketIo {
        /// The API key configured in the server.
        api_key: String,
        /// Makes the `credential` query value for a peer id, when the app requires credentials.
        credential: Option<fn(&str) -> String>,
    },
    /// PeerServer (npm `peer`): plain JSON frames on `/peerjs`.
    PeerJs,
}

impl Dialect {
    /// The request path and query for peer `id` with session `token`.
    pub fn path(&self, id: &str, token: &str) -> String {
        match self {
            Dialect::SocketIo {
                api_key,
                credential,
            } => {
                let credential = credential
                    .map(|make| format!("&credential={}", make(id)))
                    .unwrap_or_default();
                format!(
                    "/socket.io/?apiKey={api_key}&token={token}&peerId={id}{credential}&platform=javascript&sdk_version=4.4.5&EIO=3&transport=websocket"
                )
            }
            Dialect::PeerJs => format!("/peerjs?key=peerjs&id={id}&token={token}"),
        }
    }

    /// The keepalive frame and its period, as the real clients send them (skyway-js: Engine.IO
    /// ping `2` every 25 s; PeerJS 1.x: `HEARTBEAT` every 5 s).
    pub fn keepalive(&self) -> (&'static str, Duration) {
        match self {
            Dialect::SocketIo { .. } => ("2", Duration::from_secs(25)),
            Dialect::PeerJs => (r#"{"type":"HEARTBEAT"}"#, Duration::from_secs(5)),
        }
    }

    /// Whether `frame` (received during the handshake) completes it; errors on a refusal.
    fn is_open(&self, frame: &str) -> Result<bool> {
        match self {
            Dialect::SocketIo { .. } => {
                if frame.starts_with(r#"42["OPEN""#) {
                    Ok(true)
                } else if frame.starts_with(r#"42["ERROR""#)
                    || frame.starts_with("41")
                    || frame == "1"
                {
                    bail!("server refused: {}", clip(frame))
                } else {
                    Ok(false)
                }
            }
            Dialect::PeerJs => {
                let v: serde_json::Value = serde_json::from_str(frame)
                    .with_context(|| format!("non-JSON frame during open: {}", clip(frame)))?;
                match v.get("type").and_then(|t| t.as_str()) {
                    Some("OPEN") => Ok(true),
                    Some("ERROR") | Some("ID-TAKEN") => bail!("server refused: {}", clip(frame)),
                    _ => Ok(false),
                }
            }
        }
    }

    /// A candidate message to `dst` stamped with `stamp_us`.
    pub fn relay_frame(&self, dst: &str, stamp_us: u64) -> String {
        let cand = format!(
            r#"{{"candidate":"{CANDIDATE}","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"EsAw"}}"#
        );
        match self {
            Dialect::SocketIo { .. } => format!(
                r#"42["SEND_CANDIDATE",{{"candidate":{cand},"dst":"{dst}","connectionId":"dc_{stamp_us:016}","connectionType":"data"}}]"#
            ),
            Dialect::PeerJs => format!(
                r#"{{"type":"CANDIDATE","payload":{{"candidate":{cand},"type":"data","connectionId":"dc_{stamp_us:016}"}},"dst":"{dst}"}}"#
            ),
        }
    }

    /// Whether `frame` is a relayed candidate.
    fn is_relayed(&self, frame: &str) -> bool {
        match self {
            Dialect::SocketIo { .. } => frame.starts_with(r#"42["CANDIDATE""#),
            Dialect::PeerJs => frame.contains(r#""type":"CANDIDATE""#),
        }
    }

    /// Whether `frame` is the keepalive answer (ignored silently).
    fn is_keepalive_answer(&self, frame: &str) -> bool {
        matches!(self, Dialect::SocketIo { .. }) && frame == "3"
    }
}

/// The send stamp and `src` of a relayed frame.
fn parse_relayed(frame: &str) -> Result<(u64, &str)> {
    let at = frame
        .find(STAMP_MARK)
        .ok_or_else(|| anyhow!("no connectionId stamp"))?
        + STAMP_MARK.len();
    let digits = frame
        .get(at..at + STAMP_DIGITS)
        .ok_or_else(|| anyhow!("short connectionId stamp"))?;
    let stamp: u64 = digits.parse().context("bad connectionId stamp")?;
    let src_at = frame.find(r#""src":""#).ok_or_else(|| anyhow!("no src"))? + 7;
    let rest = frame.get(src_at..).unwrap_or_default();
    let end = rest.find('"').ok_or_else(|| anyhow!("unterminated src"))?;
    Ok((stamp, &rest[..end]))
}

/// Shortens a frame for a report.
pub fn clip(frame: &str) -> String {
    if frame.len() <= 300 {
        frame.to_string()
    } else {
        let mut end = 300;
        while !frame.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &frame[..end], frame.len())
    }
}

/// The process-wide clock that stamps messages.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Clock(Instant::now())
    }

    /// Microseconds since the clock started.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// A pseudo-random session token (base 36, 12 characters) like skyway-js makes.
pub fn token(seed: &mut u64) -> String {
    let mut out = String::with_capacity(12);
    for _ in 0..12 {
        // xorshift64*
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let d = u32::try_from((r >> 33) % 36).unwrap_or(0);
        out.push(char::from_digit(d, 36).unwrap_or('0'));
    }
    out
}

/// Opens one peer and waits for the server's OPEN.
pub async fn connect(
    port: u16,
    dialect: &Dialect,
    id: &str,
    token: &str,
    limit: Duration,
) -> Result<Ws> {
    let deadline = tokio::time::Instant::now() + limit;
    let work = async {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .context("TCP connect")?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://127.0.0.1:{port}{}", dialect.path(id, token));
        let cfg = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut ws, _resp) = tokio_tungstenite::client_async_with_config(url, tcp, Some(cfg))
            .await
            .context("WebSocket handshake")?;
        for _ in 0..16 {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if dialect.is_open(t.as_str())? {
                        return Ok(ws);
                    }
                }
                Some(Ok(Message::Close(c))) => bail!("closed during open: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("reading during open"),
                None => bail!("connection ended during open"),
            }
        }
        bail!("no OPEN within 16 frames")
    };
    timeout_at(deadline, work)
        .await
        .map_err(|_| anyhow!("no OPEN within {limit:?}"))?
}

/// Opens `ids` (same order in the result), at most `concurrency` handshakes in flight. Also
/// returns how long each successful open took (TCP connect to OPEN), in µs.
pub async fn connect_many(
    port: u16,
    dialect: &Dialect,
    ids: &[String],
    concurrency: usize,
    seed: &mut u64,
) -> (Vec<Result<Ws>>, Vec<u32>) {
    connect_many_on(&[port], dialect, ids, concurrency, seed).await
}

/// [`connect_many`] over several servers: `ids[i]` opens on `ports[i % ports.len()]`, so with
/// two ports the even-numbered ids go to the first and the odd-numbered ones to the second,
/// all through the same `concurrency` handshakes in flight.
pub async fn connect_many_on(
    ports: &[u16],
    dialect: &Dialect,
    ids: &[String],
    concurrency: usize,
    seed: &mut u64,
) -> (Vec<Result<Ws>>, Vec<u32>) {
    let tokens: Vec<String> = ids.iter().map(|_| token(seed)).collect();
    let port_of = |i: usize| match ports.len() {
        0 => 0,
        n => ports[i % n],
    };
    let timed: Vec<(Result<Ws>, Duration)> = futures::stream::iter(ids.iter().zip(tokens.iter()))
        .enumerate()
        .map(|(i, (id, tok))| {
            let port = port_of(i);
            async move {
                let t = Instant::now();
                let r = connect(port, dialect, id, tok, Duration::from_secs(30)).await;
                (r, t.elapsed())
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut took = Vec::with_capacity(timed.len());
    let conns = timed
        .into_iter()
        .map(|(r, d)| {
            if r.is_ok() {
                took.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
            }
            r
        })
        .collect();
    (conns, took)
}

/// Keeps one idle peer open: answers nothing, sends the keepalive, and notices a close.
/// Ends on `stop` (closing politely) or at `hard_deadline`. The first keepalive goes `first`
/// from now (then one every period), so that peers opened together can spread their keepalives
/// over the period as real clients do.
pub async fn idle_peer(
    mut ws: Ws,
    dialect: Arc<Dialect>,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicUsize>,
    hard_deadline: tokio::time::Instant,
    first: Duration,
) -> Option<String> {
    let (ka, period) = dialect.keepalive();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
    let mut lost = None;
    for _ in 0..MAX_FRAMES_PER_TASK {
        tokio::select! {
            _ = stop.changed() => break,
            _ = sleep_until(hard_deadline) => break,
            _ = tick.tick() => {
                if let Err(e) = ws.send(Message::text(ka)).await {
                    lost = Some(format!("keepalive send failed: {e}"));
                    break;
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Close(c))) => { lost = Some(format!("server closed: {c:?}")); break; }
                Some(Ok(_)) => {}
                Some(Err(e)) => { lost = Some(format!("read error: {e}")); break; }
                None => { lost = Some("connection ended".into()); break; }
            }
        }
    }
    if lost.is_some() {
        alive.fetch_sub(1, Ordering::Relaxed);
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    lost
}

/// What one relaying peer saw.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Relayed messages received inside the measurement window.
    pub received: u64,
    /// One-way latencies (µs) of those messages.
    pub latencies_us: Vec<u32>,
    /// When each of those messages arrived ([`Clock`] µs), in the order of `latencies_us`.
    pub arrivals_us: Vec<u64>,
    /// Relayed messages whose `src` was not the partner.
    pub bad_src: u64,
    /// Frames that were neither relayed candidates nor keepalive answers.
    pub unexpected: u64,
    /// The first few unexpected frames, clipped.
    pub samples: Vec<String>,
    /// Why the task ended early, if it did.
    pub error: Option<String>,
}

/// Timing of a relay run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Start of measurement (after warm-up).
    pub start_us: u64,
    /// End of measurement and of the run.
    pub end_us: u64,
    /// The run's end on the tokio clock.
    pub deadline: tokio::time::Instant,
}

/// One side of a ping-pong pair: sends `initial` stamped candidates to `partner`, then answers
/// every relayed candidate with a fresh one, until the window ends.
pub async fn relay_peer(
    mut ws: Ws,
    dialect: Arc<Dialect>,
    partner: String,
    initial: usize,
    clock: Clock,
    window: Window,
) -> RelayStats {
    let mut st = RelayStats::default();
    if let Err(e) = relay_loop(&mut ws, &dialect, &partner, initial, clock, window, &mut st).await {
        st.error = Some(format!("{e:#}"));
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    st
}

async fn relay_loop(
    ws: &mut Ws,
    dialect: &Dialect,
    partner: &str,
    initial: usize,
    clock: Clock,
    window: Window,
    st: &mut RelayStats,
) -> Result<()> {
    for _ in 0..initial {
        ws.feed(Message::text(dialect.relay_frame(partner, clock.now_us())))
            .await?;
    }
    ws.flush().await?;
    let (ka, period) = dialect.keepalive();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    for _ in 0..MAX_FRAMES_PER_TASK {
        let m = tokio::select! {
            biased;
            _ = sleep_until(window.deadline) => return Ok(()),
            _ = tick.tick() => { ws.send(Message::text(ka)).await?; continue; }
            m = ws.next() => m,
        };
        let Some(text) = text_of(m)? else {
            continue;
        };
        let frame = text.as_str();
        if !dialect.is_relayed(frame) {
            if !dialect.is_keepalive_answer(frame) {
                st.unexpected += 1;
                if st.samples.len() < 3 {
                    st.samples.push(clip(frame));
                }
            }
            continue;
        }
        let now = clock.now_us();
        let (stamp, src) = parse_relayed(frame)
            .with_context(|| format!("unparsable relayed frame: {}", clip(frame)))?;
        if src != partner {
            st.bad_src += 1;
            if st.samples.len() < 3 {
                st.samples.push(clip(frame));
            }
        }
        if stamp >= window.start_us && now < window.end_us {
            st.received += 1;
            if st.latencies_us.len() < MAX_SAMPLES_PER_TASK {
                st.latencies_us
                    .push(u32::try_from(now.saturating_sub(stamp)).unwrap_or(u32::MAX));
                st.arrivals_us.push(now);
            }
        }
        ws.send(Message::text(dialect.relay_frame(partner, clock.now_us())))
            .await?;
    }
    Ok(())
}

/// The text of what a client's socket read: `None` for another kind of message (a ping, say),
/// an error when the server closed it or the connection ended or failed.
pub(super) fn text_of(
    m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>> {
    match m {
        Some(Ok(Message::Text(t))) => Ok(Some(t)),
        Some(Ok(Message::Close(c))) => bail!("server closed: {c:?}"),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e).context("read"),
        None => bail!("connection ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_parser() {
        for d in [
            Dialect::SocketIo {
                api_key: "k".into(),
                credential: None,
            },
            Dialect::PeerJs,
        ] {
            let f = d.relay_frame("bob", 1234);
            assert!(f.len() > 250 && f.len() < 360, "{} bytes", f.len());
            // What the servers send back: `src` added.
            let relayed =
                match d {
                    Dialect::SocketIo { .. } => f
                        .replacen("SEND_CANDIDATE", "CANDIDATE", 1)
                        .replacen("\"dst\":\"bob\"", "\"dst\":\"bob\",\"src\":\"alice\"", 1),
                    Dialect::PeerJs => f.replacen("{", "{\"src\":\"alice\",", 1),
                };
            assert!(d.is_relayed(&relayed));
            let (stamp, src) = parse_relayed(&relayed).expect("parses");
            assert_eq!((stamp, src), (1234, "alice"));
        }
    }

    #[test]
    fn tokens_are_base36() {
        let mut s = 42;
        let t = token(&mut s);
        assert_eq!(t.len(), 12);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, token(&mut s));
    }
}
