//! How the SFU benchmark's bare load peers reach the two anchors it measures peer-server
//! against: the bare forwarding loop (`bench-sfu-bare`, JSON lines over TCP) and Janus's
//! VideoRoom plugin (its HTTP API). Both take a publisher's offer and answer it, and make a
//! subscriber an offer of the published tracks and take its answer.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Longest wait for one signaling answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One load peer's signaling with an anchor.
pub enum AnchorClient {
    /// A connection to `bench-sfu-bare`.
    Bare {
        /// Requests.
        write: OwnedWriteHalf,
        /// Replies.
        lines: Lines<BufReader<OwnedReadHalf>>,
    },
    /// A Janus session with one VideoRoom handle.
    Janus(JanusHandle),
}

/// Where the anchor is.
#[derive(Debug, Clone)]
pub enum Anchor {
    /// `bench-sfu-bare`'s control address.
    Bare(SocketAddr),
    /// Janus's HTTP API (`host:port`, path `/janus`) and the VideoRoom room to use.
    Janus {
        /// `host:port`.
        addr: SocketAddr,
        /// The room (created by [`Anchor::prepare`]).
        room: u64,
    },
}

impl Anchor {
    /// Readies the anchor for a case of `publishers`: Janus gets its room created.
    pub async fn prepare(&self, publishers: usize) -> Result<()> {
        if let Anchor::Janus { addr, room } = self {
            let h = JanusHandle::attach(*addr).await?;
            let r = h
                .message(
                    json!({"request": "create", "room": room, "publishers": publishers + 1,
                        "bitrate": 0, "videocodec": "vp8", "audiocodec": "opus",
                        "fir_freq": 0, "notify_joining": false}),
                    None,
                )
                .await?;
            let data = &r["plugindata"]["data"];
            if data["videoroom"] != "created" {
                bail!("Janus did not create room {room}: {r}");
            }
        }
        Ok(())
    }

    /// A new load peer's signaling.
    pub async fn client(&self) -> Result<AnchorClient> {
        match self {
            Anchor::Bare(addr) => {
                let (read, write) = TcpStream::connect(addr).await?.into_split();
                Ok(AnchorClient::Bare {
                    write,
                    lines: BufReader::new(read).lines(),
                })
            }
            Anchor::Janus { addr, .. } => {
                Ok(AnchorClient::Janus(JanusHandle::attach(*addr).await?))
            }
        }
    }

    fn room(&self) -> u64 {
        match self {
            Anchor::Janus { room, .. } => *room,
            Anchor::Bare(_) => 0,
        }
    }
}

impl AnchorClient {
    async fn bare(&mut self, req: Value) -> Result<Value> {
        let AnchorClient::Bare { write, lines } = self else {
            bail!("not a bare client");
        };
        write.write_all(format!("{req}\n").as_bytes()).await?;
        let line = tokio::time::timeout(TIMEOUT, lines.next_line())
            .await
            .context("bench-sfu-bare did not answer")??
            .context("bench-sfu-bare closed the connection")?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Publishes: sends `offer`, returns the answer and the publisher's id (Janus's feed id).
    pub async fn publish(&mut self, anchor: &Anchor, offer: String) -> Result<(String, u64)> {
        match self {
            AnchorClient::Bare { .. } => {
                let r = self.bare(json!({"op": "publish", "sdp": offer})).await?;
                Ok((r["sdp"].as_str().context("no answer")?.to_owned(), 0))
            }
            AnchorClient::Janus(h) => {
                let ev = h
                    .message(
                        json!({"request": "joinandconfigure", "ptype": "publisher",
                            "room": anchor.room(), "audio": false, "video": true}),
                        Some(json!({"type": "offer", "sdp": offer})),
                    )
                    .await?;
                let sdp = ev["jsep"]["sdp"]
                    .as_str()
                    .with_context(|| format!("Janus gave no answer: {ev}"))?;
                let id = ev["plugindata"]["data"]["id"]
                    .as_u64()
                    .with_context(|| format!("Janus gave no publisher id: {ev}"))?;
                Ok((sdp.to_owned(), id))
            }
        }
    }

    /// Subscribes to the publishers `feeds` (Janus) or to the first `feeds.len()` published
    /// tracks (bare): returns the anchor's offer.
    pub async fn subscribe(&mut self, anchor: &Anchor, feeds: &[u64]) -> Result<String> {
        match self {
            AnchorClient::Bare { .. } => {
                let r = self
                    .bare(json!({"op": "subscribe", "tracks": feeds.len()}))
                    .await?;
                Ok(r["sdp"].as_str().context("no offer")?.to_owned())
            }
            AnchorClient::Janus(h) => {
                let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
                let join = json!({"request": "join", "ptype": "subscriber",
                    "room": anchor.room(), "streams": streams});
                // A feed exists once Janus saw its media ("webrtcup"), a moment after the
                // publisher's side connected.
                let mut tries = 0;
                let ev = loop {
                    match h.message(join.clone(), None).await {
                        Err(e) if tries < 20 && format!("{e}").contains("No such feed") => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        other => break other?,
                    }
                };
                Ok(ev["jsep"]["sdp"]
                    .as_str()
                    .with_context(|| format!("Janus gave no offer: {ev}"))?
                    .to_owned())
            }
        }
    }

    /// Completes a subscription with the load peer's answer.
    pub async fn answer(&mut self, answer: String) -> Result<()> {
        match self {
            AnchorClient::Bare { .. } => {
                self.bare(json!({"op": "answer", "sdp": answer})).await?;
                Ok(())
            }
            AnchorClient::Janus(h) => {
                h.message(
                    json!({"request": "start"}),
                    Some(json!({"type": "answer", "sdp": answer})),
                )
                .await?;
                Ok(())
            }
        }
    }
}

/// A Janus session with one attached VideoRoom handle; a task keeps the session alive.
pub struct JanusHandle {
    addr: SocketAddr,
    session: u64,
    handle: u64,
    keepalive: tokio::task::JoinHandle<()>,
}

impl Drop for JanusHandle {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}

impl JanusHandle {
    /// Creates a session and attaches the VideoRoom plugin.
    pub async fn attach(addr: SocketAddr) -> Result<JanusHandle> {
        let r = http(
            addr,
            "POST",
            "/janus",
            Some(json!({"janus": "create", "transaction": "c"})),
        )
        .await?;
        let session = r["data"]["id"]
            .as_u64()
            .with_context(|| format!("Janus create: {r}"))?;
        let r = http(
            addr,
            "POST",
            &format!("/janus/{session}"),
            Some(
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": "a"}),
            ),
        )
        .await?;
        let handle = r["data"]["id"]
            .as_u64()
            .with_context(|| format!("Janus attach: {r}"))?;
        let keepalive = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let _ = http(
                    addr,
                    "POST",
                    &format!("/janus/{session}"),
                    Some(json!({"janus": "keepalive", "transaction": "k"})),
                )
                .await;
            }
        });
        Ok(JanusHandle {
            addr,
            session,
            handle,
            keepalive,
        })
    }

    /// Sends a plugin message; returns its synchronous result, or for an asynchronous request
    /// (`ack`) the plugin's next event on the session (long-polled).
    pub async fn message(&self, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut msg = json!({"janus": "message", "transaction": "m", "body": body});
        if let Some(jsep) = jsep {
            msg["jsep"] = jsep;
        }
        let path = format!("/janus/{}/{}", self.session, self.handle);
        let r = http(self.addr, "POST", &path, Some(msg)).await?;
        match r["janus"].as_str() {
            Some("success") => Ok(r),
            Some("ack") => self.event().await,
            _ => bail!("Janus refused {body}: {r}"),
        }
    }

    /// The next plugin event of this session (long poll), skipping the rest.
    async fn event(&self) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let path = format!("/janus/{}?maxev=1", self.session);
        while tokio::time::Instant::now() < deadline {
            let r = http(self.addr, "GET", &path, None).await?;
            let ev = if r.is_array() { r[0].clone() } else { r };
            match ev["janus"].as_str() {
                Some("event") => {
                    if let Some(err) = ev["plugindata"]["data"].get("error") {
                        bail!("Janus: {err}");
                    }
                    return Ok(ev);
                }
                Some("error") => bail!("Janus: {ev}"),
                _ => continue,
            }
        }
        bail!("no Janus event within {TIMEOUT:?}")
    }
}

/// One HTTP/1.1 request with a JSON body, on its own connection; returns the JSON reply.
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut raw))
        .await
        .context("Janus HTTP timeout")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("no HTTP head in {text:?}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("Janus HTTP {method} {path}: {head}");
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)?
    } else {
        rest.to_owned()
    };
    serde_json::from_str(&body).with_context(|| format!("Janus reply {body:?}"))
}

/// Decodes a chunked HTTP body.
fn dechunk(mut rest: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").context("chunk size")?;
        let n = usize::from_str_radix(size.trim(), 16).context("chunk size")?;
        if n == 0 {
            return Ok(out);
        }
        out.push_str(after.get(..n).context("short chunk")?);
        rest = after.get(n + 2..).context("chunk end")?;
    }
}
