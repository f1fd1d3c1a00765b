//! The protocol steps against the in-process server ([`crate::test_server`]): every check a
//! hostile or broken registry could slip past (returned digests, wrong manifests, credentials
//! to foreign hosts, endless or stalled bodies, forged terminal output) and the upload
//! behaviours (HEAD skip, session restart) fail here within seconds when they regress.

use crate::auth::{Credential, Secret};
use crate::client::{Client, ClientOptions};
use crate::errors::Error;
use crate::progress::{BlobOutcome, Progress};
use crate::reference::Reference;
use crate::test_server::{Reply, Seen, Server, answer};
use crate::transport::{RetryPolicy, TransportOptions};
use crate::upload::{Blob, UploadOptions, upload_blob};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BLOB: &[u8] = b"hello, hostile world\n";

fn digest_of(bytes: &[u8]) -> String {
    packer::digest::sha256_digest(bytes).to_string()
}

const OTHER: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn options(credential: Option<Credential>, timeout_secs: u64) -> ClientOptions {
    ClientOptions {
        transport: TransportOptions {
            retry: RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
                max_total: Duration::from_secs(20),
            },
            timeout: Some(Duration::from_secs(timeout_secs)),
            ..Default::default()
        },
        credential,
        ..Default::default()
    }
}

fn basic() -> Option<Credential> {
    Some(Credential::UserPassword {
        username: "alice".into(),
        password: Secret::new("pa55word"),
    })
}

fn connect(server: &Server, op: &'static str, credential: Option<Credential>) -> Client {
    let r = Reference::parse(&format!("{}/user/p:latest", server.host)).unwrap();
    Client::connect(op, &r, &options(credential, 1), "pull,push", &[]).unwrap()
}

/// A registry that wants Basic `alice:pa55word`, answers `/v2/` and then `rest`.
fn basic_registry(rest: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
    Server::start(move |s| {
        if s.target == "/v2/" {
            return match s.header("Authorization") {
                Some(a) if a == crate::auth::basic_header("alice", "pa55word") => {
                    answer(200, &[], b"{}")
                }
                _ => answer(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], b""),
            };
        }
        rest(s)
    })
}

fn blob_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, BLOB).unwrap();
    (dir, path)
}

fn push_blob(
    client: &Client,
    path: &std::path::Path,
    options: &UploadOptions,
) -> crate::Result<BlobOutcome> {
    let digest = digest_of(BLOB);
    let blob = Blob {
        digest: &digest,
        size: BLOB.len() as u64,
        path,
    };
    upload_blob(
        client,
        &blob,
        options,
        Progress::silent().blob(&digest, blob.size),
    )
}

/// A storage host that accepts the upload PUT and records what it saw.
fn storage(digest_back: String) -> Server {
    Server::start(move |s| match s.method.as_str() {
        "PUT" => answer(201, &[("Docker-Content-Digest", &digest_back)], b""),
        _ => answer(200, &[], BLOB),
    })
}

#[test]
fn foreign_upload_location_gets_no_basic_credentials() {
    let foreign = Arc::new(storage(digest_of(BLOB)));
    let f = foreign.clone();
    let registry = basic_registry(move |s| match s.method.as_str() {
        "HEAD" => answer(404, &[], b""),
        "POST" => answer(
            202,
            &[("Location", &format!("{}/upload/1?sig=abc", f.base))],
            b"",
        ),
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    assert_eq!(
        push_blob(&client, &path, &UploadOptions::default()).unwrap(),
        BlobOutcome::Pushed
    );
    let puts: Vec<Seen> = foreign
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].body, BLOB);
    assert!(puts[0].target.contains("sig=abc"), "{}", puts[0].target);
    assert_eq!(
        puts[0].header("Authorization"),
        None,
        "credentials went to a foreign host"
    );
    // while the registry itself got them
    let post = registry
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert!(
        post.header("Authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

#[test]
fn foreign_hosts_get_no_bearer_token_on_uploads_or_redirects() {
    let foreign = Arc::new(storage(digest_of(BLOB)));
    let f = foreign.clone();
    let registry = Server::start(move |s| {
        let authed = s.header("Authorization") == Some("Bearer T0KEN");
        match (s.method.as_str(), s.target.as_str()) {
            ("GET", t) if t.starts_with("/token") => answer(200, &[], br#"{"token":"T0KEN"}"#),
            (_, _) if !authed => {
                let realm = format!(
                    r#"Bearer realm="http://{}/token",service="s""#,
                    s.header("Host").unwrap()
                );
                answer(401, &[("WWW-Authenticate", &realm)], b"")
            }
            ("GET", "/v2/") => answer(200, &[], b"{}"),
            ("HEAD", _) => answer(404, &[], b""),
            ("POST", _) => answer(202, &[("Location", &format!("{}/upload/1", f.base))], b""),
            ("GET", t) if t.contains("/blobs/") => answer(
                307,
                &[("Location", &format!("{}/blob-store/x", f.base))],
                b"",
            ),
            _ => answer(500, &[], b""),
        }
    });
    let client = connect(&registry, "push", None);
    let (_d, path) = blob_file();
    push_blob(&client, &path, &UploadOptions::default()).unwrap();
    // a blob GET redirected to the storage host
    let layout_dir = tempfile::tempdir().unwrap();
    let layout = packer::OciLayout::create(layout_dir.path()).unwrap();
    let desc = packer::oci_spec::image::Descriptor::new(
        packer::oci_spec::image::MediaType::ImageLayerGzip,
        BLOB.len() as u64,
        digest_of(BLOB)
            .parse::<packer::oci_spec::image::Digest>()
            .unwrap(),
    );
    crate::pull::get_blob(&client, &layout, &desc, &Progress::silent().blob("x", 1)).unwrap();
    let seen = foreign.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(
            s.header("Authorization"),
            None,
            "{} {} got credentials",
            s.method,
            s.target
        );
    }
    assert!(registry.count("POST", "/blobs/uploads/") == 1);
}

#[test]
fn redirects_to_the_same_origin_keep_the_credentials() {
    let registry = basic_registry(|s| {
        match s.target.as_str() {
        t if t.ends_with("/manifests/latest") => {
            answer(302, &[("Location", "/v2/user/p/manifests/moved")], b"")
        }
        t if t.ends_with("/manifests/moved") && s.header("Authorization").is_some() => answer(
            200,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#,
        ),
        _ => answer(401, &[], b""),
    }
    });
    let client = connect(&registry, "pull", basic());
    crate::pull::get_manifest(&client, "latest").unwrap();
}

#[test]
fn a_manifest_put_answered_with_another_digest_fails() {
    let registry = basic_registry(|_| answer(201, &[("Docker-Content-Digest", OTHER)], b""));
    let client = connect(&registry, "push", basic());
    let e = crate::push::push_manifest(&client, "latest", &small_manifest()).unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { ref got, .. } if got == OTHER),
        "{e}"
    );
    assert_eq!(e.exit_code(), crate::errors::EXIT_REGISTRY);
}

#[test]
fn a_blob_commit_answered_with_another_digest_fails() {
    let registry = basic_registry(|s| match s.method.as_str() {
        "HEAD" => answer(404, &[], b""),
        "POST" => answer(202, &[("Location", "/v2/user/p/blobs/uploads/1")], b""),
        _ => answer(201, &[("Docker-Content-Digest", OTHER)], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    let e = push_blob(&client, &path, &UploadOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { ref got, .. } if got == OTHER),
        "{e}"
    );
}

#[test]
fn a_mount_answered_with_another_digest_fails() {
    let registry = basic_registry(|s| match s.method.as_str() {
        "HEAD" => answer(404, &[], b""),
        "POST" if s.target.contains("mount=") => {
            answer(201, &[("Docker-Content-Digest", OTHER)], b"")
        }
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    let options = UploadOptions {
        mount_from: Some("other/repo".into()),
        ..Default::default()
    };
    let e = push_blob(&client, &path, &options).unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { ref got, .. } if got == OTHER),
        "{e}"
    );
    let post = registry
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert!(
        post.target.contains("mount=sha256%3A") && post.target.contains("from=other%2Frepo"),
        "{}",
        post.target
    );
}

#[test]
fn a_pull_by_digest_served_another_manifest_fails() {
    let wanted = br#"{"schemaVersion":2,"layers":[]}"#;
    let served = br#"{"schemaVersion":2,"layers":[],"evil":1}"#;
    let registry = basic_registry(move |_| {
        answer(
            200,
            &[
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", &digest_of(served)),
            ],
            served,
        )
    });
    let client = connect(&registry, "pull", basic());
    let e = crate::pull::get_manifest(&client, &digest_of(wanted)).unwrap_err();
    assert!(
        matches!(e, Error::DigestMismatch { ref expected, .. } if *expected == digest_of(wanted)),
        "{e}"
    );
}

#[test]
fn an_existing_blob_is_not_uploaded() {
    let registry = basic_registry(|s| match s.method.as_str() {
        "HEAD" => answer(200, &[], b""),
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    assert_eq!(
        push_blob(&client, &path, &UploadOptions::default()).unwrap(),
        BlobOutcome::Exists
    );
    assert_eq!(registry.count("POST", ""), 0);
    assert_eq!(registry.count("PUT", ""), 0);
}

/// The ping's `{}` and a refusal's JSON are read to their end, so every request of a push
/// goes over the one connection instead of a new one each.
#[test]
fn small_unread_bodies_keep_the_connection() {
    let registry = Server::start_keep_alive(|s| match (s.method.as_str(), s.target.as_str()) {
        ("GET", "/v2/") => answer(200, &[], b"{}"),
        ("HEAD", _) => answer(404, &[], b""),
        _ => answer(
            403,
            &[("Content-Type", "application/json")],
            br#"{"errors":[{"code":"DENIED","message":"no"}]}"#,
        ),
    });
    let client = connect(&registry, "push", None);
    let (_d, path) = blob_file();
    assert!(push_blob(&client, &path, &UploadOptions::default()).is_err());
    assert!(push_blob(&client, &path, &UploadOptions::default()).is_err());
    assert_eq!(registry.count("POST", "/blobs/uploads/"), 2);
    assert_eq!(registry.connections(), 1, "{:#?}", registry.seen());
}

/// A registry that announces a small body and never sends it holds the drain on drop no longer
/// than the timeout (1 s here): the push goes on.
#[test]
fn a_small_body_that_stalls_holds_the_drop_no_longer_than_the_timeout() {
    let registry = Server::start_keep_alive(|s| match (s.method.as_str(), s.target.as_str()) {
        ("GET", "/v2/") => Reply::Stall(200, vec![], b"{".to_vec(), 2),
        _ => answer(404, &[], b""),
    });
    let started = Instant::now();
    let client = connect(&registry, "push", None);
    assert!(!crate::upload::check_blob_exists(&client, &digest_of(BLOB)).unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Below `check_exists_from`, a blob is sent without the HEAD; from it on, it is asked about
/// first (and here found, so not sent).
#[test]
fn a_small_blob_is_sent_without_asking_first() {
    let registry = basic_registry(|s| match s.method.as_str() {
        "HEAD" => answer(200, &[], b""),
        "POST" => answer(202, &[("Location", "/v2/user/p/blobs/uploads/s1")], b""),
        "PUT" if s.body == BLOB => answer(201, &[("Docker-Content-Digest", &digest_of(BLOB))], b""),
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    let size = BLOB.len() as u64;
    let sent_directly = UploadOptions {
        check_exists_from: size + 1,
        ..Default::default()
    };
    assert_eq!(
        push_blob(&client, &path, &sent_directly).unwrap(),
        BlobOutcome::Pushed
    );
    assert_eq!(registry.count("HEAD", ""), 0);
    assert_eq!(registry.count("PUT", "/blobs/uploads/s1?digest="), 1);
    let asked = UploadOptions {
        check_exists_from: size,
        ..Default::default()
    };
    assert_eq!(
        push_blob(&client, &path, &asked).unwrap(),
        BlobOutcome::Exists
    );
    assert_eq!(registry.count("HEAD", "/blobs/sha256:"), 1);
    assert_eq!(registry.count("PUT", ""), 1);
}

#[test]
fn a_forgotten_upload_session_restarts_with_a_new_one() {
    let sessions = AtomicUsize::new(0);
    let registry = basic_registry(move |s| match s.method.as_str() {
        "HEAD" => answer(404, &[], b""),
        "POST" => {
            let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
            answer(
                202,
                &[("Location", &format!("/v2/user/p/blobs/uploads/s{n}"))],
                b"",
            )
        }
        "PUT" if s.target.contains("/s1?") => answer(
            404,
            &[],
            br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}"#,
        ),
        "PUT" if s.body == BLOB => answer(201, &[("Docker-Content-Digest", &digest_of(BLOB))], b""),
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", basic());
    let (_d, path) = blob_file();
    assert_eq!(
        push_blob(&client, &path, &UploadOptions::default()).unwrap(),
        BlobOutcome::Pushed
    );
    let puts: Vec<String> = registry
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .map(|s| s.target)
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts[1].starts_with("/v2/user/p/blobs/uploads/s2?digest=sha256%3A"),
        "{puts:?}"
    );
    assert_eq!(registry.count("POST", "/blobs/uploads/"), 2);
}

fn layout_and_desc(
    size: u64,
) -> (
    tempfile::TempDir,
    packer::OciLayout,
    packer::oci_spec::image::Descriptor,
) {
    let dir = tempfile::tempdir().unwrap();
    let layout = packer::OciLayout::create(dir.path()).unwrap();
    let desc = packer::oci_spec::image::Descriptor::new(
        packer::oci_spec::image::MediaType::ImageLayerGzip,
        size,
        digest_of(BLOB)
            .parse::<packer::oci_spec::image::Digest>()
            .unwrap(),
    );
    (dir, layout, desc)
}

fn blob_dir_entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_endless_blob_stops_at_its_declared_size_and_leaves_nothing() {
    let registry = basic_registry(|_| Reply::Endless);
    let client = connect(&registry, "pull", basic());
    let (dir, layout, desc) = layout_and_desc(BLOB.len() as u64);
    let e = crate::pull::get_blob(&client, &layout, &desc, &Progress::silent().blob("x", 1))
        .unwrap_err();
    assert!(
        e.to_string().contains("more than the declared 21 bytes"),
        "{e}"
    );
    assert_eq!(e.exit_code(), crate::errors::EXIT_REGISTRY);
    assert_eq!(blob_dir_entries(dir.path()), Vec::<String>::new());
    // a Content-Length over the declared size is refused before reading
    let registry = basic_registry(|_| answer(200, &[], &[0u8; 22]));
    let client = connect(&registry, "pull", basic());
    let e = crate::pull::get_blob(&client, &layout, &desc, &Progress::silent().blob("x", 1))
        .unwrap_err();
    assert!(
        e.to_string().contains("more than the declared 21 bytes"),
        "{e}"
    );
    assert_eq!(blob_dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn a_body_that_stalls_times_out_with_one_line_naming_the_step() {
    let registry =
        basic_registry(|_| Reply::Stall(200, vec![], BLOB[..5].to_vec(), BLOB.len() as u64));
    let client = connect(&registry, "pull", basic());
    let (dir, layout, desc) = layout_and_desc(BLOB.len() as u64);
    let started = Instant::now();
    let e = crate::pull::get_blob(&client, &layout, &desc, &Progress::silent().blob("x", 1))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let line = e.to_string();
    assert!(
        line.contains(&format!(
            "get the blob {}: no data for 1 s",
            digest_of(BLOB)
        )),
        "{line}"
    );
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    assert_eq!(line.lines().count(), 1);
    // the download was tried again, then given up
    assert_eq!(
        registry.count("GET", "/blobs/"),
        crate::client::DOWNLOAD_ATTEMPTS as usize
    );
    assert_eq!(blob_dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn a_server_that_never_answers_times_out() {
    let registry = basic_registry(|_| Reply::Silent);
    let client = connect(&registry, "pull", basic());
    let started = Instant::now();
    let e = crate::pull::get_manifest(&client, "latest").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.to_string()
            .contains("get the manifest latest: no answer for 1 s"),
        "{e}"
    );
    assert!(e.to_string().contains("after 2 attempts"), "{e}");
}

#[test]
fn registry_words_are_escaped_on_one_line() {
    let registry = basic_registry(|_| {
        answer(400, &[], b"{\"errors\":[{\"code\":\"DENIED\",\"message\":\"\\u001b[2K\\rpushed sha256:fake\\nsecond line\"}]}")
    });
    let client = connect(&registry, "pull", basic());
    let e = crate::pull::get_manifest(&client, "latest")
        .unwrap_err()
        .to_string();
    assert!(!e.chars().any(char::is_control), "{e:?}");
    assert!(
        e.contains("\\x1b[2K\\x0dpushed sha256:fake\\x0asecond line"),
        "{e}"
    );
}

#[test]
fn an_anonymous_401_says_how_to_log_in_and_405_names_the_method() {
    let registry = Server::start(|s| match (s.method.as_str(), s.target.as_str()) {
        ("GET", "/v2/") => answer(200, &[], b"{}"),
        ("POST", _) => answer(405, &[], b""),
        _ => answer(
            401,
            &[],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        ),
    });
    let client = connect(&registry, "push", None);
    let e = crate::push::push_manifest(&client, "latest", &small_manifest()).unwrap_err();
    assert!(
        e.to_string()
            .contains("pass --username and --password-stdin"),
        "{e}"
    );
    let e = crate::upload::initiate_upload(&client).unwrap_err();
    assert!(e.to_string().contains("does not allow this method"), "{e}");
}

#[test]
fn an_upload_the_registry_stops_reading_times_out() {
    let registry = Server::start_with(true, |s| match (s.method.as_str(), s.target.as_str()) {
        ("GET", "/v2/") => answer(200, &[], b"{}"),
        ("HEAD", _) => answer(404, &[], b""),
        ("POST", _) => answer(202, &[("Location", "/v2/user/p/blobs/uploads/1")], b""),
        _ => answer(500, &[], b""),
    });
    let client = connect(&registry, "push", None);
    // more than the socket buffers hold, so the writer must wait for the reader
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let big = vec![1u8; 32 << 20];
    std::fs::write(&path, &big).unwrap();
    let digest = digest_of(&big);
    let blob = Blob {
        digest: &digest,
        size: big.len() as u64,
        path: &path,
    };
    let options = UploadOptions {
        max_sessions: 1,
        ..Default::default()
    };
    let started = Instant::now();
    let e = upload_blob(
        &client,
        &blob,
        &options,
        Progress::silent().blob(&digest, 1),
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.to_string().contains(
            "send the blob and commit with the digest: the registry took no data for 1 s"
        ),
        "{e}"
    );
}

#[test]
fn a_bad_digest_in_a_pulled_manifest_is_one_registry_error() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:../../etc/passwd"},"layers":[]}"#;
    let registry = basic_registry(move |_| {
        answer(
            200,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            manifest,
        )
    });
    let client = connect(&registry, "pull", basic());
    let dir = tempfile::tempdir().unwrap();
    let e = crate::pull::pull_image(&client, &dir.path().join("l"), 1, None, &Progress::silent())
        .unwrap_err();
    assert_eq!(e.exit_code(), crate::errors::EXIT_REGISTRY, "{e}");
    assert_eq!(e.to_string().matches("etc/passwd").count(), 1, "{e}");
    assert!(e.to_string().contains("the manifest"), "{e}");
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
}

/// A small valid OCI image manifest (one config, no layers), kept with its exact bytes.
fn small_manifest() -> packer::model::Manifest {
    let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    packer::model::Manifest::parse(bytes.to_vec(), None, "a test manifest").unwrap()
}
