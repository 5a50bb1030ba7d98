//! `cargo xtask bench` (being written).

use anyhow::Result;

/// Entry point.
pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("not yet implemented")
}
