//! `cargo xtask image`: the article end to end, checked with the real Docker Engine, podman and
//! a token-auth registry (issue 5).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tests::docker::{docker, ensure_engine, podman};
use tests::registry::{Auth, Registry};
use tests::tools::{
    default_outputs_lock, project_root, require, run_ok, run_with_stdin, unique_name, xtask,
};

/// What the article's session types into the shell, and what it must print.
const SESSION: &str = "ls /\ncd /etc\npwd\necho hello penguin\n";
const SESSION_OUTPUT: &str = "bin dev etc proc sys\n/etc\nhello penguin\n";

/// Runs `cargo xtask image` with `args` and returns its stdout.
fn xtask_image(args: &[&str], password: Option<&str>) -> String {
    let mut cmd = xtask();
    cmd.arg("image").args(args);
    let out = run_with_stdin(&mut cmd, password.unwrap_or(""));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo xtask image {args:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `manifest sha256:...` digest that `cargo xtask image` printed.
fn manifest_digest(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("manifest"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no manifest line in:\n{stdout}"))
        .to_owned()
}

/// Acceptance 1: push to a token-auth registry, then run the pulled image in Docker and podman.
#[test]
fn pushed_image_runs_in_docker_and_podman() {
    ensure_engine();
    let registry = Registry::start(Auth::Token).unwrap();
    let user = registry.username.clone().unwrap();
    let password = registry.password.clone().unwrap();
    let reference = registry.reference("user/penguinshell:latest");
    let out = tempfile::tempdir().unwrap();
    let stdout = xtask_image(
        &[
            "--out",
            out.path().to_str().unwrap(),
            "--push",
            &reference,
            "--username",
            &user,
            "--password-stdin",
        ],
        Some(&password),
    );
    let printed = stdout.lines().last().unwrap().to_owned();
    assert_eq!(printed, manifest_digest(&stdout), "{stdout}");
    assert!(
        stdout.contains(&format!("docker run --rm -it {reference}")),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&password),
        "the password leaked:\n{stdout}"
    );

    // Docker, with its own config so the login stays in this test.
    let config = tempfile::tempdir().unwrap();
    let docker_cfg = |cmd: &mut Command| {
        cmd.arg("--config").arg(config.path());
    };
    let mut login = docker();
    docker_cfg(&mut login);
    login.args([
        "login",
        "--username",
        &user,
        "--password-stdin",
        &registry.host,
    ]);
    let login = run_with_stdin(&mut login, &password);
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let _ = docker().args(["rmi", "--force", &reference]).output();
    let mut run = docker();
    docker_cfg(&mut run);
    run.args(["run", "--rm", "-i", "--pull", "always", &reference]);
    let ran = run_with_stdin(&mut run, SESSION);
    let _ = docker().args(["rmi", "--force", &reference]).output();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), SESSION_OUTPUT);

    // podman pulls it over plain HTTP from the same registry, with its own auth file.
    let authfile = config.path().join("podman-auth.json");
    let login = run_with_stdin(
        podman()
            .args([
                "login",
                "--tls-verify=false",
                "--username",
                &user,
                "--password-stdin",
            ])
            .arg("--authfile")
            .arg(&authfile)
            .arg(&registry.host),
        &password,
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let ran = run_with_stdin(
        podman()
            .args([
                "run",
                "--rm",
                "-i",
                "--pull",
                "always",
                "--tls-verify=false",
            ])
            .arg("--authfile")
            .arg(&authfile)
            .arg(&reference),
        SESSION,
    );
    let _ = podman().args(["rmi", "--force", &reference]).output();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    // podman itself adds /run to every container (a tmpfs for /run/.containerenv);
    // the rest is the image's own root, as Docker showed above.
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        SESSION_OUTPUT.replace("proc sys", "proc run sys")
    );
}

/// Acceptance 2: `docker run -it` on a terminal shows the prompt, answers, and `exit` ends it 0.
#[test]
fn pushed_image_is_interactive_on_a_terminal() {
    ensure_engine();
    let tmux = require("tmux");
    let registry = Registry::start(Auth::None).unwrap();
    let reference = registry.reference("user/penguinshell:tty");
    let out = tempfile::tempdir().unwrap();
    xtask_image(
        &["--out", out.path().to_str().unwrap(), "--push", &reference],
        None,
    );
    let _ = docker().args(["rmi", "--force", &reference]).output();

    let session = unique_name("penguin-tty");
    let status_file = out.path().join("status");
    let command = format!(
        "{} run --rm -it {reference}; echo $? > {}",
        require("docker").display(),
        status_file.display()
    );
    run_ok(Command::new(&tmux).args([
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]));
    let capture = || {
        let out = Command::new(&tmux)
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let wait_for = |what: &dyn Fn(&str) -> bool, label: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let screen = capture();
            if what(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                let _ = Command::new(&tmux)
                    .args(["kill-session", "-t", &session])
                    .status();
                panic!("timed out waiting for {label}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // tmux drops the blank after the prompt from its capture
    wait_for(&|s| s.contains("🐧"), "the prompt");
    run_ok(Command::new(&tmux).args(["send-keys", "-t", &session, "ls /", "Enter"]));
    // On a terminal, `ls` lays names out in columns, two spaces apart.
    wait_for(&|s| s.contains("bin  dev  etc  proc  sys"), "ls / output");
    run_ok(Command::new(&tmux).args(["send-keys", "-t", &session, "exit", "Enter"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new(&tmux)
        .args(["kill-session", "-t", &session])
        .status();
    let _ = docker().args(["rmi", "--force", &reference]).output();
    let status = std::fs::read_to_string(&status_file).expect("docker run did not end after exit");
    assert_eq!(status.trim(), "0");
}

/// Acceptance 3: the default outputs under target/image run with `docker load` and `docker import`.
#[test]
fn default_outputs_load_and_import() {
    ensure_engine();
    let _guard = default_outputs_lock();
    let stdout = xtask_image(&[], None);
    assert!(
        stdout.contains("docker load -i target/image/penguinshell.tar"),
        "{stdout}"
    );
    let root = project_root();

    let loaded = run_ok(
        docker()
            .arg("load")
            .arg("-i")
            .arg(root.join("target/image/penguinshell.tar")),
    );
    assert!(loaded.contains("penguinshell:latest"), "{loaded}");
    let ran = run_with_stdin(
        docker().args(["run", "--rm", "-i", "penguinshell:latest"]),
        SESSION,
    );
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), SESSION_OUTPUT);
    // The image has no /bin/cat: the shell's own `cat` shows the container's cgroup
    // lines, `HIERARCHY:CONTROLLERS:/PATH` (`0::/` on cgroup v2).
    let ran = run_with_stdin(
        docker().args(["run", "--rm", "-i", "penguinshell:latest"]),
        "cat /proc/self/cgroup\n",
    );
    let cgroup = String::from_utf8_lossy(&ran.stdout);
    let shaped = |l: &str| {
        l.split(':')
            .next()
            .is_some_and(|n| n.parse::<u32>().is_ok())
            && l.contains(":/")
    };
    assert!(
        ran.status.success() && cgroup.lines().count() > 0 && cgroup.lines().all(shaped),
        "{cgroup}"
    );

    let tag = format!("{}:latest", unique_name("penguin-import"));
    run_ok(
        docker()
            .arg("import")
            .arg(root.join("target/image/rootfs.tar"))
            .arg(&tag),
    );
    let ran = run_with_stdin(
        docker().args(["run", "--rm", "-i", &tag, "/bin/penguinshell"]),
        SESSION,
    );
    let _ = docker().args(["rmi", &tag]).output();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), SESSION_OUTPUT);

    // Nothing changed: the second run rebuilds nothing and gives the same digests.
    let again = xtask_image(&[], None);
    assert!(again.contains("nothing rebuilt"), "{again}");
    assert_eq!(manifest_digest(&again), manifest_digest(&stdout));
}

/// Acceptance 4: two clean clones, built apart, give the same manifest digest.
#[test]
fn clean_clones_give_identical_digests() {
    let git = require("git");
    let root = project_root();
    let mut digests = Vec::new();
    let work = tempfile::tempdir().unwrap();
    for name in ["one", "two"] {
        let clone = work.path().join(name);
        run_ok(
            Command::new(&git)
                .arg("clone")
                .arg("--quiet")
                .arg(&root)
                .arg(&clone),
        );
        let out = clone_xtask_image(&clone);
        digests.push(manifest_digest(&out));
    }
    assert_eq!(digests[0], digests[1]);
}

fn clone_xtask_image(clone: &Path) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(clone)
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_TARGET_DIR", clone.join("target"))
        .args(["xtask", "image"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo xtask image in {} failed\n{stdout}\n{}",
        clone.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
