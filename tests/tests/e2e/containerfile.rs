//! Issue 10, acceptance 3 and 4: `packer build --file` against `docker build` (Docker 20.10's
//! classic builder) on the same Dockerfile and context. The same tree in the layers and the same
//! config, packer's digest the same on every run and from a fresh copy, Docker's not; and what
//! packer cannot build refused in one line naming the file and line, exit 2, nothing written.

use super::base::tree;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tests::docker::{docker, ensure_engine};
use tests::tools::{packer_bin, require, run_ok, shell_bin, unique_name};

/// The article's Dockerfile, as it is written there.
const ARTICLE: &str = "FROM scratch\nCOPY penguinshell /bin/\nENTRYPOINT [\"/bin/penguinshell\"]\n";

/// A build context: the penguin shell (mode 0755) and `Dockerfile`.
fn context(dir: &Path, dockerfile: &str) -> PathBuf {
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    let shell = ctx.join("penguinshell");
    std::fs::copy(shell_bin(), &shell).unwrap();
    std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// `docker build` with the classic builder; returns the image id.
fn docker_build(ctx: &Path, tag: &str, build_args: &[&str]) -> String {
    let mut cmd = docker();
    cmd.env("DOCKER_BUILDKIT", "0")
        .args(["build", "--no-cache", "-q", "-t", tag]);
    for arg in build_args {
        cmd.args(["--build-arg", arg]);
    }
    run_ok(cmd.arg(ctx)).trim().to_owned()
}

/// `packer build --file Dockerfile CONTEXT` into `out`; returns the manifest digest.
fn packer_build(ctx: &Path, out: &Path, tag: &str, build_args: &[&str]) -> String {
    let mut cmd = Command::new(packer_bin());
    cmd.arg("build")
        .arg("--file")
        .arg(ctx.join("Dockerfile"))
        .arg(ctx)
        .arg("--oci-layout")
        .arg(out)
        .args(["--tag", tag]);
    for arg in build_args {
        cmd.args(["--build-arg", arg]);
    }
    run_ok(&mut cmd);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Extracts each layer tar in order into `into` with the system's tar (as root: modes and
/// owners kept).
fn extract(layers: &[PathBuf], into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    for layer in layers {
        run_ok(
            Command::new(require("tar"))
                .args(["--numeric-owner", "-xpf"])
                .arg(layer)
                .arg("-C")
                .arg(into),
        );
    }
}

/// Docker's image: `docker save`, its config and its layers extracted into `dir/tree`.
fn docker_image(tag: &str, dir: &Path) -> (serde_json::Value, PathBuf) {
    let saved = dir.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let tar = dir.join("saved.tar");
    run_ok(docker().args(["save", "-o"]).arg(&tar).arg(tag));
    run_ok(
        Command::new(require("tar"))
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&saved),
    );
    let manifest = read_json(&saved.join("manifest.json"));
    let config = read_json(&saved.join(manifest[0]["Config"].as_str().unwrap()));
    let layers: Vec<PathBuf> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| saved.join(l.as_str().unwrap()))
        .collect();
    let root = dir.join("docker-tree");
    extract(&layers, &root);
    (config, root)
}

/// packer's image: its config and its layers extracted into `dir/tree`.
fn packer_image(layout: &Path, digest: &str, dir: &Path) -> (serde_json::Value, PathBuf) {
    let blob = |d: &str| layout.join("blobs/sha256").join(&d[7..]);
    let manifest = read_json(&blob(digest));
    let config = read_json(&blob(manifest["config"]["digest"].as_str().unwrap()));
    let layers: Vec<PathBuf> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect();
    let root = dir.join("packer-tree");
    extract(&layers, &root);
    (config, root)
}

/// The two extracted trees hold the same names, types, modes, owners and contents.
fn same_tree(packer: &Path, docker: &Path) {
    let want = tree(docker);
    let got = tree(packer);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, entry) in &want {
        let (kind, mode, uid, gid, _) = &got[name];
        assert!(
            &got[name] == entry,
            "{name}: packer {kind} {mode:o} {uid}:{gid}, docker {} {:o} {}:{}",
            entry.0,
            entry.1,
            entry.2,
            entry.3
        );
    }
}

/// Acceptance 3: the article's three lines. The same files (names, types, modes, owners,
/// contents) and the same Entrypoint; packer's digest is the same on every run and from a
/// fresh copy of the context, Docker's image id is not.
#[test]
fn the_articles_dockerfile_builds_like_docker_build_but_reproducibly() {
    ensure_engine();
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), ARTICLE);
    let tag = format!("{}:v1", unique_name("article-docker"));
    let first = docker_build(&ctx, &tag, &[]);
    let second = docker_build(&ctx, &tag, &[]);
    let (docker_config, docker_tree) = docker_image(&tag, dir.path());
    let _ = docker().args(["rmi", "-f", &tag, &first, &second]).output();
    assert!(first.starts_with("sha256:"), "{first}");
    assert_ne!(first, second, "Docker stamps each build with its time");

    let layout = dir.path().join("packer");
    let digest = packer_build(&ctx, &layout, "article:v1", &[]);
    let again = packer_build(&ctx, &dir.path().join("again"), "article:v1", &[]);
    // a fresh copy of the context, as a clean clone would give: other times, same bytes
    let copy = tempfile::tempdir().unwrap();
    let fresh = context(copy.path(), ARTICLE);
    run_ok(
        Command::new(require("touch"))
            .args(["-h", "-d", "2001-09-09 01:46:40"])
            .arg(&fresh)
            .arg(fresh.join("penguinshell"))
            .arg(fresh.join("Dockerfile")),
    );
    let from_copy = packer_build(&fresh, &dir.path().join("copy"), "article:v1", &[]);
    assert_eq!(digest, again);
    assert_eq!(digest, from_copy);

    let (packer_config, packer_tree) = packer_image(&layout, &digest, dir.path());
    same_tree(&packer_tree, &docker_tree);
    assert_eq!(
        packer_config["config"]["Entrypoint"],
        docker_config["config"]["Entrypoint"]
    );
    assert_eq!(
        packer_config["config"]["Entrypoint"],
        serde_json::json!(["/bin/penguinshell"])
    );
}

/// Acceptance 3: ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL, CMD in shell form and ARG
/// (before and after FROM, with `--build-arg`): the config fields match `docker build`'s.
#[test]
fn a_containerfile_with_metadata_configures_like_docker_build() {
    ensure_engine();
    let dockerfile = r#"# syntax=docker/dockerfile:1
ARG GREETING=hello
FROM scratch
ARG GREETING
ARG SHELLNAME=penguinshell
ENV GREETING=$GREETING HOME="/home/penguin" \
    EMPTY= QUOTED='$HOME'
ENV LEGACY the rest is the value
WORKDIR /home
WORKDIR penguin
LABEL org.opencontainers.image.title="penguin shell" greeting=${GREETING} \
      shell=${SHELLNAME:-none}
USER 1000:1000
EXPOSE 8080 53/udp
STOPSIGNAL SIGINT
COPY ${SHELLNAME} /bin/
CMD echo "$GREETING" from $HOME
"#;
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), dockerfile);
    let args = ["GREETING=bonjour"];
    let tag = format!("{}:v1", unique_name("metadata-docker"));
    let id = docker_build(&ctx, &tag, &args);
    let (docker_config, _) = docker_image(&tag, dir.path());
    let _ = docker().args(["rmi", "-f", &tag, &id]).output();

    let layout = dir.path().join("packer");
    let digest = packer_build(&ctx, &layout, "metadata:v1", &args);
    let (packer_config, _) = packer_image(&layout, &digest, dir.path());
    for field in [
        "Env",
        "Entrypoint",
        "Cmd",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "StopSignal",
        "Volumes",
    ] {
        let want = &docker_config["config"][field];
        let got = &packer_config["config"][field];
        assert_eq!(got, want, "config.{field}");
    }
    for field in ["architecture", "os"] {
        assert_eq!(packer_config[field], docker_config[field], "{field}");
    }
    assert_eq!(
        docker_config["config"]["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo \"$GREETING\" from $HOME"])
    );
    assert_eq!(
        docker_config["config"]["Labels"]["greeting"],
        serde_json::json!("bonjour")
    );
}

/// Acceptance 3, the layers: several sources, a folder, a numeric `--chown`, an `ADD` of a
/// local tar archive (extracted, its owners kept as Docker keeps them) give the tree `docker
/// build` gives.
#[test]
fn copy_and_add_give_the_tree_docker_build_gives() {
    ensure_engine();
    let dockerfile = "FROM scratch\n\
        COPY --chown=1000:100 penguinshell Dockerfile /home/penguin/\n\
        COPY etc /etc/\n\
        ADD rootfs.tar /opt/\n";
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), dockerfile);
    let etc = ctx.join("etc");
    std::fs::create_dir_all(etc.join("conf.d")).unwrap();
    std::fs::write(etc.join("hostname"), "penguin\n").unwrap();
    std::fs::write(etc.join("conf.d/a.conf"), "a=1\n").unwrap();
    std::fs::set_permissions(etc.join("conf.d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(etc.join("hostname"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("hostname", etc.join("name")).unwrap();
    run_ok(
        Command::new(require("tar"))
            .arg("-C")
            .arg(&etc)
            .args(["--numeric-owner", "--owner=7", "--group=8", "-cf"])
            .arg(ctx.join("rootfs.tar"))
            .arg("."),
    );
    let tag = format!("{}:v1", unique_name("copies-docker"));
    let id = docker_build(&ctx, &tag, &[]);
    let (_, docker_tree) = docker_image(&tag, dir.path());
    let _ = docker().args(["rmi", "-f", &tag, &id]).output();
    let layout = dir.path().join("packer");
    let digest = packer_build(&ctx, &layout, "copies:v1", &[]);
    let (_, packer_tree) = packer_image(&layout, &digest, dir.path());
    same_tree(&packer_tree, &docker_tree);
}

/// Acceptance 4: RUN, a missing COPY source, an ADD URL, a registry base. One line naming
/// the file and the line, exit 2, nothing written.
#[test]
fn what_packer_cannot_build_is_one_line_exit_2_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), ARTICLE);
    let cases = [
        (
            "FROM scratch\nCOPY penguinshell /bin/\nRUN echo hi\n",
            "Containerfile:3: RUN: ",
        ),
        (
            "FROM scratch\n\nCOPY penguinshell nothere /bin/\n",
            "Containerfile:3: COPY: nothere: ",
        ),
        (
            "FROM scratch\nADD https://example.com/penguin.tar.gz /\n",
            "Containerfile:2: ADD: ",
        ),
        (
            "# a base from a registry\nFROM docker://127.0.0.1:5000/base/busybox:1\nCOPY penguinshell /bin/\n",
            "Containerfile:2: FROM: ",
        ),
    ];
    for (text, start) in cases {
        std::fs::write(ctx.join("Containerfile"), text).unwrap();
        let out_dir = dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = Command::new(packer_bin())
            .current_dir(&ctx)
            .args(["build", "--file", "Containerfile", "."])
            .args(["--oci-layout", "../out/layout"])
            .args(["--docker-archive", "../out/image.tar"])
            .args(["--tag", "refused:v1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{text:?}: {stderr}");
        let line = stderr.lines().next().unwrap_or_default();
        assert!(
            line.contains(start),
            "{text:?}: {line:?} does not name {start:?}"
        );
        let left: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{text:?} left {left:?}");
        if text.contains("docker://") {
            assert!(line.contains("pusher copy docker://"), "{line}");
        }
        if text.contains("RUN") {
            assert!(line.contains("without running"), "{line}");
        }
    }
}
