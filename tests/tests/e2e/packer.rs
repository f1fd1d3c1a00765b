//! packer's images under the real tools (issue 3, acceptance 2): Docker Engine (`docker load`,
//! `docker import`), podman, skopeo, umoci and runc.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tests::docker::{docker, ensure_engine, podman};
use tests::tools::{packer_bin, penguin_bundle, require, run_ok, run_with_stdin, unique_name};

/// What the shell prints for `ls /` in the penguin image.
const LS_ROOT: &str = "bin dev etc proc sys\n";

/// A packed penguin image and where its outputs are.
struct Packed {
    _dir: tempfile::TempDir,
    root: PathBuf,
    layout: PathBuf,
    archive: PathBuf,
    rootfs_tar: PathBuf,
    /// `name:tag`, also its name in the layout's index.json
    reference: String,
    report: String,
}

/// Lays out the penguin bundle (plus a few entries under /etc that exercise symlinks, hard
/// links, setuid bits and long names) and packs it with `packer build ... extra`.
fn pack(prefix: &str, extra: &[&str]) -> Packed {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    penguin_bundle(&root);
    rich_etc(&root.join("etc"));
    let layout = dir.path().join("layout");
    let archive = dir.path().join("image.tar");
    let rootfs_tar = dir.path().join("rootfs.tar");
    let name = unique_name(prefix);
    let reference = format!("{name}:v1");
    let report = run_ok(
        Command::new(packer_bin())
            .arg("build")
            .arg(&root)
            .arg("--oci-layout")
            .arg(&layout)
            .arg("--docker-archive")
            .arg(&archive)
            .arg("--rootfs-tar")
            .arg(&rootfs_tar)
            .args(["--tag", &reference, "--entrypoint", "/bin/penguinshell"])
            .args(extra),
    );
    Packed {
        _dir: dir,
        root,
        layout,
        archive,
        rootfs_tar,
        reference,
        report,
    }
}

fn rich_etc(etc: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(etc.join("hostname"), "penguin\n").unwrap();
    std::fs::set_permissions(etc.join("hostname"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(etc.join("hostname"), etc.join("hostname.hard")).unwrap();
    std::os::unix::fs::symlink("../bin/penguinshell", etc.join("shell")).unwrap();
    std::fs::write(etc.join("setuid"), "s\n").unwrap();
    std::fs::set_permissions(etc.join("setuid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let deep = etc.join("a-rather-long-folder-name-for-a-pax-header/".repeat(3));
    std::fs::create_dir_all(&deep).unwrap();
    let mut d = etc.to_path_buf();
    for _ in 0..3 {
        d = d.join("a-rather-long-folder-name-for-a-pax-header");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750)).unwrap();
    }
    std::fs::write(deep.join("file-with-a-long-name.txt"), "deep\n").unwrap();
    std::fs::set_permissions(
        deep.join("file-with-a-long-name.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// The digest printed on the `label` line of `packer build`.
fn printed(report: &str, label: &str) -> String {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label} line in:\n{report}"))
        .to_owned()
}

/// Runs the image's shell under `engine run --rm -i` with `ls /` piped in.
fn run_ls(engine: &mut Command, image: &str, args: &[&str]) -> String {
    let out = run_with_stdin(
        engine.args(["run", "--rm", "-i", image]).args(args),
        "ls /\n",
    );
    assert!(
        out.status.success(),
        "run {image} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn docker_loads_the_archive_and_runs_the_shell_in_both_formats() {
    ensure_engine();
    for format in ["oci", "docker"] {
        let p = pack("packer-load", &["--format", format]);
        let loaded = run_ok(docker().arg("load").arg("-i").arg(&p.archive));
        let stdout = run_ls(&mut docker(), &p.reference, &[]);
        let _ = docker().args(["rmi", &p.reference]).output();
        assert_eq!(loaded.trim(), format!("Loaded image: {}", p.reference));
        assert_eq!(stdout, LS_ROOT, "format {format}");
    }
}

#[test]
fn docker_imports_the_rootfs_tar_and_runs_it() {
    ensure_engine();
    let p = pack("packer-import", &[]);
    let id = run_ok(docker().arg("import").arg(&p.rootfs_tar).arg(&p.reference));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let stdout = run_ls(&mut docker(), &p.reference, &["/bin/penguinshell"]);
    let _ = docker().args(["rmi", &p.reference]).output();
    assert_eq!(stdout, LS_ROOT);
}

#[test]
fn podman_loads_the_archive_and_runs_the_shell() {
    let p = pack("packer-podman", &[]);
    let loaded = run_ok(podman().arg("load").arg("-i").arg(&p.archive));
    let name = format!("docker.io/library/{}", p.reference);
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    let stdout = run_ls(&mut podman(), &name, &[]);
    let _ = podman().args(["rmi", &name]).output();
    // podman itself adds /run to every container (a tmpfs holding /run/.containerenv);
    // everything else is the image's own root
    assert_eq!(stdout, "bin dev etc proc run sys\n");
    assert_eq!(stdout.replace(" run", ""), LS_ROOT);
}

#[test]
fn skopeo_inspects_the_layout_and_copies_it_to_a_docker_archive() {
    ensure_engine();
    let p = pack("packer-skopeo", &[]);
    let skopeo = require("skopeo");
    let source = format!("oci:{}:{}", p.layout.display(), p.reference);
    let json = run_ok(Command::new(&skopeo).arg("inspect").arg(&source));
    let digest = printed(&p.report, "manifest");
    let layer = printed(&p.report, "layer");
    assert!(
        json.contains(&format!("\"Digest\": \"{digest}\"")),
        "{json}"
    );
    assert!(json.contains(&format!("\"{layer}\"")), "{json}");
    assert!(json.contains("\"Architecture\": \"amd64\""), "{json}");
    // the raw manifest skopeo reads is the very blob packer wrote
    let raw = run_ok(
        Command::new(&skopeo)
            .args(["inspect", "--raw"])
            .arg(&source),
    );
    let blob = std::fs::read_to_string(p.layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    assert_eq!(raw, blob);

    let copied = p.layout.parent().unwrap().join("skopeo.tar");
    let dest = format!("docker-archive:{}:{}", copied.display(), p.reference);
    run_ok(Command::new(&skopeo).arg("copy").arg(&source).arg(&dest));
    run_ok(docker().arg("load").arg("-i").arg(&copied));
    let stdout = run_ls(&mut docker(), &p.reference, &[]);
    let _ = docker().args(["rmi", &p.reference]).output();
    assert_eq!(stdout, LS_ROOT);
}

/// Name -> (kind, mode, link target or content) of every entry below `root`, plus hard-link
/// groups as lists of names sharing an inode.
type Tree = (BTreeMap<String, (String, u32, Vec<u8>)>, Vec<Vec<String>>);

fn tree(root: &Path) -> Tree {
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let (kind, data) = if m.is_symlink() {
                let t = std::fs::read_link(&path).unwrap();
                ("symlink", t.into_os_string().into_encoded_bytes())
            } else if m.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else {
                if m.nlink() > 1 {
                    inodes.entry(m.ino()).or_default().push(rel.clone());
                }
                ("file", std::fs::read(&path).unwrap())
            };
            let mode = if m.is_symlink() { 0 } else { m.mode() & 0o7777 };
            entries.insert(rel, (kind.to_owned(), mode, data));
        }
    }
    let mut links: Vec<Vec<String>> = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    links.sort();
    (entries, links)
}

#[test]
fn umoci_unpack_gives_back_the_input_tree_and_runc_runs_the_shell() {
    let p = pack("packer-umoci", &[]);
    let bundle = p.layout.parent().unwrap().join("bundle");
    run_ok(
        Command::new(require("umoci"))
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{}", p.layout.display(), p.reference))
            .arg(&bundle),
    );
    let (want, want_links) = tree(&p.root);
    let (got, got_links) = tree(&bundle.join("rootfs"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, entry) in &want {
        assert_eq!(&got[name], entry, "{name} differs after umoci unpack");
    }
    assert_eq!(got_links, want_links);
    assert_eq!(want_links, [["etc/hostname", "etc/hostname.hard"]]);

    // runc runs the unpacked bundle: the shell reads `ls /` from a pipe
    let config_path = bundle.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("\"/bin/penguinshell\""), "{config}");
    let config = config.replace("\"terminal\": true", "\"terminal\": false");
    let config = config.replace("\"terminal\":true", "\"terminal\":false");
    std::fs::write(&config_path, config).unwrap();
    let id = unique_name("packer-runc");
    let runc = require("runc");
    let out = run_with_stdin(
        Command::new(&runc)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        "ls /\n",
    );
    let _ = Command::new(&runc)
        .args(["delete", "--force", &id])
        .output();
    assert!(
        out.status.success(),
        "runc run failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), LS_ROOT);
}

#[test]
fn packer_inspect_verifies_what_the_tools_accept() {
    let p = pack("packer-inspect", &[]);
    for target in [&p.layout, &p.archive] {
        let out = run_ok(Command::new(packer_bin()).arg("inspect").arg(target));
        assert!(out.contains(&printed(&p.report, "manifest")), "{out}");
        assert!(out.ends_with("verified  3 blobs\n"), "{out}");
    }
}

/// A zstd layer (issue 13): podman pulls the layout and runs the shell from it, and skopeo
/// decompresses the layer back to the very tar packer wrote beside it.
#[test]
fn podman_and_skopeo_read_a_zstd_layer() {
    // podman names an image pulled from `oci:PATH` after PATH: keep it lowercase
    let name = unique_name("packer-zstd");
    let dir = tempfile::Builder::new()
        .prefix(&name)
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let root = dir.path().join("rootfs");
    penguin_bundle(&root);
    let layout = dir.path().join("layout");
    let rootfs_tar = dir.path().join("rootfs.tar");
    let json = run_ok(
        Command::new(packer_bin())
            .arg("build")
            .arg(&root)
            .arg("--oci-layout")
            .arg(&layout)
            .arg("--rootfs-tar")
            .arg(&rootfs_tar)
            .args([
                "--tag",
                &format!("{name}:v1"),
                "--entrypoint",
                "/bin/penguinshell",
            ])
            .args(["--compression", "zstd", "--level", "9", "--json"]),
    );
    assert!(
        json.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{json}"
    );
    let source = format!("oci:{}:{name}:v1", layout.display());
    let out = dir.path().join("dir");
    run_ok(
        Command::new(require("skopeo"))
            .args(["copy", "--dest-decompress", &source])
            .arg(format!("dir:{}", out.display())),
    );
    let tar = std::fs::read(&rootfs_tar).unwrap();
    let decompressed = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter(|b| *b == tar)
        .count();
    assert_eq!(
        decompressed,
        1,
        "one blob in {} is the layer tar",
        out.display()
    );

    let pulled = run_ok(podman().args(["pull", "-q", &source]));
    let id = pulled.lines().last().unwrap_or_default().trim().to_owned();
    let stdout = run_ls(&mut podman(), &id, &[]);
    let _ = podman().args(["rmi", "-f", &id]).output();
    assert_eq!(stdout.replace(" run", ""), LS_ROOT);
}
