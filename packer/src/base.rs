//! The base image of a build (`packer build --base SOURCE`, a Containerfile's `FROM SOURCE`):
//! read from a local transport through [`crate::source`], one platform picked from an index,
//! its config kept as bytes for [`crate::apply::ConfigEditor`], and its layers linked (or
//! copied) untouched into the layout being written, each verified once.
//!
//! packer reads no registry: a `docker://` base is refused with the `pusher copy` line that
//! fetches it first.

use crate::apply::ConfigEditor;
use crate::config::Platform;
use crate::digest::DigestReader;
use crate::error::{Error, IoContext, Result};
use crate::layout::{MAX_JSON_SIZE, OciLayout};
use crate::manifest::{DOCKER_MANIFEST, Format};
use crate::model::{Descriptor, ImageManifest, Manifest, MediaType, Parsed, platform_string};
use crate::source::ImageSource;
use crate::transport::ImageName;
use std::io::Read;

/// A base image, opened and resolved to one platform's manifest.
pub struct BaseImage {
    name: String,
    source: Box<dyn ImageSource>,
    manifest: Manifest,
    image: ImageManifest,
    config: Vec<u8>,
    platform: Platform,
}

impl std::fmt::Debug for BaseImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseImage")
            .field("name", &self.name)
            .field("manifest", self.manifest.digest())
            .field("platform", &self.platform)
            .finish()
    }
}

/// The platform of the machine packer runs on, in the OCI spec's (Go's) names.
pub fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    };
    Platform {
        os: "linux".to_owned(),
        architecture: architecture.to_owned(),
        variant: None,
    }
}

/// Whether `have` is what `want` asks for: same OS and architecture, and the same variant
/// when `want` names one.
fn platform_matches(want: &Platform, have: &Platform) -> bool {
    want.os == have.os
        && want.architecture == have.architecture
        && (want.variant.is_none() || want.variant == have.variant)
}

/// The line that tells how to get a registry image onto disk first.
pub fn registry_hint(reference: &str) -> String {
    format!(
        "packer reads no registry; fetch the base first: pusher copy docker://{reference} oci:DIR"
    )
}

impl BaseImage {
    /// Opens the image `name` names (`oci:DIR[:NAME]`, `oci-archive:FILE`,
    /// `docker-archive:FILE`). An index is resolved to the manifest for `platform` (default:
    /// the host's); a single image whose config names another platform than a given
    /// `platform` is refused.
    pub fn open(name: &ImageName, platform: Option<&Platform>) -> Result<BaseImage> {
        if let ImageName::Docker(r) = name {
            return Err(Error::NeedsRegistry {
                reference: r.to_string(),
            });
        }
        let label = name.to_string();
        let source = crate::source::open(name)?;
        let mut manifest = source.top()?;
        let want = platform.cloned().unwrap_or_else(host_platform);
        for _ in 0..crate::layout::MAX_NESTING {
            let Parsed::Index(index) = manifest.parsed() else {
                break;
            };
            let found = index.manifests().iter().find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    let have = Platform {
                        os: p.os().to_string(),
                        architecture: p.architecture().to_string(),
                        variant: p.variant().clone().filter(|v| !v.is_empty()),
                    };
                    platform_matches(&want, &have)
                })
            });
            let Some(desc) = found else {
                let have: Vec<String> = index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.platform().as_ref().map(platform_string))
                    .collect();
                return Err(Error::Malformed {
                    what: label,
                    reason: format!(
                        "no image for {want} in this index; platforms there: {}; pick one with --platform",
                        if have.is_empty() {
                            "none".to_owned()
                        } else {
                            have.join(", ")
                        }
                    ),
                });
            };
            manifest = source.manifest(desc)?;
        }
        let Parsed::Image(image) = manifest.parsed() else {
            return Err(Error::Malformed {
                what: label,
                reason: format!("indexes nest more than {} deep", crate::layout::MAX_NESTING),
            });
        };
        let image = (**image).clone();
        let config = read_small(&*source, image.config(), &label)?;
        let parsed: crate::model::ImageConfiguration =
            serde_json::from_slice(&config).map_err(|source| Error::Json {
                what: format!("config {} of {label}", image.config().digest()),
                source,
            })?;
        let have = Platform {
            os: parsed.os().to_string(),
            architecture: parsed.architecture().to_string(),
            variant: parsed.variant().clone().filter(|v| !v.is_empty()),
        };
        if let Some(want) = platform
            && !platform_matches(want, &have)
        {
            return Err(Error::Invalid {
                what: "platform",
                value: want.to_string(),
                reason: format!("the base {label} is {have}; drop --platform or pick another base"),
            });
        }
        let layers = image.layers().len();
        let diff_ids = parsed.rootfs().diff_ids().len();
        if layers != diff_ids {
            return Err(Error::Malformed {
                what: label,
                reason: format!(
                    "the manifest lists {layers} layers but the config {diff_ids} diff ids"
                ),
            });
        }
        Ok(BaseImage {
            name: label,
            source,
            manifest,
            image,
            config,
            platform: have,
        })
    }

    /// The name as the user gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base's manifest descriptor (the platform's, not the index's).
    pub fn descriptor(&self) -> Descriptor {
        self.manifest.descriptor()
    }

    /// The base's layers, untouched (digest, size, media type, annotations).
    pub fn layers(&self) -> &[Descriptor] {
        self.image.layers()
    }

    /// The base's platform, from its config.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The base's layers as a manifest of `format` lists them: the same blobs (digest, size),
    /// with the media type naming the same encoding in that family (a Docker base's
    /// `…rootfs.diff.tar.gzip` is an OCI `…layer.v1.tar+gzip`, as `skopeo copy --format oci`
    /// writes it). Docker v2 schema 2 has no zstd layer, and a Docker descriptor carries no
    /// annotations.
    pub fn layers_for(&self, format: Format) -> Result<Vec<Descriptor>> {
        self.layers()
            .iter()
            .map(|d| {
                let media_type =
                    layer_type_in(d.media_type(), format).ok_or_else(|| Error::Invalid {
                        what: "format",
                        value: format!("{format:?}").to_lowercase(),
                        reason: format!(
                            "layer {} of the base {} is {}, which that format cannot name; \
                             pick the other --format",
                            d.digest(),
                            self.name,
                            d.media_type()
                        ),
                    })?;
                let mut out = d.clone();
                out.set_media_type(media_type);
                if format == Format::Docker {
                    out.set_annotations(None);
                }
                Ok(out)
            })
            .collect()
    }

    /// The manifest family of the base: Docker v2 schema 2 or OCI.
    pub fn format(&self) -> Format {
        if self.manifest.media_type().as_ref() == DOCKER_MANIFEST {
            Format::Docker
        } else {
            Format::Oci
        }
    }

    /// A config editor starting from the base's config.json.
    pub fn editor(&self, created: &str) -> Result<ConfigEditor> {
        let what = format!("config {} of {}", self.image.config().digest(), self.name);
        ConfigEditor::from_base(&self.config, &what, created)
    }

    /// Puts every base layer into `into`: taken from `reuse` (a layout that already holds it,
    /// verified when it got there) by a hard link, else hard-linked from the source's file
    /// after streaming it through sha256, else streamed from the source and verified as it is
    /// written. A link that fails (another file system) falls back to a verified copy.
    pub fn link_layers(&self, into: &OciLayout, reuse: Option<&OciLayout>) -> Result<()> {
        for desc in self.layers() {
            let dest = into.blob_path(desc.digest());
            if dest.is_file() {
                continue;
            }
            if let Some(present) = reuse.and_then(|l| l.blob_file(desc).ok())
                && std::fs::hard_link(&present, &dest).is_ok()
            {
                continue;
            }
            if let Some(file) = self.source.blob_file(desc) {
                verify_file(&file, desc, &self.name)?;
                if std::fs::hard_link(&file, &dest).is_ok() {
                    continue;
                }
                let reader = std::fs::File::open(&file).io("read", &file)?;
                into.write_blob(desc, reader)?;
                continue;
            }
            into.write_blob(desc, self.source.open_blob(desc)?)?;
        }
        Ok(())
    }
}

/// A layer media type, renamed into `format`'s family (the same encoding); `None` when that
/// family has no name for it.
fn layer_type_in(m: &MediaType, format: Format) -> Option<MediaType> {
    use crate::manifest::{DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR};
    const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    let other = |s: &str| MediaType::Other(s.to_owned());
    let name = m.to_string();
    Some(match (format, name.as_str()) {
        (Format::Oci, DOCKER_LAYER_GZIP) => MediaType::ImageLayerGzip,
        (Format::Oci, DOCKER_LAYER_TAR) => MediaType::ImageLayer,
        (Format::Oci, DOCKER_FOREIGN_GZIP) => MediaType::ImageLayerNonDistributableGzip,
        (Format::Docker, _) if *m == MediaType::ImageLayerGzip => other(DOCKER_LAYER_GZIP),
        (Format::Docker, _) if *m == MediaType::ImageLayer => other(DOCKER_LAYER_TAR),
        (Format::Docker, _) if *m == MediaType::ImageLayerNonDistributableGzip => {
            other(DOCKER_FOREIGN_GZIP)
        }
        (Format::Docker, DOCKER_LAYER_GZIP | DOCKER_LAYER_TAR | DOCKER_FOREIGN_GZIP) => m.clone(),
        (Format::Docker, _) => return None,
        (Format::Oci, _) => m.clone(),
    })
}

/// Streams a blob file through sha256 and checks its size and digest.
fn verify_file(path: &std::path::Path, desc: &Descriptor, image: &str) -> Result<()> {
    let file = std::fs::File::open(path).io("read", path)?;
    let mut r = DigestReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    std::io::copy(&mut (&mut r).take(desc.size() + 1), &mut std::io::sink()).io("read", path)?;
    let (actual, size) = r.finish();
    let what = format!("layer {} of {image}", desc.digest());
    if size != desc.size() {
        return Err(Error::SizeMismatch {
            what,
            expected: desc.size(),
            actual: size,
        });
    }
    if &actual != desc.digest() {
        return Err(Error::DigestMismatch {
            what,
            expected: desc.digest().to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Reads a config blob of at most [`MAX_JSON_SIZE`] and checks its size and digest.
fn read_small(source: &dyn ImageSource, desc: &Descriptor, image: &str) -> Result<Vec<u8>> {
    let what = format!("config {} of {image}", desc.digest());
    if desc.size() > MAX_JSON_SIZE {
        return Err(Error::Malformed {
            what,
            reason: format!(
                "{} bytes, more than the 4 MiB a config may have",
                desc.size()
            ),
        });
    }
    let mut bytes = Vec::new();
    source
        .open_blob(desc)?
        .take(desc.size() + 1)
        .read_to_end(&mut bytes)
        .io("read", std::path::PathBuf::from(&what))?;
    if bytes.len() as u64 != desc.size() {
        return Err(Error::SizeMismatch {
            what,
            expected: desc.size(),
            actual: bytes.len() as u64,
        });
    }
    let actual = crate::digest::sha256_digest(&bytes);
    if &actual != desc.digest() {
        return Err(Error::DigestMismatch {
            what,
            expected: desc.digest().to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;

    /// A layout holding `multi`, an index over linux/amd64 and linux/arm64/v8.
    fn index_layout(dir: &std::path::Path) -> OciLayout {
        let f = dir.join("sh");
        std::fs::write(&f, b"#!penguin\n").unwrap();
        let mut bundle = Bundle::new();
        bundle.add_file("bin/sh", &f, Some(0o755)).unwrap();
        let layout = OciLayout::create(dir.join("multi")).unwrap();
        crate::build::write_two_platform_index(&bundle, &layout, 2, "multi:1");
        layout
    }

    #[test]
    fn an_index_base_gives_the_platform_asked_for_or_the_hosts() {
        let tmp = tempfile::tempdir().unwrap();
        index_layout(tmp.path());
        let name = ImageName::parse(&format!(
            "oci:{}:multi:1",
            tmp.path().join("multi").display()
        ))
        .unwrap();
        let arm = BaseImage::open(&name, Some(&"linux/arm64".parse().unwrap())).unwrap();
        assert_eq!(arm.platform().to_string(), "linux/arm64/v8");
        assert_eq!(arm.format(), Format::Oci);
        let host = BaseImage::open(&name, None).unwrap();
        assert_eq!(host.platform(), &host_platform());
        assert_ne!(host.descriptor(), arm.descriptor());
        let err = BaseImage::open(&name, Some(&"linux/s390x".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "no image for linux/s390x in this index; platforms there: linux/amd64, linux/arm64/v8; pick one with --platform"
            ),
            "{err}"
        );
    }

    #[test]
    fn layer_types_are_renamed_within_one_encoding() {
        use crate::manifest::{DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR};
        let docker_gzip = MediaType::Other(DOCKER_LAYER_GZIP.to_owned());
        let docker_tar = MediaType::Other(DOCKER_LAYER_TAR.to_owned());
        for (from, format, want) in [
            (&docker_gzip, Format::Oci, Some(MediaType::ImageLayerGzip)),
            (&docker_tar, Format::Oci, Some(MediaType::ImageLayer)),
            (
                &MediaType::ImageLayerGzip,
                Format::Docker,
                Some(docker_gzip.clone()),
            ),
            (
                &MediaType::ImageLayerGzip,
                Format::Oci,
                Some(MediaType::ImageLayerGzip),
            ),
            (&docker_gzip, Format::Docker, Some(docker_gzip.clone())),
            (&MediaType::ImageLayerZstd, Format::Docker, None),
        ] {
            assert_eq!(layer_type_in(from, format), want, "{from} in {format:?}");
        }
    }
}
