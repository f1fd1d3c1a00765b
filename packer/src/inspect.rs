//! `packer inspect`: read an image from a layout or archive and verify every blob: digest,
//! size, and each layer's diff id against its decompressed bytes.
//!
//! The layout may be hostile: each blob is verified once however often it is listed, indexes
//! nest at most [`MAX_NESTING`] deep, and sizes are checked before anything is read.

use crate::digest::DigestReader;
use crate::error::{Error, IoContext, Result};
use crate::layout::{MAX_JSON_SIZE, MAX_NESTING, ref_name};
use crate::manifest::{is_index_type, is_manifest_type};
use crate::model::Parsed;
use crate::source::ImageSource;
use crate::transport::ImageName;
use oci_spec::image::{Descriptor, Digest, ImageConfiguration, MediaType};
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

/// Opens `spec` (`DIR`, `DIR:TAG`, an archive, or any local transport name: `oci:`,
/// `oci-archive:`, `docker-archive:`) and verifies every blob reachable from it. Archives are
/// read in place.
pub fn inspect(spec: &str) -> Result<InspectReport> {
    let name = match ImageName::parse(spec) {
        // neither a transport nor an existing path: name the missing path
        Ok(ImageName::Docker(_)) | Err(_) if !spec.starts_with("docker://") => ImageName::Oci {
            dir: spec.into(),
            name: None,
        },
        other => other?,
    };
    let source = crate::source::open(&name)?;
    let mut report = InspectReport::default();
    let tops = source.images()?;
    if tops.is_empty() {
        return Err(Error::Malformed {
            what: source.name(),
            reason: "no images".to_owned(),
        });
    }
    let mut walk = Walk {
        source: &*source,
        report: &mut report,
        seen: HashSet::new(),
        layers: HashSet::new(),
    };
    for top in &tops {
        walk.descriptor(top, ref_name(top).map(str::to_owned), 0)?;
    }
    report.repo_tags = source.repo_tags()?;
    Ok(report)
}

/// The state of one verification: what has been verified already.
struct Walk<'a> {
    source: &'a dyn ImageSource,
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
            let index = self.source.manifest(desc)?;
            self.report.indexes.push(desc.clone());
            for child in index.children() {
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
        let mt = desc.media_type();
        if !is_manifest_type(mt) {
            return Err(Error::Malformed {
                what: format!("descriptor {}", desc.digest()),
                reason: format!("unsupported media type {mt}"),
            });
        }
        let manifest = match self.source.manifest(desc)?.parsed() {
            Parsed::Image(m) => (**m).clone(),
            Parsed::Index(_) => {
                return Err(Error::Malformed {
                    what: format!("manifest {}", desc.digest()),
                    reason: "is an index, listed as an image manifest".to_owned(),
                });
            }
        };
        let config_desc = manifest.config().clone();
        let config: ImageConfiguration = read_config(self.source, &config_desc)?;
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
                verify_layer(self.source, layer, diff_id)?;
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

/// Reads and parses a config blob (at most [`MAX_JSON_SIZE`]), its size and digest checked.
fn read_config(source: &dyn ImageSource, desc: &Descriptor) -> Result<ImageConfiguration> {
    let what = format!("config {}", desc.digest());
    if desc.size() > MAX_JSON_SIZE {
        return Err(Error::Malformed {
            what,
            reason: format!("{} bytes, more than {MAX_JSON_SIZE}", desc.size()),
        });
    }
    let mut bytes = Vec::new();
    let mut r = DigestReader::new(source.open_blob(desc)?.take(MAX_JSON_SIZE + 1));
    r.read_to_end(&mut bytes).io("read", source.name())?;
    check_blob(desc, r.finish(), &what)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json { what, source })
}

/// The digest and size a blob's bytes came to, against its descriptor.
fn check_blob(desc: &Descriptor, (digest, size): (Digest, u64), what: &str) -> Result<()> {
    if size != desc.size() {
        return Err(Error::SizeMismatch {
            what: what.to_owned(),
            expected: desc.size(),
            actual: size,
        });
    }
    if &digest != desc.digest() {
        return Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: desc.digest().to_string(),
            actual: digest.to_string(),
        });
    }
    Ok(())
}

/// Checks a layer blob's digest and size, then its decompressed bytes against `diff_id`, in
/// one streamed read.
pub fn verify_layer(source: &dyn ImageSource, layer: &Descriptor, diff_id: &str) -> Result<()> {
    let what = format!("layer {}", layer.digest());
    crate::digest::sha256_hex(layer.digest())?;
    let mut blob = DigestReader::new(source.open_blob(layer)?.take(layer.size() + 1));
    let decompressed = diff_id_of(layer, &mut blob, &source.name());
    // what the decompressor left of the blob (padding after the stream) counts too; a blob
    // that is not what its descriptor says is the first thing to report
    let _ = io::copy(&mut blob, &mut io::sink());
    check_blob(layer, blob.finish(), &what)?;
    let actual = decompressed?;
    if actual.to_string() != diff_id {
        return Err(Error::DiffIdMismatch {
            layer: layer.digest().to_string(),
            expected: diff_id.to_owned(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// The sha256 of `layer`'s decompressed bytes, read from `blob`.
fn diff_id_of(layer: &Descriptor, blob: &mut dyn Read, source: &str) -> Result<Digest> {
    let what = format!("layer {}", layer.digest());
    let buffered = io::BufReader::with_capacity(1 << 16, blob);
    let mt = layer.media_type().as_ref().to_owned();
    let decoder: Box<dyn Read + '_> = if mt.ends_with("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if mt.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::new(buffered).io("read", source)?)
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
    Ok(r.finish().0)
}
