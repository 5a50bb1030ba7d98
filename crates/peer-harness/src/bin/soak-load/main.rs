//! The media and TURN load of `cargo xtask soak`: many short-lived room members and TURN
//! allocations against one running peer-server, counted and timed.
//!
//! ```text
//! soak-load rooms --port P --key K --mode mesh|sfu --cycles N [--lanes L] [--prefix ID]
//!                 [--packets N] [--rejoin-every N] [--rejoin-pause-ms MS] [--cycle-timeout SECS]
//! soak-load turn --server IP:PORT --credentials FILE [--parallel N] [--messages N]
//! ```
//!
//! `rooms` ([`rooms`]): `--lanes` rooms side by side, each with one long-lived member sending
//! synthetic VP8 and one member that joins, waits for the long-lived member's video (a few RTP
//! packets), and leaves, `--cycles` times in all. `turn` ([`turn`]): one allocation per line
//! of the credentials file (`USERNAME PASSWORD`, issued by the driver), `--parallel` at a
//! time: allocate, relay a few datagrams to a local echo socket and back, release.
//!
//! Progress goes to stderr; the result is one JSON line on stdout (`cycles`, `ok`, `errors`,
//! `error_samples`, `secs`, and the per-cycle time's `p50_ms`, `p99_ms`, `max_ms`). Errors of
//! single cycles are counted, not fatal: the process fails only when it cannot run at all.

mod rooms;
mod turn;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

const USAGE: &str =
    "usage: soak-load rooms --port P --key K --mode mesh|sfu --cycles N [--lanes L] \
[--prefix ID] [--packets N] [--rejoin-every N] [--rejoin-pause-ms MS] [--cycle-timeout SECS]\n       \
soak-load turn --server IP:PORT --credentials FILE [--parallel N] [--messages N]";

/// Error samples kept per run (the count covers all of them).
const MAX_SAMPLES: usize = 10;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-load")
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        match args.first().map(String::as_str) {
            Some("rooms") => rooms::run(rooms::Opts::parse(&args[1..])?).await,
            Some("turn") => turn::run(turn::Opts::parse(&args[1..])?).await,
            _ => bail!("{USAGE}"),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(v) => {
            println!("{v}");
            Ok(())
        }
        Err(e) => {
            eprintln!("soak-load: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Reads `--flag value` pairs: `set(flag, value)` takes each one and returns false for a flag
/// it does not know.
fn parse_flags(args: &[String], mut set: impl FnMut(&str, &str) -> Result<bool>) -> Result<()> {
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        if !set(flag, value).with_context(|| format!("bad value for {flag}"))? {
            bail!("unknown option {flag:?}\n{USAGE}");
        }
    }
    Ok(())
}

/// What the cycles of a run came to, filled by its tasks.
#[derive(Debug, Default)]
pub struct Tally {
    ok: usize,
    errors: usize,
    samples: Vec<String>,
    /// Milliseconds each successful cycle took.
    times_ms: Vec<f64>,
}

impl Tally {
    /// A successful cycle that took `took`.
    pub fn ok(&mut self, took: Duration) {
        self.ok += 1;
        self.times_ms.push(took.as_secs_f64() * 1000.0);
    }

    /// An error (a failed cycle, or one reported on the side); the first few are kept.
    pub fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < MAX_SAMPLES {
            eprintln!("soak-load: {what}");
            self.samples.push(what);
        }
    }

    /// The result line for `cycles` cycles run in `secs`.
    pub fn result(&self, cycles: usize, secs: f64) -> Value {
        let mut t = self.times_ms.clone();
        t.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if t.is_empty() {
                return 0.0;
            }
            t[((t.len() as f64 * p).ceil() as usize).clamp(1, t.len()) - 1]
        };
        json!({
            "cycles": cycles,
            "ok": self.ok,
            "errors": self.errors,
            "error_samples": self.samples,
            "secs": secs,
            "p50_ms": q(0.5),
            "p99_ms": q(0.99),
            "max_ms": q(1.0),
        })
    }
}

/// A [`Tally`] shared by tasks.
pub type Shared = std::sync::Arc<Mutex<Tally>>;

/// Runs `f` on the shared tally (a poisoned lock is still used: counts stay meaningful).
pub fn with<T>(tally: &Shared, f: impl FnOnce(&mut Tally) -> T) -> T {
    let mut guard = tally.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}
