//! Finding the project's binaries and the system's tools, and running commands in tests.
//!
//! A tool that is missing is a test failure with a message that says how to get it
//! (`cargo xtask ci` installs everything); it is never a silent skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo target directory the workspace builds into.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                project_root().join(dir)
            }
        }
        None => project_root().join("target"),
    }
}

/// `cargo`, run from the workspace root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root());
    cmd
}

/// The path of a system tool on `PATH`; panics (fails the test) when it is missing.
pub fn require(name: &str) -> PathBuf {
    find_on_path(name).unwrap_or_else(|| {
        panic!("required tool `{name}` is not installed; `cargo xtask ci` installs everything the tests need")
    })
}

/// The path of a program on `PATH`, if any.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn build_bin(package: &str, bin: &str) -> PathBuf {
    let status = cargo()
        .args(["build", "--quiet", "--package", package, "--bin", bin])
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo build for {bin}: {e}"));
    assert!(
        status.success(),
        "cargo build --package {package} --bin {bin} failed"
    );
    let path = target_dir().join("debug").join(bin);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The `packer` binary (debug build), built once per test process.
pub fn packer_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("packer", "packer"))
}

/// The `pusher` binary (debug build), built once per test process.
pub fn pusher_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("pusher", "pusher"))
}

/// The fully static musl penguin shell, built once per test process by `cargo xtask shell`
/// (which prints the binary's path on stdout).
pub fn shell_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = cargo()
            .args(["run", "--quiet", "--package", "xtask", "--", "shell"])
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo xtask shell: {e}"));
        assert!(out.status.success(), "cargo xtask shell failed");
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(
            path.is_file(),
            "cargo xtask shell printed {path:?}, not a file"
        );
        path
    })
}

/// `cargo xtask ...`, run from the workspace root.
pub fn xtask() -> Command {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "--package", "xtask", "--"]);
    cmd
}

/// Held by every test that writes `target/image` or `target/registry` (the default outputs of
/// `cargo xtask image` and `cargo xtask registry`), so they do not overwrite each other.
pub fn default_outputs_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lays out the article's bundle under `root`: `bin/penguinshell`, `dev`, `etc`, `proc`, `sys`.
pub fn penguin_bundle(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for dir in ["bin", "dev", "etc", "proc", "sys"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let shell = root.join("bin/penguinshell");
    std::fs::copy(shell_bin(), &shell).unwrap();
    std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A name no other test (or earlier run) uses, for image tags and repositories.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `cmd` with `input` on stdin and returns its output (status, stdout, stderr).
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Runs `cmd`, fails the test with its stderr unless it succeeds, and returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
