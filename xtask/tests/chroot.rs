//! `cargo xtask chroot` end to end: the article's moment when `ls /` inside the
//! chroot shows only the bundle. Runs the real task with a piped stdin; it needs
//! root, as CI has.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn ls_in_the_chroot_shows_only_the_bundle() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test runs `cargo xtask chroot`, which needs root (CI runs as root)"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("chroot")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start xtask");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ls /\npwd\nls /bin; exit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bin dev etc proc sys\n/\npenguinshell\n"
    );
    assert_eq!(out.status.code(), Some(3));
}
