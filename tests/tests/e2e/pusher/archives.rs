//! `pusher copy` from and to archives, read in place: a classic `docker save` (Docker 20.10:
//! `manifest.json`, `<id>/layer.tar`) pushed to a registry and run by Docker; OCI and docker
//! archives written by pusher and read by skopeo, podman and docker; a layout with two names
//! imported by containerd.

use super::*;
use tests::docker::podman;

/// `docker import` of the penguin bundle, then `docker save`: the classic archive, its image
/// id (the config digest) and its name.
fn docker_saved_penguin(dir: &Path) -> (PathBuf, String, String) {
    ensure_engine();
    let rootfs = dir.join("rootfs");
    penguin_bundle(&rootfs);
    let flat = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&flat)
            .arg("."),
    );
    let name = format!("{}:v1", unique_name("saved/penguin"));
    let id = run_ok(
        docker()
            .arg("import")
            .args(["--change", r#"ENTRYPOINT ["/bin/penguinshell"]"#])
            .args(["--change", "ENV SAVED=yes"])
            .arg(&flat)
            .arg(&name),
    );
    let saved = dir.join("saved.tar");
    run_ok(docker().args(["save", "-o"]).arg(&saved).arg(&name));
    let _ = docker().args(["rmi", "-f", &name]).output();
    (saved, id.trim().to_owned(), name)
}

/// Runs pusher with TMPDIR set to a fresh folder and checks nothing was left in it nor
/// beside `near` (archives are read in place, written through a staging folder renamed last).
fn copy_leaving_nothing(config: &Path, near: &Path, src: &str, dst: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let before = listing(near);
    let digest = push_ok(
        pusher(config)
            .env("TMPDIR", tmp.path())
            .arg("copy")
            .arg(src)
            .arg(dst),
        "",
        &[],
    );
    assert_eq!(listing(tmp.path()), Vec::<String>::new(), "temporary files");
    let after: Vec<String> = listing(near)
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert!(
        after.iter().all(|n| !n.starts_with('.')),
        "staging left behind: {after:?}"
    );
    digest
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_classic_docker_save_is_pushed_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, image_id, name) = docker_saved_penguin(dir.path());
    // the classic format: no index.json, layers as <id>/layer.tar
    let members = run_ok(Command::new("tar").arg("-tf").arg(&saved));
    assert!(members.contains("/layer.tar"), "{members}");
    assert!(!members.contains("index.json"), "{members}");

    let reg = Registry::start(Auth::None).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = reg.reference("fromsave/penguin:v1");
    let src = format!("docker-archive:{}:{name}", saved.display());
    let digest = copy_leaving_nothing(
        config.path(),
        dir.path(),
        &src,
        &format!("docker://{reference}"),
    );
    // the config went up byte for byte: its digest is Docker's image id
    let manifest: serde_json::Value = serde_json::from_str(&run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
    ))
    .unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        image_id.as_str(),
        "{manifest}"
    );
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert!(manifest.get("annotations").is_none(), "{manifest}");
    check_with_docker_and_skopeo(&reg, &reference, &digest);

    // the same archive again gives the same manifest (compression is reproducible), and a
    // copy back from the registry into a layout keeps it
    let again = reg.reference("fromsave/again:v1");
    assert_eq!(
        copy_leaving_nothing(
            config.path(),
            dir.path(),
            &format!("docker-archive:{}", saved.display()),
            &format!("docker://{again}")
        ),
        digest
    );
    let back = dir.path().join("back");
    assert_eq!(
        copy_leaving_nothing(
            config.path(),
            dir.path(),
            &format!("docker://{again}"),
            &format!("oci:{}", back.display())
        ),
        digest
    );

    // an archive whose layer does not match the config's diff id is refused
    let broken = dir.path().join("broken.tar");
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&unpacked)
            .arg("-xf")
            .arg(&saved),
    );
    let layer = members
        .lines()
        .find(|l| l.ends_with("/layer.tar"))
        .unwrap()
        .to_owned();
    let extra = dir.path().join("extra");
    std::fs::create_dir(&extra).unwrap();
    std::fs::write(extra.join("evil"), "x").unwrap();
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&extra)
            .arg("-rf")
            .arg(unpacked.join(&layer))
            .arg("evil"),
    );
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&unpacked)
            .arg("-cf")
            .arg(&broken)
            .arg("."),
    );
    let out = pusher(config.path())
        .arg("copy")
        .arg(format!("docker-archive:{}", broken.display()))
        .arg(format!("docker://{}", reg.reference("fromsave/broken:v1")))
        .output()
        .unwrap();
    assert_failure(&out, 1, "diff id mismatch", &[]);
}

#[test]
fn archives_written_by_pusher_load_in_skopeo_podman_and_docker() {
    let image = penguin();
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let src = format!("oci:{}:penguinshell:latest", image.layout.display());
    let expected = run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--format", "{{.Digest}}"])
            .arg(&src),
    );

    let oci_tar = dir.path().join("penguin-oci.tar");
    let digest = copy_leaving_nothing(
        config.path(),
        dir.path(),
        &src,
        &format!("oci-archive:{}:penguin:oci", oci_tar.display()),
    );
    assert_eq!(digest, expected.trim());
    let seen = run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--format", "{{.Digest}}"])
            .arg(format!("oci-archive:{}", oci_tar.display())),
    );
    assert_eq!(seen.trim(), digest);
    let loaded = run_ok(podman().arg("load").arg("-i").arg(&oci_tar));
    assert!(loaded.contains("penguin:oci"), "{loaded}");
    let id = run_ok(
        podman()
            .args(["image", "inspect", "--format", "{{.Digest}}"])
            .arg("docker.io/library/penguin:oci"),
    );
    assert_eq!(id.trim(), digest);
    let _ = podman()
        .args(["rmi", "-f", "docker.io/library/penguin:oci"])
        .output();

    // read back in place: oci-archive -> layout gives the same blobs
    let back = dir.path().join("back");
    assert_eq!(
        copy_leaving_nothing(
            config.path(),
            dir.path(),
            &format!("oci-archive:{}", oci_tar.display()),
            &format!("oci:{}", back.display())
        ),
        digest
    );
    assert_eq!(blobs(&back), blobs(&image.layout));

    // a docker archive: docker load names it, and it runs
    ensure_engine();
    let name = format!("{}:v2", unique_name("written/penguin"));
    let docker_tar = dir.path().join("penguin-docker.tar");
    assert_eq!(
        copy_leaving_nothing(
            config.path(),
            dir.path(),
            &src,
            &format!("docker-archive:{}:{name}", docker_tar.display())
        ),
        digest
    );
    let loaded = run_ok(docker().arg("load").arg("-i").arg(&docker_tar));
    assert!(loaded.contains(&name), "{loaded}");
    let out = run_with_stdin(docker().args(["run", "--rm", "-i", &name]), "ls /\n");
    let _ = docker().args(["rmi", "-f", &name]).output();
    assert_eq!(text(&out).0.trim_end(), "bin dev etc proc sys", "{out:?}");

    // an index does not fit a docker archive: one line, nothing written
    let idx = tempfile::tempdir().unwrap();
    let (layout, _) = super::index::two_platform_layout(idx.path());
    let refused = dir.path().join("refused.tar");
    let out = pusher(config.path())
        .arg("copy")
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(format!("docker-archive:{}", refused.display()))
        .output()
        .unwrap();
    assert_failure(&out, 1, "--platform", &[]);
    assert!(!refused.exists());
    assert!(
        listing(dir.path()).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        listing(dir.path())
    );
}

#[test]
fn containerd_imports_both_names_of_one_layout() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    penguin_bundle(&rootfs);
    let layout = dir.path().join("two");
    run_ok(
        Command::new(packer_bin())
            .arg("build")
            .arg(&rootfs)
            .arg("--oci-layout")
            .arg(&layout)
            .args(["--tag", "alpha:latest", "--tag", "beta:latest"]),
    );
    let tar = dir.path().join("two.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let containerd = tests::containerd::Containerd::start().unwrap();
    run_ok(containerd.ctr().args(["image", "import"]).arg(&tar));
    let names = run_ok(containerd.ctr().args(["image", "ls", "-q"]));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "docker.io/library/alpha:latest",
            "docker.io/library/beta:latest"
        ]
    );
}
