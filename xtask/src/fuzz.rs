//! `cargo xtask fuzz [SECONDS] [TARGET...]`: runs the cargo-fuzz targets in `fuzz/` for SECONDS
//! each (default 60), all of them unless some are named, and fails if any of them crashes.
//!
//! cargo-fuzz is installed with `cargo install cargo-fuzz --locked` when missing. It passes
//! nightly-only flags (`-Zsanitizer=address`, `-Cpasses=sancov-module`) to rustc, so the runs set
//! `RUSTC_BOOTSTRAP=1` to let the stable toolchain accept them. Each target starts from
//! `fuzz/corpus/TARGET` (kept between runs, not committed) plus the committed seeds in
//! `fuzz/seeds/TARGET`; crashing inputs land in `fuzz/artifacts/TARGET`.

use crate::util::root;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Seconds per target when none are given.
const DEFAULT_SECONDS: u64 = 60;

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut wanted = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        match arg.parse::<u64>() {
            Ok(n) if i == 0 => seconds = n,
            _ if arg.starts_with('-') => bail!("usage: cargo xtask fuzz [SECONDS] [TARGET...]"),
            _ => wanted.push(arg.clone()),
        }
    }
    if seconds == 0 {
        bail!("SECONDS must be at least 1");
    }
    let fuzz_dir = root().join("fuzz");
    let all = targets(&fuzz_dir)?;
    for w in &wanted {
        if !all.contains(w) {
            bail!("no fuzz target {w:?}; targets: {}", all.join(", "));
        }
    }
    let targets = if wanted.is_empty() { all } else { wanted };
    ensure_cargo_fuzz()?;

    let mut crashed = Vec::new();
    for target in &targets {
        let corpus = format!("corpus/{target}");
        let seeds = format!("seeds/{target}");
        std::fs::create_dir_all(fuzz_dir.join(&corpus))
            .with_context(|| format!("creating fuzz/{corpus}"))?;
        let mut cmd = cargo_command();
        cmd.current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", target, &corpus]);
        if fuzz_dir.join(&seeds).is_dir() {
            cmd.arg(&seeds);
        }
        cmd.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-print_final_stats=1",
        ]);
        eprintln!("$ RUSTC_BOOTSTRAP=1 cargo fuzz run {target} ... -max_total_time={seconds}");
        let status = cmd.status().context("running cargo fuzz")?;
        if !status.success() {
            eprintln!("fuzz target {target} failed ({status}); see fuzz/artifacts/{target}/");
            crashed.push(target.clone());
        }
    }
    if !crashed.is_empty() {
        bail!("fuzz target(s) crashed: {}", crashed.join(", "));
    }
    eprintln!(
        "fuzz: {} target(s) ran {seconds} s each without a crash",
        targets.len()
    );
    Ok(())
}

/// The target names: the `.rs` files in `fuzz/fuzz_targets`, sorted.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_owned());
            }
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(names)
}

/// `cargo`, as the one that runs xtask.
fn cargo_command() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Installs cargo-fuzz unless `cargo fuzz --version` already works.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = cargo_command()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!("$ cargo install cargo-fuzz --locked");
    let status = cargo_command()
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed: {status}");
    }
    Ok(())
}
