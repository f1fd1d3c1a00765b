//! Write aside, rename last: the helpers that keep half-written outputs from surviving a failure.

use crate::error::{IoContext, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path`, renames it over `path` (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".packer-")
        .tempfile_in(dir)
        .io("create a temporary file in", dir)?;
    tmp.write_all(bytes).io("write", tmp.path().to_path_buf())?;
    crate::layout::persist_readable(tmp, path)
}

/// The folder holding `path` (`.` for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
