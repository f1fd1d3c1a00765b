//! The image index: several single-platform images under one digest (a multi-platform image),
//! each manifest descriptor carrying its platform.

use crate::config::Platform;
use crate::error::{Error, Result};
use crate::manifest::Format;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder};
use std::collections::BTreeMap;

/// Assembles an index over `images` (each a manifest descriptor and its platform), in the
/// order given. Two images for the same platform are an error.
pub fn image_index(
    format: Format,
    images: &[(Descriptor, Platform)],
    annotations: &BTreeMap<String, String>,
) -> Result<ImageIndex> {
    let mut seen = std::collections::HashSet::new();
    let mut manifests = Vec::with_capacity(images.len());
    for (desc, platform) in images {
        if !seen.insert(platform.to_string()) {
            return Err(Error::Invalid {
                what: "image index",
                value: platform.to_string(),
                reason: "two images for the same platform".to_owned(),
            });
        }
        let mut d = desc.clone();
        d.set_media_type(format.manifest_type());
        d.set_platform(Some(platform.to_oci()));
        manifests.push(d);
    }
    let mut builder = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(format.index_type())
        .manifests(manifests);
    if !annotations.is_empty() {
        builder = builder.annotations(
            annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    builder.build().map_err(|source| Error::Spec {
        what: "image index".to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    #[test]
    fn index_lists_each_platform_once() {
        let d = |b: &[u8]| {
            Descriptor::new(
                MediaType::ImageManifest,
                b.len() as u64,
                crate::digest::sha256_digest(b),
            )
        };
        let amd: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        let idx = image_index(
            Format::Oci,
            &[(d(b"a"), amd.clone()), (d(b"b"), arm)],
            &BTreeMap::new(),
        )
        .unwrap();
        let json = String::from_utf8(crate::json::to_canonical_vec(&idx, "t").unwrap()).unwrap();
        assert!(
            json.contains(r#""platform":{"architecture":"arm64","os":"linux","variant":"v8"}"#),
            "{json}"
        );
        assert!(json.contains(r#""mediaType":"application/vnd.oci.image.index.v1+json""#));
        let err = image_index(
            Format::Oci,
            &[(d(b"a"), amd.clone()), (d(b"c"), amd)],
            &BTreeMap::new(),
        );
        assert!(err.is_err());
    }
}
