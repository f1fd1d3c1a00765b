//! Issue 10, acceptance 1 and 2: the penguin shell built on a real busybox base. The base comes
//! from the real engine (`docker import` of a busybox-static root filesystem, `docker save`,
//! `docker push`); packer builds on it as saved, as fetched by `pusher copy`, and as skopeo's
//! OCI copy; Docker, podman and umoci run or unpack the result; through the registry the base
//! layers are mounted or skipped, never uploaded.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tests::docker::{docker, ensure_engine, podman};
use tests::proxy::Proxy;
use tests::registry::{Auth, Registry};
use tests::tools::{
    packer_bin, penguin_bundle, pusher_bin, require, run_ok, run_with_stdin, unique_name,
};

/// The variable `docker import --change` sets in the base's config, checked in the new image.
const MARK: (&str, &str) = ("BASE_MARK", "busybox-from-docker-import");

/// The busybox base, made once per test process.
pub(crate) struct Busybox {
    _dir: tempfile::TempDir,
    /// the root filesystem imported: `bin/busybox` and one symlink per applet
    pub rootfs: PathBuf,
    /// `docker save` of it (Docker 20.10's classic format)
    pub saved: PathBuf,
    /// its name in the engine
    pub image: String,
    /// busybox's applets (`busybox --list`)
    pub applets: Vec<String>,
}

/// Imports a busybox-static root filesystem with `docker import` (PATH and a marker set by
/// `--change`) and saves it with `docker save`.
pub(crate) fn busybox() -> &'static Busybox {
    static BASE: OnceLock<Busybox> = OnceLock::new();
    BASE.get_or_init(|| {
        ensure_engine();
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let busybox = require("busybox");
        std::fs::copy(&busybox, bin.join("busybox")).unwrap();
        let list = run_ok(Command::new(&busybox).arg("--list"));
        let applets: Vec<String> = list
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(str::to_owned)
            .collect();
        assert!(applets.len() > 100, "busybox --list: {list}");
        for applet in &applets {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let tar = dir.path().join("rootfs.tar");
        run_ok(
            Command::new(require("tar"))
                .arg("-C")
                .arg(&rootfs)
                .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
                .arg(&tar)
                .arg("."),
        );
        let image = format!("{}:1", unique_name("busybox-base"));
        run_ok(
            docker()
                .arg("import")
                .args(["--change", "ENV PATH=/bin"])
                .args(["--change", &format!("ENV {}={}", MARK.0, MARK.1)])
                .arg(&tar)
                .arg(&image),
        );
        let saved = dir.path().join("saved.tar");
        run_ok(docker().args(["save", "-o"]).arg(&saved).arg(&image));
        Busybox {
            _dir: dir,
            rootfs,
            saved,
            image,
            applets,
        }
    })
}

/// An image packer built on a base.
pub(crate) struct OnBase {
    pub dir: tempfile::TempDir,
    /// the penguin bundle that became the new layer
    pub bundle: PathBuf,
    pub layout: PathBuf,
    pub archive: PathBuf,
    /// `name:tag`, in the layout and the archive
    pub reference: String,
    pub report: String,
}

/// `packer build BUNDLE --base BASE` of the penguin bundle, an OCI layout and a docker archive.
pub(crate) fn build_on(base: &str, prefix: &str) -> OnBase {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    penguin_bundle(&bundle);
    let layout = dir.path().join("layout");
    let archive = dir.path().join("image.tar");
    let reference = format!("{}:v1", unique_name(prefix));
    let report = run_ok(
        Command::new(packer_bin())
            .arg("build")
            .arg(&bundle)
            .args(["--base", base])
            .arg("--oci-layout")
            .arg(&layout)
            .arg("--docker-archive")
            .arg(&archive)
            .args(["--tag", &reference, "--entrypoint", "/bin/penguinshell"]),
    );
    OnBase {
        dir,
        bundle,
        layout,
        archive,
        reference,
        report,
    }
}

/// What the shell is asked inside the image: the union of `/bin`, busybox as an external
/// program, and the base's variable.
const SCRIPT: &str = "ls /bin\nbusybox echo hi\necho $BASE_MARK\n";

/// Runs the penguin shell in `image` under `engine run --rm -i` with [`SCRIPT`] and checks
/// what it printed: busybox's applets and penguinshell in `/bin`, `hi`, the base's variable.
fn runs_busybox(engine: &mut Command, image: &str) {
    let base = busybox();
    let out = run_with_stdin(engine.args(["run", "--rm", "-i", image]), SCRIPT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run {image} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let [ls @ .., hi, mark] = lines.as_slice() else {
        panic!("{image} printed {stdout:?}");
    };
    let mut want: Vec<String> = base.applets.clone();
    want.push("busybox".into());
    want.push("penguinshell".into());
    want.sort();
    let got: Vec<String> = ls
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(str::to_owned)
        .collect();
    assert_eq!(got, want, "ls /bin in {image}");
    assert_eq!(*hi, "hi", "busybox echo hi in {image}");
    assert_eq!(*mark, MARK.1, "$BASE_MARK in {image}");
}

/// Name -> (kind, mode, uid, gid, link target or content) of every entry below `root`.
pub(crate) type Tree = BTreeMap<String, (&'static str, u32, u32, u32, Vec<u8>)>;

/// Walks `root` (not following symlinks).
pub(crate) fn tree(root: &Path) -> Tree {
    let mut entries = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let (kind, data) = if m.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else if m.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else if m.is_file() {
                ("file", std::fs::read(&path).unwrap())
            } else {
                ("other", Vec::new())
            };
            let mode = if m.is_symlink() { 0 } else { m.mode() & 0o7777 };
            entries.insert(rel, (kind, mode, m.uid(), m.gid(), data));
        }
    }
    entries
}

/// `pusher ...` with an empty Docker config (no stray credentials).
fn pusher(config: &Path) -> Command {
    let mut cmd = Command::new(pusher_bin());
    cmd.env("DOCKER_CONFIG", config)
        .env_remove("PUSHER_USERNAME")
        .env_remove("PUSHER_PASSWORD");
    cmd
}

/// The image's manifest as the layout holds it.
fn manifest(layout: &Path, reference: &str) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .unwrap_or_else(|| panic!("no {reference} in {index}"));
    let hex = &entry["digest"].as_str().unwrap()[7..];
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Acceptance 1: the base from `docker save`, from the registry through `pusher copy`, and as
/// skopeo's OCI copy; Docker runs the second, podman the first, umoci unpacks the third into
/// the union of both trees.
#[test]
fn the_penguin_shell_on_a_busybox_base_from_docker_runs_busybox() {
    let base = busybox();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();

    // the base pushed to the test registry by Docker, fetched into a layout by pusher
    let reg = Registry::start(Auth::None).unwrap();
    let remote = reg.reference("base/busybox:1");
    run_ok(docker().args(["tag", &base.image, &remote]));
    run_ok(docker().args(["push", &remote]));
    let _ = docker().args(["rmi", &remote]).output();
    let fetched = work.path().join("fetched");
    run_ok(
        pusher(&config)
            .args(["copy", "-q", &format!("docker://{remote}")])
            .arg(format!("oci:{}:busybox:1", fetched.display())),
    );
    let base_layers = layer_digests(&manifest(&fetched, "busybox:1"));
    assert_eq!(base_layers.len(), 1);

    // Docker runs the image built on the fetched layout; the base's layer is there untouched
    let on_fetched = build_on(
        &format!("oci:{}:busybox:1", fetched.display()),
        "on-fetched",
    );
    let layers = layer_digests(&manifest(&on_fetched.layout, &on_fetched.reference));
    assert_eq!(layers.len(), 2, "{}", on_fetched.report);
    assert_eq!(layers[0], base_layers[0]);
    run_ok(docker().arg("load").arg("-i").arg(&on_fetched.archive));
    let env = run_ok(docker().args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &on_fetched.reference,
    ]));
    runs_busybox(&mut docker(), &on_fetched.reference);
    let _ = docker().args(["rmi", &on_fetched.reference]).output();
    let env: Vec<String> = serde_json::from_str(env.trim()).unwrap();
    assert!(env.contains(&"PATH=/bin".to_owned()), "{env:?}");
    assert!(env.contains(&format!("{}={}", MARK.0, MARK.1)), "{env:?}");

    // podman runs the image built on the `docker save` archive
    let on_saved = build_on(
        &format!("docker-archive:{}", base.saved.display()),
        "on-saved",
    );
    run_ok(podman().arg("load").arg("-i").arg(&on_saved.archive));
    let name = format!("docker.io/library/{}", on_saved.reference);
    runs_busybox(&mut podman(), &name);
    let _ = podman().args(["rmi", &name]).output();

    // umoci (OCI media types only) unpacks the image built on skopeo's OCI copy of the base:
    // the union of the base's tree and the bundle's
    let oci_base = work.path().join("oci-base");
    run_ok(
        Command::new(require("skopeo"))
            .args(["copy", "-q"])
            .arg(format!("docker-archive:{}", base.saved.display()))
            .arg(format!("oci:{}:busybox", oci_base.display())),
    );
    let on_oci = build_on(&format!("oci:{}:busybox", oci_base.display()), "on-oci");
    let unpacked = on_oci.dir.path().join("unpacked");
    run_ok(
        Command::new(require("umoci"))
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{}", on_oci.layout.display(), on_oci.reference))
            .arg(&unpacked),
    );
    let mut want = tree(&base.rootfs);
    want.extend(tree(&on_oci.bundle));
    let got = tree(&unpacked.join("rootfs"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, entry) in &want {
        assert!(&got[name] == entry, "{name} differs after umoci unpack");
    }
}

/// Acceptance 2: the base pushed by `docker push`, the image built on it pushed with
/// `--mount-from` the base's repository: the registry sees the base layer mounted (or
/// skipped), never uploaded; Docker pulls and runs the image; skopeo sees both layers.
#[test]
fn through_the_registry_the_base_layers_are_mounted_never_uploaded() {
    let base = busybox();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    // Docker pushes the base straight to the registry (its chunked uploads do not go
    // through the proxy); pusher's requests go through the proxy, which counts them
    let remote = reg.reference("base/busybox:1");
    run_ok(docker().args(["tag", &base.image, &remote]));
    run_ok(docker().args(["push", &remote]));
    let _ = docker().args(["rmi", &remote]).output();
    let fetched = work.path().join("fetched");
    run_ok(
        pusher(&config)
            .args(["copy", "-q", &format!("docker://{remote}")])
            .arg(format!("oci:{}:busybox:1", fetched.display())),
    );
    let image = build_on(&format!("oci:{}:busybox:1", fetched.display()), "mounted");
    let layers = layer_digests(&manifest(&image.layout, &image.reference));
    let [base_layer, new_layer] = layers.as_slice() else {
        panic!("two layers expected: {layers:?}");
    };

    proxy.reset_counts();
    let target = format!("{}/apps/penguin:1", proxy.host);
    let digest = run_ok(
        pusher(&config)
            .args(["push", "-q", "--mount-from", "base/busybox"])
            .arg(format!("{}:{}", image.layout.display(), image.reference))
            .arg(&target),
    );
    let digest = digest.lines().last().unwrap_or_default().to_owned();
    let seen = proxy.seen();
    // the new layer and the config are uploaded (POST + PUT each); the base layer only
    // HEADed and mounted: no PATCH, no third PUT
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 2, "{seen:#?}");
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0, "{seen:#?}");
    assert!(
        proxy.count("POST", "/v2/apps/penguin/blobs/uploads/") <= 3,
        "{seen:#?}"
    );
    let link = reg
        .storage
        .join("docker/registry/v2/repositories/apps/penguin/_layers/sha256")
        .join(&base_layer[7..])
        .join("link");
    assert!(
        link.is_file(),
        "the registry links the base layer into apps/penguin"
    );

    // Docker pulls and runs it (from the registry itself)
    let target = reg.reference("apps/penguin:1");
    let _ = docker().args(["rmi", "-f", &target]).output();
    run_ok(docker().args(["pull", "-q", &target]));
    runs_busybox(&mut docker(), &target);
    let _ = docker().args(["rmi", "-f", &target]).output();

    // skopeo sees both layers, the base's first
    let json = run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{target}")),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Digest"].as_str(), Some(digest.as_str()), "{json}");
    assert_eq!(
        v["Layers"],
        serde_json::json!([base_layer, new_layer]),
        "{json}"
    );
}

/// `cargo xtask image --base REF --push REF2`: the base fetched once per digest, the image
/// built on it and pushed with the base's layer mounted from the base's repository.
#[test]
fn xtask_image_on_a_base_fetches_once_and_mounts_the_base() {
    let base = busybox();
    let reg = Registry::start(Auth::None).unwrap();
    let remote = reg.reference("base/busybox:1");
    run_ok(docker().args(["tag", &base.image, &remote]));
    run_ok(docker().args(["push", &remote]));
    let _ = docker().args(["rmi", &remote]).output();
    let out = tempfile::tempdir().unwrap();
    let target = reg.reference("apps/penguin:xtask");
    let first = run_ok(
        tests::tools::xtask()
            .args(["image", "--base", &remote, "--push", &target, "--out"])
            .arg(out.path()),
    );
    assert!(
        first.contains("1 blob(s) fetched") || first.contains("2 blob(s) fetched"),
        "{first}"
    );
    assert!(
        first.contains("2 blob(s) uploaded, 1 mounted, 0 already there"),
        "{first}"
    );
    let digest = first.lines().last().unwrap_or_default();
    assert!(digest.starts_with("sha256:"), "{first}");
    let second = run_ok(
        tests::tools::xtask()
            .args(["image", "--base", &remote, "--out"])
            .arg(out.path()),
    );
    assert!(second.contains("nothing fetched"), "{second}");
    assert!(second.contains(&format!("manifest  {digest}")), "{second}");
}
