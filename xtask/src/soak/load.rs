//! Phases 2 and 3 of the soak, run by `crates/peer-harness/src/bin/soak-load` (release): room
//! join/leave cycles of Rust Peers with media, and TURN allocations with REST credentials
//! issued here ([`peer_auth::turn::TurnCredential`]).

use anyhow::{bail, Context, Result};
use peer_auth::turn::TurnCredential;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What one `soak-load` run reported.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    /// Cycles that succeeded.
    pub ok: usize,
    /// Errors seen (failed cycles, and errors reported on the side).
    pub errors: usize,
    /// The first errors.
    pub samples: Vec<String>,
    /// Wall time, seconds.
    pub secs: f64,
    /// A successful cycle's time, ms: p50, p99, max.
    pub cycle_ms: (f64, f64, f64),
}

/// Runs `exe ARGS` and reads the JSON result line it prints last.
async fn run_load(exe: &Path, args: &[String]) -> Result<LoadResult> {
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut last: Option<Value> = None;
    while let Some(line) = lines.next_line().await? {
        match serde_json::from_str::<Value>(&line) {
            Ok(v) if v.is_object() => last = Some(v),
            _ => eprintln!("{line}"),
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("{} {} failed: {status}", exe.display(), args.join(" "));
    }
    let v = last.with_context(|| format!("{} printed no result", exe.display()))?;
    let n = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    Ok(LoadResult {
        ok: n("ok") as usize,
        errors: n("errors") as usize,
        samples: v
            .get("error_samples")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        secs: n("secs"),
        cycle_ms: (n("p50_ms"), n("p99_ms"), n("max_ms")),
    })
}

/// Where and how the load processes run.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The `soak-load` executable.
    pub exe: &'a Path,
    /// The server's signaling port (127.0.0.1).
    pub port: u16,
    /// The API key.
    pub key: &'a str,
    /// The server's TURN address.
    pub turn: std::net::SocketAddr,
    /// The TURN secret of the server's configuration.
    pub turn_secret: &'a str,
    /// How long a room member waits after leaving before its Peer joins the same room again.
    pub rejoin_pause_ms: u64,
    /// Where the credentials file goes.
    pub dir: &'a Path,
}

impl Target<'_> {
    /// Room cycles of one kind (`mesh` or `sfu`) in `lanes` rooms side by side, the Peers'
    /// ids starting with `prefix`.
    pub async fn rooms(
        &self,
        mode: &str,
        cycles: usize,
        lanes: usize,
        prefix: &str,
    ) -> Result<LoadResult> {
        let args: Vec<String> = [
            "rooms",
            "--port",
            &self.port.to_string(),
            "--key",
            self.key,
            "--mode",
            mode,
            "--cycles",
            &cycles.to_string(),
            "--lanes",
            &lanes.to_string(),
            "--prefix",
            prefix,
            "--rejoin-pause-ms",
            &self.rejoin_pause_ms.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        run_load(self.exe, &args).await
    }

    /// `count` TURN allocations, `parallel` at a time, each with a credential of its own (user
    /// `KEY$PREFIX-N`, valid for an hour) issued here; the credentials go through a file.
    pub async fn turn(&self, prefix: &str, count: usize, parallel: usize) -> Result<LoadResult> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs();
        let mut text = String::new();
        for i in 0..count {
            let c = TurnCredential::issue(
                self.turn_secret.as_bytes(),
                self.key,
                &format!("{prefix}-{i}"),
                now,
                3600,
            );
            text.push_str(&format!("{} {}\n", c.username, c.credential));
        }
        let file = self.dir.join(format!("{prefix}-credentials.txt"));
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        let args: Vec<String> = [
            "turn",
            "--server",
            &self.turn.to_string(),
            "--credentials",
            &file.to_string_lossy(),
            "--parallel",
            &parallel.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let r = run_load(self.exe, &args).await;
        let _ = std::fs::remove_file(&file);
        r
    }
}
