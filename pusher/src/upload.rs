//! Uploading one blob, in the article's steps: check the blob exists (`HEAD`), try a
//! cross-repository mount, initiate the upload (`POST`), send the blob (one streamed `PUT
//! ?digest=`, or `PATCH` chunks with `Content-Range`), commit with the digest and check the
//! registry's `Docker-Content-Digest`. A failed upload restarts with a new session; a PATCH is
//! never replayed into an old one. A blob comes from a file ([`upload_blob`]) or from a stream
//! hashed on its way out ([`upload_from_reader`]: a copy from another registry, nothing on disk).

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, BlobProgress};
use crate::transport::{Body, Request, Response, add_query, resolve_location};
use packer::digest::DigestReader;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
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
    /// Blobs of at least this many bytes are first checked with a HEAD (and skipped when the
    /// registry has them); smaller ones are sent without asking, since asking costs a round
    /// trip, about what sending a small blob costs. 0 (the default) checks every blob.
    pub check_exists_from: u64,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            chunk_size: None,
            mount_from: None,
            max_sessions: 4,
            check_exists_from: 0,
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

/// Steps 3 and 4 in one session: send the blob (one PUT, or PATCH chunks of the given size and
/// then the commit) and return the commit's answer.
type SendInSession<'a> = dyn FnMut(Session, Option<u64>) -> Result<Response> + 'a;

/// The commit's answer: `Ok(Ok(()))` committed, `Ok(Err(status))` refused as one PUT.
fn committed(
    client: &Client,
    resp: Response,
    digest: &str,
    chunk_size: Option<u64>,
) -> Result<std::result::Result<(), u16>> {
    match resp.status {
        201 | 204 => {
            check_returned_digest(client, &resp, digest, "blob")?;
            Ok(Ok(()))
        }
        s if chunk_size.is_none() && refuses_monolithic(s) => Ok(Err(s)),
        _ => Err(client.status_error(resp, "commit with the digest")),
    }
}

/// Uploads one blob unless the registry has it: HEAD (for blobs of at least
/// [`UploadOptions::check_exists_from`] bytes), mount, then upload sessions until one
/// commits (a failed session is abandoned, never resumed), falling back to chunks when the
/// registry refuses the monolithic PUT.
pub fn upload_blob(
    client: &Client,
    blob: &Blob<'_>,
    options: &UploadOptions,
    progress: BlobProgress,
) -> Result<BlobOutcome> {
    let outcome = {
        let mut send = |session: Session, chunk_size: Option<u64>| match chunk_size {
            None => send_blob(client, &session, blob, &progress),
            Some(size) => {
                let session = send_blob_chunked(client, session, blob, size, &progress)?;
                commit_with_digest(client, &session, blob.digest)
            }
        };
        upload_sessions(
            client,
            blob.digest,
            blob.size,
            options,
            &progress,
            &mut send,
        )?
    };
    progress.finish(outcome);
    Ok(outcome)
}

/// HEAD, mount, then upload sessions until one commits; see [`upload_blob`].
fn upload_sessions(
    client: &Client,
    digest: &str,
    size: u64,
    options: &UploadOptions,
    progress: &BlobProgress,
    send: &mut SendInSession<'_>,
) -> Result<BlobOutcome> {
    if size >= options.check_exists_from && check_blob_exists(client, digest)? {
        return Ok(BlobOutcome::Exists);
    }
    let mut first_session = None;
    if let Some(from) = &options.mount_from {
        match mount_blob(client, digest, from)? {
            None => return Ok(BlobOutcome::Mounted),
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
        match send(session, chunk_size).and_then(|r| committed(client, r, digest, chunk_size)) {
            Ok(Ok(())) => return Ok(BlobOutcome::Pushed),
            Ok(Err(_status)) => {
                // refused as one PUT: chunks, in a new session
                chunk_size = Some(FALLBACK_CHUNK_SIZE);
            }
            Err(e)
                if is_transient(&e)
                    && attempt < options.max_sessions
                    && !crate::transport::is_cancelled() =>
            {
                std::thread::sleep(Duration::from_millis(250 << attempt.min(5)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the source of a streamed blob, once for each upload session: a stream cannot be
/// replayed, so a session that fails starts over from a fresh source (a new GET).
pub type OpenBlob<'a> = dyn FnMut() -> Result<Box<dyn Read + Send>> + 'a;

/// Uploads one blob of known digest and size from a stream, with nothing on disk: HEAD, mount,
/// then upload sessions as [`upload_blob`] does, each reading the bytes from a fresh `open()`.
/// The bytes are hashed on their way out: at the declared size the source must end and the
/// digest must match, or the last read fails and the registry never gets the whole blob (its
/// own check of `?digest=` is the second line of defence). A source that fails on the network
/// (its read errors carry a transient [`Error`], e.g. [`crate::pull::open_blob`]'s) or a
/// registry that fails mid-session starts a new session; a digest mismatch does not.
pub fn upload_from_reader(
    client: &Client,
    digest: &str,
    size: u64,
    open: &mut OpenBlob<'_>,
    options: &UploadOptions,
    progress: BlobProgress,
) -> Result<BlobOutcome> {
    let outcome = {
        let mut send = |session: Session, chunk_size: Option<u64>| {
            let stream = Arc::new(Mutex::new(VerifiedStream {
                inner: Some(DigestReader::new(open()?)),
                digest: digest.to_owned(),
                size,
                read: 0,
                progress: progress.callback(),
                failure: None,
                op: client.op,
                reference: client.reference.to_string(),
            }));
            let result = send_stream(client, session, &stream, size, chunk_size);
            let mut state = stream.lock().expect("stream state");
            if let Some(failure) = state.failure.take() {
                return Err(failure); // the source's error, not the registry's echo of it
            }
            let resp = result?;
            if matches!(resp.status, 201 | 204) && state.read != size {
                return Err(Error::Protocol {
                    op: client.op,
                    reference: client.reference.to_string(),
                    message: format!(
                        "blob {digest}: the registry committed after {} of {size} bytes",
                        state.read
                    ),
                });
            }
            Ok(resp)
        };
        upload_sessions(client, digest, size, options, &progress, &mut send)?
    };
    progress.finish(outcome);
    Ok(outcome)
}

/// Steps 3 and 4 for a stream: one `PUT ?digest=` with the whole stream, or `PATCH` chunks read
/// one after the other from it and then the commit.
fn send_stream(
    client: &Client,
    session: Session,
    stream: &Arc<Mutex<VerifiedStream>>,
    size: u64,
    chunk_size: Option<u64>,
) -> Result<Response> {
    let digest = stream.lock().expect("stream state").digest.clone();
    let body = |len: u64| {
        Body::stream(
            Box::new(StreamPart {
                stream: stream.clone(),
            }),
            len,
        )
    };
    let Some(chunk) = chunk_size else {
        let url =
            add_query(&session.location, "digest", &digest).map_err(|e| url_error(client, e))?;
        let req = Request::new(Method::PUT, url)
            .header("Content-Type", "application/octet-stream")
            .body(body(size))
            .no_retry();
        return client.send(&req);
    };
    let chunk = chunk.max(session.chunk_min.unwrap_or(0)).max(1);
    let mut session = session;
    let mut offset = 0;
    while offset < size {
        let len = chunk.min(size - offset);
        let req = Request::new(Method::PATCH, session.location.clone())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{offset}-{}", offset + len - 1))
            .body(body(len))
            .no_retry();
        let resp = client.send(&req)?;
        if resp.status != 202 {
            return Err(client.status_error(resp, "send the blob chunk"));
        }
        session.location = session_from(client, &resp, "send the blob chunk")?.location;
        offset += len;
    }
    commit_with_digest(client, &session, &digest)
}

/// A streamed blob on its way out: hashed and counted as it is read. The read that reaches the
/// declared size first checks the source ends there and the digest matches, and fails if not,
/// so a wrong blob never reaches the registry whole. A failure is kept in `failure` (the HTTP
/// client passes on only its message).
struct VerifiedStream {
    inner: Option<DigestReader<Box<dyn Read + Send>>>,
    digest: String,
    size: u64,
    read: u64,
    progress: Option<crate::transport::ProgressFn>,
    failure: Option<Error>,
    op: &'static str,
    reference: String,
}

impl VerifiedStream {
    /// Keeps `error` as the reason and returns an I/O error for the HTTP client.
    fn fail(&mut self, error: Error) -> std::io::Error {
        let e = std::io::Error::other(error.to_string());
        self.failure.get_or_insert(error);
        self.inner = None;
        e
    }

    /// The error for a source read that failed: the source's own [`Error`] if it carries one.
    fn source_error(&self, e: std::io::Error) -> Error {
        if e.get_ref().is_some_and(|i| i.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Network {
            op: self.op,
            reference: self.reference.clone(),
            step: format!("read the blob {} from its source", self.digest),
            url: String::new(),
            message: crate::errors::escape_remote(&e.to_string()),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.size - self.read;
        let Some(inner) = self.inner.as_mut() else {
            return Ok(0);
        };
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match inner.read(&mut buf[..want]) {
            Ok(0) => {
                let e = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the source ended after {} of {} bytes",
                        self.read, self.size
                    ),
                );
                let error = self.source_error(e);
                return Err(self.fail(error));
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let error = self.source_error(e);
                return Err(self.fail(error));
            }
        };
        self.read += n as u64;
        if let Some(p) = &self.progress {
            p(self.read);
        }
        if self.read == self.size {
            self.check_end()?;
        }
        Ok(n)
    }

    /// At the declared size: the source must end, and the digest must be ours.
    fn check_end(&mut self) -> std::io::Result<()> {
        let mut inner = self.inner.take().expect("checked by the caller");
        let mut probe = [0u8; 1];
        match inner.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                let error = Error::Protocol {
                    op: self.op,
                    reference: self.reference.clone(),
                    message: format!(
                        "blob {}: the source has more than the declared {} bytes",
                        self.digest, self.size
                    ),
                };
                return Err(self.fail(error));
            }
            Err(e) => {
                let error = self.source_error(e);
                return Err(self.fail(error));
            }
        }
        let (got, _) = inner.finish();
        if got.to_string() != self.digest {
            let error = Error::DigestMismatch {
                op: self.op,
                reference: self.reference.clone(),
                what: format!("blob {} read from the source", self.digest),
                expected: self.digest.clone(),
                got: got.to_string(),
            };
            return Err(self.fail(error));
        }
        Ok(())
    }
}

/// The part of a [`VerifiedStream`] one request sends (the transport takes `len` bytes).
struct StreamPart {
    stream: Arc<Mutex<VerifiedStream>>,
}

impl Read for StreamPart {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.lock().expect("stream state").read(buf)
    }
}

#[cfg(test)]
mod stream_tests {
    //! [`upload_from_reader`] against the in-process server: the bytes sent are the source's,
    //! a wrong source never reaches the registry whole, a failed source is opened again.

    use super::*;
    use crate::client::ClientOptions;
    use crate::progress::Progress;
    use crate::reference::Reference;
    use crate::test_server::{Seen, Server, answer};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const BLOB: &[u8] = b"streamed from one registry to another\n";

    fn digest_of(bytes: &[u8]) -> String {
        packer::digest::sha256_digest(bytes).to_string()
    }

    /// A registry without auth that has no blob, opens sessions `/s1`, `/s2`…, takes PATCH
    /// chunks, and commits a PUT whose bytes (chunks included) are `BLOB`.
    fn registry() -> Server {
        let sessions = AtomicUsize::new(0);
        let chunks = Mutex::new(Vec::new());
        Server::start(move |s: &Seen| match s.method.as_str() {
            "GET" if s.target == "/v2/" => answer(200, &[], b"{}"),
            "HEAD" => answer(404, &[], b""),
            "POST" => {
                let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
                chunks.lock().unwrap().clear();
                let location = format!("/v2/user/p/blobs/uploads/s{n}");
                answer(202, &[("Location", &location)], b"")
            }
            "PATCH" => {
                chunks.lock().unwrap().extend_from_slice(&s.body);
                let location = s.target.clone();
                answer(202, &[("Location", &location)], b"")
            }
            "PUT" => {
                let mut got = std::mem::take(&mut *chunks.lock().unwrap());
                got.extend_from_slice(&s.body);
                if got == BLOB {
                    answer(201, &[("Docker-Content-Digest", &digest_of(BLOB))], b"")
                } else {
                    answer(400, &[], br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#)
                }
            }
            _ => answer(500, &[], b""),
        })
    }

    fn connect(server: &Server) -> Client {
        let r = Reference::parse(&format!("{}/user/p:latest", server.host)).unwrap();
        Client::connect("copy", &r, &ClientOptions::default(), "pull,push", &[]).unwrap()
    }

    fn upload(
        client: &Client,
        open: &mut OpenBlob<'_>,
        options: &UploadOptions,
    ) -> Result<BlobOutcome> {
        let digest = digest_of(BLOB);
        let progress = Progress::silent().blob(&digest, BLOB.len() as u64);
        upload_from_reader(client, &digest, BLOB.len() as u64, open, options, progress)
    }

    /// Reads `bytes` then fails with a transient network error of the source.
    struct BrokenSource(&'static [u8]);
    impl Read for BrokenSource {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other(Error::Network {
                    op: "copy",
                    reference: "source/repo".into(),
                    step: "get the blob".into(),
                    url: String::new(),
                    message: "connection reset".into(),
                }));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_stream_is_sent_whole_in_one_put_or_in_chunks() {
        for chunk_size in [None, Some(5)] {
            let server = registry();
            let client = connect(&server);
            let opened = AtomicUsize::new(0);
            let mut open = || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(BLOB) as Box<dyn Read + Send>)
            };
            let options = UploadOptions {
                chunk_size,
                ..Default::default()
            };
            let outcome = upload(&client, &mut open, &options).unwrap();
            assert_eq!(outcome, BlobOutcome::Pushed);
            assert_eq!(opened.load(Ordering::SeqCst), 1);
            let patches = server.count("PATCH", "/blobs/uploads/s1");
            assert_eq!(patches, chunk_size.map_or(0, |_| BLOB.len().div_ceil(5)));
        }
    }

    #[test]
    fn a_source_with_other_bytes_never_reaches_the_registry_whole() {
        let server = registry();
        let client = connect(&server);
        let opened = AtomicUsize::new(0);
        let mut tampered = BLOB.to_vec();
        tampered[3] ^= 1;
        let mut open = || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(std::io::Cursor::new(tampered.clone())) as Box<dyn Read + Send>)
        };
        let e = upload(&client, &mut open, &UploadOptions::default()).unwrap_err();
        let digest = digest_of(BLOB);
        match &e {
            Error::DigestMismatch {
                expected,
                got,
                what,
                ..
            } => {
                assert_eq!(expected, &digest);
                assert_eq!(got, &digest_of(&tampered));
                assert!(what.contains(&digest), "{what}");
            }
            other => panic!("not a digest mismatch: {other}"),
        }
        assert!(e.to_string().contains(&digest), "{e}");
        assert_eq!(
            opened.load(Ordering::SeqCst),
            1,
            "a mismatch is not retried"
        );
        for put in server.seen().iter().filter(|s| s.method == "PUT") {
            assert!(put.body.len() < BLOB.len(), "{put:?}");
        }
    }

    #[test]
    fn a_longer_source_fails_without_retry() {
        let server = registry();
        let client = connect(&server);
        let mut longer = BLOB.to_vec();
        longer.push(b'!');
        let opened = AtomicUsize::new(0);
        let mut open = || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(std::io::Cursor::new(longer.clone())) as Box<dyn Read + Send>)
        };
        let e = upload(&client, &mut open, &UploadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("more than the declared"), "{e}");
        assert_eq!(opened.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_source_that_fails_midway_is_opened_again_in_a_new_session() {
        let server = registry();
        let client = connect(&server);
        let opened = AtomicUsize::new(0);
        let mut open = || {
            let n = opened.fetch_add(1, Ordering::SeqCst);
            Ok(if n == 0 {
                Box::new(BrokenSource(&BLOB[..10])) as Box<dyn Read + Send>
            } else {
                Box::new(BLOB)
            })
        };
        let outcome = upload(&client, &mut open, &UploadOptions::default()).unwrap();
        assert_eq!(outcome, BlobOutcome::Pushed);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert_eq!(server.count("POST", "/blobs/uploads/"), 2);
        assert_eq!(server.count("PUT", "/blobs/uploads/s2?digest="), 1);

        // always failing: the source's own error, after the bounded number of sessions
        let server = registry();
        let client = connect(&server);
        let mut open = || Ok(Box::new(BrokenSource(&BLOB[..10])) as Box<dyn Read + Send>);
        let options = UploadOptions {
            max_sessions: 2,
            ..Default::default()
        };
        let e = upload(&client, &mut open, &options).unwrap_err();
        assert!(
            matches!(&e, Error::Network { reference, .. } if reference == "source/repo"),
            "{e}"
        );
        assert_eq!(server.count("POST", "/blobs/uploads/"), 2);
    }
}
