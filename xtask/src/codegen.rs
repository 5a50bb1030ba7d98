//! `cargo xtask codegen [--check]`: writes `docs/protocol.md` from the `peer-protocol` catalogue,
//! or with `--check` fails when the checked-in file is stale.

use crate::util::root;
use anyhow::{bail, Context, Result};

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let path = root().join("docs/protocol.md");
    let fresh = peer_protocol::catalog::render_markdown();
    if args.iter().any(|a| a == "--check") {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != fresh {
            bail!("docs/protocol.md is stale: run `cargo xtask codegen`");
        }
        eprintln!("docs/protocol.md is up to date");
        return Ok(());
    }
    std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
