//! Pulling an image into an OCI layout: get the manifest (verifying its digest), then every
//! blob, streamed to disk through packer's layout writer, which verifies digest and size.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, Progress};
use crate::push::{ACCEPT_MANIFESTS, Desc, ManifestDoc, for_each_parallel, is_index};
use crate::transport::Request;
use packer::OciLayout;
use packer::oci_spec::image::{Descriptor, Digest, MediaType};
use std::path::Path;
use ureq::http::Method;

/// Manifests larger than this are refused (the spec suggests 4 MiB).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// A fetched manifest: its exact bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes as served.
    pub bytes: Vec<u8>,
    /// The media type (Content-Type, else the document's own).
    pub media_type: String,
    /// `sha256:` of the bytes.
    pub digest: String,
    /// The parsed document.
    pub doc: ManifestDoc,
}

/// Get the manifest `reference` (tag or digest), checking its digest against the reference's
/// digest and the registry's `Docker-Content-Digest`.
pub fn get_manifest(client: &Client, reference: &str) -> Result<FetchedManifest> {
    let req = Request::new(Method::GET, client.url(&format!("manifests/{reference}")))
        .header("Accept", ACCEPT_MANIFESTS);
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
    let doc = ManifestDoc::parse(&bytes, "the manifest").map_err(|message| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message,
    })?;
    let media_type = resp
        .header("Content-Type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| c.starts_with("application/vnd."))
        .or_else(|| doc.media_type.clone())
        .unwrap_or_else(|| crate::push::OCI_MANIFEST.to_string());
    Ok(FetchedManifest {
        bytes,
        media_type,
        digest,
        doc,
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

fn io_error(dir: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A descriptor from a manifest's words; a digest that does not parse is the registry's fault.
fn descriptor(client: &Client, media_type: &str, size: u64, digest: &str) -> Result<Descriptor> {
    let d: Digest = digest.parse().map_err(|_| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: format!(
            "the manifest names an invalid digest {:?}",
            crate::errors::escape_remote(digest)
        ),
    })?;
    Ok(Descriptor::new(MediaType::from(media_type), size, d))
}

/// Pulls the client's reference into the OCI layout at `dir` (created if missing), tagged
/// with the reference's tag.
pub fn pull_image(
    client: &Client,
    dir: &Path,
    jobs: usize,
    progress: &Progress,
) -> Result<PullReport> {
    pull_platform(client, dir, jobs, None, progress)
}

/// Whether an index entry's `platform` is `wanted` (`os/arch` or `os/arch/variant`; without a
/// variant, any variant matches).
pub fn platform_matches(platform: Option<&serde_json::Value>, wanted: &str) -> bool {
    let Some(p) = platform else {
        return false;
    };
    let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let mut parts = wanted.split('/');
    let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
    Some(field("os")) == os
        && Some(field("architecture")) == arch
        && variant.is_none_or(|v| field("variant") == v)
}

/// [`pull_image`], and with `platform` (`os/arch[/variant]`) only that platform's image of an
/// index: its manifest is what the layout tags and what the report's digest names.
pub fn pull_platform(
    client: &Client,
    dir: &Path,
    jobs: usize,
    platform: Option<&str>,
    progress: &Progress,
) -> Result<PullReport> {
    let layout = if dir.join(packer::layout::OCI_LAYOUT_FILE).exists() {
        OciLayout::open(dir)
    } else {
        OciLayout::create(dir)
    }
    .map_err(|e| io_error(dir, e))?;
    let mut top = get_manifest(client, client.reference.manifest_ref())?;
    if let Some(wanted) = platform
        && is_index(&top.media_type)
    {
        let Some(entry) = top
            .doc
            .manifests
            .iter()
            .find(|m| platform_matches(m.platform.as_ref(), wanted))
        else {
            let there: Vec<String> = top
                .doc
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .map(|p| {
                    let f = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                    format!("{}/{}", f("os"), f("architecture"))
                })
                .collect();
            return Err(Error::Protocol {
                op: client.op,
                reference: client.reference.to_string(),
                message: format!(
                    "the index has no {wanted} image; it has: {}",
                    there.join(", ")
                ),
            });
        };
        top = get_manifest(client, &entry.digest)?;
    }
    let mut manifests = Vec::new();
    if is_index(&top.media_type) {
        for m in &top.doc.manifests {
            manifests.push(get_manifest(client, &m.digest)?);
        }
    } else {
        manifests.push(top.clone());
    }
    let mut blobs: Vec<Desc> = Vec::new();
    for m in &manifests {
        for b in m.doc.blobs() {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b);
            }
        }
    }
    let report = std::sync::Mutex::new(PullReport::default());
    for_each_parallel(&blobs, jobs, |b| {
        let desc = descriptor(client, &b.media_type, b.size, &b.digest)?;
        let bp = progress.blob(&b.digest, b.size);
        if layout.has_blob(desc.digest()) {
            bp.finish(BlobOutcome::Exists);
            report.lock().expect("report").existed += 1;
            return Ok(());
        }
        get_blob(client, &layout, &desc, &bp)?;
        bp.finish(BlobOutcome::Pulled);
        report.lock().expect("report").pulled += 1;
        Ok(())
    })?;
    for m in &manifests {
        let desc = descriptor(client, &m.media_type, m.bytes.len() as u64, &m.digest)?;
        layout
            .write_blob(&desc, m.bytes.as_slice())
            .map_err(|e| io_error(dir, e))?;
    }
    if is_index(&top.media_type) {
        let desc = descriptor(client, &top.media_type, top.bytes.len() as u64, &top.digest)?;
        layout
            .write_blob(&desc, top.bytes.as_slice())
            .map_err(|e| io_error(dir, e))?;
    }
    let desc = descriptor(client, &top.media_type, top.bytes.len() as u64, &top.digest)?;
    layout
        .add_to_index(desc, client.reference.tag.as_deref())
        .map_err(|e| io_error(dir, e))?;
    let mut report = report.into_inner().expect("report");
    report.digest = top.digest;
    Ok(report)
}

/// Get one blob (`GET /v2/NAME/blobs/DIGEST`, redirects followed) streamed into the layout,
/// which checks its digest and size before it appears. The body is read within the declared
/// size ([`crate::transport::Response::blob_reader`]); a download that fails on the network
/// starts again, up to three times.
pub fn get_blob(
    client: &Client,
    layout: &OciLayout,
    desc: &Descriptor,
    progress: &crate::progress::BlobProgress,
) -> Result<()> {
    crate::client::retry_download(|| get_blob_once(client, layout, desc, progress))
}

/// One try; the error says whether the body failed on the network (worth another try).
fn get_blob_once(
    client: &Client,
    layout: &OciLayout,
    desc: &Descriptor,
    progress: &crate::progress::BlobProgress,
) -> Result<(), crate::client::DownloadError> {
    let req = Request::new(Method::GET, client.url(&format!("blobs/{}", desc.digest())));
    let resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the blob").into());
    }
    let url = resp.url.clone();
    let cb = progress.callback();
    let mut reader = resp
        .blob_reader(desc.size())
        .map_err(|e| client.download_error(&req, &url, &e))?;
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
    layout.write_blob(desc, counted).map_err(|e| {
        if let Some(body) = crate::transport::BodyError::find(&e) {
            let error = client.download_error(&req, &url, body);
            return crate::client::DownloadError::new(error, body.is_transient());
        }
        match e {
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
        }
        .into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_by_os_arch_and_variant() {
        let arm: serde_json::Value =
            serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        assert!(platform_matches(Some(&arm), "linux/arm64"));
        assert!(platform_matches(Some(&arm), "linux/arm64/v8"));
        assert!(!platform_matches(Some(&arm), "linux/arm64/v7"));
        assert!(!platform_matches(Some(&arm), "linux/amd64"));
        assert!(!platform_matches(None, "linux/arm64"));
    }
}
