//! `cargo xtask registry`: ready means *our* registry listens. A port held by another program
//! ends in the registry's own error line, a non-zero exit and no `env`/`pid`/`ready` files;
//! the same port, once free, works, and `--stop` ends it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use tests::tools::xtask;

fn registry_task(dir: &Path, args: &[&str]) -> std::process::Output {
    xtask()
        .arg("registry")
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("cannot run cargo xtask registry")
}

fn state_files(dir: &Path) -> Vec<&'static str> {
    ["env", "pid", "ready"]
        .into_iter()
        .filter(|f| dir.join(f).exists())
        .collect()
}

#[test]
fn a_taken_port_is_an_error_with_the_registrys_own_words_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port().to_string();

    for mode in [&["--background"][..], &[][..]] {
        let out = registry_task(&dir, &[&["--port", port.as_str()][..], mode].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "a taken port was reported ready: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "listen tcp 127.0.0.1:{port}: bind: address already in use"
            )),
            "the registry's own error line is missing: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one error line: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("password"));
        assert_eq!(
            state_files(&dir),
            Vec::<&str>::new(),
            "files left after failure"
        );
    }

    // The same port, free now, serves the registry API until --stop.
    drop(squatter);
    let out = registry_task(&dir, &["--port", &port, "--auth", "basic", "--background"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("registry http://127.0.0.1:{port}")),
        "{stdout}"
    );
    assert_eq!(state_files(&dir), ["env", "pid", "ready"]);
    let mut conn = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    conn.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 401"), "{answer}");
    assert!(
        answer.contains("Docker-Distribution-Api-Version: registry/2.0"),
        "{answer}"
    );

    let out = registry_task(&dir, &["--stop"]);
    assert!(out.status.success());
    assert_eq!(state_files(&dir), Vec::<&str>::new());
    assert!(TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err());
}
