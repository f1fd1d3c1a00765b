//! `packer inspect`: read an image from a layout or archive and verify every blob: digest,
//! size, and each layer's diff id against its decompressed bytes.
//!
//! The layout may be hostile: each blob is verified once however often it is listed, indexes
//! nest at most [`MAX_NESTING`] deep, and sizes are checked before anything is read.

use crate::digest::DigestReader;
use crate::docker_archive::DockerManifestEntry;
use crate::error::{Error, IoContext, Result};
use crate::layout::{MAX_NESTING, OciLayout, ref_name};
use crate::manifest::{is_index_type, is_manifest_type};
use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType,
};
use std::collections::HashSet;
use std::io::{self, Read};

/// One verified single-platform image.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// the tag it is found under in index.json, if any
    pub tag: Option<String>,
    /// its manifest descriptor
    pub manifest: Descriptor,
    /// the parsed config
    pub config: ImageConfiguration,
    /// the config descriptor
    pub config_desc: Descriptor,
    /// each layer descriptor with its verified diff id
    pub layers: Vec<(Descriptor, String)>,
}

/// Everything `inspect` verified.
#[derive(Debug, Clone, Default)]
pub struct InspectReport {
    /// every image found (the children of an index are listed too)
    pub images: Vec<ImageSummary>,
    /// index descriptors passed through
    pub indexes: Vec<Descriptor>,
    /// `name:tag` from a docker archive's manifest.json
    pub repo_tags: Vec<String>,
}

/// Opens `spec` (`DIR`, `DIR:TAG`, an archive) and verifies every blob reachable from it.
pub fn inspect(spec: &str) -> Result<InspectReport> {
    let source = crate::layout::open_source(spec)?;
    let layout = source.layout();
    let mut report = InspectReport::default();
    let tops: Vec<Descriptor> = match source.tag() {
        Some(t) => vec![layout.resolve(Some(t))?],
        None => layout.index()?.manifests().clone(),
    };
    if tops.is_empty() {
        return Err(Error::Malformed {
            what: layout.root().join("index.json").display().to_string(),
            reason: "no images".to_owned(),
        });
    }
    let mut walk = Walk {
        layout,
        report: &mut report,
        seen: HashSet::new(),
        layers: HashSet::new(),
    };
    for top in &tops {
        walk.descriptor(top, ref_name(top).map(str::to_owned), 0)?;
    }
    report.repo_tags = check_docker_manifest(layout)?;
    Ok(report)
}

/// The state of one verification: what has been verified already.
struct Walk<'a> {
    layout: &'a OciLayout,
    report: &'a mut InspectReport,
    /// manifests and indexes verified: digest, size and media type as listed, and the tag
    seen: HashSet<(Digest, u64, String, Option<String>)>,
    /// layers verified: digest, size and media type as listed, and the diff id
    layers: HashSet<(Digest, u64, String, String)>,
}

impl Walk<'_> {
    /// Verifies `desc` (an index `depth` levels below index.json, or a manifest) and what it
    /// points to, once per descriptor and tag.
    fn descriptor(&mut self, desc: &Descriptor, tag: Option<String>, depth: usize) -> Result<()> {
        let key = (
            desc.digest().clone(),
            desc.size(),
            desc.media_type().to_string(),
            tag.clone(),
        );
        if !self.seen.insert(key) {
            return Ok(());
        }
        let layout = self.layout;
        let mt = desc.media_type();
        if is_index_type(mt) {
            if depth >= MAX_NESTING {
                return Err(Error::Malformed {
                    what: format!("index {}", desc.digest()),
                    reason: format!(
                        "image indexes nest more than {MAX_NESTING} deep; refusing to follow"
                    ),
                });
            }
            let index: ImageIndex = layout.read_json(desc)?;
            self.report.indexes.push(desc.clone());
            for child in index.manifests() {
                self.descriptor(child, tag.clone(), depth + 1)?;
            }
            Ok(())
        } else {
            let image = self.manifest(desc, tag)?;
            self.report.images.push(image);
            Ok(())
        }
    }

    /// Verifies one image manifest, its config and its layers (each layer once).
    fn manifest(&mut self, desc: &Descriptor, tag: Option<String>) -> Result<ImageSummary> {
        let layout = self.layout;
        let mt = desc.media_type();
        if !is_manifest_type(mt) {
            return Err(Error::Malformed {
                what: format!("descriptor {}", desc.digest()),
                reason: format!("unsupported media type {mt}"),
            });
        }
        let manifest: ImageManifest = layout.read_json(desc)?;
        let config_desc = manifest.config().clone();
        let config: ImageConfiguration = layout.read_json(&config_desc)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::Malformed {
                what: format!("image {}", desc.digest()),
                reason: format!(
                    "{} layers in the manifest but {} diff ids in the config",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let key = (
                layer.digest().clone(),
                layer.size(),
                layer.media_type().to_string(),
                diff_id.clone(),
            );
            if self.layers.insert(key) {
                verify_layer(layout, layer, diff_id)?;
            }
            layers.push((layer.clone(), diff_id.clone()));
        }
        Ok(ImageSummary {
            tag,
            manifest: desc.clone(),
            config,
            config_desc,
            layers,
        })
    }
}

/// Checks a layer blob's digest and size, then its decompressed bytes against `diff_id`.
pub fn verify_layer(layout: &OciLayout, layer: &Descriptor, diff_id: &str) -> Result<()> {
    let what = format!("layer {}", layer.digest());
    // digest and size of the blob as stored (a regular file, its size checked first)
    let path = layout.verify_blob(layer, &what)?;
    // the diff id: sha256 of the decompressed bytes
    let file = std::fs::File::open(&path).io("read blob", &path)?;
    let buffered = io::BufReader::with_capacity(1 << 16, file);
    let mt = layer.media_type().as_ref().to_owned();
    let decoder: Box<dyn Read> = if mt.ends_with("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if mt.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::new(buffered).io("read blob", &path)?)
    } else if *layer.media_type() == MediaType::ImageLayer || mt.ends_with(".tar") {
        Box::new(buffered)
    } else {
        return Err(Error::Malformed {
            what,
            reason: format!("unsupported layer media type {mt}"),
        });
    };
    let mut r = DigestReader::new(decoder);
    io::copy(&mut r, &mut io::sink()).map_err(|e| Error::Malformed {
        what: what.clone(),
        reason: format!("cannot decompress: {e}"),
    })?;
    let (actual, _) = r.finish();
    if actual.to_string() != diff_id {
        return Err(Error::DiffIdMismatch {
            layer: layer.digest().to_string(),
            expected: diff_id.to_owned(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// When a `manifest.json` (docker load) sits beside index.json, checks that the blobs it names
/// exist and returns its RepoTags.
fn check_docker_manifest(layout: &OciLayout) -> Result<Vec<String>> {
    let path = layout.root().join("manifest.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(&path).io("read", &path)?;
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
    let mut tags = Vec::new();
    for entry in entries {
        for f in std::iter::once(&entry.config).chain(&entry.layers) {
            if f.contains("..") || !layout.root().join(f).is_file() {
                return Err(Error::Malformed {
                    what: path.display().to_string(),
                    reason: format!("names {f}, which is not in the archive"),
                });
            }
        }
        tags.extend(entry.repo_tags);
    }
    Ok(tags)
}
