//! `cargo xtask`: the project's automation as an ordinary Rust binary.
//!
//! - `codegen`: regenerate `docs/protocol.md` from the `peer-protocol` catalogue.
//! - `test`: everything: fmt check, clippy, unit and integration tests, the conformance suite.
//! - `conformance`: drive the real `skyway-js@4.4.5` in headless Chromium against `peer-server`.
//! - `bench signaling`: load-test `peer-server` beside PeerServer (npm `peer`).
//! - `bench data`: data-channel throughput and connect-to-open latency of the Rust `peer`
//!   library beside a bare `webrtc` pair and skyway-js in Chromium.
//! - `bench hub`: relay latency of `peer-server` with many idle peers connected, the current work
//!   tree beside a baseline commit built on the side (`--baseline REV`).
//! - `bench media`: CPU per forwarded media stream and packets per second of one Rust peer.
//! - `bench room`: mesh rooms of 2, 4 and 8 Rust members beside rooms of 2 and 3 browsers:
//!   join to flowing, CPU and memory per member.
//! - `bench sfu`: the SFU's forwarded packets per server core, added latency, loss and memory
//!   per subscriber track.
//! - `bench cluster`: relay latency and throughput within and across two cluster nodes sharing
//!   peers through a real Redis, beside a node without cluster mode, and the rate two nodes
//!   open peers at beside one.
//! - `soak`: a churn soak of one release `peer-server` (signaling peers, mesh and SFU rooms with
//!   media, TURN allocations) that fails if RSS, tasks or descriptors do not come back to the
//!   baseline. Not part of `test`.
//! - `fuzz`: run the cargo-fuzz targets for a while.
//! - `tidy`: repository hygiene checks.

mod bench;
mod codegen;
mod conformance;
mod fuzz;
mod soak;
mod tidy;
mod util;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]).to_vec();
    match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(&rest),
        Some("test") => run_all_tests(&rest),
        Some("conformance") => conformance::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("soak") => soak::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("tidy") => tidy::run(&rest),
        _ => {
            eprintln!("usage: cargo xtask <codegen [--check] | test | conformance | bench <signaling | data | media | hub | room | sfu | cluster> | soak [--scale F] | fuzz [SECONDS] | tidy>");
            bail!("unknown or missing subcommand")
        }
    }
}

/// `cargo xtask test`: every check and test the project has, as CI runs them.
fn run_all_tests(_args: &[String]) -> Result<()> {
    util::cargo(&["fmt", "--all", "--", "--check"])?;
    util::cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    tidy::run(&[])?;
    codegen::run(&["--check".to_string()])?;
    // The TURN server's tests run coturn's real TURN client against it.
    util::ensure_debian_package("/usr/bin/turnutils_uclient", "coturn")?;
    // Cluster mode's tests run a real redis-server.
    util::ensure_debian_package("/usr/bin/redis-server", "redis-server")?;
    util::cargo(&["test", "--workspace"])?;
    conformance::run(&[])?;
    Ok(())
}
