//! pusher against the real registry (Debian's docker-registry) in every auth mode, through a
//! fault-injecting proxy, and checked by the real Docker Engine and skopeo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tests::docker::{docker, ensure_engine};
use tests::proxy::{Fault, Proxy};
use tests::registry::{Auth, Registry};
mod copy;

use tests::tools::{
    packer_bin, penguin_bundle, pusher_bin, require, run_ok, run_with_stdin, unique_name,
};

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

fn push_pull_run(auth: Auth) {
    let image = penguin();
    let reg = Registry::start(auth).unwrap();
    let config = tempfile::tempdir().unwrap();
    let name = unique_name(&format!("user/penguin-{}", auth.name()));
    let reference = reg.reference(&format!("{name}:latest"));
    let mut cmd = pusher(config.path());
    cmd.arg("push")
        .arg(&image.layout)
        .arg(&reference)
        .arg("--trace");
    let mut stdin = String::new();
    match auth {
        Auth::None => {}
        Auth::Basic => {
            cmd.args([
                "--username",
                reg.username.as_deref().unwrap(),
                "--password-stdin",
            ]);
            stdin = reg.password.clone().unwrap();
        }
        Auth::Token => {
            cmd.env("PUSHER_USERNAME", reg.username.as_deref().unwrap());
            cmd.env("PUSHER_PASSWORD", reg.password.as_deref().unwrap());
        }
        Auth::Tls => {
            cmd.arg("--ca-file").arg(reg.ca_pem.as_ref().unwrap());
        }
    }
    let digest = push_ok(&mut cmd, &stdin, &[]);
    let secrets = reg.secrets();
    if !secrets.is_empty() {
        // run again (re-push) and check outputs against every secret, tokens included
        let digest2 = push_ok(&mut cmd, &stdin, &reg.secrets());
        assert_eq!(digest2, digest);
    }
    check_with_docker_and_skopeo(&reg, &reference, &digest);
}

#[test]
fn push_then_docker_pull_and_run_without_auth() {
    push_pull_run(Auth::None);
}

#[test]
fn push_then_docker_pull_and_run_with_basic_auth() {
    push_pull_run(Auth::Basic);
}

#[test]
fn push_then_docker_pull_and_run_with_token_auth() {
    push_pull_run(Auth::Token);
}

#[test]
fn push_then_docker_pull_and_run_over_tls() {
    push_pull_run(Auth::Tls);
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
fn push_survives_a_dropped_connection_503_and_429_and_pull_gives_the_same_blobs() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let layer = layer_digest(&image.layout);
    // the layer's upload loses its connection after 64 KiB of body
    proxy.inject(
        "PUT",
        &format!("digest={layer}"),
        Fault::DropAfter { bytes: 64 << 10 },
        1,
    );
    proxy.inject(
        "POST",
        "/blobs/uploads/",
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        1,
    );
    proxy.inject(
        "HEAD",
        "/blobs/sha256:",
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    proxy.inject(
        "PUT",
        "/manifests/",
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        1,
    );
    let reference = format!("{}/faults/penguin:latest", proxy.host);
    let digest = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
    assert_eq!(proxy.faults_applied(), 4, "{:#?}", proxy.seen());
    assert_pull_gives_back(
        config.path(),
        &reg.reference("faults/penguin:latest"),
        &digest,
        &image.layout,
    );
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
        inspect.contains(&format!("digest:     {digest}")),
        "{inspect}"
    );
    assert!(inspect.contains("platform:   linux/amd64"), "{inspect}");
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
fn wrong_password_is_a_clear_auth_error_and_pushes_no_manifest() {
    let image = penguin();
    for auth in [Auth::Basic, Auth::Token] {
        let reg = Registry::start(auth).unwrap();
        let config = tempfile::tempdir().unwrap();
        let reference = reg.reference("wrong/penguin:latest");
        let wrong = format!("not-{}", reg.password.as_deref().unwrap());
        let out = run_with_stdin(
            pusher(config.path())
                .arg("push")
                .arg(&image.layout)
                .arg(&reference)
                .args([
                    "-u",
                    reg.username.as_deref().unwrap(),
                    "--password-stdin",
                    "--trace",
                ]),
            &wrong,
        );
        let line = assert_failure(&out, 3, "denied", std::slice::from_ref(&wrong));
        assert!(line.contains("wrong/penguin"), "{line}");
        assert!(
            !repository_exists(&reg, "wrong/penguin"),
            "{auth:?}: a manifest was pushed"
        );
    }
}

#[test]
fn registry_down_is_a_clear_error_after_bounded_retries() {
    let image = penguin();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = tempfile::tempdir().unwrap();
    let out = pusher(config.path())
        .arg("push")
        .arg(&image.layout)
        .arg(format!("127.0.0.1:{port}/down/penguin:latest"))
        .output()
        .unwrap();
    let line = assert_failure(&out, 4, "cannot reach", &[]);
    assert!(line.contains("after 5 attempts"), "{line}");
}

#[test]
fn credentials_from_docker_config_auths_never_show() {
    use base64::Engine as _;
    let image = penguin();
    let reg = Registry::start(Auth::Token).unwrap();
    let config = tempfile::tempdir().unwrap();
    let user = reg.username.clone().unwrap();
    let pw = reg.password.clone().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let reference = reg.reference("cfg/penguin:latest");
    let digest = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference)
            .arg("--trace"),
        "",
        &[],
    );
    let mut secrets = reg.secrets();
    secrets.push(auth);
    assert!(
        !reg.token_server
            .as_ref()
            .unwrap()
            .issued_tokens()
            .is_empty()
    );
    // pull with --trace too, and check every output against password and every token
    let out_dir = tempfile::tempdir().unwrap();
    let out = pusher(config.path())
        .arg("pull")
        .arg(&reference)
        .arg(out_dir.path().join("p"))
        .arg("--trace")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), digest);
    let secrets: Vec<String> = secrets.into_iter().chain(reg.secrets()).collect();
    assert_no_secret(&stdout, &stderr, &secrets);
    assert!(
        stderr.contains("Authorization: Bearer <redacted>"),
        "{stderr}"
    );

    // an identitytoken entry is exchanged as an OAuth2 refresh token
    let idt = reg.identity_token.clone().unwrap();
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"{idt}"}}}}}}"#,
            reg.host
        ),
    )
    .unwrap();
    let secrets: Vec<String> = reg.secrets();
    let d = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference)
            .arg("--trace"),
        "",
        &secrets,
    );
    assert_eq!(d, digest);
    assert_no_secret("", "", &reg.secrets());
}

#[test]
fn credentials_from_a_credential_helper_never_show() {
    use std::os::unix::fs::PermissionsExt;
    let image = penguin();
    let reg = Registry::start(Auth::Basic).unwrap();
    let config = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let user = reg.username.clone().unwrap();
    let pw = reg.password.clone().unwrap();
    let helper = bin.path().join("docker-credential-penguintest");
    let asked = bin.path().join("asked");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > {asked}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pw}\"}}' \"$(cat {asked})\"\n",
            asked = asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"penguintest"}}}}"#, reg.host),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let reference = reg.reference("helper/penguin:latest");
    let digest = push_ok(
        pusher(config.path())
            .env("PATH", &path)
            .arg("push")
            .arg(&image.layout)
            .arg(&reference)
            .arg("--trace"),
        "",
        std::slice::from_ref(&pw),
    );
    assert_eq!(std::fs::read_to_string(&asked).unwrap(), reg.host);
    assert!(repository_exists(&reg, "helper/penguin"));
    // credsStore works the same way
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credsStore":"penguintest"}"#,
    )
    .unwrap();
    let d = push_ok(
        pusher(config.path())
            .env("PATH", &path)
            .arg("push")
            .arg(&image.layout)
            .arg(&reference)
            .arg("--trace"),
        "",
        &[pw],
    );
    assert_eq!(d, digest);
}

#[test]
fn tls_roots_also_come_from_ssl_cert_file() {
    let image = penguin();
    let reg = Registry::start(Auth::Tls).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = reg.reference("certfile/penguin:latest");
    // without the CA the push fails as a network/TLS error, not a panic
    let out = pusher(config.path())
        .arg("push")
        .arg(&image.layout)
        .arg(&reference)
        .output()
        .unwrap();
    assert_failure(&out, 4, "certfile/penguin", &[]);
    push_ok(
        pusher(config.path())
            .env("SSL_CERT_FILE", reg.ca_pem.as_ref().unwrap())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
}

#[test]
fn a_new_401_challenge_mid_push_is_answered_once_not_looped() {
    let image = penguin();
    let reg = Registry::start(Auth::Token).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let ts = reg.token_server.as_ref().unwrap();
    let config = tempfile::tempdir().unwrap();
    let challenge = format!(
        r#"Bearer realm="{}",service="{}",scope="repository:renew/penguin:pull,push""#,
        ts.realm,
        tests::token_server::SERVICE
    );
    let unauthorized = Fault::Respond {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), challenge)],
    };
    let reference = format!("{}/renew/penguin:latest", proxy.host);
    let user = reg.username.clone().unwrap();
    let pw = reg.password.clone().unwrap();
    // once: a fresh token, the manifest PUT again, success
    proxy.inject("PUT", "/manifests/", unauthorized.clone(), 1);
    let before = ts.requests();
    push_ok(
        pusher(config.path())
            .env("PUSHER_USERNAME", &user)
            .env("PUSHER_PASSWORD", &pw)
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &reg.secrets(),
    );
    assert_eq!(proxy.count("PUT", "/manifests/"), 2, "{:#?}", proxy.seen());
    assert_eq!(ts.requests() - before, 2, "one login, one renewal");
    // always: answered once more, then a clear auth error
    proxy.reset_counts();
    proxy.inject("PUT", "/manifests/", unauthorized, 10);
    let out = pusher(config.path())
        .env("PUSHER_USERNAME", &user)
        .env("PUSHER_PASSWORD", &pw)
        .arg("push")
        .arg(&image.layout)
        .arg(&reference)
        .output()
        .unwrap();
    assert_failure(&out, 3, "denied", &reg.secrets());
    assert_eq!(proxy.count("PUT", "/manifests/"), 2, "{:#?}", proxy.seen());
}

#[test]
fn a_refused_monolithic_put_falls_back_to_chunks_in_a_new_session() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let layer = layer_digest(&image.layout);
    proxy.inject(
        "PUT",
        &format!("digest={layer}"),
        Fault::Respond {
            status: 405,
            headers: Vec::new(),
        },
        1,
    );
    let reference = format!("{}/chunks/penguin:latest", proxy.host);
    let digest = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
    assert!(
        proxy.count("PATCH", "/blobs/uploads/") >= 1,
        "{:#?}",
        proxy.seen()
    );
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        3,
        "{:#?}",
        proxy.seen()
    );
    assert_pull_gives_back(
        config.path(),
        &reg.reference("chunks/penguin:latest"),
        &digest,
        &image.layout,
    );
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

/// A layout in `dir` with two images (`penguin:amd`, `penguin:arm`) and an image index over
/// them named `multi`; returns the layout and the index's digest.
fn two_platform_layout(dir: &Path) -> (PathBuf, String) {
    let rootfs = dir.join("rootfs");
    penguin_bundle(&rootfs);
    let layout = dir.join("multi");
    for (tag, platform) in [("amd", "linux/amd64"), ("arm", "linux/arm64")] {
        run_ok(
            Command::new(packer_bin())
                .arg("build")
                .arg(&rootfs)
                .arg("--oci-layout")
                .arg(&layout)
                .args(["--tag", &format!("penguin:{tag}"), "--platform", platform])
                .args(["--entrypoint", "/bin/penguinshell"]),
        );
    }
    // an image index over the two manifests, tagged `multi`
    let index_path = layout.join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entries: Vec<serde_json::Value> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let digest = m["digest"].as_str().unwrap();
            let manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap(),
            )
            .unwrap();
            let config: serde_json::Value = serde_json::from_slice(
                &std::fs::read(
                    layout
                        .join("blobs/sha256")
                        .join(&manifest["config"]["digest"].as_str().unwrap()[7..]),
                )
                .unwrap(),
            )
            .unwrap();
            serde_json::json!({
                "mediaType": m["mediaType"],
                "digest": digest,
                "size": m["size"],
                "platform": {"os": config["os"], "architecture": config["architecture"]},
            })
        })
        .collect();
    assert_eq!(entries.len(), 2);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let tmp = dir.join("index-blob");
    std::fs::write(&tmp, &bytes).unwrap();
    let digest = sha256_of(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    (layout, digest)
}

#[test]
fn an_index_is_pushed_with_its_manifests_first() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, digest) = two_platform_layout(dir.path());
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let pushed = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(format!("{}:multi", layout.display()))
            .arg(format!("{}/multi/penguin:latest", proxy.host)),
        "",
        &[],
    );
    assert_eq!(pushed, digest);
    let manifest_puts: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/manifests/"))
        .map(|s| s.path)
        .collect();
    assert_eq!(manifest_puts.len(), 3, "{manifest_puts:?}");
    assert!(
        manifest_puts[2].ends_with("/manifests/latest"),
        "{manifest_puts:?}"
    );
    let inspect =
        run_ok(pusher(config.path()).args(["inspect", &reg.reference("multi/penguin:latest")]));
    assert!(
        inspect.contains("platform:   linux/amd64 sha256:"),
        "{inspect}"
    );
    assert!(
        inspect.contains("platform:   linux/arm64 sha256:"),
        "{inspect}"
    );
    check_with_docker_and_skopeo(&reg, &reg.reference("multi/penguin:latest"), &digest);
}

#[test]
fn usage_errors_and_bad_sources_are_one_line_with_their_exit_codes() {
    let image = penguin();
    let config = tempfile::tempdir().unwrap();
    let out = pusher(config.path()).arg("push").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let out = pusher(config.path())
        .arg("push")
        .arg(&image.layout)
        .arg("127.0.0.1:5000/Upper/case")
        .output()
        .unwrap();
    assert_failure(&out, 2, "repository name must be lowercase", &[]);
    let out = pusher(config.path())
        .args(["push", "/no/such/layout", "127.0.0.1:1/x/y:z"])
        .output()
        .unwrap();
    assert_failure(&out, 1, "cannot read image /no/such/layout", &[]);
}
