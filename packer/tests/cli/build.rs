//! `packer build`: the golden digests, what the layer holds, every output and format.

use super::*;
use sha2::Digest as _;
use std::io::Read;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The digests of the fixed bundle, pinned: any change to the tar, gzip, config or manifest
/// bytes shows up here.
#[test]
fn golden_digests_of_the_fixed_bundle() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let v = build_json(
        &root,
        &dir.path().join("img"),
        &["--tag", "penguin:golden", "--entrypoint", "/bin/sh"],
    );
    assert_eq!(
        digests(&v),
        [
            "sha256:462f2d01d4c6571b3c232c6fd7359a250fe90964a586091a270fbbefa8fed0f0",
            "sha256:1812e61f9b34186bda52af3aa356dd611f03694506ffe15c0b9f5dbe624aafb9",
            "sha256:d341a3efd20c7374f4bf85bded8595daf5f348b7f878e107167f779226627604",
            "sha256:9b46cca103d1a01f7366c078f81a8a116fb036e98146d1d56204986b42503a7f",
        ]
    );
}

#[test]
fn build_prints_what_the_article_computed_by_hand() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let out = packer()
        .arg("build")
        .arg(&root)
        .arg("--oci-layout")
        .arg(&layout)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let labels: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(labels, ["layer", "diff", "config", "manifest"]);
    // every digest printed names a blob whose bytes hash to it
    let v = build_json(&root, &dir.path().join("img2"), &[]);
    for key in ["layer", "config", "manifest"] {
        let d = v[key]["digest"].as_str().unwrap();
        let blob = std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
        assert_eq!(sha256(&blob), d);
        assert_eq!(blob.len() as u64, v[key]["size"].as_u64().unwrap());
        assert!(text.contains(d), "{text}");
    }
}

#[test]
fn layer_tar_is_normalized_and_keeps_modes_links_and_names() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let rootfs = dir.path().join("rootfs.tar");
    let v = build_json(
        &root,
        &dir.path().join("img"),
        &["--rootfs-tar", rootfs.to_str().unwrap()],
    );
    let tar_bytes = std::fs::read(&rootfs).unwrap();
    assert_eq!(sha256(&tar_bytes), v["diffId"].as_str().unwrap());
    // the layer blob decompresses to exactly the rootfs tar
    let layer = v["layer"]["digest"].as_str().unwrap();
    let blob = std::fs::read(dir.path().join("img/blobs/sha256").join(&layer[7..])).unwrap();
    assert_eq!(
        &blob[..10],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
        "gzip header: mtime 0, no name"
    );
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, tar_bytes);

    let mut ar = tar::Archive::new(&tar_bytes[..]);
    let mut seen = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
            (0, 0, 0)
        );
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        let path = e.path_bytes().into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        seen.push((
            String::from_utf8_lossy(&path).into_owned(),
            format!("{:?}", h.entry_type()),
            format!("{:o}", h.mode().unwrap()),
            link.unwrap_or_default(),
        ));
    }
    let long = "usr/share/".to_owned() + &"very-long-folder-name/".repeat(6) + "readme.txt";
    let want: Vec<(String, String, String, String)> = [
        ("bin/", "Directory", "755", ""),
        ("bin/ls", "Symlink", "777", "sh"),
        ("bin/sh", "Regular", "755", ""),
        ("bin/su", "Regular", "4755", ""),
        ("etc/", "Directory", "755", ""),
        ("etc/caf\u{fffd}", "Regular", "644", ""),
        ("etc/hostname", "Regular", "644", ""),
        ("etc/hostname.bak", "Link", "644", "etc/hostname"),
        ("proc/", "Directory", "555", ""),
        ("tmp/", "Directory", "1777", ""),
        ("usr/", "Directory", "755", ""),
        ("usr/share/", "Directory", "755", ""),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(&seen[..want.len()], &want[..]);
    assert_eq!(seen.last().unwrap().0, long);
    assert_eq!(seen.len(), want.len() + 7);
}

#[test]
fn config_and_manifest_carry_the_options() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let v = build_json(
        &root,
        &layout,
        &[
            "--entrypoint",
            "/bin/sh",
            "--cmd",
            "-c",
            "--cmd",
            "ls /",
            "--env",
            "PATH=/bin",
            "--env",
            "A=b=c",
            "--workdir",
            "/tmp",
            "--user",
            "1000:1000",
            "--label",
            "org.example=1",
            "--annotation",
            "org.example.note=hi",
            "--platform",
            "linux/arm64/v8",
            "--tag",
            "penguin:v1",
            "--tag",
            "me/penguin:v2",
        ],
    );
    let blob = |key: &str| -> serde_json::Value {
        let d = v[key]["digest"].as_str().unwrap();
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap())
            .unwrap()
    };
    let config = blob("config");
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["variant"], "v8");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["-c", "ls /"]));
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/bin", "A=b=c"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/tmp");
    assert_eq!(config["config"]["User"], "1000:1000");
    assert_eq!(config["config"]["Labels"]["org.example"], "1");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([v["diffId"]])
    );
    assert_eq!(config["history"][0]["created"], "1970-01-01T00:00:00Z");
    let manifest = blob("manifest");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["annotations"]["org.example.note"], "hi");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    // each entry keeps the full name it was tagged with, so tools can tell them apart
    assert_eq!(refs, ["penguin:v1", "me/penguin:v2"]);
    assert_eq!(
        std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
}

#[test]
fn source_date_epoch_sets_created_and_mtimes() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let rootfs = dir.path().join("r.tar");
    let out = packer()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("build")
        .arg(&root)
        .arg("--oci-layout")
        .arg(&layout)
        .arg("--rootfs-tar")
        .arg(&rootfs)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = v["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap())
            .unwrap();
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let bytes = std::fs::read(&rootfs).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    for e in ar.entries().unwrap() {
        assert_eq!(e.unwrap().header().mtime().unwrap(), 1_700_000_000);
    }
}

#[test]
fn docker_format_uses_the_articles_media_types() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let v = build_json(&root, &layout, &["--format", "docker"]);
    assert_eq!(
        v["manifest"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        v["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        v["layer"]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let d = v["manifest"]["digest"].as_str().unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap())
            .unwrap();
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    // a docker v2 schema 2 manifest has no annotations field; an OCI one keeps its own
    assert!(m.get("annotations").is_none(), "{m}");
    let oci_layout = dir.path().join("oci");
    let v = build_json(&root, &oci_layout, &[]);
    let d = v["manifest"]["digest"].as_str().unwrap();
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(oci_layout.join("blobs/sha256").join(&d[7..])).unwrap(),
    )
    .unwrap();
    assert!(
        m["annotations"]["org.opencontainers.image.created"].is_string(),
        "{m}"
    );
    let err = packer()
        .arg("build")
        .arg(&root)
        .args(["--format", "docker", "--annotation", "a=b", "--oci-layout"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("has no annotations"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
}

#[test]
fn zstd_and_none_layers_have_their_own_media_types_and_the_same_diff_id() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let gz = build_json(&root, &dir.path().join("gz"), &[]);
    let zs = build_json(
        &root,
        &dir.path().join("zs"),
        &["--compression", "zstd", "--level", "5"],
    );
    let no = build_json(&root, &dir.path().join("no"), &["--compression", "none"]);
    assert_eq!(
        zs["layer"]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        no["layer"]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(gz["diffId"], zs["diffId"]);
    assert_eq!(gz["diffId"], no["diffId"]);
    assert_eq!(no["layer"]["digest"], no["diffId"]);
    let d = zs["layer"]["digest"].as_str().unwrap();
    let blob = std::fs::read(dir.path().join("zs/blobs/sha256").join(&d[7..])).unwrap();
    let tar = zstd::decode_all(&blob[..]).unwrap();
    assert_eq!(sha256(&tar), zs["diffId"].as_str().unwrap());
    for name in ["gz", "zs", "no"] {
        packer()
            .arg("inspect")
            .arg(dir.path().join(name))
            .assert()
            .success();
    }
}

#[test]
fn docker_archive_is_a_layout_and_a_docker_load_archive() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let archive = dir.path().join("image.tar");
    let v = build_json(
        &root,
        &dir.path().join("img"),
        &[
            "--docker-archive",
            archive.to_str().unwrap(),
            "--tag",
            "penguin:v1",
        ],
    );
    let bytes = std::fs::read(&archive).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    let mut manifest_json = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name == "manifest.json" {
            e.read_to_end(&mut manifest_json).unwrap();
        }
        names.push(name);
    }
    let blob = |k: &str| format!("blobs/sha256/{}", &v[k]["digest"].as_str().unwrap()[7..]);
    let mut blobs = vec![blob("layer"), blob("config"), blob("manifest")];
    blobs.sort();
    let mut want = vec!["blobs/".to_owned(), "blobs/sha256/".to_owned()];
    want.extend(blobs);
    want.extend(["index.json", "manifest.json", "oci-layout"].map(String::from));
    assert_eq!(names, want);
    let m: serde_json::Value = serde_json::from_slice(&manifest_json).unwrap();
    assert_eq!(
        m,
        serde_json::json!([{"Config": blob("config"), "RepoTags": ["penguin:v1"], "Layers": [blob("layer")]}])
    );
    packer().arg("inspect").arg(&archive).assert().success();
    // the same archive, built twice, is the same bytes
    let again = dir.path().join("again.tar");
    build_json(
        &root,
        &dir.path().join("img2"),
        &[
            "--docker-archive",
            again.to_str().unwrap(),
            "--tag",
            "penguin:v1",
        ],
    );
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
}

#[test]
fn building_into_an_existing_layout_adds_a_tag() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("img");
    let a = build_json(&root, &layout, &["--tag", "p:a"]);
    let b = build_json(&root, &layout, &["--tag", "p:b", "--env", "X=1"]);
    assert_ne!(a["manifest"]["digest"], b["manifest"]["digest"]);
    let out = packer().arg("inspect").arg(&layout).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("image     p:a") && text.contains("image     p:b"),
        "{text}"
    );
    let out = packer()
        .arg("inspect")
        .arg(format!("{}:b", layout.display()))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("image     p:a") && text.contains("env       X=1"),
        "{text}"
    );
}

#[test]
fn an_empty_folder_becomes_the_layout() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    let layout = dir.path().join("empty");
    std::fs::create_dir(&layout).unwrap();
    build_json(&root, &layout, &["--tag", "p:1"]);
    packer().arg("inspect").arg(&layout).assert().success();
    // nothing else appears beside it: the staging folder was renamed into place
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["empty", "root"]);
}

/// The progress bar is for terminals: piped, a build writes nothing to stderr.
#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let dir = scratch();
    let root = dir.path().join("root");
    fixed_bundle(&root);
    std::fs::write(root.join("etc/big"), vec![b'p'; 3 << 20]).unwrap();
    let out = packer()
        .arg("build")
        .arg(&root)
        .arg("--oci-layout")
        .arg(dir.path().join("img"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 4);
}
