//! Pulling an image into an OCI layout: get the manifest (verifying its digest), then every
//! blob, streamed to disk through packer's layout writer, which verifies digest and size.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, Progress};
use crate::push::{accept_manifests, for_each_parallel};
use crate::transport::Request;
use packer::OciLayout;
use packer::build::CONTAINERD_IMAGE_NAME;
use packer::layout::MANIFEST_LIMIT;
use packer::model::{Descriptor, Manifest, MediaType};
use std::path::Path;
use ureq::http::Method;

/// Get the manifest `reference` (tag or digest), checking its digest against the reference's
/// digest and the registry's `Docker-Content-Digest`. The bytes are kept as served.
pub fn get_manifest(client: &Client, reference: &str) -> Result<Manifest> {
    let req = Request::new(Method::GET, client.url(&format!("manifests/{reference}")))
        .header("Accept", accept_manifests());
    let mut resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the manifest"));
    }
    let bytes = resp.bytes(MANIFEST_LIMIT).map_err(|e| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: format!("reading the manifest: {e}"),
    })?;
    let digest = packer::digest::sha256_digest(&bytes).to_string();
    let mismatch = |expected: &str| Error::DigestMismatch {
        op: client.op,
        reference: client.reference.to_string(),
        what: "manifest".into(),
        expected: expected.to_string(),
        got: digest.clone(),
    };
    if reference.starts_with("sha256:") && reference != digest {
        return Err(mismatch(reference));
    }
    if let Some(theirs) = resp.header("Docker-Content-Digest")
        && theirs.starts_with("sha256:")
        && theirs.trim() != digest
    {
        return Err(mismatch(theirs.trim()));
    }
    let content_type = resp
        .header("Content-Type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| c.starts_with("application/vnd."))
        .map(|c| MediaType::from(c.as_str()));
    Manifest::parse(bytes, content_type.as_ref(), "the manifest").map_err(|e| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: e.to_string(),
    })
}

/// What a pull did.
#[derive(Debug, Clone, Default)]
pub struct PullReport {
    /// The top manifest's digest.
    pub digest: String,
    /// Blobs downloaded.
    pub pulled: usize,
    /// Blobs the layout already had.
    pub existed: usize,
}

fn write_error(dir: &Path, e: packer::Error) -> Error {
    Error::Write {
        target: dir.display().to_string(),
        source: e,
    }
}

/// Pulls the client's reference into the OCI layout at `dir` (created if missing), tagged
/// with the reference's tag.
pub fn pull_image(
    client: &Client,
    dir: &Path,
    jobs: usize,
    progress: &Progress,
) -> Result<PullReport> {
    let layout = if dir.join(packer::layout::OCI_LAYOUT_FILE).exists() {
        OciLayout::open(dir)
    } else {
        OciLayout::create(dir)
    }
    .map_err(|e| write_error(dir, e))?;
    let top = get_manifest(client, client.reference.manifest_ref())?;
    let mut manifests = Vec::new();
    if top.is_index() {
        for m in top.children() {
            manifests.push(get_manifest(client, &m.digest().to_string())?);
        }
    } else {
        manifests.push(top.clone());
    }
    let mut blobs: Vec<Descriptor> = Vec::new();
    for m in &manifests {
        for b in m.blobs() {
            if !blobs.iter().any(|x| x.digest() == b.digest()) {
                blobs.push(b);
            }
        }
    }
    let report = std::sync::Mutex::new(PullReport::default());
    for_each_parallel(&blobs, jobs, |desc| {
        let digest = desc.digest().to_string();
        let bp = progress.blob(&digest, desc.size());
        if layout.has_blob(desc.digest()) {
            bp.finish(BlobOutcome::Exists);
            report.lock().expect("report").existed += 1;
            return Ok(());
        }
        get_blob(client, &layout, desc, &bp)?;
        bp.finish(BlobOutcome::Pulled);
        report.lock().expect("report").pulled += 1;
        Ok(())
    })?;
    for m in manifests.iter().chain(top.is_index().then_some(&top)) {
        layout
            .write_blob(&m.descriptor(), m.bytes())
            .map_err(|e| write_error(dir, e))?;
    }
    // the layout keeps the full name (`HOST/REPO:TAG`), which a bare `DIR:TAG` still selects
    let name = client.reference.tag.as_ref().map(|tag| {
        format!(
            "{}/{}:{tag}",
            client.reference.registry, client.reference.repository
        )
    });
    let mut desc = top.descriptor();
    if let Some(name) = &name {
        let mut annotations = std::collections::HashMap::new();
        annotations.insert(CONTAINERD_IMAGE_NAME.to_owned(), name.clone());
        desc.set_annotations(Some(annotations));
    }
    layout
        .add_to_index(desc, name.as_deref())
        .map_err(|e| write_error(dir, e))?;
    let mut report = report.into_inner().expect("report");
    report.digest = top.digest().to_string();
    Ok(report)
}

/// Get one blob (`GET /v2/NAME/blobs/DIGEST`, redirects followed) streamed into the layout,
/// which checks its digest and size before it appears.
pub fn get_blob(
    client: &Client,
    layout: &OciLayout,
    desc: &Descriptor,
    progress: &crate::progress::BlobProgress,
) -> Result<()> {
    let req = Request::new(Method::GET, client.url(&format!("blobs/{}", desc.digest())));
    let resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the blob"));
    }
    let cb = progress.callback();
    let mut reader = resp.reader();
    let mut sent = 0u64;
    let counting = std::io::Read::by_ref(&mut reader);
    let counted = CountingRead {
        inner: counting,
        on: |n: usize| {
            sent += n as u64;
            if let Some(f) = &cb {
                f(sent);
            }
        },
    };
    layout.write_blob(desc, counted).map_err(|e| match e {
        packer::Error::DigestMismatch {
            expected, actual, ..
        } => Error::DigestMismatch {
            op: client.op,
            reference: client.reference.to_string(),
            what: format!("blob {}", desc.digest()),
            expected,
            got: actual,
        },
        other => Error::Protocol {
            op: client.op,
            reference: client.reference.to_string(),
            message: format!("blob {}: {other}", desc.digest()),
        },
    })
}

struct CountingRead<R, F> {
    inner: R,
    on: F,
}

impl<R: std::io::Read, F: FnMut(usize)> std::io::Read for CountingRead<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on)(n);
        Ok(n)
    }
}
