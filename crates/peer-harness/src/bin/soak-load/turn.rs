//! `soak-load turn`: TURN allocations against a running TURN server with webrtc-rs's TURN
//! client (the `turn` crate that `webrtc` re-exports), one per credential line.
//!
//! Each allocation: a fresh UDP socket and client, `Allocate` (with the 401 and nonce round
//! trip), then `--messages` datagrams sent through the relay to a local echo socket (the first
//! makes the client create a permission) and each echoed back through the relay and checked,
//! then the relay closed (a `Refresh` with lifetime 0, which frees the allocation on the
//! server) and the client closed. `--parallel` allocations run at a time.

use crate::{parse_flags, with, Shared, Tally};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use webrtc::turn::client::{Client, ClientConfig};
use webrtc::util::Conn;

/// Longest one allocation's whole cycle may take.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for one echoed datagram.
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `soak-load turn`.
#[derive(Debug, Clone)]
pub struct Opts {
    server: Option<SocketAddr>,
    credentials: String,
    parallel: usize,
    messages: usize,
}

impl Opts {
    /// Reads the options after `turn`.
    pub fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            server: None,
            credentials: String::new(),
            parallel: 10,
            messages: 3,
        };
        parse_flags(args, |flag, v| {
            match flag {
                "--server" => o.server = Some(v.parse()?),
                "--credentials" => o.credentials = v.to_owned(),
                "--parallel" => o.parallel = v.parse()?,
                "--messages" => o.messages = v.parse()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if o.server.is_none() || o.credentials.is_empty() || o.parallel == 0 {
            bail!("turn needs --server, --credentials, and --parallel of at least 1");
        }
        Ok(o)
    }
}

/// Runs one allocation per credential and returns the result line.
pub async fn run(o: Opts) -> Result<Value> {
    let server = o.server.context("--server")?;
    let text = std::fs::read_to_string(&o.credentials)
        .with_context(|| format!("reading {}", o.credentials))?;
    let creds: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_once(' ')
                .map(|(u, p)| (u.to_owned(), p.trim().to_owned()))
                .with_context(|| format!("a credential line is `USERNAME PASSWORD`: {l:?}"))
        })
        .collect::<Result<_>>()?;
    let echo = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let echo_addr = echo.local_addr()?;
    let echo_task = tokio::spawn(echo_loop(echo));
    let creds = Arc::new(creds);
    let next = Arc::new(AtomicUsize::new(0));
    let tally: Shared = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..o.parallel.min(creds.len().max(1)) {
        let (creds, next, tally) = (creds.clone(), next.clone(), tally.clone());
        let messages = o.messages;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((user, pass)) = creds.get(i) else {
                    break;
                };
                let t = Instant::now();
                let one = one_allocation(server, user, pass, echo_addr, messages);
                match tokio::time::timeout(CYCLE_TIMEOUT, one).await {
                    Ok(Ok(())) => with(&tally, |x| x.ok(t.elapsed())),
                    Ok(Err(e)) => with(&tally, |x| x.error(format!("allocation {i}: {e:#}"))),
                    Err(_) => with(&tally, |x| {
                        x.error(format!("allocation {i}: not done within {CYCLE_TIMEOUT:?}"))
                    }),
                }
                if (i + 1) % 250 == 0 {
                    eprintln!("soak-load: {} allocations", i + 1);
                }
            }
        }));
    }
    for w in workers {
        w.await.context("a TURN worker panicked")?;
    }
    let secs = started.elapsed().as_secs_f64();
    echo_task.abort();
    Ok(with(&tally, |t| t.result(creds.len(), secs)))
}

/// Sends every datagram back to where it came from.
async fn echo_loop(socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 2048];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let _ = socket.send_to(&buf[..n], from).await;
    }
}

/// One allocation: allocate, relay `messages` datagrams to `echo` and back, release.
async fn one_allocation(
    server: SocketAddr,
    user: &str,
    pass: &str,
    echo: SocketAddr,
    messages: usize,
) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let client = Client::new(ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: user.to_owned(),
        password: pass.to_owned(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .context("TURN client")?;
    client.listen().await.context("TURN client listen")?;
    let result = async {
        let relay = client.allocate().await.context("Allocate")?;
        let relayed = relay.local_addr().context("relayed address")?;
        let exchanged = exchange(&relay, echo, messages).await;
        // A Refresh with lifetime 0: the server frees the allocation now.
        let closed = relay.close().await;
        exchanged.with_context(|| format!("relaying through {relayed}"))?;
        closed.context("releasing the allocation")?;
        anyhow::Ok(())
    }
    .await;
    client.close().await.context("closing the TURN client")?;
    result
}

/// Sends `messages` datagrams through `relay` to `echo` and checks each comes back.
async fn exchange(relay: &impl Conn, echo: SocketAddr, messages: usize) -> Result<()> {
    let mut buf = vec![0u8; 2048];
    for i in 0..messages {
        let msg = format!("soak datagram {i} through the relay");
        relay
            .send_to(msg.as_bytes(), echo)
            .await
            .context("sending through the relay")?;
        let (n, from) = tokio::time::timeout(ECHO_TIMEOUT, relay.recv_from(&mut buf))
            .await
            .with_context(|| format!("no echo of datagram {i} within {ECHO_TIMEOUT:?}"))?
            .context("reading from the relay")?;
        if from != echo || &buf[..n] != msg.as_bytes() {
            bail!("datagram {i} came back wrong: {n} bytes from {from}");
        }
    }
    Ok(())
}
