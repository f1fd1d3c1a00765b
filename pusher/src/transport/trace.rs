//! `--trace`: every exchange on stderr, numbered so concurrent uploads pair up, with secrets
//! redacted (userinfo and secret-looking query values in URLs, Authorization values) and
//! registry-provided text escaped.

use super::{Request, Response, reason};
use crate::errors::escape_remote;
use std::time::Duration;

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

/// A URL fit for printing: no userinfo, secret-looking query values replaced, control
/// characters escaped.
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
    escape_remote(&out)
}

/// A JSON body fit for printing: compact, the values of secret-looking keys (`token`,
/// `access_token`, `refresh_token`, ...) replaced at any depth, control characters escaped.
pub fn redact_json(body: &[u8]) -> String {
    fn redact(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if k.contains("token") || SECRET_QUERY_KEYS.contains(&k.as_str()) {
                        *v = serde_json::Value::String("<redacted>".into());
                    } else {
                        redact(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            redact(&mut v);
            escape_remote(&v.to_string())
        }
        Err(_) => format!("({} bytes, not JSON: not shown)", body.len()),
    }
}

/// An Authorization value fit for printing: the scheme only.
pub fn redact_authorization(value: &str) -> String {
    let scheme = value.split(' ').next().unwrap_or("");
    format!("{} <redacted>", escape_remote(scheme))
}

/// Where `--trace` lines go: the program sets it (pusher and `cargo xtask image` send them to
/// stderr); the library itself prints nothing, so without a sink tracing shows nothing.
static SINK: std::sync::OnceLock<Box<Sink>> = std::sync::OnceLock::new();

/// What takes the trace text.
type Sink = dyn Fn(&str) + Send + Sync;

/// Sets where `--trace` text goes, once per process (later calls are ignored).
pub fn set_sink(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

/// Hands trace text (whole lines, each ending in a newline) to the sink, if any.
pub(crate) fn emit(text: &str) {
    if let Some(sink) = SINK.get() {
        sink(text);
    }
}

/// A number for each exchange, so `--trace` pairs requests and answers of concurrent uploads.
pub(super) fn next_exchange_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The request line and headers, as sent to `url` (which differs from `req.url` after a
/// redirect); `auth` is whether an Authorization header went with it.
pub(super) fn trace_request(id: u64, req: &Request, url: &str, auth: Option<&str>) {
    emit(&request_text(id, req, url, auth));
}

/// What `--trace` prints for a request.
pub(super) fn request_text(id: u64, req: &Request, url: &str, auth: Option<&str>) -> String {
    let mut s = format!(">{id} {} {}\n", req.method, redact_url(url));
    if let Some(a) = auth {
        s += &format!(">{id} Authorization: {}\n", redact_authorization(a));
    }
    for (k, v) in &req.headers {
        let v = if k.eq_ignore_ascii_case("authorization") {
            redact_authorization(v)
        } else {
            escape_remote(v)
        };
        s += &format!(">{id} {k}: {v}\n");
    }
    if let Some(len) = req.body.len() {
        s += &format!(">{id} Content-Length: {len}\n");
    }
    s
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

pub(super) fn trace_response(id: u64, r: &Response, took: Duration) {
    emit(&response_text(id, r, took));
}

/// What `--trace` prints for an answer.
pub(super) fn response_text(id: u64, r: &Response, took: Duration) -> String {
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
                escape_remote(v)
            };
            s += &format!("<{id} {name}: {v}\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_show_no_token() {
        let shown = redact_json(
            br#"{"token":"s3cr3t","access_token":"s3cr3t","expires_in":300,"issued_at":"x","nested":{"refresh_token":"s3cr3t"}}"#,
        );
        assert_eq!(
            shown,
            r#"{"access_token":"<redacted>","expires_in":300,"issued_at":"x","nested":{"refresh_token":"<redacted>"},"token":"<redacted>"}"#
        );
        assert!(!redact_json(b"s3cr3t not json").contains("s3cr3t"));
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
        assert_eq!(redact_url("http://h/\u{1b}[2Kx"), "http://h/\\x1b[2Kx");
    }

    #[test]
    fn traced_requests_carry_no_secret() {
        let req = Request::new(
            ureq::http::Method::PUT,
            "http://alice:pw@h/v2/u/blobs/uploads/1?_state=S3CRET&digest=sha256:1",
        )
        .header("Authorization", "Basic UEFTU1dPUkQ=")
        .header("X-Note", "a\nb");
        let text = request_text(7, &req, &req.url, Some("Bearer T0KEN"));
        for secret in ["pw", "S3CRET", "UEFTU1dPUkQ", "T0KEN"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains(">7 Authorization: Bearer <redacted>"),
            "{text}"
        );
        assert!(text.contains("digest=sha256:1"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
