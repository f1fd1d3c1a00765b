//! HTTP exchanges with a registry: the ureq agent (registry answers such as 401 are data, not
//! errors), TLS roots, plain HTTP only where Docker allows it, bounded retries with backoff and
//! jitter honouring `Retry-After`, `Location` resolution, and `--trace` with secrets redacted.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::http;

/// How often and how long to retry connection errors, 408, 429 and 5xx.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles each retry.
    pub base_delay: Duration,
    /// No single wait is longer (unless `Retry-After` asks for more, within `max_total`).
    pub max_delay: Duration,
    /// No request keeps retrying past this much time since its first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): exponential, with jitter in [50%, 100%].
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jitter = 0.5 + 0.5 * random_unit();
        capped.mul_f64(jitter)
    }
}

/// A number in [0, 1) from the standard library's randomly keyed hasher.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After` as delta-seconds (an HTTP date is answered with our own backoff).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

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
}

impl Body {
    fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
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
    /// Extra headers (Authorization is added by the client).
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
}

/// A registry's answer.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    headers: http::HeaderMap,
    body: ureq::Body,
}

impl Response {
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
    /// The body in memory, at most `limit` bytes (for manifests, tokens, errors).
    pub fn bytes(&mut self, limit: u64) -> std::io::Result<Vec<u8>> {
        self.body
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(std::io::Error::other)
    }
    /// The body as a stream (for blobs).
    pub fn reader(self) -> impl Read + Send + 'static {
        self.body.into_reader()
    }
}

/// The transport failed to get any answer.
#[derive(Debug, thiserror::Error)]
#[error("{message} (after {attempts} attempt{s})", s = if *.attempts == 1 { "" } else { "s" })]
pub struct SendError {
    /// The redacted URL.
    pub url: String,
    /// What failed.
    pub message: String,
    /// How many attempts were made.
    pub attempts: u32,
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
}

/// The HTTP agent plus retry and trace behaviour.
pub struct Transport {
    agent: ureq::Agent,
    trace: bool,
    retry: RetryPolicy,
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
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .user_agent(concat!("pusher/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .max_idle_connections_per_host(8)
            .build();
        Ok(Transport {
            agent: config.new_agent(),
            trace: options.trace,
            retry: options.retry.clone(),
        })
    }

    /// Sends a request once, with no retries.
    fn send_once(&self, req: &Request, auth: Option<&str>) -> Result<Response, ureq::Error> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(a) = auth {
            builder = builder.header("Authorization", a);
        }
        if let Some(len) = req.body.len() {
            builder = builder.header("Content-Length", len.to_string());
        }
        let id = next_exchange_id();
        if self.trace {
            trace_request(id, req, auth);
        }
        let started = Instant::now();
        let result = match &req.body {
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
        };
        match result {
            Ok(resp) => {
                let url = ureq::ResponseExt::get_uri(&resp).to_string();
                let (parts, body) = resp.into_parts();
                let r = Response {
                    status: parts.status.as_u16(),
                    url,
                    headers: parts.headers,
                    body,
                };
                if self.trace {
                    trace_response(id, &r, started.elapsed());
                }
                Ok(r)
            }
            Err(e) => {
                if self.trace {
                    eprintln!(
                        "<{id} error: {} ({} ms)",
                        describe_ureq_error(&e),
                        started.elapsed().as_millis()
                    );
                }
                Err(e)
            }
        }
    }

    /// Sends a request, retrying connection errors, 408, 429 and 5xx when `req.retry`,
    /// with backoff and jitter, honouring `Retry-After`, bounded in count and total time.
    pub fn send(&self, req: &Request, auth: Option<&str>) -> Result<Response, SendError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(req, auth);
            let may_retry = req.retry && attempt < self.retry.max_attempts;
            let (retry_after, failure) = match outcome {
                Ok(resp) if may_retry && is_retriable_status(resp.status) => (
                    resp.header("Retry-After").and_then(parse_retry_after),
                    format!("{} {}", resp.status, reason(resp.status)),
                ),
                Ok(resp) => return Ok(resp),
                Err(e) if may_retry && is_retriable_error(&e) => (None, describe_ureq_error(&e)),
                Err(e) => {
                    return Err(SendError {
                        url: redact_url(&req.url),
                        message: describe_ureq_error(&e),
                        attempts: attempt,
                    });
                }
            };
            let delay = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
            if start.elapsed() + delay > self.retry.max_total {
                return Err(SendError {
                    url: redact_url(&req.url),
                    message: failure,
                    attempts: attempt,
                });
            }
            if self.trace {
                eprintln!(
                    "* retry {attempt}/{} in {} ms",
                    self.retry.max_attempts - 1,
                    delay.as_millis()
                );
            }
            std::thread::sleep(delay);
        }
    }
}

struct Counting<R> {
    inner: R,
    sent: u64,
    progress: Option<ProgressFn>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if let Some(p) = &self.progress {
            p(self.sent);
        }
        Ok(n)
    }
}

fn is_retriable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

fn is_retriable_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// One line for a ureq error, without any URL (the caller names it, redacted).
pub fn describe_ureq_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// The reason phrase for a status.
pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Whether `host` (no port) may be spoken to over plain HTTP without `--insecure`:
/// localhost, 127.0.0.0/8 and ::1, as Docker does.
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// Resolves a `Location` header against the URL of the request that returned it:
/// absolute URLs stay, `/path?query` takes the request's scheme and host, a relative path
/// replaces the last segment. The query is always kept.
pub fn resolve_location(request_url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = request_url
        .split_once("://")
        .unwrap_or(("https", request_url));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{location}")
}

/// Adds `key=value` to a URL's query, keeping what is there.
pub fn add_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

const SECRET_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "password",
    "_state",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// A URL fit for printing: no userinfo, secret-looking query values replaced.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut out = format!("{scheme}{authority}{path}");
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=<redacted>")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// An Authorization value fit for printing: the scheme only.
pub fn redact_authorization(value: &str) -> String {
    let scheme = value.split(' ').next().unwrap_or("");
    format!("{scheme} <redacted>")
}

/// A number for each exchange, so `--trace` pairs requests and answers of concurrent uploads.
fn next_exchange_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn trace_request(id: u64, req: &Request, auth: Option<&str>) {
    let mut s = format!(">{id} {} {}\n", req.method, redact_url(&req.url));
    if let Some(a) = auth {
        s += &format!(">{id} Authorization: {}\n", redact_authorization(a));
    }
    for (k, v) in &req.headers {
        let v = if k.eq_ignore_ascii_case("authorization") {
            redact_authorization(v)
        } else {
            v.clone()
        };
        s += &format!(">{id} {k}: {v}\n");
    }
    if let Some(len) = req.body.len() {
        s += &format!(">{id} Content-Length: {len}\n");
    }
    eprint!("{s}");
}

const TRACED_RESPONSE_HEADERS: &[&str] = &[
    "location",
    "docker-content-digest",
    "docker-upload-uuid",
    "www-authenticate",
    "content-type",
    "content-length",
    "range",
    "oci-chunk-min-length",
    "retry-after",
];

fn trace_response(id: u64, r: &Response, took: Duration) {
    let mut s = format!(
        "<{id} {} {} ({} ms)\n",
        r.status,
        reason(r.status),
        took.as_millis()
    );
    for name in TRACED_RESPONSE_HEADERS {
        for v in r.header_all(name) {
            let v = if *name == "location" {
                redact_url(v)
            } else {
                v.to_string()
            };
            s += &format!("<{id} {name}: {v}\n");
        }
    }
    eprint!("{s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_resolution_table() {
        let base = "http://127.0.0.1:5000/v2/user/p/blobs/uploads/";
        let table = [
            (
                "/v2/user/p/blobs/uploads/abc?_state=xyz",
                "http://127.0.0.1:5000/v2/user/p/blobs/uploads/abc?_state=xyz",
            ),
            (
                "https://storage.example/upload/1?sig=a%2Fb&x=1",
                "https://storage.example/upload/1?sig=a%2Fb&x=1",
            ),
            (
                "abc?_state=1",
                "http://127.0.0.1:5000/v2/user/p/blobs/uploads/abc?_state=1",
            ),
            ("//other:99/u?q=1", "http://other:99/u?q=1"),
        ];
        for (loc, want) in table {
            assert_eq!(resolve_location(base, loc), want, "{loc}");
        }
        assert_eq!(
            resolve_location(
                "https://[::1]:5000/v2/p/blobs/uploads/?mount=x",
                "/v2/p/u/1?a=b"
            ),
            "https://[::1]:5000/v2/p/u/1?a=b"
        );
        assert_eq!(
            resolve_location("https://h/v2/p/blobs/uploads/x?y=1", "next"),
            "https://h/v2/p/blobs/uploads/next"
        );
        assert_eq!(
            add_query("http://h/u?_state=1", "digest", "sha256:ab"),
            "http://h/u?_state=1&digest=sha256:ab"
        );
        assert_eq!(
            add_query("http://h/u", "digest", "sha256:ab"),
            "http://h/u?digest=sha256:ab"
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("https://alice:pw@h:1/v2/u?_state=SECRET&digest=sha256:1&access_token=T"),
            "https://h:1/v2/u?_state=<redacted>&digest=sha256:1&access_token=<redacted>"
        );
        assert_eq!(
            redact_authorization("Bearer eyJ.secret"),
            "Bearer <redacted>"
        );
        assert_eq!(
            redact_authorization("Basic YWxpY2U6cHc="),
            "Basic <redacted>"
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "128.0.0.1",
            "::2",
            "localhost.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = RetryPolicy::default();
        for retry in 1..10 {
            let d = p.backoff(retry);
            assert!(d <= p.max_delay, "{d:?}");
            assert!(
                d >= (p.base_delay * (1 << (retry - 1))).min(p.max_delay) / 2,
                "{d:?}"
            );
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
