//! pusher through faults: dropped connections, 503 and 429, a registry that is down, a refused
//! monolithic PUT, and usage errors with their exit codes.

use super::*;

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
