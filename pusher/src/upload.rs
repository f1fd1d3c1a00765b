//! Uploading one blob, in the article's steps: check the blob exists (`HEAD`), try a
//! cross-repository mount, initiate the upload (`POST`), send the blob (one streamed `PUT
//! ?digest=`, or `PATCH` chunks with `Content-Range`), commit with the digest and check the
//! registry's `Docker-Content-Digest`. A failed upload restarts with a new session; a PATCH is
//! never replayed into an old one.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, BlobProgress};
use crate::transport::{Body, Request, Response, add_query, resolve_location};
use std::path::Path;
use std::time::Duration;
use ureq::http::Method;

/// A blob on disk to upload.
#[derive(Debug, Clone)]
pub struct Blob<'a> {
    /// `sha256:...`.
    pub digest: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// The file that holds it.
    pub path: &'a Path,
}

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Send chunks of this size with PATCH instead of one PUT.
    pub chunk_size: Option<u64>,
    /// A repository of the same registry to mount blobs from.
    pub mount_from: Option<String>,
    /// How many upload sessions to try before giving up.
    pub max_sessions: u32,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            chunk_size: None,
            mount_from: None,
            max_sessions: 4,
        }
    }
}

/// The chunk size used when a registry refuses a monolithic PUT and none was asked for.
pub const FALLBACK_CHUNK_SIZE: u64 = 16 << 20;

/// An upload session: where to send the next request.
#[derive(Debug, Clone)]
pub struct Session {
    /// The absolute upload URL (query kept).
    pub location: String,
    /// The registry's `OCI-Chunk-Min-Length`, if it gave one.
    pub chunk_min: Option<u64>,
}

/// Step 1: check the blob exists (`HEAD /v2/NAME/blobs/DIGEST`).
pub fn check_blob_exists(client: &Client, digest: &str) -> Result<bool> {
    let req = Request::new(Method::HEAD, client.url(&format!("blobs/{digest}")));
    let resp = client.send(&req)?;
    match resp.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(client.status_error(resp, "check the blob exists")),
    }
}

fn url_error(client: &Client, e: crate::transport::url::UrlError) -> Error {
    Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: e.to_string(),
    }
}

fn session_from(client: &Client, resp: &Response, doing: &str) -> Result<Session> {
    let location = resp.header("Location").ok_or_else(|| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: format!("{doing}: {} without a Location header", resp.status),
    })?;
    let location = resolve_location(&resp.url, location).map_err(|e| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: format!("{doing}: Location: {e}"),
    })?;
    Ok(Session {
        location,
        chunk_min: resp
            .header("OCI-Chunk-Min-Length")
            .and_then(|v| v.trim().parse().ok()),
    })
}

/// Step 1b: mount the blob from another repository. `Ok(None)` when mounted (201); a 202
/// means the registry would not mount and opened an upload session instead.
pub fn mount_blob(client: &Client, digest: &str, from: &str) -> Result<Option<Session>> {
    let url = add_query(&client.url("blobs/uploads/"), "mount", digest)
        .and_then(|u| add_query(&u, "from", from))
        .map_err(|e| url_error(client, e))?;
    let req = Request::new(Method::POST, url).header("Content-Length", "0");
    let resp = client.send(&req)?;
    match resp.status {
        201 => {
            check_returned_digest(client, &resp, digest, "mounted blob")?;
            Ok(None)
        }
        202 => Ok(Some(session_from(client, &resp, "mount the blob")?)),
        _ => Err(client.status_error(resp, "mount the blob")),
    }
}

/// Step 2: initiate the upload (`POST /v2/NAME/blobs/uploads/`), answered 202 with a Location.
pub fn initiate_upload(client: &Client) -> Result<Session> {
    let req =
        Request::new(Method::POST, client.url("blobs/uploads/")).header("Content-Length", "0");
    let resp = client.send(&req)?;
    if resp.status != 202 {
        return Err(client.status_error(resp, "initiate upload"));
    }
    session_from(client, &resp, "initiate upload")
}

/// Step 3, monolithic: send the blob and commit with the digest in one streamed
/// `PUT LOCATION?digest=...`. Not retried inside the session.
pub fn send_blob(
    client: &Client,
    session: &Session,
    blob: &Blob<'_>,
    progress: &BlobProgress,
) -> Result<Response> {
    let url =
        add_query(&session.location, "digest", blob.digest).map_err(|e| url_error(client, e))?;
    let req = Request::new(Method::PUT, url)
        .header("Content-Type", "application/octet-stream")
        .body(Body::File {
            path: blob.path.to_path_buf(),
            offset: 0,
            len: blob.size,
            progress: progress.callback(),
        })
        .no_retry();
    client.send(&req)
}

/// Step 3, chunked: `PATCH` pieces with `Content-Range: start-end`, each to the Location the
/// previous answer gave. Returns the session to commit.
pub fn send_blob_chunked(
    client: &Client,
    session: Session,
    blob: &Blob<'_>,
    chunk_size: u64,
    progress: &BlobProgress,
) -> Result<Session> {
    let chunk = chunk_size.max(session.chunk_min.unwrap_or(0)).max(1);
    let mut session = session;
    let mut offset = 0;
    while offset < blob.size {
        let len = chunk.min(blob.size - offset);
        let end = offset + len - 1;
        let base = offset;
        let cb = progress.callback();
        let req = Request::new(Method::PATCH, session.location.clone())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{offset}-{end}"))
            .body(Body::File {
                path: blob.path.to_path_buf(),
                offset,
                len,
                progress: cb.map(|f| {
                    std::sync::Arc::new(move |sent| f(base + sent)) as crate::transport::ProgressFn
                }),
            })
            .no_retry();
        let resp = client.send(&req)?;
        if resp.status != 202 {
            return Err(client.status_error(resp, "send the blob chunk"));
        }
        let next = session_from(client, &resp, "send the blob chunk")?;
        session.location = next.location;
        offset += len;
    }
    Ok(session)
}

/// Step 4: commit with the digest (`PUT LOCATION?digest=...`, empty body after chunks).
pub fn commit_with_digest(client: &Client, session: &Session, digest: &str) -> Result<Response> {
    let url = add_query(&session.location, "digest", digest).map_err(|e| url_error(client, e))?;
    let req = Request::new(Method::PUT, url)
        .header("Content-Length", "0")
        .no_retry();
    client.send(&req)
}

/// The registry's `Docker-Content-Digest`, when it sends one, must be ours.
pub fn check_returned_digest(
    client: &Client,
    resp: &Response,
    ours: &str,
    what: &str,
) -> Result<()> {
    match resp.header("Docker-Content-Digest") {
        Some(theirs) if theirs.trim() != ours => Err(Error::DigestMismatch {
            op: client.op,
            reference: client.reference.to_string(),
            what: what.to_string(),
            expected: ours.to_string(),
            got: theirs.trim().to_string(),
        }),
        _ => Ok(()),
    }
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Network { .. } => true,
        // a session the registry forgot (expired, or lost with a dropped connection)
        Error::Registry { status, code, .. } => {
            *status == 408
                || *status == 429
                || *status >= 500
                || code.trim() == "BLOB_UPLOAD_UNKNOWN"
        }
        _ => false,
    }
}

/// Whether a status on the monolithic PUT means "this registry wants chunks".
fn refuses_monolithic(status: u16) -> bool {
    matches!(status, 400 | 405 | 411 | 413 | 416 | 501)
}

/// One upload session, start to commit. `chunked` picks PATCH chunks.
fn upload_in_session(
    client: &Client,
    session: Session,
    blob: &Blob<'_>,
    chunk_size: Option<u64>,
    progress: &BlobProgress,
) -> Result<std::result::Result<(), u16>> {
    let resp = match chunk_size {
        None => send_blob(client, &session, blob, progress)?,
        Some(size) => {
            let session = send_blob_chunked(client, session, blob, size, progress)?;
            commit_with_digest(client, &session, blob.digest)?
        }
    };
    match resp.status {
        201 | 204 => {
            check_returned_digest(client, &resp, blob.digest, "blob")?;
            Ok(Ok(()))
        }
        s if chunk_size.is_none() && refuses_monolithic(s) => Ok(Err(s)),
        _ => Err(client.status_error(resp, "commit with the digest")),
    }
}

/// Uploads one blob unless the registry has it: HEAD, mount, then upload sessions until one
/// commits (a failed session is abandoned, never resumed), falling back to chunks when the
/// registry refuses the monolithic PUT.
pub fn upload_blob(
    client: &Client,
    blob: &Blob<'_>,
    options: &UploadOptions,
    progress: BlobProgress,
) -> Result<BlobOutcome> {
    if check_blob_exists(client, blob.digest)? {
        progress.finish(BlobOutcome::Exists);
        return Ok(BlobOutcome::Exists);
    }
    let mut first_session = None;
    if let Some(from) = &options.mount_from {
        match mount_blob(client, blob.digest, from)? {
            None => {
                progress.finish(BlobOutcome::Mounted);
                return Ok(BlobOutcome::Mounted);
            }
            Some(s) => first_session = Some(s),
        }
    }
    let mut chunk_size = options.chunk_size;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let session = match first_session.take() {
            Some(s) => s,
            None => initiate_upload(client)?,
        };
        progress.restart();
        match upload_in_session(client, session, blob, chunk_size, &progress) {
            Ok(Ok(())) => {
                progress.finish(BlobOutcome::Pushed);
                return Ok(BlobOutcome::Pushed);
            }
            Ok(Err(_status)) => {
                // refused as one PUT: chunks, in a new session
                chunk_size = Some(FALLBACK_CHUNK_SIZE);
            }
            Err(e) if is_transient(&e) && attempt < options.max_sessions => {
                std::thread::sleep(Duration::from_millis(250 << attempt.min(5)));
            }
            Err(e) => return Err(e),
        }
    }
}
