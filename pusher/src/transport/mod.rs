//! HTTP exchanges with a registry: the ureq agent (registry answers such as 401 are data, not
//! errors), TLS roots, plain HTTP only where Docker allows it, time bounds without progress,
//! redirects followed with credentials kept to their origin, bodies read within their declared
//! size, and the retry policy ([`retry`]), URL handling ([`mod@url`]) and `--trace` ([`trace`]).
//!
//! The security rule lives here, in one place: an [`Authorization`] is bound to the origin
//! (scheme, host, port) it was issued for, and [`Transport::send`] attaches it to a request,
//! or to a redirect it follows, only when that request goes to the same origin.

pub mod body;
pub mod retry;
pub mod trace;
pub mod url;

pub use body::{BlobReader, BodyError, cancel, is_cancelled};

pub use retry::{RetryPolicy, parse_retry_after};
pub use trace::{redact_authorization, redact_url};
pub use url::{add_query, is_loopback_host, resolve_location, same_origin};

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::http;

/// The default bound on time without progress: connecting, waiting for an answer, and each
/// read or write of a body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How many redirects a GET or HEAD follows.
pub const MAX_REDIRECTS: u32 = 10;

/// Called with the number of body bytes sent so far.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// What a request sends.
#[derive(Clone, Default)]
pub enum Body {
    /// Nothing.
    #[default]
    Empty,
    /// Bytes in memory (manifests, which are small).
    Bytes(Arc<Vec<u8>>),
    /// `len` bytes of a file from `offset`, streamed from disk, reopened for each attempt.
    File {
        /// The file.
        path: PathBuf,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// Told the bytes sent so far.
        progress: Option<ProgressFn>,
    },
    /// `len` bytes read from a stream that cannot be replayed: sent at most once (a second
    /// send of the same body, e.g. after a 401, fails at once and the caller starts over).
    Stream {
        /// The reader, taken by the first send.
        reader: SharedReader,
        /// How many bytes it gives.
        len: u64,
    },
}

/// A reader for [`Body::Stream`], taken out by the one send that uses it.
pub type SharedReader = Arc<std::sync::Mutex<Option<Box<dyn Read + Send>>>>;

impl Body {
    /// A [`Body::Stream`] of `len` bytes from `reader`.
    pub fn stream(reader: Box<dyn Read + Send>, len: u64) -> Body {
        Body::Stream {
            reader: Arc::new(std::sync::Mutex::new(Some(reader))),
            len,
        }
    }
}

impl Body {
    fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } | Body::Stream { len, .. } => Some(*len),
        }
    }
}

/// One request to send.
#[derive(Clone)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: http::Method,
    /// The absolute URL.
    pub url: String,
    /// Extra headers (Authorization is added by the transport, see [`Authorization`]).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Whether the transport may send it again on a retriable failure. Upload session requests
    /// are not retried here: the upload restarts with a new session instead.
    pub retry: bool,
}

impl Request {
    /// A retriable request without a body.
    pub fn new(method: http::Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Empty,
            retry: true,
        }
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    /// Sets the body.
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
    /// Sends once only.
    pub fn no_retry(mut self) -> Request {
        self.retry = false;
        self
    }
    /// The registry protocol step this request is, for error messages.
    pub fn step(&self) -> String {
        step_of(&self.method, &self.url)
    }
}

/// Names the protocol step of a request from its method and path, e.g. `get the blob
/// sha256:…`, `push the manifest latest`.
pub fn step_of(method: &http::Method, url: &str) -> String {
    let path = ::url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or("");
    let last = crate::errors::escape_remote(last);
    let is = |m: http::Method| *method == m;
    if path == "/v2/" || path == "/v2" {
        "ping /v2/".into()
    } else if path.contains("/manifests/") {
        match () {
            _ if is(http::Method::PUT) => format!("push the manifest {last}"),
            _ if is(http::Method::HEAD) => format!("check the manifest {last}"),
            _ => format!("get the manifest {last}"),
        }
    } else if path.contains("/blobs/uploads") {
        match () {
            _ if is(http::Method::POST) => "initiate upload".into(),
            _ if is(http::Method::PATCH) => "send the blob chunk".into(),
            _ if is(http::Method::PUT) => "send the blob and commit with the digest".into(),
            _ => format!("{method} the upload session"),
        }
    } else if path.contains("/blobs/") {
        match () {
            _ if is(http::Method::HEAD) => format!("check the blob exists {last}"),
            _ => format!("get the blob {last}"),
        }
    } else {
        // an upload handed to another host, a token server: name the method and origin
        let origin = url::origin(url)
            .map(|o| o.ascii_serialization())
            .unwrap_or_default();
        format!("{method} {}", crate::errors::escape_remote(&origin))
    }
}

/// An `Authorization` value bound to the origin it is for. It is never sent elsewhere.
#[derive(Clone)]
pub struct Authorization {
    value: String,
    origin: ::url::Origin,
}

impl Authorization {
    /// `value` (e.g. `Basic …`, `Bearer …`) for requests to the origin of `url`; `None` when
    /// `url` has no origin (not an absolute http or https URL).
    pub fn new(value: impl Into<String>, url: &str) -> Option<Authorization> {
        Some(Authorization {
            value: value.into(),
            origin: url::origin(url)?,
        })
    }
    /// The header value, if `url` is on this authorization's origin.
    pub fn for_url(&self, url: &str) -> Option<&str> {
        (url::origin(url).as_ref() == Some(&self.origin)).then_some(self.value.as_str())
    }
}

/// A registry's answer.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    headers: http::HeaderMap,
    body: ureq::Body,
    timeout: Duration,
    /// The `--trace` number of this exchange, when tracing.
    traced: Option<u64>,
}

impl Response {
    /// Under `--trace`, shows a JSON body that was read (the token server's answer), with the
    /// values of secret-looking keys redacted.
    pub(crate) fn trace_json_body(&self, body: &[u8]) {
        if let Some(id) = self.traced {
            trace::emit(&format!("<{id} {}\n", trace::redact_json(body)));
        }
    }

    /// A header's value (first one), if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
    /// The `Content-Length` the server announced, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length")
            .and_then(|v| v.trim().parse().ok())
    }
    /// The body in memory, at most `limit` bytes (for manifests, tokens, errors): a longer
    /// body, or an announced `Content-Length` over the limit, is an error.
    pub fn bytes(&mut self, limit: u64) -> std::io::Result<Vec<u8>> {
        if let Some(len) = self.content_length()
            && len > limit
        {
            return Err(std::io::Error::other(BodyError::TooLong {
                declared: limit,
            }));
        }
        let mut out = Vec::new();
        self.bounded_reader_inner(limit, false)
            .read_to_end(&mut out)?;
        Ok(out)
    }
    /// The body of a blob whose descriptor says `size` bytes: yields at most `size` bytes and
    /// fails with a [`BodyError`] when the server announces or sends more (it stops reading at
    /// `size + 1`), when the body ends early, when a read fails or makes no progress within
    /// the timeout, or when [`cancel`] was called. A consumer never sees more than `size`
    /// bytes.
    pub fn blob_reader(mut self, size: u64) -> Result<BlobReader, BodyError> {
        if let Some(len) = self.content_length()
            && len > size
        {
            return Err(BodyError::TooLong { declared: size });
        }
        Ok(self.bounded_reader_inner(size, true))
    }

    fn bounded_reader_inner(&mut self, size: u64, exact: bool) -> BlobReader {
        let body = std::mem::replace(&mut self.body, ureq::Body::builder().data(Vec::new()));
        BlobReader::new(Box::new(body.into_reader()), size, exact, self.timeout)
    }
}

/// The largest unread body [`Response`]'s drop reads to its end to keep the connection.
const DRAIN_LIMIT: u64 = 64 << 10;

impl Drop for Response {
    /// A small body nobody read (the ping's `{}`, an error's JSON) is read to its end, so the
    /// connection goes back to the pool instead of being closed: the next request needs no new
    /// connection (no handshake here, no new connection for the registry to serve).
    fn drop(&mut self) {
        if self
            .content_length()
            .is_some_and(|len| len > 0 && len <= DRAIN_LIMIT)
        {
            let body = std::mem::replace(&mut self.body, ureq::Body::builder().data(Vec::new()));
            let _ = std::io::copy(
                &mut body.into_reader().take(DRAIN_LIMIT),
                &mut std::io::sink(),
            );
        }
    }
}

/// The transport failed to get any answer.
#[derive(Debug, thiserror::Error)]
#[error("{message} (after {attempts} attempt{s})", s = if *.attempts == 1 { "" } else { "s" })]
pub struct SendError {
    /// The redacted URL.
    pub url: String,
    /// The protocol step (see [`step_of`]).
    pub step: String,
    /// What failed.
    pub message: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// Whether the last attempt could not connect at all.
    pub unreachable: bool,
}

/// How to build the transport.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// Extra root certificates (PEM file).
    pub ca_file: Option<PathBuf>,
    /// Print every exchange on stderr, secrets redacted.
    pub trace: bool,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// The bound on time without progress; `None` is [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// The HTTP agent plus retry and trace behaviour.
pub struct Transport {
    agent: ureq::Agent,
    trace: bool,
    retry: RetryPolicy,
    timeout: Duration,
}

/// Files that commonly hold the system's root certificates.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn load_pem_certs(
    path: &Path,
    into: &mut Vec<ureq::tls::Certificate<'static>>,
) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let before = into.len();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            into.push(c);
        }
    }
    if into.len() == before {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(())
}

/// Why one attempt got no usable answer.
enum Failure {
    Ureq(ureq::Error),
    Redirect(String),
}

impl Transport {
    /// Builds the agent: system roots plus `SSL_CERT_FILE`, the `--ca-file`, and Docker's
    /// `/etc/docker/certs.d/HOST/ca.crt` for `registry_host`.
    pub fn new(options: &TransportOptions, registry_host: &str) -> Result<Transport, String> {
        let mut roots = Vec::new();
        if let Some(p) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.exists()) {
            let _ = load_pem_certs(p, &mut roots);
        }
        if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
            load_pem_certs(Path::new(&p), &mut roots)?;
        }
        if let Some(p) = &options.ca_file {
            load_pem_certs(p, &mut roots)?;
        }
        let docker_ca = Path::new("/etc/docker/certs.d")
            .join(registry_host)
            .join("ca.crt");
        if docker_ca.exists() {
            let _ = load_pem_certs(&docker_ca, &mut roots);
        }
        let root_certs = if roots.is_empty() {
            ureq::tls::RootCerts::WebPki
        } else {
            ureq::tls::RootCerts::new_with_certs(&roots)
        };
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(root_certs)
            .build();
        let timeout = options.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .user_agent(concat!("pusher/", env!("CARGO_PKG_VERSION")))
            // redirects are followed by `send`, which decides where credentials go
            .max_redirects(0)
            // time without progress: each phase's reads and writes restart the clock
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .max_idle_connections_per_host(8)
            .build();
        Ok(Transport {
            agent: config.new_agent(),
            trace: options.trace,
            retry: options.retry.clone(),
            timeout,
        })
    }

    /// The bound on time without progress.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a request once to `url`, with no retries and no redirects.
    fn send_once(
        &self,
        req: &Request,
        method: &http::Method,
        url: &str,
        body: &Body,
        auth: Option<&str>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") {
                continue; // only through an origin-bound `Authorization`
            }
            builder = builder.header(k, v);
        }
        if let Some(a) = auth {
            builder = builder.header("Authorization", a);
        }
        if let Some(len) = body.len() {
            builder = builder.header("Content-Length", len.to_string());
        }
        let id = trace::next_exchange_id();
        if self.trace {
            trace::trace_request(id, req, url, auth);
        }
        let started = Instant::now();
        let result = match body {
            Body::Empty => self.agent.run(builder.body(())?),
            Body::Bytes(b) => self.agent.run(builder.body(b.as_slice())?),
            Body::File {
                path,
                offset,
                len,
                progress,
            } => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                let reader = Counting {
                    inner: file.take(*len),
                    sent: 0,
                    progress: progress.clone(),
                };
                let body = ureq::SendBody::from_owned_reader(reader);
                self.agent.run(builder.body(body)?)
            }
            Body::Stream { reader, len } => {
                let taken = reader.lock().map(|mut r| r.take()).unwrap_or(None);
                let Some(stream) = taken else {
                    return Err(ureq::Error::Io(std::io::Error::other(
                        "a streamed body cannot be sent twice",
                    )));
                };
                let reader = Counting {
                    inner: stream.take(*len),
                    sent: 0,
                    progress: None,
                };
                let body = ureq::SendBody::from_owned_reader(reader);
                self.agent.run(builder.body(body)?)
            }
        };
        match result {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let r = Response {
                    status: parts.status.as_u16(),
                    url: url.to_string(),
                    headers: parts.headers,
                    body,
                    timeout: self.timeout,
                    traced: self.trace.then_some(id),
                };
                if self.trace {
                    trace::trace_response(id, &r, started.elapsed());
                }
                Ok(r)
            }
            Err(e) => {
                if self.trace {
                    trace::emit(&format!(
                        "<{id} error: {} ({} ms)\n",
                        self.describe(&e),
                        started.elapsed().as_millis()
                    ));
                }
                Err(e)
            }
        }
    }

    /// Sends a request, following redirects of GET and HEAD (at most [`MAX_REDIRECTS`]); the
    /// authorization goes only to hops on its own origin.
    fn send_following(
        &self,
        req: &Request,
        auth: Option<&Authorization>,
    ) -> Result<Response, Failure> {
        let mut url = req.url.clone();
        let follows = req.method == http::Method::GET || req.method == http::Method::HEAD;
        for _ in 0..=MAX_REDIRECTS {
            let a = auth.and_then(|a| a.for_url(&url));
            let resp = self
                .send_once(req, &req.method, &url, &req.body, a)
                .map_err(Failure::Ureq)?;
            if !follows || !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(location) = resp.header("Location") else {
                return Ok(resp);
            };
            url = resolve_location(&url, location)
                .map_err(|e| Failure::Redirect(format!("redirect to a {e}")))?;
        }
        Err(Failure::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Sends a request, retrying connection errors, timeouts, 408, 429 and 5xx when
    /// `req.retry`, with backoff and jitter, honouring `Retry-After`, bounded in count and
    /// total time. `auth` goes only to its own origin (redirects included).
    pub fn send(&self, req: &Request, auth: Option<&Authorization>) -> Result<Response, SendError> {
        let start = Instant::now();
        let mut attempt = 0;
        let fail = |message: String, attempts: u32, unreachable: bool| SendError {
            url: redact_url(&req.url),
            step: req.step(),
            message,
            attempts,
            unreachable,
        };
        loop {
            attempt += 1;
            let outcome = self.send_following(req, auth);
            let may_retry = req.retry && attempt < self.retry.max_attempts;
            let (retry_after, failure, unreachable) = match outcome {
                Ok(resp) if may_retry && retry::is_retriable_status(resp.status) => (
                    resp.header("Retry-After").and_then(parse_retry_after),
                    format!("{} {}", resp.status, reason(resp.status)),
                    false,
                ),
                Ok(resp) => return Ok(resp),
                Err(Failure::Ureq(e)) if may_retry && retry::is_retriable_error(&e) => {
                    (None, self.describe(&e), is_unreachable(&e))
                }
                Err(Failure::Ureq(e)) => {
                    return Err(fail(self.describe(&e), attempt, is_unreachable(&e)));
                }
                Err(Failure::Redirect(m)) => return Err(fail(m, attempt, false)),
            };
            let delay = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
            if start.elapsed() + delay > self.retry.max_total {
                return Err(fail(failure, attempt, unreachable));
            }
            if self.trace {
                trace::emit(&format!(
                    "* retry {attempt}/{} in {} ms\n",
                    self.retry.max_attempts - 1,
                    delay.as_millis()
                ));
            }
            std::thread::sleep(delay);
        }
    }

    /// One line for a ureq error, without any URL (the caller names it, redacted).
    fn describe(&self, e: &ureq::Error) -> String {
        let secs = self.timeout.as_secs();
        match e {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                format!("cannot connect within {secs} s (the --timeout)")
            }
            ureq::Error::Timeout(
                ureq::Timeout::PerWrite | ureq::Timeout::SendBody | ureq::Timeout::SendRequest,
            ) => format!("the registry took no data for {secs} s (the --timeout)"),
            ureq::Error::Timeout(_) => format!("no answer for {secs} s (the --timeout)"),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                format!("no answer for {secs} s (the --timeout)")
            }
            other => describe_ureq_error(other),
        }
    }
}

/// Whether an error means no connection was made at all.
fn is_unreachable(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
        ),
        _ => false,
    }
}

struct Counting<R> {
    inner: R,
    sent: u64,
    progress: Option<ProgressFn>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if is_cancelled() {
            return Err(std::io::Error::other(BodyError::Cancelled));
        }
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if let Some(p) = &self.progress {
            p(self.sent);
        }
        Ok(n)
    }
}

/// One line for a ureq error, without any URL (the caller names it, redacted), with any
/// registry-provided text escaped.
pub fn describe_ureq_error(e: &ureq::Error) -> String {
    let s = match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    crate::errors::escape_remote(&s)
}

/// The reason phrase for a status.
pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_is_bound_to_its_origin() {
        let a = Authorization::new("Basic x", "http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(
            a.for_url("http://127.0.0.1:5000/v2/p/blobs/uploads/1"),
            Some("Basic x")
        );
        assert_eq!(
            a.for_url("http://127.0.0.1:5001/v2/p/blobs/uploads/1"),
            None
        );
        assert_eq!(a.for_url("https://127.0.0.1:5000/v2/"), None);
        assert_eq!(a.for_url("http://localhost:5000/v2/"), None);
        assert!(Authorization::new("Basic x", "relative/path").is_none());
    }

    #[test]
    fn steps_are_named() {
        let m = |s: &str| http::Method::from_bytes(s.as_bytes()).unwrap();
        let base = "http://h:1/v2/u/p/";
        let table = [
            ("GET", "http://h:1/v2/", "ping /v2/"),
            (
                "GET",
                &format!("{base}manifests/latest"),
                "get the manifest latest",
            ),
            (
                "PUT",
                &format!("{base}manifests/v1"),
                "push the manifest v1",
            ),
            (
                "HEAD",
                &format!("{base}blobs/sha256:ab"),
                "check the blob exists sha256:ab",
            ),
            (
                "GET",
                &format!("{base}blobs/sha256:ab"),
                "get the blob sha256:ab",
            ),
            ("POST", &format!("{base}blobs/uploads/"), "initiate upload"),
            (
                "PATCH",
                &format!("{base}blobs/uploads/x"),
                "send the blob chunk",
            ),
            ("PUT", "http://store:2/put?x=1", "PUT http://store:2"),
        ];
        for (method, url, want) in table {
            assert_eq!(step_of(&m(method), url), want, "{method} {url}");
        }
    }
}
