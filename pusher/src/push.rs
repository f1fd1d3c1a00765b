//! Pushing an image read through packer's OCI layout reader: blobs before manifests
//! (`--jobs` at a time), an index's manifests before the index, then push the manifest with
//! its exact bytes and media type and check the digest the registry answers.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, Progress};
use crate::transport::{Body, Request};
use crate::upload::{Blob, UploadOptions, upload_blob};
use packer::OciLayout;
use packer::model::{Descriptor, Manifest};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use ureq::http::Method;

/// The `Accept` value for fetching any manifest (OCI and Docker, index and image).
pub fn accept_manifests() -> String {
    packer::model::MANIFEST_MEDIA_TYPES.join(", ")
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

fn image_error(source: &str, e: packer::Error) -> Error {
    Error::Image {
        source_name: source.to_string(),
        source: e,
    }
}

/// Pushes the image `top` (a manifest or an index) of `layout` to the client's reference.
pub fn push_image(
    client: &Client,
    layout: &OciLayout,
    source_name: &str,
    top: &Descriptor,
    options: &PushOptions,
    progress: &Progress,
) -> Result<PushReport> {
    let top_manifest = layout
        .read_manifest(top)
        .map_err(|e| image_error(source_name, e))?;

    // which manifests, which blobs
    let mut manifests: Vec<Manifest> = Vec::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut seen = BTreeSet::new();
    let images = if top_manifest.is_index() {
        for m in top_manifest.children() {
            let child = layout
                .read_manifest(m)
                .map_err(|e| image_error(source_name, e))?;
            if child.is_index() {
                return Err(image_error(
                    source_name,
                    packer::Error::Malformed {
                        what: format!("index {}", top.digest()),
                        reason: "nested indexes are not supported".to_owned(),
                    },
                ));
            }
            manifests.push(child);
        }
        manifests.as_slice()
    } else {
        std::slice::from_ref(&top_manifest)
    };
    for m in images {
        for b in m.blobs() {
            if seen.insert(b.digest().to_string()) {
                blobs.push(b);
            }
        }
    }
    // the blobs must all be there before anything is sent
    let mut files = Vec::new();
    for b in &blobs {
        let path = layout
            .blob_file(b)
            .map_err(|e| image_error(source_name, e))?;
        files.push((b.clone(), path));
    }

    let mut report = push_blobs(client, &files, options, progress)?;
    for m in &manifests {
        push_manifest(client, m.digest().as_ref(), m)?;
    }
    let tag_or_digest = if client.reference.digest.is_some() {
        top.digest().to_string()
    } else {
        client.reference.manifest_ref().to_string()
    };
    push_manifest(client, &tag_or_digest, &top_manifest)?;
    report.digest = top.digest().to_string();
    Ok(report)
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
    files: &[(Descriptor, PathBuf)],
    options: &PushOptions,
    progress: &Progress,
) -> Result<PushReport> {
    let report = Mutex::new(PushReport::default());
    for_each_parallel(files, options.jobs, |(desc, path)| {
        let digest = desc.digest().to_string();
        let blob = Blob {
            digest: &digest,
            size: desc.size(),
            path,
        };
        let bp = progress.blob(&digest, desc.size());
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
pub fn push_manifest(client: &Client, reference: &str, manifest: &Manifest) -> Result<String> {
    let ours = manifest.digest().to_string();
    let req = Request::new(Method::PUT, client.url(&format!("manifests/{reference}")))
        .header("Content-Type", manifest.media_type().to_string())
        .body(Body::Bytes(Arc::new(manifest.bytes().to_vec())));
    let resp = client.send(&req)?;
    if resp.status != 201 && resp.status != 200 {
        return Err(client.status_error(resp, "push the manifest"));
    }
    crate::upload::check_returned_digest(client, &resp, &ours, "manifest")?;
    Ok(ours)
}
