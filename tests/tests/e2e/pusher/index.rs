//! Image indexes: a two-platform layout pushed with its manifests first, then seen by
//! pusher inspect, Docker and skopeo.

use super::*;

/// A layout in `dir` with two images (`penguin:amd`, `penguin:arm`) and an image index over
/// them named `multi`; returns the layout and the index's digest.
pub(super) fn two_platform_layout(dir: &Path) -> (PathBuf, String) {
    let rootfs = dir.join("rootfs");
    penguin_bundle(&rootfs);
    let layout = dir.join("multi");
    for (tag, platform) in [("amd", "linux/amd64"), ("arm", "linux/arm64")] {
        run_ok(
            Command::new(packer_bin())
                .arg("build")
                .arg(&rootfs)
                .arg("--oci-layout")
                .arg(&layout)
                .args(["--tag", &format!("penguin:{tag}"), "--platform", platform])
                .args(["--entrypoint", "/bin/penguinshell"]),
        );
    }
    // an image index over the two manifests, tagged `multi`
    let index_path = layout.join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entries: Vec<serde_json::Value> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let digest = m["digest"].as_str().unwrap();
            let manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap(),
            )
            .unwrap();
            let config: serde_json::Value = serde_json::from_slice(
                &std::fs::read(
                    layout
                        .join("blobs/sha256")
                        .join(&manifest["config"]["digest"].as_str().unwrap()[7..]),
                )
                .unwrap(),
            )
            .unwrap();
            serde_json::json!({
                "mediaType": m["mediaType"],
                "digest": digest,
                "size": m["size"],
                "platform": {"os": config["os"], "architecture": config["architecture"]},
            })
        })
        .collect();
    assert_eq!(entries.len(), 2);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let tmp = dir.join("index-blob");
    std::fs::write(&tmp, &bytes).unwrap();
    let digest = sha256_of(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    (layout, digest)
}

#[test]
fn an_index_is_pushed_with_its_manifests_first() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, digest) = two_platform_layout(dir.path());
    let reg = Registry::start(Auth::None).unwrap();
    let proxy = Proxy::start(reg.addr).unwrap();
    let config = tempfile::tempdir().unwrap();
    let pushed = push_ok(
        pusher(config.path())
            .arg("push")
            .arg(format!("{}:multi", layout.display()))
            .arg(format!("{}/multi/penguin:latest", proxy.host)),
        "",
        &[],
    );
    assert_eq!(pushed, digest);
    let manifest_puts: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/manifests/"))
        .map(|s| s.path)
        .collect();
    assert_eq!(manifest_puts.len(), 3, "{manifest_puts:?}");
    assert!(
        manifest_puts[2].ends_with("/manifests/latest"),
        "{manifest_puts:?}"
    );
    let inspect =
        run_ok(pusher(config.path()).args(["inspect", &reg.reference("multi/penguin:latest")]));
    assert!(
        inspect.contains("platform  linux/amd64  sha256:"),
        "{inspect}"
    );
    assert!(
        inspect.contains("platform  linux/arm64  sha256:"),
        "{inspect}"
    );
    check_with_docker_and_skopeo(&reg, &reg.reference("multi/penguin:latest"), &digest);
}
