//! Phase 1 of the soak: peers opened and closed over the signaling protocol, with the bench's
//! raw client ([`crate::bench::client`]: WebSocket, Engine.IO v3, Socket.IO 4, as skyway-js
//! 4.4.5 speaks them).
//!
//! Each cycle opens a peer (handshake up to the server's `OPEN`) and closes it at once, at most
//! `concurrency` cycles in flight. One in `drop_one_in` is dropped abruptly: its TCP socket is
//! closed with no goodbye and no WebSocket close frame, so the server keeps the peer for its
//! reconnect grace. The others close as the SDK's `destroy()` does: the Socket.IO disconnect
//! `41`, then the server's WebSocket close is awaited.

use crate::bench::client::{self, Dialect};
use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for a peer's `OPEN`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the server's close after the goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Error samples kept per kind.
const SAMPLES: usize = 5;

/// What the cycles of phase 1 came to.
#[derive(Debug, Default)]
pub struct Churn {
    /// Cycles run.
    pub cycles: usize,
    /// Peers that opened.
    pub opened: usize,
    /// Of those, dropped abruptly.
    pub dropped: usize,
    /// Opens that failed (unexpected).
    pub open_errors: usize,
    /// Clean closes that did not end with the server's close (the socket reset or ended
    /// first): tolerated, as the server may end the TCP connection right after its close frame.
    pub close_errors: usize,
    /// The first errors of each kind.
    pub samples: Vec<String>,
    /// Wall time, seconds.
    pub secs: f64,
    /// Time to open one peer (TCP connect to `OPEN`), ms: p50, p99, max.
    pub open_ms: (f64, f64, f64),
}

/// Runs `cycles` open/close cycles of peers `PREFIX-N` on 127.0.0.1:`port`.
pub async fn churn(
    port: u16,
    api_key: &str,
    prefix: &str,
    cycles: usize,
    concurrency: usize,
    drop_one_in: usize,
) -> Churn {
    let dialect = Dialect::SocketIo {
        api_key: api_key.to_owned(),
        credential: None,
    };
    let started = Instant::now();
    let dialect = &dialect;
    let results: Vec<(bool, Result<Duration, Failure>)> = futures::stream::iter(0..cycles)
        .map(|i| async move {
            let drop = drop_one_in > 0 && i % drop_one_in == drop_one_in - 1;
            let id = format!("{prefix}-{i}");
            let mut seed = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let token = client::token(&mut seed);
            if i > 0 && i % 2000 == 0 {
                eprintln!("   {i} of {cycles} peers");
            }
            (drop, one(port, dialect, &id, &token, drop).await)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Churn {
        cycles,
        secs: started.elapsed().as_secs_f64(),
        ..Churn::default()
    };
    let mut open_ms = Vec::new();
    let (mut open_samples, mut close_samples) = (0, 0);
    for (dropped, r) in results {
        match r {
            Ok(took) => {
                out.opened += 1;
                out.dropped += usize::from(dropped);
                open_ms.push(took.as_secs_f64() * 1000.0);
            }
            Err(Failure::Open(e)) => {
                out.open_errors += 1;
                if open_samples < SAMPLES {
                    open_samples += 1;
                    out.samples.push(format!("open: {e:#}"));
                }
            }
            Err(Failure::Close(took, e)) => {
                out.opened += 1;
                out.close_errors += 1;
                open_ms.push(took.as_secs_f64() * 1000.0);
                if close_samples < SAMPLES {
                    close_samples += 1;
                    out.samples.push(format!("close (tolerated): {e:#}"));
                }
            }
        }
    }
    open_ms.sort_by(f64::total_cmp);
    let q = |p: f64| -> f64 {
        if open_ms.is_empty() {
            return 0.0;
        }
        open_ms[((open_ms.len() as f64 * p).ceil() as usize).clamp(1, open_ms.len()) - 1]
    };
    out.open_ms = (q(0.5), q(0.99), q(1.0));
    out
}

/// Why a cycle failed.
enum Failure {
    /// The peer did not open.
    Open(anyhow::Error),
    /// It opened (in the time given) but the clean close did not end as expected.
    Close(Duration, anyhow::Error),
}

/// One cycle: open, then drop or close. Returns how long the open took.
async fn one(
    port: u16,
    dialect: &Dialect,
    id: &str,
    token: &str,
    drop_it: bool,
) -> Result<Duration, Failure> {
    let t = Instant::now();
    let mut ws = client::connect(port, dialect, id, token, OPEN_TIMEOUT)
        .await
        .map_err(Failure::Open)?;
    let took = t.elapsed();
    if drop_it {
        // The TCP socket closes here: no `41`, no close frame.
        drop(ws);
        return Ok(took);
    }
    let closed = tokio::time::timeout(CLOSE_TIMEOUT, async {
        ws.send(Message::text("41"))
            .await
            .context("sending the goodbye")?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("waiting for the server's close"),
            }
        }
    })
    .await;
    match closed {
        Ok(Ok(())) => Ok(took),
        Ok(Err(e)) => Err(Failure::Close(took, e)),
        Err(_) => Err(Failure::Close(
            took,
            anyhow::anyhow!("no close from the server within {CLOSE_TIMEOUT:?}"),
        )),
    }
}

/// Fails unless `c` is acceptable: every open succeeded and at most 1% of the clean closes
/// went wrong.
pub fn check(c: &Churn) -> Result<()> {
    if c.open_errors > 0 {
        bail!(
            "{} of {} peers failed to open; first: {}",
            c.open_errors,
            c.cycles,
            c.samples.first().map(String::as_str).unwrap_or("?")
        );
    }
    if c.close_errors * 100 > c.cycles {
        bail!(
            "{} of {} clean closes failed (more than 1%)",
            c.close_errors,
            c.cycles
        );
    }
    Ok(())
}
