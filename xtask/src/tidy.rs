//! Tidy checks `cargo xtask ci` runs: no workspace crate declares a dependency its code never
//! names (what cargo-machete reports, without installing it).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The dependency sections of a Cargo.toml that name crates the code must use.
const SECTIONS: &[&str] = &[
    "[dependencies]",
    "[dev-dependencies]",
    "[build-dependencies]",
];

/// The dependency names declared in `manifest` (a Cargo.toml's text).
fn declared(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = SECTIONS.contains(&line);
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or_default()
            .trim();
        if !name.is_empty() {
            out.push(name.to_owned());
        }
    }
    out
}

/// Whether `code` names the crate `ident` as a path root (`ident::`, `use ident`, `extern crate
/// ident`), not as the tail of another path (`crate::ident::`).
fn names(code: &str, ident: &str) -> bool {
    code.match_indices(ident).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = &code[i + ident.len()..];
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        let ends_word = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after_use = code[..i].ends_with("use ") || code[..i].ends_with("extern crate ");
        starts_word && ends_word && (after.starts_with("::") || after_use)
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `crate: dependency` for every dependency of a workspace member its code never names.
pub fn unused_dependencies(root: &Path) -> Result<Vec<String>> {
    let mut unused = Vec::new();
    for member in ["penguinshell", "packer", "pusher", "xtask", "tests"] {
        let dir = root.join(member);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("cannot read {member}/Cargo.toml"))?;
        let mut files = Vec::new();
        for sub in ["src", "tests", "benches", "examples"] {
            rust_files(&dir.join(sub), &mut files)?;
        }
        let mut code = String::new();
        let mut read = std::collections::HashSet::new();
        while let Some(f) = files.pop() {
            if !read.insert(f.clone()) {
                continue;
            }
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            // a module another crate shares through `#[path = "..."]` counts as this crate's code
            for line in text.lines() {
                let Some(rest) = line.trim_start().strip_prefix("#[path = \"") else {
                    continue;
                };
                if let (Some(end), Some(dir)) = (rest.find('"'), f.parent()) {
                    files.push(dir.join(&rest[..end]));
                }
            }
            code += &text;
            code.push('\n');
        }
        for dep in declared(&manifest) {
            if !names(&code, &dep.replace('-', "_")) {
                unused.push(format!("{member}: {dep}"));
            }
        }
    }
    Ok(unused)
}

/// Fails listing the unused dependencies, if any.
pub fn check_dependencies(root: &Path) -> Result<()> {
    let unused = unused_dependencies(root)?;
    if !unused.is_empty() {
        bail!(
            "unused dependencies (remove them from Cargo.toml): {}",
            unused.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_declares_no_unused_dependency() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(unused_dependencies(root).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_module_of_the_same_name_does_not_count_as_the_crate() {
        let toml = "[package]\nname = \"x\"\n[dependencies]\ntar = { workspace = true }\nserde.workspace = true\n[lints]\nworkspace = true\n";
        assert_eq!(declared(toml), ["tar", "serde"]);
        assert!(!names("use crate::tar::TarWriter;", "tar"));
        assert!(names("let t = tar::Archive::new(f);", "tar"));
        assert!(names("use serde::Serialize;", "serde"));
        assert!(!names("let star = 1;", "tar"));
    }
}
