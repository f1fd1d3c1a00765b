//! The `--docker-archive` tar: an OCI layout plus the `manifest.json` that `docker load`
//! reads (the hybrid Docker 25 writes, which Docker 20.10 also loads). Reading archives, in
//! place, is [`crate::source`]'s.

use crate::error::{IoContext, Result};
use crate::tar::{Kind, TarWriter};
use oci_spec::image::Digest;
use serde::{Deserialize, Deserializer, Serialize};
use std::io::{BufWriter, Write};
use std::path::Path;

/// One entry of `manifest.json`, as `docker load` expects it and `docker save` writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerManifestEntry {
    /// `blobs/sha256/<hex>` of the config
    pub config: String,
    /// `name:tag` references to create (`null` in `docker save` of an untagged image)
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    /// `blobs/sha256/<hex>` of each layer, bottom first
    pub layers: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `blobs/<alg>/<hex>`, the path of a blob inside a layout or archive.
pub fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.digest())
}

/// Writes the archive for the image in `layout` to `out`: `blobs/`, `index.json` (given
/// bytes), `manifest.json` (when given), `oci-layout`, in bytewise path order with normalized headers.
/// `blobs` lists the digests to include (each is read from the layout once).
pub fn write_archive(
    layout: &crate::layout::OciLayout,
    blobs: &[Digest],
    index_json: &[u8],
    manifest_json: Option<&[u8]>,
    out: &Path,
    mtime: u64,
) -> Result<()> {
    let file = std::fs::File::create(out).io("create", out)?;
    let mut tar = TarWriter::new(BufWriter::with_capacity(1 << 16, file), mtime);
    let mut sorted: Vec<&Digest> = blobs.iter().collect();
    sorted.sort_by_key(|d| d.to_string());
    sorted.dedup();
    let mut buf = vec![0u8; 1 << 16];
    (|| -> std::io::Result<()> {
        tar.header(Kind::Dir, b"blobs", 0o755, 0, b"", &[])?;
        tar.header(Kind::Dir, b"blobs/sha256", 0o755, 0, b"", &[])?;
        for digest in &sorted {
            let path = layout.blob_path(digest);
            let mut f = std::fs::File::open(&path)?;
            let size = f.metadata()?.len();
            tar.header(
                Kind::File,
                blob_name(digest).as_bytes(),
                0o644,
                size,
                b"",
                &[],
            )?;
            tar.content(&mut f, size, &mut buf)?;
        }
        tar.file_bytes(b"index.json", 0o644, index_json)?;
        if let Some(manifest_json) = manifest_json {
            tar.file_bytes(b"manifest.json", 0o644, manifest_json)?;
        }
        tar.file_bytes(
            b"oci-layout",
            0o644,
            crate::layout::OCI_LAYOUT_CONTENT.as_bytes(),
        )?;
        Ok(())
    })()
    .io("write", out)?;
    let mut w = tar.finish().io("write", out)?;
    w.flush().io("write", out)?;
    Ok(())
}
