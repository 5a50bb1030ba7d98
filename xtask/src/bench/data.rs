//! `cargo xtask bench data`: data-channel throughput and connect-to-open latency, side by side in
//! one run:
//!
//! - the **bare pair**: two `webrtc` 0.17.2 peer connections in one process with SDP and
//!   candidates handed over directly, the dependency's own ceiling;
//! - **Rust to Rust** through `peer-server` with this project's `peer` library, in each
//!   serialization (`none`, `binary`, `binary-utf8`, `json`), plus one signaling round trip;
//! - **Chromium to Chromium** through the unmodified `skyway-js@4.4.5` in headless Chromium
//!   (`binary`, `json`, `none`).
//!
//! The Rust side is `crates/peer-harness/src/bin/bench-data.rs` (release build), the browser side
//! `bench/data-browser.mjs`; both print one JSON object per result line, collected here. The
//! report (markdown, also written to `target/bench/data.md`) gives each case's MB/s and
//! connect-to-open median with ratios to the bare pair, and PASS/MISS against the targets. The
//! command exits 0 whether targets are met or not; it fails only when something crashed.

use super::args::Args;
use super::server::{self, Kind, Server};
use super::{capture, fmt, quantile, ratio, verdict};
use crate::util::root;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;

use std::path::Path;
use std::process::Command;

/// Usage of `cargo xtask bench data`.
pub const USAGE: &str = "usage: cargo xtask bench data [--mib N] [--reps N] [--browser-mib N] [--connects N] \
[--cases bare,rtt,none,binary,binary-utf8,json] [--browser-cases binary,json,none] [--no-browser] [--no-build]";

/// Target: `none` throughput as a fraction of the bare pair's.
const NONE_TARGET: f64 = 0.90;
/// Target: `binary` throughput as a fraction of the bare pair's.
const BINARY_TARGET: f64 = 0.70;
/// An open slower than this counts as "slow" (a 1 s retransmission timer fired).
const SLOW_OPEN_MS: f64 = 500.0;

/// Options of one run.
#[derive(Debug, Clone)]
struct Opts {
    mib: usize,
    reps: usize,
    browser_mib: usize,
    connects: usize,
    cases: Vec<String>,
    browser_cases: Vec<String>,
    browser: bool,
    build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            mib: 256,
            reps: 9,
            browser_mib: 16,
            connects: 20,
            cases: ["bare", "rtt", "none", "binary", "binary-utf8", "json"]
                .map(String::from)
                .to_vec(),
            browser_cases: ["binary", "json", "none"].map(String::from).to_vec(),
            browser: true,
            build: true,
        };
        let mut a = Args::new(args, USAGE);
        while let Some(flag) = a.flag() {
            match flag {
                "--mib" => o.mib = a.parse()?,
                "--reps" => o.reps = a.parse()?,
                "--browser-mib" => o.browser_mib = a.parse()?,
                "--connects" => o.connects = a.parse()?,
                "--cases" => o.cases = a.list()?,
                "--browser-cases" => o.browser_cases = a.list()?,
                "--no-browser" => o.browser = false,
                "--no-build" => o.build = false,
                _ => return Err(a.unknown()),
            }
        }
        let known = ["bare", "rtt", "none", "binary", "binary-utf8", "json"];
        if let Some(c) = o.cases.iter().find(|c| !known.contains(&c.as_str())) {
            bail!("unknown case {c:?}\n{USAGE}");
        }
        if let Some(c) = o
            .browser_cases
            .iter()
            .find(|c| !["binary", "binary-utf8", "json", "none"].contains(&c.as_str()))
        {
            bail!("unknown browser case {c:?}\n{USAGE}");
        }
        if o.mib == 0 || o.browser_mib == 0 || o.reps == 0 || o.connects == 0 || o.connects > 1000 {
            bail!("--mib, --reps and --browser-mib must be at least 1, --connects in 1..=1000");
        }
        Ok(o)
    }
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args)?;
    let command = format!("cargo xtask bench data {}", args.join(" "));
    let root = root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    if opts.build {
        super::build_harness(&["bench-data"])?;
    }
    if opts.browser {
        crate::conformance::ensure_chromium()?;
        crate::conformance::ensure_node_modules()?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut srv = rt.block_on(Server::start(Kind::PeerServer, &root, &out_dir))?;
    eprintln!(
        "peer-server (release) pid {} listening on 127.0.0.1:{}",
        srv.pid, srv.port
    );
    let measured = measure(&opts, &root, srv.port);
    let server_alive = srv.running();
    rt.block_on(srv.stop());
    let results = measured?;
    if !server_alive {
        bail!("peer-server exited during the run; see target/bench/peer-server.log");
    }
    let md = report(&opts, &command, &results);
    super::publish(&md, &out_dir.join("data.md"))
}

/// Runs the Rust and the browser halves against the server on `port`.
fn measure(opts: &Opts, root: &Path, port: u16) -> Result<Vec<Value>> {
    let mut results = Vec::new();
    if !opts.cases.is_empty() {
        let exe = root.join("target/release/bench-data");
        let mut cmd = Command::new(&exe);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--key", server::API_KEY])
            .arg("--mib")
            .arg(opts.mib.to_string())
            .arg("--reps")
            .arg(opts.reps.to_string())
            .arg("--connects")
            .arg(opts.connects.to_string())
            .arg("--cases")
            .arg(opts.cases.join(","));
        eprintln!("== Rust: {}", exe.display());
        results.extend(super::collect_json(cmd).context("the Rust bench (bench-data)")?);
    }
    if opts.browser && !opts.browser_cases.is_empty() {
        let mut cmd = Command::new("node");
        cmd.arg(root.join("bench/data-browser.mjs"))
            .env("PEER_SERVER_PORT", port.to_string())
            .env("BENCH_KEY", server::API_KEY)
            .env("BENCH_BROWSER_MIB", opts.browser_mib.to_string())
            .env("BENCH_CONNECTS", opts.connects.to_string())
            .env("BENCH_BROWSER_CASES", opts.browser_cases.join(","))
            .env("CHROMIUM_PATH", crate::conformance::CHROMIUM);
        eprintln!("== Chromium: node bench/data-browser.mjs");
        results.extend(
            super::collect_json(cmd).context("the browser bench (bench/data-browser.mjs)")?,
        );
    }
    Ok(results)
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn opens(v: &Value) -> Vec<f64> {
    let mut x: Vec<f64> = v
        .get("open_ms")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    x.sort_by(f64::total_cmp);
    x
}

/// Median over the runs of MB per CPU-second of the bench process: less sensitive than MB/s to
/// other processes taking CPU from a shared machine.
fn per_cpu_second(v: &Value) -> Option<f64> {
    let mut x: Vec<f64> = v
        .get("runs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| Some(num(r, "mbps")? / (num(r, "cpu_pct")? / 100.0)))
                .filter(|x| x.is_finite())
                .collect()
        })
        .unwrap_or_default();
    x.sort_by(f64::total_cmp);
    x.get(x.len() / 2).copied()
}

/// `x` with the range of the runs, when there was more than one.
fn with_range(v: &Value, x: Option<f64>) -> String {
    let runs: Vec<f64> = v
        .get("runs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| num(r, "mbps")).collect())
        .unwrap_or_default();
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match x {
        Some(x) if runs.len() > 1 => format!("{x:.1} ({lo:.1}–{hi:.1})"),
        _ => fmt(x, 1),
    }
}

fn label(case: &str) -> String {
    match case {
        "bare" => "bare webrtc 0.17.2 pair (no signaling)".into(),
        c if c.starts_with("chromium-") => format!(
            "Chromium ↔ Chromium, skyway-js `{}`",
            c.trim_start_matches("chromium-")
        ),
        c => format!("Rust ↔ Rust, `{c}`"),
    }
}

fn message(v: &Value) -> String {
    let n = v.get("message_bytes").and_then(Value::as_u64).unwrap_or(0);
    match v.get("case").and_then(Value::as_str).unwrap_or("") {
        "json" | "chromium-json" => format!("{n}-char string"),
        _ if n == 1 << 20 => "1 MiB bytes".into(),
        _ => format!("{n} B bytes"),
    }
}

fn report(opts: &Opts, command: &str, results: &[Value]) -> String {
    let get = |case: &str| {
        results
            .iter()
            .find(|v| v.get("case").and_then(Value::as_str) == Some(case))
    };
    let bare = get("bare");
    let bare_mbps = bare.and_then(|v| num(v, "mbps"));
    let bare_open = bare.and_then(|v| num(v, "open_ms_median"));
    let rtt = get("rtt").and_then(|v| num(v, "rtt_ms_median"));
    let chromium = results
        .iter()
        .find_map(|v| v.get("chromium").and_then(Value::as_str))
        .unwrap_or("not run");
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Data benchmark: Rust peer vs bare webrtc 0.17.2 vs skyway-js in Chromium\n"
    );
    let _ = writeln!(md, "- Command: `{}`", command.trim());
    let _ = writeln!(md, "- Machine: {}", server::machine());
    let _ = writeln!(
        md,
        "- Date: {}; commit {}; Chromium {chromium}",
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        capture("git", &["describe", "--always", "--dirty"])
    );
    let _ = writeln!(
        md,
        "- Everything on 127.0.0.1 (host candidates only), both ends of each case in one process \
(the Rust bench, or one Chromium page); peer-server release build. MB = 10^6 bytes."
    );
    let _ = writeln!(
        md,
        "- Throughput: payload bytes / time from the first `send` to the last byte counted by the \
receiver. Rust cases (bare pair included): {} MiB each in {} runs on fresh connections, the \
cases interleaved, median run shown with the range of runs; Chromium cases: {} MiB each, one run \
(the SDK sends one message per `setInterval(1)` tick). Rust `send` waits while more than 1 MiB \
is buffered; the bare pair uses the same scheme and message size as `none`. CPU: the Rust bench \
process (both ends) during the median run, and the median over the runs of MB per CPU-second \
of that process (steadier than MB/s when other processes share the machine).",
        opts.mib, opts.reps, opts.browser_mib
    );
    let _ = writeln!(
        md,
        "- Connect-to-open: median of {} connections (after one warm-up): bare pair from \
`createOffer` to open on both sides; Rust from `Peer::connect` to `wait_open` on the connecting \
side; Chromium from `peer.connect()` to the connection's `open` event. A signaling round trip is \
a message relayed A → peer-server → B and one back B → peer-server → A over the library's \
transport (what an offer and its answer take).\n",
        opts.connects
    );
    let _ = writeln!(
        md,
        "| case | message | MB/s (range) | vs bare | connect-to-open median (ms) | vs bare | p90 / max (ms) | opens > {SLOW_OPEN_MS:.0} ms | CPU % of a core (MB per CPU-second) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for v in results {
        let Some(case) = v.get("case").and_then(Value::as_str) else {
            continue;
        };
        if case == "rtt" {
            continue;
        }
        let mbps = num(v, "mbps");
        let open = num(v, "open_ms_median");
        let o = opens(v);
        let slow = o.iter().filter(|&&x| x > SLOW_OPEN_MS).count();
        let cpu = match num(v, "cpu_pct") {
            Some(c) => format!("{c:.0} ({})", fmt(per_cpu_second(v), 1)),
            None => match num(v, "ms_per_dc_send") {
                Some(m) => format!("— ({m:.2} ms per `RTCDataChannel.send`)"),
                None => "—".into(),
            },
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} / {} | {slow} of {} | {cpu} |",
            label(case),
            message(v),
            with_range(v, mbps),
            ratio(mbps, bare_mbps),
            fmt(open, 2),
            ratio(open, bare_open),
            fmt(quantile(&o, 0.9), 1),
            fmt(o.last().copied(), 1),
            o.len()
        );
    }
    if let Some(r) = get("rtt") {
        let o = {
            let mut x: Vec<f64> = r
                .get("rtt_ms")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            x.sort_by(f64::total_cmp);
            x
        };
        let _ = writeln!(
            md,
            "\nSignaling round trip through peer-server: median {} ms (p90 {} ms, {} samples).",
            fmt(rtt, 3),
            fmt(quantile(&o, 0.9), 3),
            o.len()
        );
    }
    if let Some(b) = bare.and_then(|v| num(v, "open_from_pc_ms_median")) {
        let _ = writeln!(
            md,
            "Bare pair connect-to-open counted from the creation of the first `RTCPeerConnection` \
(as the Rust cases count): median {b:.2} ms."
        );
    }

    let _ = writeln!(md, "\n## Targets (from the issue)\n");
    let tp_target = |case: &str, target: f64| -> String {
        match (get(case).and_then(|v| num(v, "mbps")), bare_mbps) {
            (Some(x), Some(b)) if b > 0.0 => {
                let cpu = match (
                    get(case).and_then(per_cpu_second),
                    bare.and_then(per_cpu_second),
                ) {
                    (Some(p), Some(q)) if q > 0.0 => {
                        format!("; per CPU-second {:.0}%", p / q * 100.0)
                    }
                    _ => String::new(),
                };
                format!(
                    "- `{case}` throughput ≥ {:.0}% of the bare pair's: {} ({:.0}%: {x:.1} vs {b:.1} MB/s{cpu})",
                    target * 100.0,
                    verdict(x / b >= target),
                    x / b * 100.0
                )
            }
            _ => format!(
                "- `{case}` throughput ≥ {:.0}% of the bare pair's: not measured",
                target * 100.0
            ),
        }
    };
    let _ = writeln!(md, "{}", tp_target("none", NONE_TARGET));
    let _ = writeln!(md, "{}", tp_target("binary", BINARY_TARGET));
    match (bare_open, rtt) {
        (Some(b), Some(r)) => {
            let limit = 2.0 * b + r;
            for case in ["none", "binary", "binary-utf8", "json"] {
                if let Some(x) = get(case).and_then(|v| num(v, "open_ms_median")) {
                    let _ = writeln!(
                        md,
                        "- `{case}` connect-to-open ≤ 2 × bare + 1 signaling round trip ({limit:.2} ms = 2 × {b:.2} + {r:.3}): {} ({x:.2} ms)",
                        verdict(x <= limit)
                    );
                }
            }
        }
        _ => {
            let _ = writeln!(
                md,
                "- connect-to-open: not evaluated (needs the `bare` and `rtt` cases)"
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_parse_and_validate() {
        let o = Opts::parse(&["--mib".into(), "8".into(), "--no-browser".into()]).unwrap();
        assert_eq!(o.mib, 8);
        assert!(!o.browser);
        assert!(Opts::parse(&["--cases".into(), "bogus".into()]).is_err());
        assert!(Opts::parse(&["--connects".into(), "0".into()]).is_err());
    }

    #[test]
    fn report_compares_with_the_bare_pair() {
        let results = vec![
            json!({"case": "bare", "mbps": 30.0, "open_ms_median": 3.0, "open_ms": [3.0, 3.0]}),
            json!({"case": "rtt", "rtt_ms_median": 0.5, "rtt_ms": [0.5]}),
            json!({"case": "none", "mbps": 28.0, "open_ms_median": 6.0, "open_ms": [6.0, 1010.0],
                   "message_bytes": 65535, "cpu_pct": 150.0}),
            json!({"case": "binary", "mbps": 15.0, "open_ms_median": 7.0, "open_ms": [7.0],
                   "message_bytes": 1048576}),
        ];
        let opts = Opts::parse(&[]).unwrap();
        let md = report(&opts, "cargo xtask bench data", &results);
        assert!(
            md.contains("`none` throughput ≥ 90% of the bare pair's: **PASS** (93%"),
            "{md}"
        );
        assert!(
            md.contains("`binary` throughput ≥ 70% of the bare pair's: **MISS** (50%"),
            "{md}"
        );
        assert!(
            md.contains("(6.50 ms = 2 × 3.00 + 0.500): **PASS** (6.00 ms)"),
            "{md}"
        );
        assert!(
            md.contains("(6.50 ms = 2 × 3.00 + 0.500): **MISS** (7.00 ms)"),
            "{md}"
        );
        assert!(md.contains("| 1 of 2 |"), "{md}");
    }
}
