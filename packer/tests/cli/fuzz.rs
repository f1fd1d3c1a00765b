//! Issue 9, fuzzing: property tests of the layout, index and manifest readers. Random bytes,
//! mutated JSON and random blob graphs go through `inspect` (and so `OciLayout::index`,
//! `read_json`, `verify_blob`): it never panics, and every error is one line. Bounded: a few
//! seconds in all.

use packer::digest::sha256_digest;
use proptest::prelude::*;
use serde_json::json;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A layout holding `blobs` (stored under their true digests unless `misname`), with
/// `index_json` as index.json.
fn layout_with(blobs: &[Vec<u8>], index_json: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sha = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&sha).unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    for b in blobs {
        let d = sha256_digest(b);
        std::fs::write(sha.join(d.digest()), b).unwrap();
    }
    std::fs::write(dir.path().join("index.json"), index_json).unwrap();
    dir
}

/// Runs the reader; a panic fails the property, an error must be one line.
fn inspect_holds_up(dir: &std::path::Path) -> Result<(), TestCaseError> {
    match packer::inspect::inspect(dir.to_str().unwrap()) {
        Ok(_) => Ok(()),
        Err(e) => {
            let chain = format!("{:#}", anyhow::Error::from(e));
            prop_assert!(!chain.contains('\n'), "{chain}");
            Ok(())
        }
    }
}

fn desc(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": sha256_digest(bytes).to_string(), "size": bytes.len()})
}

/// A valid image: layer, config, manifest, index.json; returns the blobs and index.json.
fn valid_image() -> (Vec<Vec<u8>>, Vec<u8>) {
    let layer = vec![0u8; 1024];
    let diff_id = sha256_digest(&layer).to_string();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": desc(CONFIG, &config), "layers": [desc(LAYER, &layer)],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": INDEX, "manifests": [desc(MANIFEST, &manifest)],
    }))
    .unwrap();
    (vec![layer, config, manifest], index)
}

/// A byte-level mutation: flip, insert or delete at a position.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, x) if !bytes.is_empty() => bytes[i % len] ^= x,
            Mutation::Insert(i, x) => bytes.insert(i % (bytes.len() + 1), x),
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            _ => {}
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",:0-e9 \\".to_vec())
        )
            .prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

/// One node of a random blob graph: what it is and which earlier nodes it points to.
#[derive(Debug, Clone)]
struct Node {
    kind: u8,
    children: Vec<usize>,
    media_type: u8,
    size_delta: i8,
    garbage: Vec<u8>,
}

fn node() -> impl Strategy<Value = Node> {
    (
        0u8..5,
        prop::collection::vec(any::<usize>(), 0..4),
        0u8..6,
        prop_oneof![Just(0i8), -2i8..3],
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(kind, children, media_type, size_delta, garbage)| Node {
            kind,
            children,
            media_type,
            size_delta,
            garbage,
        })
}

/// Builds the blobs of a random graph: each node is an index, a manifest, a config, a layer
/// or garbage, pointing at earlier nodes under a random media type and a size that may be off.
fn graph_blobs(nodes: &[Node]) -> (Vec<Vec<u8>>, Vec<serde_json::Value>) {
    let types = [
        INDEX,
        MANIFEST,
        CONFIG,
        LAYER,
        "application/octet-stream",
        "",
    ];
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut descs: Vec<serde_json::Value> = Vec::new();
    for n in nodes {
        let kids: Vec<serde_json::Value> = if descs.is_empty() {
            Vec::new()
        } else {
            n.children
                .iter()
                .map(|c| descs[c % descs.len()].clone())
                .collect()
        };
        let bytes = match n.kind {
            0 => serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": kids}),
            )
            .unwrap(),
            1 => {
                let config = kids.first().cloned().unwrap_or(json!({}));
                serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": MANIFEST,
                    "config": config, "layers": kids.get(1..).unwrap_or_default()}))
                .unwrap()
            }
            2 => serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids":
                    kids.iter().map(|k| k["digest"].clone()).collect::<Vec<_>>()}}))
            .unwrap(),
            3 => n.garbage.clone(),
            _ => mutate(
                serde_json::to_vec(&json!({"manifests": kids})).unwrap(),
                &[Mutation::Flip(n.garbage.len(), 0x20)],
            ),
        };
        let size = (bytes.len() as i64 + i64::from(n.size_delta)).max(0);
        descs.push(json!({
            "mediaType": types[n.media_type as usize % types.len()],
            "digest": sha256_digest(&bytes).to_string(),
            "size": size,
        }));
        blobs.push(bytes);
    }
    (blobs, descs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_index_json(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let dir = layout_with(&[], &bytes);
        inspect_holds_up(dir.path())?;
    }

    #[test]
    fn mutated_index_json(mutations in prop::collection::vec(mutation(), 1..6)) {
        let (blobs, index) = valid_image();
        let dir = layout_with(&blobs, &mutate(index, &mutations));
        inspect_holds_up(dir.path())?;
    }

    #[test]
    fn mutated_manifest_and_config(
        which in 1usize..3,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        // the mutated blob is stored under its new digest and the documents above are
        // rewritten to point at it, so the parser (not the digest check) meets the damage
        let (mut blobs, _) = valid_image();
        blobs[which] = mutate(blobs[which].clone(), &mutations);
        if which == 1 {
            let mut m: serde_json::Value = serde_json::from_slice(&blobs[2]).unwrap();
            m["config"] = desc(CONFIG, &blobs[1]);
            blobs[2] = serde_json::to_vec(&m).unwrap();
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2, "manifests": [desc(MANIFEST, &blobs[2])],
        }))
        .unwrap();
        let dir = layout_with(&blobs, &index);
        inspect_holds_up(dir.path())?;
    }

    #[test]
    fn random_blob_graphs(nodes in prop::collection::vec(node(), 1..10), tops in prop::collection::vec(any::<usize>(), 1..3)) {
        let (blobs, descs) = graph_blobs(&nodes);
        let manifests: Vec<_> = tops.iter().map(|t| descs[t % descs.len()].clone()).collect();
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).unwrap();
        let dir = layout_with(&blobs, &index);
        inspect_holds_up(dir.path())?;
    }
}

/// The bytes of a real `packer build --docker-archive` tar (built once).
fn archive_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs/bin")).unwrap();
        std::fs::write(dir.path().join("rootfs/bin/sh"), vec![b'p'; 3000]).unwrap();
        let archive = dir.path().join("image.tar");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_packer"))
            .arg("build")
            .arg(dir.path().join("rootfs"))
            .arg("--oci-layout")
            .arg(dir.path().join("oci"))
            .arg("--docker-archive")
            .arg(&archive)
            .arg("--tag")
            .arg("fuzz:latest")
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        std::fs::read(archive).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// The tar reader of archives: a damaged archive (flipped bytes, cut short) is read as
    /// untrusted input: no panic, one line of error, and nothing lands outside its folder.
    #[test]
    fn damaged_archives(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..8),
                        cut in prop::option::of(any::<prop::sample::Index>())) {
        let mut bytes = archive_bytes().to_vec();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Some(at) = cut {
            bytes.truncate(at.index(bytes.len()));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        std::fs::write(&path, &bytes).unwrap();
        match packer::inspect::inspect(path.to_str().unwrap()) {
            Ok(_) => {}
            Err(e) => {
                let chain = format!("{:#}", anyhow::Error::from(e));
                prop_assert!(!chain.contains('\n'), "{chain}");
            }
        }
        let beside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        prop_assert_eq!(beside.len(), 1);
    }

    /// The transport syntax (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`, bare):
    /// any input parses or is refused with one line; a well-formed registry name round-trips.
    #[test]
    fn transport_names(input in "\\PC{0,40}",
                       host in "[a-z]{1,8}(\\.[a-z]{1,5})?(:[1-9][0-9]{0,3})?",
                       repo in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}",
                       tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}") {
        if let Err(e) = packer::transport::ImageName::parse(&input) {
            prop_assert!(!e.to_string().contains('\n'), "{e}");
        }
        let typed = format!("docker://{host}/{repo}:{tag}");
        let name = packer::transport::ImageName::parse(&typed).unwrap();
        prop_assert!(matches!(name, packer::transport::ImageName::Docker(_)), "{typed}");
        let shown = name.to_string();
        prop_assert_eq!(
            packer::transport::ImageName::parse(&shown).unwrap().to_string(),
            shown
        );
    }
}
