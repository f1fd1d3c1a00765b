//! `packer build --base` and `packer build --file`: images in steps, on a base or from a
//! Containerfile; refusals are one line, exit 2, nothing written.

use super::*;

/// A base image built by packer itself, tagged `base:1` in `dir/base`, with an Env and a Cmd.
fn base_layout(dir: &Path) {
    let root = dir.join("base-root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/busybox"), b"#!busybox\n").unwrap();
    chmod(&root.join("bin/busybox"), 0o755);
    build_json(
        &root,
        &dir.join("base"),
        &[
            "--tag",
            "base:1",
            "--env",
            "PATH=/bin",
            "--env",
            "HOME=/root",
            "--cmd",
            "sh",
        ],
    );
}

fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = packer()
        .current_dir(dir)
        .arg("build")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn config_of(layout: &Path, manifest: &str) -> serde_json::Value {
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest)).unwrap()).unwrap();
    serde_json::from_slice(&std::fs::read(blob(m["config"]["digest"].as_str().unwrap())).unwrap())
        .unwrap()
}

#[test]
fn an_image_on_a_base_keeps_the_base_and_applies_the_flags() {
    let dir = scratch();
    let d = dir.path();
    base_layout(d);
    std::fs::create_dir_all(d.join("root/bin")).unwrap();
    std::fs::write(d.join("root/bin/penguinshell"), b"penguin").unwrap();
    let args = [
        "root",
        "--base",
        "oci:base:base:1",
        "--oci-layout",
        "out",
        "--docker-archive",
        "out.tar",
        "--tag",
        "penguin:1",
        "--env",
        "PS1=> ",
        "--entrypoint",
        "/bin/penguinshell",
    ];
    let first = run_json(d, &args);
    assert_eq!(first["baseLayers"].as_array().unwrap().len(), 1);
    assert_eq!(first["layers"].as_array().unwrap().len(), 1);
    let manifest = first["manifest"]["digest"].as_str().unwrap();
    let config = config_of(&d.join("out"), manifest);
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/bin", "HOME=/root", "PS1=> "])
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/penguinshell"])
    );
    assert!(config["config"].get("Cmd").is_none(), "{config}");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let by: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        [
            "packer build",
            "packer build",
            "/bin/sh -c #(nop)  ENV PS1=> ",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/penguinshell\"]"
        ]
    );
    // the archive holds both layers and verifies
    let out = packer()
        .args(["inspect", "out.tar"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(layer_lines(&out.stdout), 2);
    // again, into the same layout: the same digests
    std::fs::remove_file(d.join("out.tar")).unwrap();
    let second = run_json(d, &args);
    assert_eq!(first, second);
    // a platform the base is not
    let out = packer()
        .current_dir(d)
        .args(["build", "root", "--base", "oci:base", "--oci-layout", "o2"])
        .args(["--platform", "linux/arm64"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is linux/amd64; drop --platform"), "{err}");
    assert!(!d.join("o2").exists());
}

/// How many layer lines `packer inspect` printed.
fn layer_lines(out: &[u8]) -> usize {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| l.starts_with("layer "))
        .count()
}

/// Runs `packer build ARGS` in `dir`: exit 2, one line equal to `want` on stderr, nothing
/// written.
fn refused(dir: &Path, args: &[&str], want: &str) {
    let before = listing(dir);
    let out = packer()
        .current_dir(dir)
        .arg("build")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err, format!("{want}\n"), "{args:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(listing(dir), before, "{args:?} left something behind");
}

#[test]
fn a_registry_base_gets_the_line_that_fetches_it() {
    let dir = scratch();
    let d = dir.path();
    std::fs::create_dir(d.join("root")).unwrap();
    refused(
        d,
        &[
            "root",
            "--base",
            "docker://localhost:5000/busybox:1",
            "--oci-layout",
            "out",
        ],
        "error: packer reads no registry; fetch the base first: pusher copy docker://localhost:5000/busybox:1 oci:DIR",
    );
}

fn context(d: &Path) {
    std::fs::create_dir_all(d.join("ctx")).unwrap();
    std::fs::write(d.join("ctx/penguinshell"), b"\x7fELF penguin").unwrap();
    chmod(&d.join("ctx/penguinshell"), 0o755);
}

#[test]
fn containerfile_refusals_are_one_line_exit_2_and_write_nothing() {
    let dir = scratch();
    let d = dir.path();
    context(d);
    for (text, want) in [
        (
            "FROM scratch\nCOPY penguinshell /bin/\nRUN echo hi\n",
            "Containerfile:3: RUN: packer builds without running anything",
        ),
        (
            "FROM scratch\n\nCOPY penguinshel /bin/\n",
            "Containerfile:3: COPY: penguinshel: No such file or directory",
        ),
        (
            "FROM scratch\nADD https://example.com/a.tgz /\n",
            "Containerfile:2: ADD: https://example.com/a.tgz: ADD of a URL needs the network, and packer builds offline: download it and COPY the file",
        ),
        (
            "# a base from a registry\nFROM docker://busybox:1.36\nCOPY penguinshell /bin/\n",
            "Containerfile:2: FROM: packer reads no registry; fetch the base first: pusher copy docker://busybox:1.36 oci:DIR",
        ),
    ] {
        std::fs::write(d.join("Containerfile"), text).unwrap();
        refused(
            d,
            &[
                "--file",
                "Containerfile",
                "ctx",
                "--oci-layout",
                "out",
                "--docker-archive",
                "out.tar",
            ],
            want,
        );
    }
}

#[test]
fn the_articles_dockerfile_builds_to_the_same_digest_every_time() {
    let dir = scratch();
    let d = dir.path();
    context(d);
    std::fs::write(
        d.join("Containerfile"),
        "FROM scratch\nCOPY penguinshell /bin/\nENTRYPOINT [\"/bin/penguinshell\"]\n",
    )
    .unwrap();
    let build = |out: &str| {
        run_json(
            d,
            &[
                "-f",
                "Containerfile",
                "ctx",
                "--oci-layout",
                out,
                "--tag",
                "penguin:1",
            ],
        )
    };
    let a = build("a");
    let b = build("b");
    assert_eq!(a, b);
    let config = config_of(&d.join("a"), a["manifest"]["digest"].as_str().unwrap());
    assert_eq!(
        config["config"],
        serde_json::json!({
            "Entrypoint": ["/bin/penguinshell"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        })
    );
    assert_eq!(
        config["history"][1]["created_by"],
        "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/penguinshell\"]"
    );
    assert_eq!(config["history"][1]["empty_layer"], true);
}
