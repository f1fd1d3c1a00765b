//! Write aside, rename last: the helpers that keep half-written outputs from surviving a failure.
//!
//! Every temporary file or folder packer creates is named `.packer-<pid>-<random>` and recorded
//! in a process-wide list, so that a binary stopped by a signal can remove them
//! ([`remove_staged`]) and a later run can remove those of a process that no longer exists
//! ([`clean_stale`]). Outputs are checked before anything is written ([`check_output`]): an
//! existing path that is not a regular file (a device, a fifo, a socket, a folder, or a symlink
//! to one of those) is never replaced.

use crate::error::{Error, IoContext, Result};
use std::fs::FileType;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files and folders created by this process, for [`remove_staged`].
static STAGED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How old a `.packer-*` entry without an owner pid must be before [`clean_stale`] removes it.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `.packer-<pid>-`: the prefix of every temporary file or folder this process creates.
pub fn temp_prefix() -> String {
    format!(".packer-{}-", std::process::id())
}

fn record(path: &Path) {
    let mut staged = STAGED.lock().unwrap_or_else(|e| e.into_inner());
    // entries renamed into place long ago do not need to stay listed
    if staged.len() >= 4096 {
        staged.retain(|p| p.symlink_metadata().is_ok());
    }
    staged.push(path.to_path_buf());
}

/// A new temporary file in `dir`, named `.packer-<pid>-…` and recorded for [`remove_staged`].
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix())
        .tempfile_in(dir)
        .io("create a temporary file in", dir)?;
    record(tmp.path());
    Ok(tmp)
}

/// A new temporary folder in `dir`, named `.packer-<pid>-…` and recorded for [`remove_staged`].
pub fn temp_dir_in(dir: &Path) -> Result<tempfile::TempDir> {
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix())
        .tempdir_in(dir)
        .io("create a folder in", dir)?;
    record(tmp.path());
    Ok(tmp)
}

/// Removes every temporary file and folder this process created and has not renamed into
/// place yet. For a binary's signal handling thread: call it, then exit.
pub fn remove_staged() {
    let staged = std::mem::take(&mut *STAGED.lock().unwrap_or_else(|e| e.into_inner()));
    for path in staged.iter().rev() {
        remove_entry(path);
    }
}

fn remove_entry(path: &Path) {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Whether a process with this id exists (`kill(pid, 0)` does not fail with `ESRCH`).
fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Whether the entry `name` in `dir` is the leftover of an earlier packer run: named
/// `.packer-<pid>-…` with no process `pid` alive, or `.packer-…` without a pid and older than
/// [`STALE_AFTER`].
fn is_stale(dir: &Path, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(".packer-") else {
        return false;
    };
    let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 => pid != std::process::id() as i32 && !process_exists(pid),
        _ => dir
            .join(name)
            .symlink_metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER),
    }
}

/// Removes the `.packer-*` leftovers of runs that were killed (see [`is_stale`]) from `dir`.
/// Best effort: returns how many entries it removed; a folder that cannot be read is skipped.
pub fn clean_stale(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_stale(dir, name) {
            remove_entry(&entry.path());
            removed += 1;
        }
    }
    removed
}

/// Writes `bytes` to a temporary file beside `path`, renames it over `path` (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    let mut tmp = temp_file_in(dir)?;
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

/// Where an output file goes, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A regular file (new, or replaced by a rename): the path to rename onto. For a symlink to
    /// a regular file, the file it points to, so the link stays.
    File(PathBuf),
    /// `-`: the bytes are streamed to standard output.
    Stdout,
}

/// What a file type is called in messages.
pub fn kind_name(ft: FileType) -> &'static str {
    if ft.is_dir() {
        "folder"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "regular file"
    }
}

/// Checks an output file path before anything is written: a new path or a regular file (or a
/// symlink to one) is fine, `-` is standard output when `stdout_ok`; a device, fifo, socket,
/// folder or a symlink to one of those, or a dangling symlink, is refused and never replaced.
pub fn check_output(what: &'static str, path: &Path, stdout_ok: bool) -> Result<Output> {
    let refuse = |reason: String| Error::Invalid {
        what,
        value: path.display().to_string(),
        reason,
    };
    if path.as_os_str() == "-" {
        return if stdout_ok {
            Ok(Output::Stdout)
        } else {
            Err(refuse("standard output cannot take this output".to_owned()))
        };
    }
    let hint = if stdout_ok {
        "; packer writes only new paths or regular files (use - for standard output)"
    } else {
        "; packer writes only new paths or regular files"
    };
    let meta = match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Output::File(path.to_path_buf()));
        }
        Err(e) => return Err(e).io("read", path),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(refuse(format!("a symlink to a missing file{hint}")))
            }
            Err(e) => Err(e).io("read", path),
            Ok(m) if m.is_file() => Ok(Output::File(
                std::fs::canonicalize(path).io("resolve", path)?,
            )),
            Ok(m) => Err(refuse(format!(
                "a symlink to a {}{hint}",
                kind_name(m.file_type())
            ))),
        };
    }
    if meta.is_file() {
        Ok(Output::File(path.to_path_buf()))
    } else {
        Err(refuse(format!("a {}{hint}", kind_name(meta.file_type()))))
    }
}

/// The same file or folder, for telling two outputs apart: the canonical folder plus the name,
/// whether or not the path exists yet.
pub fn output_key(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = parent_of(path);
    match std::fs::canonicalize(dir) {
        Ok(d) => d.join(name),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_are_not_regular_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid nul-terminated path
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink(&fifo, d.join("to-fifo")).unwrap();
        std::os::unix::fs::symlink("/dev/null", d.join("to-null")).unwrap();
        std::os::unix::fs::symlink(d.join("gone"), d.join("dangling")).unwrap();
        std::fs::write(d.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("file"), d.join("to-file")).unwrap();
        for (name, kind) in [
            ("fifo", "a fifo"),
            ("to-fifo", "a symlink to a fifo"),
            ("to-null", "a symlink to a character device"),
            ("dangling", "a symlink to a missing file"),
            (".", "a folder"),
        ] {
            let err = check_output("docker archive", &d.join(name), true)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!(": {kind}; packer writes only")),
                "{err}"
            );
        }
        let file = d.join("file");
        assert_eq!(
            check_output("x", &file, false).unwrap(),
            Output::File(file.clone())
        );
        assert_eq!(
            check_output("x", &d.join("to-file"), false).unwrap(),
            Output::File(std::fs::canonicalize(&file).unwrap())
        );
        assert_eq!(
            check_output("x", Path::new("-"), true).unwrap(),
            Output::Stdout
        );
        assert!(check_output("x", Path::new("-"), false).is_err());
    }

    #[test]
    fn leftovers_of_dead_processes_are_cleaned_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        // a child that has exited and been reaped: its pid is gone
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let mut dead = dead;
        dead.wait().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join(format!(".packer-{dead_pid}-stage"))).unwrap();
        std::fs::write(d.join(format!(".packer-{dead_pid}-file")), b"x").unwrap();
        std::fs::write(d.join(format!(".packer-{}-mine", std::process::id())), b"x").unwrap();
        std::fs::write(d.join(".packer-1-init"), b"x").unwrap();
        std::fs::write(d.join(".packer-nopid-fresh"), b"x").unwrap();
        let old = std::fs::File::create(d.join(".packer-stage-old")).unwrap();
        let two_days = std::time::Duration::from_secs(2 * 24 * 3600);
        old.set_modified(std::time::SystemTime::now() - two_days)
            .unwrap();
        drop(old);
        std::fs::write(d.join("user-file"), b"x").unwrap();
        clean_stale(d);
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!(".packer-{}-mine", std::process::id()),
            ".packer-1-init".to_owned(),
            ".packer-nopid-fresh".to_owned(),
            "user-file".to_owned(),
        ];
        want.sort();
        assert_eq!(left, want);
    }
}
