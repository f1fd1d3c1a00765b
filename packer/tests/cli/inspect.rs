//! Acceptance 3: `packer inspect` catches a flipped byte in any blob, a wrong size and a wrong
//! diff id, names the blob, and exits non-zero.

use super::*;
use sha2::Digest as _;

struct Image {
    _dir: tempfile::TempDir,
    layout: PathBuf,
    v: serde_json::Value,
}

fn image() -> Image {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let v = build_json(&root, &layout, &["--tag", "p:1"]);
    Image {
        _dir: dir,
        layout,
        v,
    }
}

impl Image {
    fn blob(&self, key: &str) -> PathBuf {
        let d = self.v[key]["digest"].as_str().unwrap();
        self.layout.join("blobs/sha256").join(&d[7..])
    }

    fn digest(&self, key: &str) -> String {
        self.v[key]["digest"].as_str().unwrap().to_owned()
    }

    /// Stores `json` as a new blob and returns its digest and size.
    fn put(&self, json: &serde_json::Value) -> (String, usize) {
        let bytes = serde_json::to_vec(json).unwrap();
        let hex = hex::encode(sha2::Sha256::digest(&bytes));
        std::fs::write(self.layout.join("blobs/sha256").join(&hex), &bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    }

    fn read(&self, key: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.blob(key)).unwrap()).unwrap()
    }

    /// Points index.json at a new manifest.
    fn point_index_at(&self, digest: &str, size: usize) {
        let path = self.layout.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        index["manifests"][0]["digest"] = digest.into();
        index["manifests"][0]["size"] = size.into();
        std::fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
    }

    fn inspect_fails(&self) -> String {
        let out = packer().arg("inspect").arg(&self.layout).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("error: ") && err.ends_with('\n') && err.lines().count() == 1,
            "{err}"
        );
        err
    }
}

#[test]
fn a_good_image_verifies() {
    let img = image();
    let out = packer().arg("inspect").arg(&img.layout).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for key in ["layer", "config", "manifest"] {
        assert!(text.contains(&format!("{}  ", img.digest(key))), "{text}");
    }
    assert!(
        text.contains(&format!(
            "diff id   {}  ok",
            img.v["diffId"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(text.ends_with("verified  3 blobs\n"), "{text}");
}

#[test]
fn a_flipped_byte_in_any_blob_is_caught_and_named() {
    for key in ["layer", "config", "manifest"] {
        for at in [0usize, 1, usize::MAX] {
            let img = image();
            let path = img.blob(key);
            let mut bytes = std::fs::read(&path).unwrap();
            let i = at
                .min(bytes.len() - 1)
                .max(if at == 1 { bytes.len() / 2 } else { 0 });
            bytes[i] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let err = img.inspect_fails();
            assert!(err.contains("digest mismatch"), "{key}@{i}: {err}");
            assert!(err.contains(&img.digest(key)[7..]), "{key}@{i}: {err}");
        }
    }
}

#[test]
fn a_wrong_layer_size_is_caught() {
    let img = image();
    let mut m = img.read("manifest");
    let size = m["layers"][0]["size"].as_u64().unwrap();
    m["layers"][0]["size"] = (size + 1).into();
    let (d, n) = img.put(&m);
    img.point_index_at(&d, n);
    let err = img.inspect_fails();
    assert!(err.contains("size mismatch for layer"), "{err}");
    assert!(err.contains(&img.digest("layer")), "{err}");
    assert!(
        err.contains(&format!("expected {} bytes, got {size}", size + 1)),
        "{err}"
    );
}

#[test]
fn a_wrong_manifest_size_in_the_index_is_caught() {
    let img = image();
    let (d, n) = (
        img.digest("manifest"),
        img.v["manifest"]["size"].as_u64().unwrap(),
    );
    img.point_index_at(&d, n as usize - 1);
    let err = img.inspect_fails();
    assert!(
        err.contains("size mismatch") && err.contains(&d[7..]),
        "{err}"
    );
}

#[test]
fn a_wrong_diff_id_is_caught() {
    let img = image();
    let mut c = img.read("config");
    let wrong = format!("sha256:{}", "ab".repeat(32));
    c["rootfs"]["diff_ids"][0] = wrong.clone().into();
    let (cd, cn) = img.put(&c);
    let mut m = img.read("manifest");
    m["config"]["digest"] = cd.into();
    m["config"]["size"] = cn.into();
    let (md, mn) = img.put(&m);
    img.point_index_at(&md, mn);
    let err = img.inspect_fails();
    assert!(
        err.contains(&format!(
            "diff id mismatch for layer {}",
            img.digest("layer")
        )),
        "{err}"
    );
    assert!(
        err.contains(&wrong) && err.contains(img.v["diffId"].as_str().unwrap()),
        "{err}"
    );
}

#[test]
fn a_missing_blob_is_named() {
    let img = image();
    std::fs::remove_file(img.blob("config")).unwrap();
    let err = img.inspect_fails();
    assert!(
        err.contains("cannot read blob") && err.contains(&img.digest("config")[7..]),
        "{err}"
    );
}

// Issue 9, item 11: hostile layouts. Each fails with one line (or passes) quickly, in an
// address space capped at 512 MiB (`run_limited`).

const MIB: u64 = 1 << 20;

impl Image {
    fn inspect_measured(&self) -> Measured {
        run_limited(&[OsStr::new("inspect"), self.layout.as_os_str()])
    }

    /// Puts an index over `children` (descriptors as JSON) and returns its descriptor.
    fn put_index(&self, children: Vec<serde_json::Value>) -> serde_json::Value {
        let (d, n) = self.put(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children,
        }));
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d,
            "size": n,
        })
    }

    /// Points index.json's entry at `desc` (digest, size and media type).
    fn point_index_at_desc(&self, desc: &serde_json::Value) {
        let path = self.layout.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for key in ["mediaType", "digest", "size"] {
            index["manifests"][0][key] = desc[key].clone();
        }
        std::fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
    }

    fn manifest_desc(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.digest("manifest"),
            "size": self.v["manifest"]["size"],
        })
    }
}

fn one_line_error(m: &Measured) -> &str {
    assert_eq!(m.status.code(), Some(1), "{:?} {}", m.status, m.stderr);
    assert!(
        m.stderr.starts_with("error: ") && m.stderr.lines().count() == 1,
        "{}",
        m.stderr
    );
    &m.stderr
}

#[test]
fn a_huge_blob_declared_as_a_small_manifest_is_not_read() {
    let img = image();
    // a sparse 1 GiB file where a manifest of a few hundred bytes should be
    let path = img.layout.join("blobs/sha256").join("ab".repeat(32));
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1024 * MIB)
        .unwrap();
    let d = format!("sha256:{}", "ab".repeat(32));
    img.point_index_at(&d, 500);
    let m = img.inspect_measured();
    let err = one_line_error(&m);
    assert!(
        err.contains("size mismatch") && err.contains("expected 500 bytes, got 1073741824"),
        "{err}"
    );
    // declared at its true size, it is over the manifest limit
    img.point_index_at(&d, 1024 * MIB as usize);
    let m = img.inspect_measured();
    let err = one_line_error(&m);
    assert!(
        err.contains("1073741824 bytes, more than the 4 MiB a manifest, index or config may have"),
        "{err}"
    );
}

#[test]
fn blobs_that_are_not_regular_files_are_refused() {
    let img = image();
    for key in ["manifest", "config", "layer"] {
        let blob = img.blob(key);
        let saved = std::fs::read(&blob).unwrap();
        std::fs::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
        let m = img.inspect_measured();
        let err = one_line_error(&m);
        assert!(
            err.contains(&img.digest(key)[7..])
                && err.ends_with("is a character device, not a regular file\n"),
            "{key}: {err}"
        );
        // a fifo nobody writes to must not hang the reader
        std::fs::remove_file(&blob).unwrap();
        mkfifo(&blob);
        let err = img.inspect_fails();
        assert!(
            err.ends_with("is a fifo, not a regular file\n"),
            "{key}: {err}"
        );
        std::fs::remove_file(&blob).unwrap();
        std::fs::write(&blob, saved).unwrap();
    }
}

#[test]
fn an_index_listing_its_child_twice_16_deep_is_verified_once() {
    let img = image();
    let mut desc = img.manifest_desc();
    let mut indexes = 0;
    for _ in 0..16 {
        desc = img.put_index(vec![desc.clone(), desc]);
        indexes += 1;
    }
    img.point_index_at_desc(&desc);
    let m = img.inspect_measured();
    assert!(m.status.success(), "{}", m.stderr);
    // each index, the manifest, its config and its layer, listed and verified once
    let lines = |p: &str| m.stdout.lines().filter(|l| l.starts_with(p)).count();
    assert_eq!(lines("index "), indexes, "{}", m.stdout);
    assert_eq!(lines("image "), 1, "{}", m.stdout);
    assert!(
        m.stdout
            .ends_with(&format!("verified  {} blobs\n", indexes + 3)),
        "{}",
        m.stdout
    );
}

#[test]
fn indexes_nest_at_most_16_deep_and_a_2500_chain_is_refused() {
    let img = image();
    let chain = |depth: usize| {
        let mut desc = img.manifest_desc();
        for _ in 0..depth {
            desc = img.put_index(vec![desc]);
        }
        img.point_index_at_desc(&desc);
    };
    chain(16);
    let m = img.inspect_measured();
    assert!(m.status.success(), "{}", m.stderr);
    chain(17);
    let err = img.inspect_fails();
    assert!(
        err.contains("image indexes nest more than 16 deep; refusing to follow"),
        "{err}"
    );
    chain(2500);
    let m = img.inspect_measured();
    let err = one_line_error(&m);
    assert!(err.contains("nest more than 16 deep"), "{err}");
}
