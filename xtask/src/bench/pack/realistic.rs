//! The realistic bundle of `cargo xtask bench pack`: a root filesystem assembled from what the
//! machine has. Python's standard library, /usr/share/doc, locales and shared libraries, each
//! up to its share of the total, files taken in bytewise path order and copied with a fixed
//! mtime, so the same machine always gives the same bundle. Its makeup is printed with the
//! figures, since another machine has other files.

use super::fresh;
use anyhow::{Context, Result};
use std::fs::{File, FileTimes};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where each part comes from, and its share of the total in percent.
const PARTS: &[(&str, &[&str], u64)] = &[
    ("python", &["/usr/lib/python3", "/usr/lib/python3.*"], 25),
    ("doc", &["/usr/share/doc"], 20),
    ("locale", &["/usr/share/locale"], 20),
    ("lib", &["/usr/lib/x86_64-linux-gnu/*.so*"], 35),
];

/// The mtime of every copied file and folder: 2020-01-01.
const MTIME: u64 = 1_577_836_800;

/// Bumped whenever the selection rules change, so an old bundle is rebuilt.
const VERSION: &str = "v1";

/// A file taken: where it comes from, its path inside the bundle, its size.
type Pick = (PathBuf, PathBuf, u64);

/// Builds the bundle in `dir` (unless a marker says this exact one is there) and returns its
/// makeup, one line per part.
pub fn assemble(dir: &Path, total: u64) -> Result<String> {
    let mut chosen: Vec<(&str, Vec<Pick>)> = Vec::new();
    for (name, patterns, share) in PARTS {
        let budget = total * share / 100;
        let mut files = Vec::new();
        for root in expand(patterns)? {
            walk(&root, &mut files)?;
        }
        // up to the budget
        let mut picked = Vec::new();
        let mut used = 0;
        for (path, size) in files {
            if used + size > budget {
                continue;
            }
            used += size;
            let rel = path.strip_prefix("/").unwrap_or(&path);
            picked.push((path.clone(), Path::new(name).join(rel), size));
        }
        chosen.push((name, picked));
    }
    let mut makeup = String::new();
    for (name, files) in &chosen {
        let bytes: u64 = files.iter().map(|f| f.2).sum();
        let patterns = PARTS.iter().find(|p| p.0 == *name).map(|p| p.1.join(" "));
        makeup.push_str(&format!(
            "{name:<7} {:>6} files {:>7.1} MiB  from {}\n",
            files.len(),
            bytes as f64 / 1048576.0,
            patterns.unwrap_or_default()
        ));
    }
    let count: usize = chosen.iter().map(|c| c.1.len()).sum();
    let bytes: u64 = chosen.iter().flat_map(|c| &c.1).map(|f| f.2).sum();
    makeup.push_str(&format!(
        "total   {count:>6} files {:>7.1} MiB, sorted, mtime {MTIME}",
        bytes as f64 / 1048576.0
    ));

    let marker = dir.with_extension("assembled");
    let id = format!("{VERSION}\n{makeup}\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(id.as_str()) {
        return Ok(makeup);
    }
    eprintln!("assembling the realistic bundle in {}", dir.display());
    let _ = std::fs::remove_file(&marker);
    fresh(dir)?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
    let mut dirs = vec![dir.to_path_buf()];
    for (_, files) in &chosen {
        for (source, rel, _) in files {
            let to = dir.join(rel);
            let parent = to.parent().expect("a file inside the bundle");
            if !parent.is_dir() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
                let mut p = parent;
                while p != dir && !dirs.iter().any(|d| d == p) {
                    dirs.push(p.to_path_buf());
                    p = p.parent().expect("inside the bundle");
                }
            }
            std::fs::copy(source, &to)
                .with_context(|| format!("cannot copy {} to {}", source.display(), to.display()))?;
            set_mtime(&to, when)?;
        }
    }
    for d in &dirs {
        set_mtime(d, when)?;
    }
    std::fs::write(&marker, id)?;
    Ok(makeup)
}

fn set_mtime(path: &Path, when: SystemTime) -> Result<()> {
    File::open(path)
        .and_then(|f| f.set_times(FileTimes::new().set_modified(when).set_accessed(when)))
        .with_context(|| format!("cannot set the mtime of {}", path.display()))
}

/// Expands a trailing `*` pattern in the last component (`/usr/lib/python3.*`) in sorted
/// order; a plain path is itself if it exists.
fn expand(patterns: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((prefix, suffix)) = name.split_once('*') else {
            if path.exists() {
                out.push(path.to_path_buf());
            }
            continue;
        };
        let parent = path.parent().unwrap_or(Path::new("/"));
        let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
            .with_context(|| format!("cannot read {}", parent.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with(prefix) && n[prefix.len()..].contains(suffix.trim_end_matches('*'))
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Regular files under `root` (or `root` itself), in bytewise path order, with sizes.
/// Symlinks are skipped: the bundle holds each file's bytes once.
fn walk(root: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    if meta.is_file() {
        out.push((root.to_path_buf(), meta.len()));
        return Ok(());
    }
    if !meta.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot read {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        walk(&e, out)?;
    }
    Ok(())
}
