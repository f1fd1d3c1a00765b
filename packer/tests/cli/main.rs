//! CLI tests of `packer`: one binary, one module per concern, a small harness here.
//!
//! Each test gets a fresh temporary folder, runs the real `packer` binary and asserts digests,
//! bytes, messages and exit codes.

mod bad_input;
mod build;
mod fuzz;
mod hardening;
mod inspect;
mod layered;
mod reproducible;

use assert_cmd::Command;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `packer` with a clean environment for reproducibility (no SOURCE_DATE_EPOCH).
pub fn packer() -> Command {
    let mut cmd = Command::cargo_bin("packer").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// A fresh temporary folder for one test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("packer-cli-")
        .tempdir()
        .unwrap()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The small fixed bundle the golden test pins: nested folders, an executable, a setuid file,
/// a symlink, a hard link, a long name, a non-UTF-8 name, odd directory modes.
pub fn fixed_bundle(root: &Path) {
    let dirs = [
        ("bin", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("tmp", 0o1777),
    ];
    for (d, mode) in dirs {
        std::fs::create_dir_all(root.join(d)).unwrap();
        chmod(&root.join(d), mode);
    }
    let long_dir = root.join("usr/share/".to_owned() + &"very-long-folder-name/".repeat(6));
    std::fs::create_dir_all(&long_dir).unwrap();
    for d in ["usr", "usr/share"] {
        chmod(&root.join(d), 0o755);
    }
    let mut p = root.join("usr/share");
    for _ in 0..6 {
        p = p.join("very-long-folder-name");
        chmod(&p, 0o755);
    }
    let files: [(&str, u32, Vec<u8>); 4] = [
        ("bin/sh", 0o755, b"#!penguin\n".repeat(5000)),
        ("bin/su", 0o4755, b"setuid\n".to_vec()),
        ("etc/hostname", 0o644, b"penguin\n".to_vec()),
        (
            "usr/share/very-long-folder-name/very-long-folder-name/very-long-folder-name/very-long-folder-name/very-long-folder-name/very-long-folder-name/readme.txt",
            0o600,
            b"a long name goes through a pax header\n".to_vec(),
        ),
    ];
    for (path, mode, content) in files {
        std::fs::write(root.join(path), content).unwrap();
        chmod(&root.join(path), mode);
    }
    let odd = root.join(OsStr::from_bytes(b"etc/caf\xe9"));
    std::fs::write(&odd, b"latin-1 name\n").unwrap();
    chmod(&odd, 0o644);
    std::os::unix::fs::symlink("sh", root.join("bin/ls")).unwrap();
    std::fs::hard_link(root.join("etc/hostname"), root.join("etc/hostname.bak")).unwrap();
}

/// Every path below `dir`, relative, sorted (to check nothing was left behind).
pub fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out
}

/// Runs `packer build ROOTFS --oci-layout LAYOUT ARGS --json` and returns the JSON report.
pub fn build_json(root: &Path, layout: &Path, args: &[&str]) -> serde_json::Value {
    let out = packer()
        .arg("build")
        .arg(root)
        .arg("--oci-layout")
        .arg(layout)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "packer build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The digests of a build report: layer, diff id, config, manifest.
pub fn digests(v: &serde_json::Value) -> [String; 4] {
    [
        v["layer"]["digest"].as_str().unwrap().to_owned(),
        v["diffId"].as_str().unwrap().to_owned(),
        v["config"]["digest"].as_str().unwrap().to_owned(),
        v["manifest"]["digest"].as_str().unwrap().to_owned(),
    ]
}

/// How a `packer` run ended and what it printed.
pub struct Measured {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// The address space `run_limited` allows: a reader that pulls a 1 GiB blob (or 2^16 copies
/// of a small one) into memory runs out of it and aborts instead of exiting 1.
pub const MEMORY_LIMIT: u64 = 512 << 20;

/// Runs `packer ARGS` to completion with its address space capped at [`MEMORY_LIMIT`]
/// (`RLIMIT_AS`). (A child's peak resident size from `wait4` is no use here: it includes the
/// test process's own memory, shared until the `exec`.)
pub fn run_limited(args: &[&OsStr]) -> Measured {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_packer"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    // SAFETY: setrlimit is async-signal-safe and touches only the child
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    Measured {
        status: out.status,
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The `.packer-*` entries directly in `dir`.
pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".packer-"))
        .collect();
    v.sort();
    v
}

/// Makes a fifo at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid nul-terminated path
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {path:?}"
    );
}
