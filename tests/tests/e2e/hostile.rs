//! pusher against a deliberately malicious registry (`tests::hostile`): credentials never
//! reach a foreign upload host, bodies are bounded in size and in time without progress,
//! temporary files go away on failure and on SIGTERM, and the registry's words cannot forge
//! terminal output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tests::hostile::{ForeignUploads, Reply, Scripted};
use tests::registry::{Auth, Registry};
use tests::tools::{packer_bin, penguin_bundle, pusher_bin, run_ok, run_with_stdin, unique_name};

/// The penguin image as an OCI layout (tag `latest`), built once.
fn layout() -> &'static Path {
    static IMAGE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &IMAGE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let rootfs = dir.path().join("rootfs");
            penguin_bundle(&rootfs);
            let layout = dir.path().join("layout");
            run_ok(
                Command::new(packer_bin())
                    .arg("build")
                    .arg(&rootfs)
                    .arg("--oci-layout")
                    .arg(&layout)
                    .args(["--tag", "penguinshell:latest"]),
            );
            (dir, layout)
        })
        .1
}

/// `pusher` with no stray credentials from the environment.
fn pusher(config: &Path) -> Command {
    let mut cmd = Command::new(pusher_bin());
    cmd.env("DOCKER_CONFIG", config)
        .env_remove("PUSHER_USERNAME")
        .env_remove("PUSHER_PASSWORD");
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `.packer-*` temporary files left in a layout's blob folder.
fn temporaries(layout: &Path) -> Vec<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

fn push_through_a_foreign_upload_host(auth: Auth) {
    let reg = Registry::start(auth).unwrap();
    let evil = ForeignUploads::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = format!("{}/{}:latest", evil.host, unique_name("user/foreign"));
    let login = |cmd: &mut Command| {
        cmd.args([
            "--username",
            reg.username.as_deref().unwrap(),
            "--password-stdin",
        ]);
    };
    let mut push = pusher(config.path());
    push.arg("push")
        .arg(layout())
        .arg(&reference)
        .arg("--trace");
    login(&mut push);
    let out = run_with_stdin(&mut push, reg.password.as_deref().unwrap());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "push failed: {stderr}");
    let seen = evil.seen();
    let to_storage: Vec<_> = seen.iter().filter(|s| s.host == "storage").collect();
    assert!(
        to_storage.iter().any(|s| s.method == "PUT"),
        "no upload went to the foreign host: {seen:#?}"
    );
    for s in &to_storage {
        assert_eq!(
            s.authorization, None,
            "{} {} reached the foreign host {} with credentials",
            s.method, s.target, evil.storage_host
        );
    }
    assert!(
        seen.iter()
            .any(|s| s.host == "registry" && s.method == "POST" && s.authorization.is_some()),
        "the registry itself got no credentials: {seen:#?}"
    );
    for secret in reg.secrets() {
        assert!(
            !stdout.contains(&secret) && !stderr.contains(&secret),
            "a secret leaked"
        );
    }
    // what the registry holds is the image: pull it back and compare every blob
    let digest = stdout.lines().last().unwrap().to_string();
    let pulled = tempfile::tempdir().unwrap();
    let mut pull = pusher(config.path());
    pull.arg("pull")
        .arg(&reference)
        .arg(pulled.path().join("l"))
        .arg("-q");
    login(&mut pull);
    let out = run_with_stdin(&mut pull, reg.password.as_deref().unwrap());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "pull failed: {stderr}");
    assert_eq!(stdout.trim(), digest);
    let names = |p: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(p.join("blobs/sha256"))
            .unwrap()
            .flatten()
            .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&pulled.path().join("l")), names(layout()));
}

#[test]
fn basic_credentials_never_reach_a_foreign_upload_host() {
    push_through_a_foreign_upload_host(Auth::Basic);
}

#[test]
fn bearer_tokens_never_reach_a_foreign_upload_host() {
    push_through_a_foreign_upload_host(Auth::Token);
}

/// `sha256:HEX` of `bytes`, by coreutils' `sha256sum`.
fn sha256(bytes: &[u8]) -> String {
    let mut cmd = Command::new("sha256sum");
    let out = run_with_stdin(&mut cmd, std::str::from_utf8(bytes).unwrap());
    assert!(out.status.success());
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// A registry serving a one-layer image whose layer GET is answered by `layer`.
fn one_layer_registry(
    layer: impl Fn() -> Reply + Send + Sync + 'static,
) -> (Scripted, String, u64) {
    let layer_bytes = vec![7u8; 4096];
    let layer_digest = sha256(&layer_bytes);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = sha256(config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":4096,"digest":"{layer_digest}"}}]}}"#,
        config.len()
    );
    let ld = layer_digest.clone();
    let server = Scripted::start(move |_method, target| {
        if target.contains("/manifests/") {
            Reply::Answer(
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                manifest.clone().into_bytes(),
            )
        } else if target.ends_with(&config_digest) {
            Reply::Answer(200, vec![], config.to_vec())
        } else if target.ends_with(&ld) {
            layer()
        } else {
            Reply::Answer(404, vec![], vec![])
        }
    })
    .unwrap();
    (server, layer_digest, 4096)
}

#[test]
fn a_stalled_blob_times_out_with_one_line_and_leaves_no_temporary_file() {
    let (server, layer_digest, size) = one_layer_registry(|| Reply::Stall(vec![7u8; 1000], 4096));
    let config = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("l");
    let reference = format!("{}/user/stall:latest", server.host);
    let mut cmd = pusher(config.path());
    cmd.args(["pull", &reference])
        .arg(&target)
        .args(["--timeout", "2", "-q"]);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pull {reference}: get the blob {layer_digest}: no data for 2 s"
        )),
        "{stderr}"
    );
    // three tries of 2 s each, and a little backoff; not the 60 s default, not forever
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(30),
        "{took:?}"
    );
    assert_eq!(temporaries(&target), Vec::<String>::new());
    assert!(
        !target
            .join(format!("blobs/sha256/{}", &layer_digest[7..]))
            .exists()
    );
    let _ = size;
}

#[test]
fn a_registry_that_never_answers_times_out() {
    let server = Scripted::start(|_, _| Reply::Silent).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = format!("{}/user/silent:latest", server.host);
    let mut cmd = pusher(config.path());
    cmd.args(["inspect", &reference, "--timeout", "2"]);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "inspect {reference}: get the manifest latest: no answer for 2 s"
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_endless_blob_is_cut_at_its_declared_size() {
    let (server, layer_digest, _) = one_layer_registry(|| Reply::Endless);
    let config = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("l");
    let reference = format!("{}/user/endless:latest", server.host);
    let out = pusher(config.path())
        .args(["pull", &reference])
        .arg(&target)
        .arg("-q")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "get the blob {layer_digest}: the registry sent more than the declared 4096 bytes"
        )),
        "{stderr}"
    );
    assert_eq!(temporaries(&target), Vec::<String>::new());
}

#[test]
fn sigterm_during_a_pull_removes_the_temporary_blob() {
    let (server, _, _) = one_layer_registry(|| Reply::Stall(vec![7u8; 1000], 4096));
    let config = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("l");
    let reference = format!("{}/user/term:latest", server.host);
    let child = pusher(config.path())
        .args(["pull", &reference])
        .arg(&target)
        .arg("-q")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while temporaries(&target).is_empty() {
        assert!(Instant::now() < deadline, "no temporary blob appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(128 + 15), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stderr.trim(), "error: interrupted");
    assert_eq!(temporaries(&target), Vec::<String>::new());
}

#[test]
fn registry_text_cannot_forge_terminal_output() {
    let server = Scripted::start(|_, _| {
        Reply::Answer(
            400,
            vec![],
            b"{\"errors\":[{\"code\":\"DENIED\",\"message\":\"\\u001b[1A\\u001b[2K\\rpushed sha256:forged\\nall good\"}]}".to_vec(),
        )
    })
    .unwrap();
    let config = tempfile::tempdir().unwrap();
    let out = pusher(config.path())
        .args(["inspect", &format!("{}/user/forge:latest", server.host)])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        !stderr.trim_end().chars().any(char::is_control),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("\\x1b[1A\\x1b[2K\\x0dpushed sha256:forged\\x0aall good (400 DENIED)"),
        "{stderr}"
    );
}

#[test]
fn references_with_a_scheme_or_credentials_say_what_to_type() {
    let config = tempfile::tempdir().unwrap();
    let out = pusher(config.path())
        .args(["inspect", "http://127.0.0.1:5000/user/p:latest"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a reference has no scheme"), "{stderr}");
    let out = pusher(config.path())
        .args(["inspect", "alice:s3cret@127.0.0.1:5000/user/p:latest"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pass --username and --password-stdin"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
