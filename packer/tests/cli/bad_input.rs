//! Acceptance 4: each bad input gets one clear line, a non-zero exit, and leaves nothing behind.

use super::*;

/// Runs `packer build` in `dir` and checks: exit 1, one `error: ...` line containing each of
/// `needles`, and the folder listing unchanged.
fn fails(dir: &Path, args: &[&str], needles: &[&str]) {
    let before = listing(dir);
    let out = packer()
        .current_dir(dir)
        .arg("build")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{args:?}: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    assert!(!err.trim_end().ends_with('.'), "{err}");
    assert_eq!(listing(dir), before, "{args:?} left something behind");
}

fn with_bundle() -> tempfile::TempDir {
    let dir = scratch();
    fixed_bundle(&dir.path().join("root"));
    dir
}

const OUTS: [&str; 6] = [
    "--oci-layout",
    "img",
    "--docker-archive",
    "image.tar",
    "--rootfs-tar",
    "rootfs.tar",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["root"];
    v.extend(OUTS);
    v.extend(extra);
    v
}

#[test]
fn missing_rootfs() {
    let dir = scratch();
    let mut a = vec!["nowhere"];
    a.extend(OUTS);
    fails(
        dir.path(),
        &a,
        &["cannot read nowhere", "No such file or directory"],
    );
}

#[test]
fn rootfs_that_is_a_file() {
    let dir = scratch();
    std::fs::write(dir.path().join("root"), b"x").unwrap();
    fails(
        dir.path(),
        &args(&[]),
        &["invalid rootfs \"root\": not a folder"],
    );
}

#[test]
fn special_files_are_named() {
    let dir = with_bundle();
    let fifo = dir.path().join("root/etc/initctl");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid nul-terminated path
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    fails(dir.path(), &args(&[]), &["root/etc/initctl is a fifo"]);
    std::fs::remove_file(&fifo).unwrap();
    let sock = dir.path().join("root/etc/sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    fails(dir.path(), &args(&[]), &["root/etc/sock is a socket"]);
}

#[test]
fn a_file_that_cannot_be_read_fails_midway_and_leaves_nothing() {
    // root reads everything: run packer as nobody, with one file only root may read
    let dir = with_bundle();
    let p = dir.path();
    chmod(p, 0o777);
    for rel in listing(&p.join("root")) {
        let f = p.join("root").join(rel);
        if !f.is_symlink() {
            let m = std::fs::metadata(&f).unwrap().permissions().mode();
            chmod(&f, m | 0o555);
        }
    }
    chmod(&p.join("root"), 0o755);
    std::fs::write(p.join("root/etc/secret"), b"root only").unwrap();
    chmod(&p.join("root/etc/secret"), 0o600);
    let before = listing(p);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("packer"))
        .arg("build")
        .args(args(&[]))
        .current_dir(p)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: cannot read root/etc/secret: Permission denied (os error 13)\n"
    );
    assert_eq!(listing(p), before);
}

#[test]
fn invalid_platform() {
    let dir = with_bundle();
    for bad in ["linux", "Linux/amd64", "linux/amd64/v8/x"] {
        fails(
            dir.path(),
            &args(&["--platform", bad]),
            &[&format!("invalid platform \"{bad}\"")],
        );
    }
}

#[test]
fn invalid_tag() {
    let dir = with_bundle();
    for bad in ["Penguin:1", "penguin:", "penguin:-1", "a//b"] {
        fails(
            dir.path(),
            &args(&["--tag", bad]),
            &[&format!("invalid tag \"{bad}\"")],
        );
    }
}

#[test]
fn invalid_env() {
    let dir = with_bundle();
    for bad in ["NOVALUE", "=x"] {
        fails(
            dir.path(),
            &args(&["--env", bad]),
            &[&format!("invalid env \"{bad}\": expected KEY=VALUE")],
        );
    }
}

#[test]
fn invalid_level() {
    let dir = with_bundle();
    fails(
        dir.path(),
        &args(&["--level", "0"]),
        &["invalid level \"0\": expected a number from 1 to 9"],
    );
    fails(
        dir.path(),
        &args(&["--level", "fast"]),
        &["invalid level \"fast\""],
    );
    fails(
        dir.path(),
        &args(&["--compression", "zstd", "--level", "20"]),
        &["expected a number from 1 to 19"],
    );
    fails(
        dir.path(),
        &args(&["--compression", "none", "--level", "3"]),
        &["takes no level"],
    );
}

#[test]
fn zstd_with_docker_format() {
    let dir = with_bundle();
    fails(
        dir.path(),
        &args(&["--format", "docker", "--compression", "zstd"]),
        &["invalid compression \"zstd\": docker v2 schema 2 has no zstd layer type"],
    );
}

#[test]
fn invalid_source_date_epoch() {
    let dir = with_bundle();
    let before = listing(dir.path());
    let out = packer()
        .current_dir(dir.path())
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .arg("build")
        .args(args(&[]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: invalid SOURCE_DATE_EPOCH \"yesterday\": expected seconds since 1970\n"
    );
    assert_eq!(listing(dir.path()), before);
}

#[test]
fn outputs_that_cannot_be_written() {
    let dir = with_bundle();
    fails(
        dir.path(),
        &["root", "--oci-layout", "missing/dir/img"],
        &[
            "cannot create a folder in missing/dir",
            "No such file or directory",
        ],
    );
    fails(
        dir.path(),
        &[
            "root",
            "--oci-layout",
            "img",
            "--docker-archive",
            "missing/image.tar",
        ],
        &["cannot create a temporary file in missing"],
    );
    fails(
        dir.path(),
        &[
            "root",
            "--oci-layout",
            "img",
            "--rootfs-tar",
            "missing/rootfs.tar",
        ],
        &["cannot create a temporary file in missing"],
    );
    // a folder that holds something else is not overwritten
    std::fs::create_dir(dir.path().join("busy")).unwrap();
    std::fs::write(dir.path().join("busy/keep"), b"mine").unwrap();
    fails(
        dir.path(),
        &["root", "--oci-layout", "busy"],
        &["busy is not an oci image layout: a non-empty folder without an oci-layout file"],
    );
    // a plain file where the layout should go
    fails(
        dir.path(),
        &["root", "--oci-layout", "root/etc/hostname"],
        &["is not an oci image layout: exists and is not a folder"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = with_bundle();
    let out = packer()
        .current_dir(dir.path())
        .args(["build", "root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--oci-layout"));
}

#[test]
fn inspect_of_something_that_is_not_an_image() {
    let dir = with_bundle();
    let out = packer()
        .arg("inspect")
        .arg(dir.path().join("root"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: {} is not an oci image layout: no oci-layout file\n",
            dir.path().join("root").display()
        )
    );
    let out = packer()
        .arg("inspect")
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("No such file or directory")
    );
}
