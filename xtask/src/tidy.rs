//! `cargo xtask tidy`: repository hygiene, also run as a test (`cargo test -p xtask`):
//!
//! - every Rust source file starts with a module doc comment (`//!`);
//! - library code outside tests calls no `.unwrap()`, `.expect(..)` or `panic!`; a justified
//!   exception carries `tidy: allow(expect)` or `tidy: allow(panic)` with its reason on the
//!   line or the line above (binaries, `peer-testkit` and `peer-harness` are not library code);
//! - within each crate, top-level modules do not depend on each other in a cycle (`crate::x`
//!   paths), so each layer only uses the ones below it;
//! - `docs/architecture.md` names every crate of `crates/`.

use crate::util::root;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates that are test or automation support, not library code.
const NOT_LIBRARIES: [&str; 2] = ["peer-testkit", "peer-harness"];

/// Entry point.
pub fn run(_args: &[String]) -> Result<()> {
    let problems = check(&root());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("{} tidy problem(s)", problems.len());
    }
    eprintln!("tidy: ok");
    Ok(())
}

/// Every problem found in the repository at `root`.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect(&root.join("crates"), &mut files);
    collect(&root.join("xtask/src"), &mut files);
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            problems.push(format!("{}: unreadable", path.display()));
            continue;
        };
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        check_file(&rel, &text, &mut problems);
    }
    check_module_cycles(root, &mut problems);
    check_architecture(root, &mut problems);
    problems
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `rel` (a path under the repository) is library code.
fn is_library(rel: &str) -> bool {
    let Some(rest) = rel.strip_prefix("crates/") else {
        return false;
    };
    let krate = rest.split('/').next().unwrap_or("");
    let in_tests = rel.contains("/tests/")
        || rel.contains("/benches/")
        || rel.contains("/examples/")
        || rel.ends_with("/tests.rs");
    let binary = rel.ends_with("/src/main.rs") || rel.contains("/src/bin/");
    !NOT_LIBRARIES.contains(&krate) && !in_tests && !binary
}

fn check_file(rel: &str, text: &str, problems: &mut Vec<String>) {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        problems.push(format!(
            "{rel}: missing module doc comment (//!) on the first line"
        ));
    }
    if !is_library(rel) {
        return;
    }
    // Library code: up to the unit-test module.
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut previous = "";
    for (n, line) in body.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            previous = line;
            continue;
        }
        let allowed = |what: &str| {
            let marker = format!("tidy: allow({what})");
            line.contains(&marker) || previous.contains(&marker)
        };
        if line.contains(".unwrap()") {
            problems.push(format!("{rel}:{}: .unwrap() in library code", n + 1));
        }
        if line.contains(".expect(") && !allowed("expect") {
            problems.push(format!(
                "{rel}:{}: .expect() in library code (mark a justified one with `tidy: allow(expect)`)",
                n + 1
            ));
        }
        if line.contains("panic!(") && !allowed("panic") {
            problems.push(format!(
                "{rel}:{}: panic! in library code (mark a justified one with `tidy: allow(panic)`)",
                n + 1
            ));
        }
        previous = line;
    }
}

/// The top-level module a file under `src/` belongs to (`None` for the crate root).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main" | "bin")).then_some(name)
}

/// The top-level modules `text` names as `crate::name`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        // Code only: what follows `//` is a comment (a `//` inside a string only hides a path).
        let mut rest = line.split("//").next().unwrap_or("");
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` and `super::crate` cannot occur; a preceding `_` or letter would be
            // another identifier (`peer_crate::`), skip those.
            let before = rest[..at].chars().last();
            if !name.is_empty() && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

fn check_module_cycles(root: &Path, problems: &mut Vec<String>) {
    let Ok(crates) = std::fs::read_dir(root.join("crates")) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = crates.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for krate in dirs {
        let src = krate.join("src");
        let mut files = Vec::new();
        collect(&src, &mut files);
        let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let Some(from) = top_module(&src, file) else {
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            for to in crate_paths(body) {
                if to != from && modules.contains(&to) {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        let name = krate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!(
                "crates/{name}: modules depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ));
        }
    }
}

/// A cycle in `edges`, as the modules along it (the first repeated at the end).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn check_architecture(root: &Path, problems: &mut Vec<String>) {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap_or_default();
    let Ok(crates) = std::fs::read_dir(root.join("crates")) else {
        return;
    };
    let mut names: Vec<String> = crates
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if !doc.contains(&format!("`{name}`")) {
            problems.push(format!(
                "docs/architecture.md does not name the crate `{name}`"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_tidy() {
        let problems = check(&root());
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn finds_cycles_and_markers() {
        let mut edges = BTreeMap::new();
        edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
        edges.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
        assert_eq!(find_cycle(&edges), None);
        edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
        assert_eq!(
            find_cycle(&edges),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            crate_paths(
                "use crate::hub::X; // crate::nope\nlet y = peer_crate::z; crate::engine::f();"
            ),
            BTreeSet::from(["hub".to_string(), "engine".to_string()])
        );
        let mut p = Vec::new();
        check_file(
            "crates/x/src/a.rs",
            "//! doc\nfn f() { g().expect(\"x\"); }\n// tidy: allow(panic): documented\nfn h() { panic!(\"y\") }\n",
            &mut p,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains(".expect()"));
    }
}
