//! Pulling an image into an OCI layout: get the manifest (verifying its digest), then every
//! blob, streamed to disk through packer's layout writer, which verifies digest and size.

use crate::client::Client;
use crate::copy::{CopyOptions, Sink, Source, copy_image};
use crate::errors::{Error, Result};
use crate::progress::Progress;
use crate::push::accept_manifests;
use crate::transport::Request;
use packer::OciLayout;
use packer::layout::MANIFEST_LIMIT;
use packer::model::{Descriptor, Manifest, MediaType};
use packer::sink::DiskSink;
use packer::transport::ImageName;
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
    Manifest::parse(bytes, content_type.as_ref(), "the manifest").map_err(|e| {
        // the parser's own words say what is wrong (an invalid digest, a missing field)
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message += &format!(": {cause}");
            source = cause.source();
        }
        Error::Protocol {
            op: client.op,
            reference: client.reference.to_string(),
            message: crate::errors::escape_remote(&message),
        }
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

/// Pulls the client's reference into the OCI layout at `dir` (created if missing or empty;
/// a non-empty folder that is not a layout is refused), named `HOST/REPO:TAG` in its
/// `index.json` (a bare `DIR:TAG` still selects it). Blobs the layout has are verified first.
/// With `platform` (`os/arch[/variant]`), only that platform's image of an index.
pub fn pull_image(
    client: &Client,
    dir: &Path,
    jobs: usize,
    platform: Option<&str>,
    progress: &Progress,
) -> Result<PullReport> {
    let name = client.reference.tag.as_ref().map(|tag| {
        format!(
            "{}/{}:{tag}",
            client.reference.registry, client.reference.repository
        )
    });
    let sink = DiskSink::open(&ImageName::Oci {
        dir: dir.to_path_buf(),
        name,
    })
    .map_err(|e| Error::Write {
        target: dir.display().to_string(),
        source: e,
    })?;
    let options = CopyOptions {
        jobs,
        platform: platform.map(str::to_owned),
        ..Default::default()
    };
    let report = copy_image(
        Source::Registry(client),
        Sink::Disk(sink),
        &options,
        progress,
    )?;
    Ok(PullReport {
        digest: report.digest,
        pulled: report.copied,
        existed: report.existed,
    })
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

/// Get one blob to stream elsewhere (`GET /v2/NAME/blobs/DIGEST`, redirects followed): its
/// body, bounded to the declared size ([`crate::transport::Response::blob_reader`]). An early
/// end, a longer body, a stall or a network failure is a read error carrying this client's
/// [`Error`] (a network one is transient: open the blob again). The digest is the consumer's
/// to check as it reads: [`crate::upload::upload_from_reader`] hashes what it sends.
pub fn open_blob(client: &Client, desc: &Descriptor) -> Result<Box<dyn std::io::Read + Send>> {
    let req = Request::new(Method::GET, client.url(&format!("blobs/{}", desc.digest())));
    let resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the blob"));
    }
    let url = resp.url.clone();
    let body = resp
        .blob_reader(desc.size())
        .map_err(|e| client.download_error(&req, &url, &e))?;
    Ok(Box::new(SourceBody {
        body,
        op: client.op,
        reference: client.reference.to_string(),
        step: req.step(),
        url,
    }))
}

/// A blob's body whose read errors carry the source's [`Error`] (see [`open_blob`]).
struct SourceBody {
    body: crate::transport::BlobReader,
    op: &'static str,
    reference: String,
    step: String,
    url: String,
}

impl std::io::Read for SourceBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.body
            .read(buf)
            .map_err(|e| match crate::transport::BodyError::find(&e) {
                Some(body) => std::io::Error::other(crate::client::body_error(
                    self.op,
                    &self.reference,
                    &self.step,
                    &self.url,
                    body,
                )),
                None => e,
            })
    }
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
