//! `pusher copy` between layouts and registries: identical digests and blobs both ways, a
//! mount instead of an upload within one registry, an index copied whole or one platform of
//! it, two names in one layout, a pull that refuses someone's folder, and a copy between two
//! registries that streams every blob with nothing on disk, restarting a dropped upload.

use super::index::two_platform_layout;
use super::*;

/// The digest of the `index.json` entry named `name` in `layout`.
fn entry_digest(layout: &Path, name: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn copy_ok(config: &Path, src: &str, dst: &str, extra: &[&str]) -> String {
    push_ok(
        pusher(config).arg("copy").arg(src).arg(dst).args(extra),
        "",
        &[],
    )
}

#[test]
fn copy_round_trips_through_a_registry_and_mounts_within_one() {
    let image = penguin();
    let expected = entry_digest(&image.layout, "penguinshell:latest");
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();

    let src = format!("oci:{}:penguinshell:latest", image.layout.display());
    let a = format!("docker://{}/copy/a:latest", proxy.host);
    assert_eq!(copy_ok(config.path(), &src, &a, &[]), expected);

    let back = out.path().join("back");
    let dst = format!("oci:{}:copy-a:v1", back.display());
    assert_eq!(copy_ok(config.path(), &a, &dst, &[]), expected);
    assert_eq!(blobs(&back), blobs(&image.layout));
    assert_eq!(entry_digest(&back, "copy-a:v1"), expected);

    // registry to registry, another repository: every blob mounted (two POSTs), none uploaded
    proxy.reset_counts();
    let b = format!("docker://{}/other/b:latest", proxy.host);
    assert_eq!(copy_ok(config.path(), &a, &b, &[]), expected);
    assert_eq!(proxy.count("PUT", "/blobs/"), 0, "{:#?}", proxy.seen());
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0, "{:#?}", proxy.seen());
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        2,
        "{:#?}",
        proxy.seen()
    );
    check_with_docker_and_skopeo(&reg, &reg.reference("other/b:latest"), &expected);
}

#[test]
fn an_index_is_copied_whole_or_one_platform_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, digest) = two_platform_layout(dir.path());
    let reg = Registry::start(Auth::None).unwrap();
    let config = tempfile::tempdir().unwrap();
    let remote = format!("docker://{}", reg.reference("cidx/penguin:latest"));
    let src = format!("oci:{}:multi", layout.display());
    assert_eq!(copy_ok(config.path(), &src, &remote, &["--all"]), digest);

    let whole = dir.path().join("whole");
    let dst = format!("oci:{}:multi", whole.display());
    assert_eq!(copy_ok(config.path(), &remote, &dst, &[]), digest);
    assert_eq!(blobs(&whole), blobs(&layout));

    let arm = dir.path().join("arm");
    let dst = format!("oci:{}:penguin:arm", arm.display());
    let arm_digest = entry_digest(&layout, "penguin:arm");
    assert_eq!(
        copy_ok(config.path(), &remote, &dst, &["--platform", "linux/arm64"]),
        arm_digest
    );
    assert_eq!(blobs(&arm).len(), 3, "manifest, config, layer");

    let out = pusher(config.path())
        .args(["copy", "--platform", "linux/s390x", &remote])
        .arg(format!("oci:{}", dir.path().join("none").display()))
        .output()
        .unwrap();
    assert_failure(&out, 1, "linux/amd64, linux/arm64", &[]);
}

#[test]
fn two_names_in_one_layout_both_resolve() {
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
    let digest = entry_digest(&layout, "alpha:latest");
    assert_eq!(entry_digest(&layout, "beta:latest"), digest);
    for name in ["alpha:latest", "beta:latest"] {
        let json = run_ok(
            Command::new(require("skopeo"))
                .arg("inspect")
                .arg(format!("oci:{}:{name}", layout.display())),
        );
        assert!(
            json.contains(&format!("\"Digest\": \"{digest}\"")),
            "{json}"
        );
    }
    // a bare tag both names end in is ambiguous, and says which names there are
    let config = tempfile::tempdir().unwrap();
    let out = pusher(config.path())
        .arg("push")
        .arg(format!("{}:latest", layout.display()))
        .arg("127.0.0.1:1/x/y:z")
        .output()
        .unwrap();
    assert_failure(&out, 1, "alpha:latest, beta:latest", &[]);
}

#[test]
fn a_pull_refuses_someones_folder_and_refetches_a_damaged_blob() {
    let image = penguin();
    let reg = Registry::start(Auth::None).unwrap();
    let config = tempfile::tempdir().unwrap();
    let reference = reg.reference("pullinto/penguin:latest");
    push_ok(
        pusher(config.path())
            .arg("push")
            .arg(&image.layout)
            .arg(&reference),
        "",
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = pusher(config.path())
        .arg("pull")
        .arg(&reference)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_failure(&out, 1, "not empty", &[]);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");

    let pulled = dir.path().join("pulled");
    let digest = push_ok(
        pusher(config.path())
            .arg("pull")
            .arg(&reference)
            .arg(&pulled),
        "",
        &[],
    );
    let (victim, good) = blobs(&pulled)
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .unwrap();
    let path = pulled.join("blobs/sha256").join(&victim);
    std::fs::write(&path, b"damaged").unwrap();
    let again = push_ok(
        pusher(config.path())
            .arg("pull")
            .arg(&reference)
            .arg(&pulled),
        "",
        &[],
    );
    assert_eq!(again, digest);
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

/// An OCI layout tagged `multi` made by umoci: an empty image plus `layers` layers, each one
/// file of `bytes` incompressible bytes. Returns the layout, its manifest digest and its layer
/// digests.
fn umoci_layers(dir: &Path, layers: usize, bytes: usize) -> (PathBuf, String, Vec<String>) {
    let layout = dir.join("umoci");
    let image = format!("{}:multi", layout.display());
    let umoci = require("umoci");
    run_ok(Command::new(&umoci).args(["init", "--layout"]).arg(&layout));
    run_ok(Command::new(&umoci).args(["new", "--image", &image]));
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..layers {
        let file = dir.join(format!("payload-{i}"));
        let mut data = Vec::with_capacity(bytes + 8);
        while data.len() < bytes {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(bytes);
        std::fs::write(&file, data).unwrap();
        run_ok(
            Command::new(&umoci)
                .args(["insert", "--image", &image])
                .arg(&file)
                .arg(format!("/payload-{i}")),
        );
    }
    // drop the intermediate manifests and configs each insert left behind
    run_ok(Command::new(&umoci).args(["gc", "--layout"]).arg(&layout));
    let digest = entry_digest(&layout, "multi");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap(),
    )
    .unwrap();
    let layer_digests: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(layer_digests.len(), layers, "{manifest}");
    (layout, digest, layer_digests)
}

#[test]
fn copy_between_two_registries_streams_every_blob_with_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, expected, layers) = umoci_layers(dir.path(), 3, 1 << 20);
    let from = Registry::start(Auth::None).unwrap();
    let to = Registry::start(Auth::None).unwrap();
    let from_proxy = Proxy::start(from.addr).unwrap();
    let to_proxy = Proxy::start(to.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/stream/src:v1", from_proxy.host);
    let oci = format!("oci:{}:multi", layout.display());
    assert_eq!(copy_ok(config.path(), &oci, &src, &[]), expected);

    // the first upload of the last layer loses its connection after 64 KiB: that blob is
    // fetched again from the source and sent in a new session
    let victim = layers.last().unwrap();
    to_proxy.inject(
        "PUT",
        &format!("digest={victim}"),
        Fault::DropAfter { bytes: 64 << 10 },
        1,
    );
    from_proxy.reset_counts();
    // no temporary file can be made: TMPDIR is a folder that does not exist
    let tmp = dir.path().join("no-tmp");
    let dst = format!("docker://{}/stream/dst:v1", to_proxy.host);
    let digest = push_ok(
        pusher(config.path())
            .env("TMPDIR", &tmp)
            .args(["copy", &src, &dst]),
        "",
        &[],
    );
    assert_eq!(digest, expected);
    assert!(!tmp.exists());
    assert_eq!(to_proxy.faults_applied(), 1, "{:#?}", to_proxy.seen());
    // every blob (3 layers, the config) streamed with one PUT, the victim twice; no mounts
    // across registries, no chunks
    assert_eq!(
        to_proxy.count("PUT", "/blobs/uploads/"),
        5,
        "{:#?}",
        to_proxy.seen()
    );
    assert_eq!(to_proxy.count("PATCH", "/blobs/"), 0);
    for layer in &layers {
        let gets = from_proxy.count("GET", &format!("/blobs/{layer}"));
        let want = if layer == victim { 2 } else { 1 };
        assert_eq!(gets, want, "GETs of {layer}: {:#?}", from_proxy.seen());
    }

    // what the second registry holds is the image, byte for byte
    let back = dir.path().join("back");
    let pulled = format!("oci:{}:multi", back.display());
    assert_eq!(copy_ok(config.path(), &dst, &pulled, &[]), expected);
    let (got, want) = (blobs(&back), blobs(&layout));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert!(got == want, "a blob differs");
    let json = run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}", to.reference("stream/dst:v1"))),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Digest"].as_str(), Some(expected.as_str()), "{json}");
    assert_eq!(v["Layers"].as_array().map(Vec::len), Some(3), "{json}");
}
