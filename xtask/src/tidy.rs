//! `cargo xtask tidy`: repository hygiene. Every Rust source file starts with a module doc
//! comment, and library code outside tests does not call `.unwrap()` on anything.

use crate::util::root;
use anyhow::{bail, Result};
use std::path::Path;

/// Entry point.
pub fn run(_args: &[String]) -> Result<()> {
    let mut problems = Vec::new();
    visit(&root().join("crates"), &mut problems)?;
    visit(&root().join("xtask/src"), &mut problems)?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("{} tidy problem(s)", problems.len());
    }
    eprintln!("tidy: ok");
    Ok(())
}

fn visit(dir: &Path, problems: &mut Vec<String>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            visit(&path, problems)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            let rel = path
                .strip_prefix(root())
                .unwrap_or(&path)
                .display()
                .to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                problems.push(format!(
                    "{rel}: missing module doc comment (//!) on the first line"
                ));
            }
            // Integration tests, benches and unit-test modules kept in their own `tests.rs`.
            let in_tests_dir =
                rel.contains("/tests/") || rel.contains("/benches/") || rel.ends_with("/tests.rs");
            if rel.starts_with("crates/") && !in_tests_dir {
                // Library code: no `.unwrap()` before the unit-test module.
                let body = text.split("#[cfg(test)]").next().unwrap_or("");
                for (n, line) in body.lines().enumerate() {
                    if line.contains(".unwrap()") && !line.trim_start().starts_with("//") {
                        problems.push(format!("{rel}:{}: .unwrap() in library code", n + 1));
                    }
                }
            }
        }
    }
    Ok(())
}
