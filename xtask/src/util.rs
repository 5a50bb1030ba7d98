//! Small helpers shared by the xtask subcommands.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Runs `cargo ARGS` in the workspace root and fails if it fails.
pub fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = cargo_command()
        .args(args)
        .current_dir(root())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    Ok(())
}

/// A `cargo` command without the variables `cargo run` set for xtask itself.
pub use peer_testkit::cargo_command;

/// Makes sure `binary` exists, installing Debian's `package` when it is missing and we are
/// root (Chromium, Janus, and the servers later tests need come from Debian).
pub fn ensure_debian_package(binary: &str, package: &str) -> Result<()> {
    if std::path::Path::new(binary).exists() {
        return Ok(());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    let is_root = uid.status.success() && String::from_utf8_lossy(&uid.stdout).trim() == "0";
    if !is_root {
        bail!(
            "{binary} is missing; install it with `sudo apt-get install {package}` and run again"
        );
    }
    eprintln!("{binary} is missing: installing Debian's {package} package");
    for args in [
        &["update"][..],
        &["install", "-y", "--no-install-recommends", package][..],
    ] {
        eprintln!("$ apt-get {}", args.join(" "));
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed: {status}", args.join(" "));
        }
    }
    if !std::path::Path::new(binary).exists() {
        bail!("apt-get installed {package} but {binary} is still missing");
    }
    Ok(())
}
