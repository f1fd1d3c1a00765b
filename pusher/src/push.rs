//! Pushing an image read from disk (any of packer's sources): blobs before manifests
//! (`--jobs` at a time), an index's manifests before the index, then push the manifest with
//! its exact bytes and media type and check the digest the registry answers.

use crate::client::Client;
use crate::copy::{CopyOptions, Sink, Source, copy_image};
use crate::errors::{Error, Result};
use crate::progress::Progress;
use crate::transport::{Body, Request};
use crate::upload::UploadOptions;
use packer::model::Manifest;
use packer::source::ImageSource;
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

/// Pushes the image `image` names (a manifest or an index, with everything below it) to the
/// client's reference: [`copy_image`] from the disk to the registry.
pub fn push_image(
    client: &Client,
    image: &dyn ImageSource,
    options: &PushOptions,
    progress: &Progress,
) -> Result<PushReport> {
    let copy = CopyOptions {
        jobs: options.jobs,
        platform: None,
        upload: options.upload.clone(),
    };
    let report = copy_image(Source::Disk(image), Sink::Registry(client), &copy, progress)?;
    Ok(PushReport {
        digest: report.digest,
        pushed: report.copied,
        existed: report.existed,
        mounted: report.mounted,
    })
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
