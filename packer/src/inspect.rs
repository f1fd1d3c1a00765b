//! `packer inspect`: read an image from a layout or archive and verify every blob: digest,
//! size, and each layer's diff id against its decompressed bytes.

use crate::digest::DigestReader;
use crate::docker_archive::DockerManifestEntry;
use crate::error::{Error, IoContext, Result};
use crate::layout::{OciLayout, ref_name};
use crate::manifest::{is_index_type, is_manifest_type};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
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
    for top in &tops {
        verify_descriptor(layout, top, ref_name(top).map(str::to_owned), &mut report)?;
    }
    report.repo_tags = check_docker_manifest(layout)?;
    Ok(report)
}

fn verify_descriptor(
    layout: &OciLayout,
    desc: &Descriptor,
    tag: Option<String>,
    report: &mut InspectReport,
) -> Result<()> {
    let mt = desc.media_type();
    if is_index_type(mt) {
        let index: ImageIndex = layout.read_json(desc)?;
        report.indexes.push(desc.clone());
        for child in index.manifests() {
            verify_descriptor(layout, child, tag.clone(), report)?;
        }
        Ok(())
    } else if is_manifest_type(mt) {
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
            verify_layer(layout, layer, diff_id)?;
            layers.push((layer.clone(), diff_id.clone()));
        }
        report.images.push(ImageSummary {
            tag,
            manifest: desc.clone(),
            config,
            config_desc,
            layers,
        });
        Ok(())
    } else {
        Err(Error::Malformed {
            what: format!("descriptor {}", desc.digest()),
            reason: format!("unsupported media type {mt}"),
        })
    }
}

/// Checks a layer blob's digest and size, then its decompressed bytes against `diff_id`.
pub fn verify_layer(layout: &OciLayout, layer: &Descriptor, diff_id: &str) -> Result<()> {
    let path = layout.blob_path(layer.digest());
    let what = format!("layer {}", layer.digest());
    // digest and size of the blob as stored
    let file = std::fs::File::open(&path).io("read blob", &path)?;
    let mut r = DigestReader::new(io::BufReader::with_capacity(1 << 16, file));
    io::copy(&mut r, &mut io::sink()).io("read blob", &path)?;
    let (digest, size) = r.finish();
    if &digest != layer.digest() {
        return Err(Error::DigestMismatch {
            what,
            expected: layer.digest().to_string(),
            actual: digest.to_string(),
        });
    }
    if size != layer.size() {
        return Err(Error::SizeMismatch {
            what,
            expected: layer.size(),
            actual: size,
        });
    }
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
