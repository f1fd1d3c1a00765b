//! Pushing an image read through packer's OCI layout reader: blobs before manifests
//! (`--jobs` at a time), an index's manifests before the index, then push the manifest with
//! its exact bytes and media type and check the digest the registry answers.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, Progress};
use crate::transport::{Body, Request};
use crate::upload::{Blob, UploadOptions, upload_blob};
use packer::OciLayout;
use packer::oci_spec::image::Digest;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use ureq::http::Method;

/// A manifest or index media type we know.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` value for fetching any manifest.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether a media type is an index (several manifests).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// A descriptor, as much of it as pushing and pulling need.
#[derive(Debug, Clone, Deserialize)]
pub struct Desc {
    /// Its media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its platform (index entries).
    #[serde(default)]
    pub platform: Option<serde_json::Value>,
}

impl From<&packer::oci_spec::image::Descriptor> for Desc {
    /// The top descriptor of an image on disk, as packer's layout reader gives it.
    fn from(d: &packer::oci_spec::image::Descriptor) -> Desc {
        Desc {
            media_type: d.media_type().to_string(),
            digest: d.digest().to_string(),
            size: d.size(),
            platform: None,
        }
    }
}

/// A manifest or an index, parsed loosely (OCI and Docker alike).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestDoc {
    /// The media type it declares.
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    /// An image manifest's config.
    #[serde(default)]
    pub config: Option<Desc>,
    /// An image manifest's layers.
    #[serde(default)]
    pub layers: Vec<Desc>,
    /// An index's manifests.
    #[serde(default)]
    pub manifests: Vec<Desc>,
}

impl ManifestDoc {
    /// Parses manifest bytes.
    pub fn parse(bytes: &[u8], what: &str) -> std::result::Result<ManifestDoc, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not a manifest: {e}"))
    }
    /// The blobs it references (config first, then layers).
    pub fn blobs(&self) -> Vec<Desc> {
        self.config.iter().chain(&self.layers).cloned().collect()
    }
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at a time.
    pub jobs: usize,
    /// Blob upload options.
    pub upload: UploadOptions,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            jobs: 3,
            upload: UploadOptions::default(),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// The top manifest's digest (what `push` prints).
    pub digest: String,
    /// Blobs uploaded.
    pub pushed: usize,
    /// Blobs already present.
    pub existed: usize,
    /// Blobs mounted.
    pub mounted: usize,
}

fn image_error(source: &str, e: impl std::fmt::Display) -> Error {
    Error::Image {
        source_name: source.to_string(),
        message: e.to_string(),
    }
}

fn parse_digest(source: &str, d: &str) -> Result<Digest> {
    d.parse::<Digest>()
        .map_err(|e| image_error(source, format!("bad digest {d}: {e}")))
}

/// Pushes the image `desc` (a manifest or an index) of `layout` to the client's reference.
pub fn push_image(
    client: &Client,
    layout: &OciLayout,
    source_name: &str,
    top: &Desc,
    options: &PushOptions,
    progress: &Progress,
) -> Result<PushReport> {
    let top_bytes = read_manifest(layout, source_name, &top.digest)?;
    let top_doc =
        ManifestDoc::parse(&top_bytes, source_name).map_err(|e| image_error(source_name, e))?;
    let top_type = media_type_of(top, &top_doc);

    // which manifests, which blobs
    let mut manifests: Vec<(Desc, Vec<u8>)> = Vec::new();
    let mut blobs: Vec<Desc> = Vec::new();
    let mut seen = BTreeSet::new();
    if is_index(&top_type) {
        for m in &top_doc.manifests {
            let bytes = read_manifest(layout, source_name, &m.digest)?;
            let doc =
                ManifestDoc::parse(&bytes, source_name).map_err(|e| image_error(source_name, e))?;
            if is_index(&media_type_of(m, &doc)) {
                return Err(image_error(source_name, "nested indexes are not supported"));
            }
            for b in doc.blobs() {
                if seen.insert(b.digest.clone()) {
                    blobs.push(b);
                }
            }
            let mut m = m.clone();
            m.media_type = media_type_of(&m, &doc);
            manifests.push((m, bytes));
        }
    } else {
        for b in top_doc.blobs() {
            if seen.insert(b.digest.clone()) {
                blobs.push(b);
            }
        }
    }
    // the blobs must all be there before anything is sent
    let mut files = Vec::new();
    for b in &blobs {
        let path = layout.blob_path(&parse_digest(source_name, &b.digest)?);
        let size = std::fs::metadata(&path)
            .map_err(|e| image_error(source_name, format!("blob {}: {e}", b.digest)))?
            .len();
        if size != b.size {
            return Err(image_error(
                source_name,
                format!(
                    "blob {} is {size} bytes, its descriptor says {}",
                    b.digest, b.size
                ),
            ));
        }
        files.push((b.clone(), path));
    }

    let mut report = push_blobs(client, &files, options, progress)?;
    for (m, bytes) in &manifests {
        push_manifest(client, &m.digest, &m.media_type, bytes)?;
    }
    let tag_or_digest = client.reference.manifest_ref().to_string();
    let tag_or_digest = if client.reference.digest.is_some() {
        top.digest.clone()
    } else {
        tag_or_digest
    };
    push_manifest(client, &tag_or_digest, &top_type, &top_bytes)?;
    report.digest = top.digest.clone();
    Ok(report)
}

fn media_type_of(desc: &Desc, doc: &ManifestDoc) -> String {
    doc.media_type
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| Some(desc.media_type.clone()).filter(|m| !m.is_empty()))
        .unwrap_or_else(|| {
            if doc.manifests.is_empty() {
                OCI_MANIFEST.to_string()
            } else {
                OCI_INDEX.to_string()
            }
        })
}

fn read_manifest(layout: &OciLayout, source: &str, digest: &str) -> Result<Vec<u8>> {
    layout
        .read_blob(&parse_digest(source, digest)?)
        .map_err(|e| image_error(source, e))
}

/// Runs `f` over `items`, `jobs` at a time; the first failure stops the others.
pub fn for_each_parallel<T: Sync>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let jobs = jobs.max(1).min(items.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else {
                        return;
                    };
                    if let Err(e) = f(item) {
                        failed.store(true, Ordering::SeqCst);
                        first_error.lock().expect("error slot").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Uploads blobs `options.jobs` at a time; the first failure stops the others.
fn push_blobs(
    client: &Client,
    files: &[(Desc, PathBuf)],
    options: &PushOptions,
    progress: &Progress,
) -> Result<PushReport> {
    let report = Mutex::new(PushReport::default());
    for_each_parallel(files, options.jobs, |(desc, path)| {
        let blob = Blob {
            digest: &desc.digest,
            size: desc.size,
            path,
        };
        let bp = progress.blob(&desc.digest, desc.size);
        let outcome = upload_blob(client, &blob, &options.upload, bp)?;
        let mut r = report.lock().expect("report");
        match outcome {
            BlobOutcome::Exists => r.existed += 1,
            BlobOutcome::Mounted => r.mounted += 1,
            _ => r.pushed += 1,
        }
        Ok(())
    })?;
    Ok(report.into_inner().expect("report"))
}

/// Push the manifest: `PUT /v2/NAME/manifests/REF` with its exact bytes and its media type;
/// the registry's `Docker-Content-Digest` must be the digest of those bytes.
pub fn push_manifest(
    client: &Client,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<String> {
    let ours = packer::digest::sha256_digest(bytes).to_string();
    let req = Request::new(Method::PUT, client.url(&format!("manifests/{reference}")))
        .header("Content-Type", media_type)
        .body(Body::Bytes(Arc::new(bytes.to_vec())));
    let resp = client.send(&req)?;
    if resp.status != 201 && resp.status != 200 {
        return Err(client.status_error(resp, "push the manifest"));
    }
    crate::upload::check_returned_digest(client, &resp, &ours, "manifest")?;
    Ok(ours)
}
