//! The one image model packer, pusher and xtask share: oci-spec's descriptor, manifest, index
//! and config types, the media types of both families, and [`Manifest`], a manifest or an
//! index kept with the exact bytes it was digested from (so a push sends what was digested).

use crate::error::{Error, Result};
pub use crate::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    is_index_type, is_manifest_type,
};
pub use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Platform,
};
use serde::Deserialize;

/// Every manifest and index media type, for a registry's `Accept` header.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// What a manifest's bytes parse to.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// An image manifest (OCI or Docker v2 schema 2): a config and layers.
    Image(Box<ImageManifest>),
    /// An image index (OCI) or manifest list (Docker): one manifest per platform.
    Index(Box<ImageIndex>),
}

/// A manifest or an index: the exact bytes, their digest, the media type and the parsed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: MediaType,
    parsed: Parsed,
}

/// Just enough of a document to tell a manifest from an index.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
}

impl Manifest {
    /// Parses `bytes`. The media type is the document's own `mediaType`, else `declared` (a
    /// descriptor's or a `Content-Type`), else an index when it has `manifests`, else an
    /// image manifest. `what` names the bytes in errors (a path, a reference, a digest).
    pub fn parse(bytes: Vec<u8>, declared: Option<&MediaType>, what: &str) -> Result<Manifest> {
        let json_error = |source| Error::Json {
            what: what.to_owned(),
            source,
        };
        let probe: Probe = serde_json::from_slice(&bytes).map_err(json_error)?;
        let media_type = match (&probe.media_type, declared) {
            (Some(m), _) if !m.is_empty() => MediaType::from(m.as_str()),
            (_, Some(d)) if is_index_type(d) || is_manifest_type(d) => d.clone(),
            _ if probe.manifests.is_some() => MediaType::ImageIndex,
            _ => MediaType::ImageManifest,
        };
        let parsed = if is_index_type(&media_type) {
            Parsed::Index(serde_json::from_slice(&bytes).map_err(json_error)?)
        } else if is_manifest_type(&media_type) {
            Parsed::Image(serde_json::from_slice(&bytes).map_err(json_error)?)
        } else {
            return Err(Error::Malformed {
                what: what.to_owned(),
                reason: format!("media type {media_type} is neither a manifest nor an index"),
            });
        };
        Ok(Manifest {
            digest: crate::digest::sha256_digest(&bytes),
            bytes,
            media_type,
            parsed,
        })
    }

    /// Serializes `value` as canonical JSON and keeps those bytes (what packer writes).
    pub fn from_image(value: &ImageManifest) -> Result<Manifest> {
        let bytes = crate::json::to_canonical_vec(value, "image manifest")?;
        Manifest::parse(bytes, value.media_type().as_ref(), "image manifest")
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `sha256:` of the bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The media type (see [`Manifest::parse`]).
    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }

    /// The parsed document.
    pub fn parsed(&self) -> &Parsed {
        &self.parsed
    }

    /// Whether it is an index of manifests.
    pub fn is_index(&self) -> bool {
        matches!(self.parsed, Parsed::Index(_))
    }

    /// The descriptor of these bytes: media type, size, digest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.media_type.clone(),
            self.bytes.len() as u64,
            self.digest.clone(),
        )
    }

    /// The blobs an image manifest references, config first, then layers; none for an index.
    pub fn blobs(&self) -> Vec<Descriptor> {
        match &self.parsed {
            Parsed::Image(m) => std::iter::once(m.config())
                .chain(m.layers())
                .cloned()
                .collect(),
            Parsed::Index(_) => Vec::new(),
        }
    }

    /// The manifests an index lists; none for an image manifest.
    pub fn children(&self) -> &[Descriptor] {
        match &self.parsed {
            Parsed::Index(i) => i.manifests(),
            Parsed::Image(_) => &[],
        }
    }

    /// Checks that these bytes are what `desc` describes (digest and size).
    pub fn check(&self, desc: &Descriptor, what: &str) -> Result<()> {
        if self.digest != *desc.digest() {
            return Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: desc.digest().to_string(),
                actual: self.digest.to_string(),
            });
        }
        if self.bytes.len() as u64 != desc.size() {
            return Err(Error::SizeMismatch {
                what: what.to_owned(),
                expected: desc.size(),
                actual: self.bytes.len() as u64,
            });
        }
        Ok(())
    }
}

/// `os/architecture[/variant]` of a platform.
pub fn platform_string(p: &Platform) -> String {
    let mut out = format!("{}/{}", p.os(), p.architecture());
    if let Some(v) = p.variant().as_deref().filter(|v| !v.is_empty()) {
        out.push('/');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]}"#;

    #[test]
    fn a_docker_manifest_keeps_its_bytes_and_lists_its_blobs() {
        let m = Manifest::parse(DOCKER.as_bytes().to_vec(), None, "test").unwrap();
        assert_eq!(m.bytes(), DOCKER.as_bytes());
        assert_eq!(m.media_type().as_ref(), DOCKER_MANIFEST);
        assert_eq!(*m.digest(), crate::digest::sha256_digest(DOCKER.as_bytes()));
        let blobs = m.blobs();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[1].size(), 3);
        assert!(!m.is_index());
    }

    #[test]
    fn an_index_without_media_type_is_told_by_its_manifests() {
        let bytes = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;
        let m = Manifest::parse(bytes.to_vec(), None, "test").unwrap();
        assert!(m.is_index());
        assert_eq!(m.children().len(), 1);
        let p = m.children()[0].platform().as_ref().unwrap();
        assert_eq!(platform_string(p), "linux/arm64/v8");
    }

    #[test]
    fn garbage_and_foreign_types_are_errors_naming_the_input() {
        let err = Manifest::parse(b"nope".to_vec(), None, "blob x").unwrap_err();
        assert!(err.to_string().contains("blob x"), "{err}");
        let err =
            Manifest::parse(br#"{"mediaType":"text/plain"}"#.to_vec(), None, "blob y").unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
    }
}
