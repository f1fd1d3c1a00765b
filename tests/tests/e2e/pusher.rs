//! pusher against the real registry (Debian's docker-registry) in every auth mode, through a
//! fault-injecting proxy, and checked by the real Docker Engine and skopeo. This file holds the
//! shared helpers and the plain push/pull round trips; `auth`, `faults`, `index` and `copy` hold
//! the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tests::docker::{docker, ensure_engine};
use tests::proxy::{Fault, Proxy};
use tests::registry::{Auth, Registry};
use tests::tools::{
    packer_bin, penguin_bundle, pusher_bin, require, run_ok, run_with_stdin, unique_name,
};

mod archives;
mod auth;
mod copy;
mod faults;
mod index;

/// The penguin image, built once by packer: an OCI layout (tag `latest`) and a docker archive.
struct Penguin {
    _dir: tempfile::TempDir,
    layout: PathBuf,
    archive: PathBuf,
}

fn penguin() -> &'static Penguin {
    static IMAGE: OnceLock<Penguin> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        penguin_bundle(&rootfs);
        let layout = dir.path().join("layout");
        let archive = dir.path().join("penguin.tar");
        run_ok(
            Command::new(packer_bin())
                .arg("build")
                .arg(&rootfs)
                .arg("--oci-layout")
                .arg(&layout)
                .arg("--docker-archive")
                .arg(&archive)
                .args([
                    "--tag",
                    "penguinshell:latest",
                    "--entrypoint",
                    "/bin/penguinshell",
                ]),
        );
        Penguin {
            _dir: dir,
            layout,
            archive,
        }
    })
}

/// Every blob file of an OCI layout, by file name (the hex digest).
fn blobs(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        out.insert(name, std::fs::read(e.path()).unwrap());
    }
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pusher ARGS` with a clean credential environment (no stray Docker config, no env creds).
fn pusher(config_dir: &Path) -> Command {
    let mut cmd = Command::new(pusher_bin());
    cmd.env("DOCKER_CONFIG", config_dir)
        .env_remove("PUSHER_USERNAME")
        .env_remove("PUSHER_PASSWORD")
        .env_remove("SSL_CERT_FILE");
    cmd
}

/// Runs pusher, asserts success, checks no secret shows, and returns the digest it printed
/// as its last stdout line.
/// Pulls `reference` anonymously and checks it is `digest` with exactly the blobs of `layout`.
fn assert_pull_gives_back(config_dir: &Path, reference: &str, digest: &str, layout: &Path) {
    let out_dir = tempfile::tempdir().unwrap();
    let pulled = out_dir.path().join("pulled");
    let pull_digest = push_ok(
        pusher(config_dir).arg("pull").arg(reference).arg(&pulled),
        "",
        &[],
    );
    assert_eq!(pull_digest, digest);
    assert_eq!(blobs(&pulled), blobs(layout));
}

fn push_ok(cmd: &mut Command, stdin: &str, secrets: &[String]) -> String {
    let out = run_with_stdin(cmd, stdin);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert_no_secret(&stdout, &stderr, secrets);
    let digest = stdout.lines().last().unwrap_or("").to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "last stdout line is not a digest: {stdout:?}"
    );
    digest
}

fn assert_no_secret(stdout: &str, stderr: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !stdout.contains(s.as_str()),
            "a secret leaked to stdout: {stdout}"
        );
        assert!(
            !stderr.contains(s.as_str()),
            "a secret leaked to stderr: {stderr}"
        );
        // the Basic header form of a password must not show either
    }
}

/// Docker's own view: log in if needed, `docker rmi`, `docker pull`, then run the shell with
/// `ls /` piped in; skopeo inspect must report `digest`.
fn check_with_docker_and_skopeo(reg: &Registry, reference: &str, digest: &str) {
    ensure_engine();
    let docker_config = tempfile::tempdir().unwrap();
    let dockercmd = || {
        let mut c = docker();
        c.env("DOCKER_CONFIG", docker_config.path());
        c
    };
    if reg.auth == Auth::Tls {
        reg.install_docker_ca().unwrap();
    }
    if let (Some(u), Some(p)) = (&reg.username, &reg.password) {
        let out = run_with_stdin(
            dockercmd().args(["login", "-u", u, "--password-stdin", &reg.host]),
            p,
        );
        assert!(out.status.success(), "docker login: {:?}", text(&out));
    }
    let _ = dockercmd().args(["rmi", "-f", reference]).output();
    run_ok(dockercmd().args(["pull", reference]));
    let out = run_with_stdin(dockercmd().args(["run", "--rm", "-i", reference]), "ls /\n");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "docker run failed: {stderr}");
    assert_eq!(
        stdout.trim_end(),
        "bin dev etc proc sys",
        "stderr: {stderr}"
    );
    let _ = dockercmd().args(["rmi", "-f", reference]).output();

    let mut skopeo = Command::new(require("skopeo"));
    skopeo.arg("inspect");
    let certs = tempfile::tempdir().unwrap();
    match &reg.ca_pem {
        Some(ca) => {
            std::fs::copy(ca, certs.path().join("ca.crt")).unwrap();
            skopeo.arg("--cert-dir").arg(certs.path());
        }
        None => {
            skopeo.arg("--tls-verify=false");
        }
    }
    if let (Some(u), Some(p)) = (&reg.username, &reg.password) {
        skopeo.arg("--creds").arg(format!("{u}:{p}"));
    }
    let json = run_ok(skopeo.arg(format!("docker://{reference}")));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Digest"].as_str(), Some(digest), "skopeo inspect: {json}");
}

#[test]
fn docker_archive_pushes_the_same_digest_as_the_layout() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let config = tempfile::tempdir().unwrap();
    let a = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(reg.reference("arch/a:v1")),
        "",
        &[],
    );
    let b = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.archive)
            .arg(reg.reference("arch/b:v1")),
        "",
        &[],
    );
    assert_eq!(a, b);
}

#[test]
fn pushing_again_uploads_no_blob() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = format!("{}/again/penguin:latest", proxy.host);
    let first = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
    assert_eq!(
        proxy.count("PUT", "/blobs/uploads/"),
        2,
        "{:#?}",
        proxy.seen()
    );
    proxy.reset_counts();
    let second = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
    assert_eq!(first, second);
    let seen = proxy.seen();
    assert_eq!(proxy.count("HEAD", "/blobs/sha256:"), 2, "{seen:#?}");
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), 0, "{seen:#?}");
    assert_eq!(proxy.count("PUT", "/blobs/"), 0, "{seen:#?}");
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0, "{seen:#?}");
}

fn layer_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&m[7..])).unwrap())
            .unwrap();
    manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pull_reproduces_the_source_blobs_byte_for_byte() {
    let image = penguin();
    let reg = Registry::start(Auth::Basic).unwrap();
    let config = tempfile::tempdir().unwrap();
    let user = reg.username.clone().unwrap();
    let pw = reg.password.clone().unwrap();
    let reference = reg.reference("pull/penguin:v1");
    let digest = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference)
            .args(["-u", &user, "--password-stdin", "--chunk-size", "100000"]),
        &pw,
        std::slice::from_ref(&pw),
    );
    let out_dir = tempfile::tempdir().unwrap();
    let pulled = out_dir.path().join("pulled");
    let pulled_digest = push_ok(
        pusher(config.path())
            .arg("pull")
            .arg(&reference)
            .arg(&pulled)
            .args(["-u", &user, "--password-stdin", "--trace"]),
        &pw,
        std::slice::from_ref(&pw),
    );
    assert_eq!(pulled_digest, digest);
    assert_eq!(blobs(&pulled), blobs(&image.layout));
    // the pulled layout is a valid image that packer's reader and inspect accept
    run_ok(
        Command::new(packer_bin())
            .arg("inspect")
            .arg(format!("{}:v1", pulled.display())),
    );
    let inspect = run_ok(
        pusher(config.path())
            .env("PUSHER_USERNAME", &user)
            .env("PUSHER_PASSWORD", &pw)
            .args(["inspect", &reference]),
    );
    assert!(
        inspect.contains(&format!("manifest  {digest}  ")),
        "{inspect}"
    );
    assert!(inspect.contains("platform  linux/amd64"), "{inspect}");
}

fn assert_failure(out: &Output, code: i32, must_contain: &str, secrets: &[String]) -> String {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains(must_contain), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_no_secret(&stdout, &stderr, secrets);
    error_lines[0].to_string()
}

fn repository_exists(reg: &Registry, repo: &str) -> bool {
    reg.storage
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests")
        .exists()
}

#[test]
fn mount_from_another_repository_uploads_nothing() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(format!("{}/mount/source:latest", proxy.host)),
        "",
        &[],
    );
    proxy.reset_counts();
    let out = run_with_stdin(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(format!("{}/mount/dest:latest", proxy.host))
            .args(["--mount-from", "mount/source"]),
        "",
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("mounted sha256:").count(), 2, "{stderr}");
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        2,
        "{:#?}",
        proxy.seen()
    );
    assert_eq!(proxy.count("PUT", "/blobs/"), 0, "{:#?}", proxy.seen());
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0, "{:#?}", proxy.seen());
}

fn sha256_of(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}
