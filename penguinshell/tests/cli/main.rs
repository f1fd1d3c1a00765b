//! Tests of the `penguinshell` binary from the outside: piped stdin, `-c`, flags,
//! exit statuses and error lines (`piped`), and a session in a pseudo-terminal
//! (`pty`). One test binary; each test gets its own temporary directory.

mod piped;
mod pty;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test, as cargo built it.
pub const SHELL: &str = env!("CARGO_BIN_EXE_penguinshell");

/// What one run of the shell did.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the shell in `cwd` with `args`, feeding it `stdin` through a pipe.
pub fn run(cwd: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(SHELL)
        .args(args)
        .current_dir(cwd)
        .env("PENGUIN", "tux")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start penguinshell");
    // The shell may be gone before reading it all (`-c`): that is not a failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().expect("penguinshell exited by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The expected [`Run`], written compactly.
pub fn ran(status: i32, stdout: &str, stderr: &str) -> Run {
    Run {
        status,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

/// A temporary directory shaped like the article's bundle: bin dev etc proc sys.
pub fn bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["bin", "dev", "etc", "proc", "sys"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    dir
}
