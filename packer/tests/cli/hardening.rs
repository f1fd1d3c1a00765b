//! Issue 9, packer items 7–10: outputs that are not plain files, two builds into one layout,
//! nothing half-written (bad outputs refused up front, staging removed on SIGTERM and cleaned
//! after SIGKILL), SOURCE_DATE_EPOCH and --platform bounds.

use super::*;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};

fn with_bundle() -> tempfile::TempDir {
    let dir = scratch();
    fixed_bundle(&dir.path().join("root"));
    dir
}

/// Runs `packer build` in `dir`, expects exit 1 with one `error:` line holding `needle`, and
/// that nothing in `dir` changed.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let before = listing(dir);
    let out = packer()
        .current_dir(dir)
        .arg("build")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{args:?}: {err}"
    );
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert_eq!(listing(dir), before, "{args:?} changed the folder");
}

#[test]
fn outputs_that_are_not_regular_files_are_refused_and_kept() {
    let dir = with_bundle();
    let p = dir.path();
    mkfifo(&p.join("fifo"));
    std::os::unix::fs::symlink("fifo", p.join("to-fifo")).unwrap();
    std::os::unix::fs::symlink("nowhere", p.join("dangling")).unwrap();
    std::fs::create_dir(p.join("folder")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(p.join("socket")).unwrap();
    for flag in ["--docker-archive", "--rootfs-tar"] {
        for (name, kind) in [
            ("fifo", "a fifo"),
            ("socket", "a socket"),
            ("to-fifo", "a symlink to a fifo"),
            ("dangling", "a symlink to a missing file"),
            ("folder", "a folder"),
        ] {
            refused(
                p,
                &["root", "--oci-layout", "img", flag, name],
                &format!(
                    "\"{name}\": {kind}; packer writes only new paths or regular files (use - for standard output)"
                ),
            );
        }
    }
    assert!(
        std::fs::symlink_metadata(p.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(p.join("to-fifo"))
            .unwrap()
            .is_symlink()
    );
    assert!(
        std::fs::symlink_metadata(p.join("socket"))
            .unwrap()
            .file_type()
            .is_socket()
    );
}

#[test]
fn a_device_node_is_never_replaced() {
    // SAFETY: geteuid has no preconditions
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test makes a device node: run as root"
    );
    let dir = with_bundle();
    let p = dir.path();
    // a node like /dev/full (char 1,7), made here so a regression cannot break the real one
    let full = p.join("full");
    let c = std::ffi::CString::new(full.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid nul-terminated path
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 7)) };
    assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
    std::os::unix::fs::symlink("full", p.join("to-full")).unwrap();
    for flag in ["--docker-archive", "--rootfs-tar"] {
        refused(
            p,
            &["root", "--oci-layout", "img", flag, "full"],
            "\"full\": a character device; packer writes only",
        );
        refused(
            p,
            &["root", "--oci-layout", "img", flag, "to-full"],
            "\"to-full\": a symlink to a character device",
        );
    }
    let ft = std::fs::symlink_metadata(&full).unwrap().file_type();
    assert!(ft.is_char_device());
}

#[test]
fn a_symlink_to_a_regular_file_is_written_through() {
    let dir = with_bundle();
    let p = dir.path();
    std::fs::write(p.join("old.tar"), b"old").unwrap();
    std::os::unix::fs::symlink("old.tar", p.join("link.tar")).unwrap();
    let v = build_json(
        &p.join("root"),
        &p.join("img"),
        &["--rootfs-tar", p.join("link.tar").to_str().unwrap()],
    );
    assert!(p.join("link.tar").is_symlink(), "the link was replaced");
    let tar = std::fs::read(p.join("old.tar")).unwrap();
    assert_eq!(tar.len() as u64, v["tarSize"].as_u64().unwrap());
}

#[test]
fn dash_streams_the_archive_and_the_rootfs_tar_to_stdout() {
    let dir = with_bundle();
    let p = dir.path();
    let v = build_json(
        &p.join("root"),
        &p.join("a"),
        &[
            "--docker-archive",
            p.join("image.tar").to_str().unwrap(),
            "--rootfs-tar",
            p.join("rootfs.tar").to_str().unwrap(),
        ],
    );
    for (flag, file) in [
        ("--docker-archive", "image.tar"),
        ("--rootfs-tar", "rootfs.tar"),
    ] {
        let layout = p.join(format!("b{flag}"));
        let out = packer()
            .current_dir(p)
            .arg("build")
            .arg("root")
            .arg("--oci-layout")
            .arg(&layout)
            .args([flag, "-", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, std::fs::read(p.join(file)).unwrap(), "{flag}");
        // the report moves to stderr
        let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(digests(&report), digests(&v));
        assert!(!p.join("-").exists());
        assert!(leftovers(p).is_empty(), "{:?}", leftovers(p));
    }
    refused(
        p,
        &[
            "root",
            "--oci-layout",
            "c",
            "--docker-archive",
            "-",
            "--rootfs-tar",
            "-",
        ],
        "invalid output \"-\": given to both --docker-archive and --rootfs-tar",
    );
    refused(
        p,
        &["root", "--oci-layout", "-"],
        "invalid oci layout \"-\": an oci layout is a folder",
    );
}

#[test]
fn one_path_for_two_outputs_is_refused_up_front() {
    let dir = with_bundle();
    let p = dir.path();
    refused(
        p,
        &["root", "--oci-layout", "x", "--docker-archive", "x"],
        "invalid output \"x\": given to both --oci-layout and --docker-archive",
    );
    refused(
        p,
        &[
            "root",
            "--oci-layout",
            "img",
            "--docker-archive",
            "t.tar",
            "--rootfs-tar",
            "./t.tar",
        ],
        "given to both --docker-archive and --rootfs-tar",
    );
    // an existing layout given as the archive too stays as it is
    build_json(&p.join("root"), &p.join("img"), &["--tag", "p:1"]);
    refused(
        p,
        &["root", "--oci-layout", "img", "--docker-archive", "img"],
        "given to both --oci-layout and --docker-archive",
    );
    // the same file under two names (a hard link)
    std::fs::write(p.join("t1.tar"), b"x").unwrap();
    std::fs::hard_link(p.join("t1.tar"), p.join("t2.tar")).unwrap();
    refused(
        p,
        &[
            "root",
            "--oci-layout",
            "img",
            "--docker-archive",
            "t1.tar",
            "--rootfs-tar",
            "t2.tar",
        ],
        "given to both --docker-archive and --rootfs-tar",
    );
}

#[test]
fn a_broken_index_in_the_target_layout_writes_nothing() {
    let dir = with_bundle();
    let p = dir.path();
    build_json(&p.join("root"), &p.join("img"), &["--tag", "p:1"]);
    std::fs::write(p.join("img/index.json"), b"{\"manifests\": [").unwrap();
    refused(
        p,
        &[
            "root",
            "--oci-layout",
            "img",
            "--tag",
            "p:2",
            "--docker-archive",
            "image.tar",
            "--rootfs-tar",
            "rootfs.tar",
        ],
        "invalid json in img/index.json",
    );
}

fn spawn_build(dir: &Path, layout: &str, tag: &str) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_packer"))
        .current_dir(dir)
        .args(["build", "root", "--oci-layout", layout, "--tag", tag])
        .args(["--threads", "1"])
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn tags_in(layout: &Path) -> BTreeSet<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn concurrent_builds_into_one_layout_keep_every_tag() {
    let dir = with_bundle();
    let p = dir.path();
    build_json(&p.join("root"), &p.join("img"), &["--tag", "p:base"]);
    const N: usize = 8;
    for layout in ["img", "new"] {
        let children: Vec<Child> = (0..N)
            .map(|i| spawn_build(p, layout, &format!("p:t{i}")))
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut want: BTreeSet<String> = (0..N).map(|i| format!("p:t{i}")).collect();
        if layout == "img" {
            want.insert("p:base".to_owned());
        }
        assert_eq!(tags_in(&p.join(layout)), want, "{layout}");
        assert!(leftovers(p).is_empty(), "{:?}", leftovers(p));
        let inspect = packer()
            .arg("inspect")
            .arg(p.join(layout))
            .output()
            .unwrap();
        assert!(inspect.status.success());
    }
}

/// A bundle big enough that a single-threaded gzip -9 build runs for a while.
fn slow_bundle(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut data = Vec::with_capacity(48 << 20);
    while data.len() < 48 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(root.join("noise"), data).unwrap();
}

/// Starts a slow build writing a layout and a rootfs tar into `dir` and waits until its
/// staging exists.
fn start_slow_build(dir: &Path) -> Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_packer"))
        .current_dir(dir)
        .args([
            "build",
            "root",
            "--oci-layout",
            "img",
            "--rootfs-tar",
            "rootfs.tar",
        ])
        .args(["--level", "9", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while leftovers(dir).len() < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended too soon"
        );
        assert!(start.elapsed().as_secs() < 60, "no staging appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build ended too soon"
    );
    child
}

#[test]
fn sigterm_and_sigint_remove_the_staging() {
    let dir = scratch();
    let p = dir.path();
    slow_bundle(&p.join("root"));
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut child = start_slow_build(p);
        // SAFETY: signalling our own child
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "{status:?}");
        let left: Vec<_> = listing(p)
            .into_iter()
            .filter(|e| !e.starts_with("root"))
            .collect();
        assert!(left.is_empty(), "signal {sig} left {left:?}");
    }
}

#[test]
fn leftovers_of_a_killed_build_are_cleaned_by_the_next_one() {
    let dir = scratch();
    let p = dir.path();
    slow_bundle(&p.join("root"));
    let mut child = start_slow_build(p);
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    let left = leftovers(p);
    let prefix = format!(".packer-{}-", child.id());
    assert!(
        left.len() >= 2 && left.iter().all(|l| l.starts_with(&prefix)),
        "{left:?}"
    );
    // the next build into the same place, a small bundle this time
    std::fs::remove_file(p.join("root/noise")).unwrap();
    std::fs::write(p.join("root/hello"), b"hi\n").unwrap();
    build_json(
        &p.join("root"),
        &p.join("img"),
        &["--rootfs-tar", p.join("rootfs.tar").to_str().unwrap()],
    );
    assert!(p.join("rootfs.tar").is_file());
    assert!(leftovers(p).is_empty(), "{:?}", leftovers(p));
}

#[test]
fn source_date_epoch_past_9999_is_refused() {
    let dir = with_bundle();
    let before = listing(dir.path());
    let out = packer()
        .current_dir(dir.path())
        .env("SOURCE_DATE_EPOCH", "253402300800")
        .args(["build", "root", "--oci-layout", "img"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: invalid SOURCE_DATE_EPOCH \"253402300800\": past the year 9999 (at most 253402300799, 9999-12-31T23:59:59Z)\n"
    );
    assert_eq!(listing(dir.path()), before);
    // the last second of 9999 is fine and written as such
    let out = packer()
        .current_dir(dir.path())
        .env("SOURCE_DATE_EPOCH", "253402300799")
        .args(["build", "root", "--oci-layout", "img", "--tag", "p:1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = packer()
        .args(["inspect", dir.path().join("img").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("created   9999-12-31T23:59:59Z\n")
    );
}

#[test]
fn platforms_are_the_known_os_and_architectures() {
    let dir = with_bundle();
    let p = dir.path();
    refused(
        p,
        &["root", "--oci-layout", "img", "--platform", "foo/bar"],
        "invalid platform \"foo/bar\": unknown OS foo; known: aix android darwin",
    );
    refused(
        p,
        &["root", "--oci-layout", "img", "--platform", "linux/bar"],
        "unknown architecture bar; known: 386 amd64 amd64p32 arm arm64",
    );
    refused(
        p,
        &["root", "--oci-layout", "img", "--platform", "linux/arm/v9"],
        "unknown variant v9; known for arm: v5 v6 v7 v8",
    );
    for (i, good) in [
        "linux/arm/v7",
        "linux/arm64/v8",
        "linux/s390x",
        "windows/amd64",
    ]
    .iter()
    .enumerate()
    {
        let v = build_json(
            &p.join("root"),
            &p.join(format!("img{i}")),
            &["--platform", good],
        );
        assert!(v["manifest"]["digest"].is_string());
    }
}
