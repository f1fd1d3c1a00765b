//! The manifest: config and layer descriptors, OCI media types by default or the article's
//! Docker v2 schema 2 ones with [`Format::Docker`]. An OCI manifest's annotations include the
//! created date; a Docker one has no `annotations` field at all (its spec defines none).

use crate::compress::Compression;
use crate::error::{Error, Result};
use oci_spec::image::{
    ANNOTATION_CREATED, Descriptor, ImageManifest, ImageManifestBuilder, MediaType,
};
use std::collections::BTreeMap;

/// Docker v2 schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer media type.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer media type.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Which family of media types to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// OCI image spec media types
    #[default]
    Oci,
    /// Docker image manifest v2, schema 2
    Docker,
}

impl Format {
    /// The manifest's media type.
    pub fn manifest_type(self) -> MediaType {
        match self {
            Format::Oci => MediaType::ImageManifest,
            Format::Docker => MediaType::Other(DOCKER_MANIFEST.to_owned()),
        }
    }

    /// The index (manifest list) media type.
    pub fn index_type(self) -> MediaType {
        match self {
            Format::Oci => MediaType::ImageIndex,
            Format::Docker => MediaType::Other(DOCKER_MANIFEST_LIST.to_owned()),
        }
    }

    /// The config's media type.
    pub fn config_type(self) -> MediaType {
        match self {
            Format::Oci => MediaType::ImageConfig,
            Format::Docker => MediaType::Other(DOCKER_CONFIG.to_owned()),
        }
    }

    /// A layer's media type; Docker schema 2 has none for zstd.
    pub fn layer_type(self, compression: Compression) -> Result<MediaType> {
        Ok(match (self, compression) {
            (Format::Oci, Compression::Gzip(_)) => MediaType::ImageLayerGzip,
            (Format::Oci, Compression::Zstd(_)) => MediaType::ImageLayerZstd,
            (Format::Oci, Compression::None) => MediaType::ImageLayer,
            (Format::Docker, Compression::Gzip(_)) => {
                MediaType::Other(DOCKER_LAYER_GZIP.to_owned())
            }
            (Format::Docker, Compression::None) => MediaType::Other(DOCKER_LAYER_TAR.to_owned()),
            (Format::Docker, Compression::Zstd(_)) => {
                return Err(Error::Invalid {
                    what: "compression",
                    value: "zstd".to_owned(),
                    reason: "docker v2 schema 2 has no zstd layer type; use --format oci"
                        .to_owned(),
                });
            }
        })
    }
}

/// Builds the manifest for one config and its layers. A Docker manifest carries no
/// annotations: asking for some is an error.
pub fn image_manifest(
    format: Format,
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: &BTreeMap<String, String>,
    created: &str,
) -> Result<ImageManifest> {
    if format == Format::Docker {
        if let Some(key) = annotations.keys().next() {
            return Err(Error::Invalid {
                what: "annotation",
                value: key.clone(),
                reason: "a docker v2 schema 2 manifest has no annotations; use --format oci"
                    .to_owned(),
            });
        }
        return ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(format.manifest_type())
            .config(config)
            .layers(layers)
            .build()
            .map_err(|source| Error::Spec {
                what: "image manifest".to_owned(),
                source,
            });
    }
    let mut all: std::collections::HashMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.entry(ANNOTATION_CREATED.to_owned())
        .or_insert_with(|| created.to_owned());
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(format.manifest_type())
        .config(config)
        .layers(layers)
        .annotations(all)
        .build()
        .map_err(|source| Error::Spec {
            what: "image manifest".to_owned(),
            source,
        })
}

/// Which media types mean "an image manifest" (OCI or Docker).
pub fn is_manifest_type(m: &MediaType) -> bool {
    matches!(m, MediaType::ImageManifest) || m.as_ref() == DOCKER_MANIFEST
}

/// Which media types mean "an index of manifests" (OCI or Docker).
pub fn is_index_type(m: &MediaType) -> bool {
    matches!(m, MediaType::ImageIndex) || m.as_ref() == DOCKER_MANIFEST_LIST
}
