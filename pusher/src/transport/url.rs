//! URL handling with the `url` crate: resolving a `Location` against the request that returned
//! it, adding escaped query parameters, and the origin (scheme, host, port) that decides where
//! credentials may go.

use ::url::Url;

/// A URL that does not parse (or a `Location` that does not resolve against it).
#[derive(Debug, Clone, thiserror::Error)]
#[error("bad URL {url:?}: {reason}")]
pub struct UrlError {
    /// The offending text, with control characters escaped.
    pub url: String,
    /// Why.
    pub reason: String,
}

fn bad(url: &str, e: impl std::fmt::Display) -> UrlError {
    UrlError {
        url: crate::errors::escape_remote(url),
        reason: e.to_string(),
    }
}

/// Parses an absolute `http` or `https` URL.
pub fn parse_http_url(url: &str) -> Result<Url, UrlError> {
    let u = Url::parse(url).map_err(|e| bad(url, e))?;
    match u.scheme() {
        "http" | "https" if u.host().is_some() => Ok(u),
        "http" | "https" => Err(bad(url, "no host")),
        other => Err(bad(url, format!("scheme {other:?} is not http or https"))),
    }
}

/// Resolves a `Location` header against the URL of the request that returned it
/// (RFC 3986): absolute URLs stay, `/path?query` takes the request's scheme and host, a
/// relative path replaces the last segment. The query is kept.
pub fn resolve_location(request_url: &str, location: &str) -> Result<String, UrlError> {
    let base = parse_http_url(request_url)?;
    let joined = base.join(location.trim()).map_err(|e| bad(location, e))?;
    parse_http_url(joined.as_str()).map(String::from)
}

/// Adds `key=value` to a URL's query, escaped, keeping what is there.
pub fn add_query(url: &str, key: &str, value: &str) -> Result<String, UrlError> {
    let mut u = parse_http_url(url)?;
    u.query_pairs_mut().append_pair(key, value);
    Ok(u.into())
}

/// The origin of a URL: scheme, host and port (the default port made explicit).
pub fn origin(url: &str) -> Option<::url::Origin> {
    let o = parse_http_url(url).ok()?.origin();
    o.is_tuple().then_some(o)
}

/// Whether two URLs share scheme, host and port. Unparseable URLs share nothing.
pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
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
            assert_eq!(resolve_location(base, loc).unwrap(), want, "{loc}");
        }
        assert_eq!(
            resolve_location(
                "https://[::1]:5000/v2/p/blobs/uploads/?mount=x",
                "/v2/p/u/1?a=b"
            )
            .unwrap(),
            "https://[::1]:5000/v2/p/u/1?a=b"
        );
        assert_eq!(
            resolve_location("https://h/v2/p/blobs/uploads/x?y=1", "next").unwrap(),
            "https://h/v2/p/blobs/uploads/next"
        );
        assert!(resolve_location(base, "file:///etc/passwd").is_err());
        assert!(resolve_location(base, "http://").is_err());
    }

    #[test]
    fn queries_are_escaped() {
        assert_eq!(
            add_query("http://h/u?_state=1", "digest", "sha256:ab").unwrap(),
            "http://h/u?_state=1&digest=sha256%3Aab"
        );
        assert_eq!(
            add_query("http://h/u", "digest", "a&b=c d").unwrap(),
            "http://h/u?digest=a%26b%3Dc+d"
        );
    }

    #[test]
    fn origins() {
        assert!(same_origin("https://h/v2/", "https://h:443/v2/x"));
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/",
            "http://127.0.0.1:5000/u"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:5000/",
            "http://127.0.0.1:5001/"
        ));
        assert!(!same_origin("http://h/", "https://h/"));
        assert!(!same_origin("https://h/", "https://h.evil/"));
        assert!(!same_origin("https://h/", "not a url"));
        assert!(!same_origin("https://user@h/", "https://other/"));
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
}
