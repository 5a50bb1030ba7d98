//! The soak's report (markdown) and its verdict: what each phase did, what the server held
//! after it beside the baseline, and whether everything came back.

use super::phases::{Outcome, RELEASE_BURST};
use super::probe::{small_tolerance, within, Reading};
use super::{Opts, GRACE_MS};
use crate::bench::server;
use anyhow::Result;
use std::fmt::Write as _;

/// The trimmed standard output of `cmd ARGS`; empty if it fails.
fn capture(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .current_dir(crate::util::root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// `value` against `base` as a signed percentage.
fn change(value: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:+.1}%", (value - base) / base * 100.0)
    } else {
        "—".into()
    }
}

/// One check of the end against the baseline: its row and whether it passed.
struct Check {
    what: &'static str,
    base: f64,
    end: f64,
    tolerance: f64,
    rule: &'static str,
}

impl Check {
    fn ok(&self) -> bool {
        within(self.end, self.base, self.tolerance)
    }
}

/// The report, and `Ok` if the soak passed (else an error saying why not).
pub fn render(o: &Opts, command: &str, out: &Outcome, minutes: f64) -> (String, Result<()>) {
    let (base, phases, problems) = (&out.baseline, &out.phases, &out.problems);
    let mut md = String::new();
    let _ = writeln!(md, "- Command: `{command}`");
    let _ = writeln!(md, "- Machine: {}", server::machine());
    let _ = writeln!(
        md,
        "- Commit: {} ({}); the soak took {minutes:.1} min",
        capture("git", &["rev-parse", "--short", "HEAD"]),
        capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        md,
        "- Server: release `peer-server`, SFU on, TURN on (127.0.0.1, fixed secret, `relay_allow = [\"127.0.0.0/8\"]`), \
`reconnect_grace_ms = {GRACE_MS}`; the load runs on the same machine. Phase 1: {} peers at a time, one in {} dropped \
abruptly; phase 2: {} rooms side by side, each with a long-lived member, {} ms between leaving a room and joining it \
again; phase 3: {} allocations at a time; {} round(s) of the three phases.\n",
        o.concurrency, o.drop_one_in, o.lanes, o.rejoin_pause_ms, o.turn_parallel, o.rounds
    );
    let _ = writeln!(
        md,
        "| phase | cycles ok / asked | errors: unexpected / tolerated | duration (s) | cycles/s | cycle p50 / p99 / max (ms) | what a cycle's time measures | server CPU (s) | server peak RSS (MiB) | drained after (s) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        let rate = if p.secs > 0.0 {
            format!("{:.1}", p.ok as f64 / p.secs)
        } else {
            "—".into()
        };
        let drained = match (p.drain.drained_secs, p.drain.settled_secs) {
            (Some(d), Some(s)) => format!("{d:.1} (counts back: {s:.1})"),
            (Some(d), None) => format!("{d:.1} (counts not back)"),
            _ => "**not drained**".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} / {} | {} / {} | {:.1} | {rate} | {:.1} / {:.1} / {:.1} | {} | {:.1} | {} | {drained} |",
            p.name,
            p.ok,
            p.cycles,
            p.unexpected,
            p.tolerated,
            p.secs,
            p.cycle_ms.0,
            p.cycle_ms.1,
            p.cycle_ms.2,
            p.cycle_what,
            p.server_cpu,
            mib(p.peak_kib)
        );
    }
    let _ = writeln!(
        md,
        "\n| server reading | RSS (MiB) | tasks (`/stats`) | threads | open fds | UDP sockets | sessions / peers / rooms | SFU members / tracks | TURN allocations |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let row = |md: &mut String, name: &str, r: &Reading| {
        let _ = writeln!(
            md,
            "| {name} | {} ({}) | {} ({:+}) | {} ({:+}) | {} ({:+}) | {} ({:+}) | {} / {} / {} | {} / {} | {} |",
            mib(r.rss_kib),
            change(r.rss_kib as f64, base.rss_kib as f64),
            r.tasks,
            r.tasks as i64 - base.tasks as i64,
            r.threads,
            r.threads as i64 - base.threads as i64,
            r.fds,
            r.fds as i64 - base.fds as i64,
            r.udp,
            r.udp as i64 - base.udp as i64,
            r.sessions,
            r.peers,
            r.rooms,
            r.sfu_members,
            r.sfu_tracks,
            r.turn_allocations
        );
    };
    row(&mut md, "baseline (after the warm-up)", base);
    for p in phases.iter() {
        row(&mut md, &format!("after {}", p.name), &p.drain.reading);
    }
    if let Some(r) = &out.released {
        row(
            &mut md,
            &format!("diagnostic: after a burst of {RELEASE_BURST} connections (the server's memory release)"),
            &r.reading,
        );
    }
    let mut failures: Vec<String> = problems.to_vec();
    let end = phases.last().map(|p| p.drain.reading);
    let _ = writeln!(md, "\n#### Verdict\n");
    match end {
        Some(end) => {
            let checks = [
                Check {
                    what: "RSS (KiB)",
                    base: base.rss_kib as f64,
                    end: end.rss_kib as f64,
                    tolerance: base.rss_kib as f64 * 0.10,
                    rule: "10%",
                },
                Check {
                    what: "tasks",
                    base: base.tasks as f64,
                    end: end.tasks as f64,
                    tolerance: small_tolerance(base.tasks as f64),
                    rule: "max(10%, 5)",
                },
                Check {
                    what: "threads",
                    base: base.threads as f64,
                    end: end.threads as f64,
                    tolerance: small_tolerance(base.threads as f64),
                    rule: "max(10%, 5)",
                },
                Check {
                    what: "open fds",
                    base: base.fds as f64,
                    end: end.fds as f64,
                    tolerance: small_tolerance(base.fds as f64),
                    rule: "max(10%, 5)",
                },
            ];
            for c in &checks {
                let _ = writeln!(
                    md,
                    "- {}: {:.0} at the end vs {:.0} at the baseline (allowed: +{:.0}, {}): {}",
                    c.what,
                    c.end,
                    c.base,
                    c.tolerance,
                    c.rule,
                    if c.ok() { "**back**" } else { "**NOT back**" }
                );
                if !c.ok() {
                    failures.push(format!(
                        "{} not back to the baseline: {:.0} vs {:.0}",
                        c.what, c.end, c.base
                    ));
                }
            }
        }
        None => failures.push("no phase ran".into()),
    }
    if let (Some(r), Some(end)) = (&out.released, end) {
        let _ = writeln!(
            md,
            "- Diagnostic, outside the verdict: after {RELEASE_BURST} connections opened and closed at once (the server hands \
freed heap memory back to the system, `malloc_trim`, when its connections fall by 256 or more), RSS is {} MiB ({} against \
the baseline) where it was {} MiB after the last phase: the difference was memory already freed that glibc kept, not \
memory still in use.",
            mib(r.reading.rss_kib),
            change(r.reading.rss_kib as f64, base.rss_kib as f64),
            mib(end.rss_kib)
        );
    }
    for p in phases {
        if let Some(e) = &p.failed {
            failures.push(format!("{} could not run: {e}", p.name));
        }
        if p.drain.drained_secs.is_none() {
            failures.push(format!("the server did not let go of {}", p.name));
        }
        if p.unexpected > 0 {
            failures.push(format!("{}: {} unexpected errors", p.name, p.unexpected));
        }
    }
    let mut notes = String::new();
    for p in phases {
        for s in &p.samples {
            let _ = writeln!(notes, "- {}: {s}", p.name);
        }
    }
    for f in &failures {
        let _ = writeln!(notes, "- **{f}**");
    }
    let _ = writeln!(
        md,
        "- Result: {}",
        if failures.is_empty() {
            "**PASS**"
        } else {
            "**FAIL**"
        }
    );
    if !notes.is_empty() {
        let _ = writeln!(md, "\n#### Errors and problems seen\n\n{notes}");
    }
    let verdict = if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("soak failed: {}", failures.join("; ")))
    };
    (md, verdict)
}
