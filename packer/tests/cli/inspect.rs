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
