//! Checks of the harness itself: the engine starts and runs the static penguin shell.

use tests::docker::{docker, ensure_engine, podman};
use tests::tools::{penguin_bundle, run_ok, run_with_stdin, unique_name};

/// The article's `docker import`: a flat tar of the bundle runs under the real engine.
#[test]
fn docker_imports_and_runs_a_tar_of_the_bundle() {
    ensure_engine();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    penguin_bundle(&root);
    let tar = dir.path().join("rootfs.tar");
    run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .args(["bin", "dev", "etc", "proc", "sys"]),
    );
    let tag = format!("{}:latest", unique_name("harness-import"));
    run_ok(docker().arg("import").arg(&tar).arg(&tag));
    let out = run_with_stdin(
        docker().args(["run", "--rm", "-i", &tag, "/bin/penguinshell"]),
        "ls /\necho hello penguin\n",
    );
    let _ = docker().args(["rmi", &tag]).output();
    assert!(
        out.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bin dev etc proc sys\nhello penguin\n"
    );
}

/// podman answers with the sandbox settings.
#[test]
fn podman_answers() {
    let out = run_ok(podman().args(["info", "--format", "{{.Host.CgroupManager}}"]));
    assert_eq!(out.trim(), "cgroupfs");
}
