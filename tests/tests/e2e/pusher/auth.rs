//! pusher in every auth mode (none, Basic, token, TLS) checked by Docker and skopeo, and the
//! ways credentials are found (flags, Docker config, credential helpers) without a secret
//! showing anywhere.

use super::*;

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
