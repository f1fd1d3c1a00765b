//! Image references per the distribution reference grammar, with Docker Hub's rules.
//!
//! `host[:port]/path/components[:tag][@algorithm:hex]`. A first component is a registry host
//! when it holds a `.` or a `:`, is `localhost`, or is a bracketed IPv6 address; otherwise the
//! registry is `docker.io`, whose single-component names get `library/` and whose API host is
//! `registry-1.docker.io`.

use std::fmt;

/// The registry that Docker assumes when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API really answers.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker's config.json stores Docker Hub credentials under.
pub const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed image reference: where (registry), what (repository), which (tag and/or digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry as written (`docker.io` when none was), e.g. `127.0.0.1:5000` or `[::1]:5000`.
    pub registry: String,
    /// The repository path, e.g. `user/penguinshell` or `library/busybox`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// The string that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Reference {
    /// Parses a reference such as `127.0.0.1:5000/user/penguinshell:latest`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let fail = |reason| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(fail("empty reference"));
        }
        if input.chars().any(char::is_whitespace) {
            return Err(fail("contains whitespace"));
        }
        if input.contains("://") {
            return Err(fail(
                "a reference has no scheme: write HOST[:PORT]/REPOSITORY[:TAG] \
                 (plain HTTP is used for localhost, or with --insecure)",
            ));
        }
        if let Some(first) = input.split('/').next()
            && let Some((_, host)) = first.rsplit_once('@')
            && input.contains('/')
        {
            // user info: never echo the password
            return Err(ReferenceError {
                input: format!("…@{host}{}", &input[first.len()..]),
                reason: "credentials do not go in a reference: pass --username and --password-stdin",
            });
        }
        // The digest comes last, after the only '@'.
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(fail)?;
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // The tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            check_tag(tag).map_err(fail)?;
        }
        if name.is_empty() {
            return Err(fail("missing repository name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_registry_host(first) => {
                check_host(first).map_err(fail)?;
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        check_repository(&repository).map_err(fail)?;
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(fail("name longer than 255 characters"));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host (and port) that answers the registry API: Docker Hub's is `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The host part without the port and brackets, to decide whether plain HTTP is allowed.
    pub fn hostname(&self) -> &str {
        host_without_port(self.api_host())
    }

    /// What the manifest is addressed by: the digest if given, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The keys a Docker config.json may hold this registry's credentials under, best first.
    pub fn credential_keys(&self) -> Vec<String> {
        if self.registry == DOCKER_HUB {
            vec![
                DOCKER_HUB_CONFIG_KEY.to_string(),
                "docker.io".to_string(),
                "index.docker.io".to_string(),
                "registry-1.docker.io".to_string(),
            ]
        } else {
            vec![
                self.registry.clone(),
                format!("https://{}", self.registry),
                format!("http://{}", self.registry),
            ]
        }
    }

    /// The same repository, another tag or digest.
    pub fn with_manifest_ref(&self, tag_or_digest: &str) -> Reference {
        let mut r = self.clone();
        if tag_or_digest.contains(':') {
            r.tag = None;
            r.digest = Some(tag_or_digest.to_string());
        } else {
            r.tag = Some(tag_or_digest.to_string());
            r.digest = None;
        }
        r
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` -> the host alone.
pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.split(':').next().unwrap_or(host)
}

fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn check_host(host: &str) -> Result<(), &'static str> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or("unclosed '[' in registry host")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address in registry host");
        }
        match after {
            "" => return Ok(()),
            p => (
                None,
                Some(p.strip_prefix(':').ok_or("junk after IPv6 address")?),
            ),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        if name.is_empty() {
            return Err("empty registry host");
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err("invalid registry host");
            }
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err("invalid registry port");
    }
    Ok(())
}

fn check_repository(path: &str) -> Result<(), &'static str> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err("empty path component");
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("repository name must be lowercase");
        }
        if !is_path_component(component) {
            return Err("invalid repository path component");
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    if b.is_empty() {
        return Err("empty tag");
    }
    if b.len() > TAG_MAX {
        return Err("tag longer than 128 characters");
    }
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    if !word(b[0]) || !b.iter().all(|&x| word(x) || x == b'.' || x == b'-') {
        return Err("invalid tag");
    }
    Ok(())
}

/// Checks `algorithm:hex`; sha256 and sha512 must have the right length of lowercase hex.
pub fn check_digest(digest: &str) -> Result<(), &'static str> {
    let (alg, hex) = digest.split_once(':').ok_or("digest lacks 'algorithm:'")?;
    let hex_ok = |n: usize| {
        hex.len() == n
            && hex
                .bytes()
                .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x))
    };
    match alg {
        "sha256" if hex_ok(64) => Ok(()),
        "sha512" if hex_ok(128) => Ok(()),
        "sha256" | "sha512" => Err("digest must be lowercase hex of the right length"),
        _ => Err("unsupported digest algorithm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_user_info_are_named() {
        let e = Reference::parse("http://127.0.0.1:5000/a/b:1").unwrap_err();
        assert!(e.to_string().contains("a reference has no scheme"), "{e}");
        let e = Reference::parse("alice:s3cret@127.0.0.1:5000/a/b:1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("--password-stdin"), "{e}");
        assert!(e.to_string().contains("…@127.0.0.1:5000/a/b:1"), "{e}");
    }

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn ok(input: &str, registry: &str, repo: &str, tag: Option<&str>, digest: Option<&str>) {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.as_deref(),
                r.digest.as_deref()
            ),
            (registry, repo, tag, digest),
            "{input}"
        );
    }

    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

    #[test]
    fn valid_references() {
        let table: &[Row<'_>] = &[
            ("busybox", "docker.io", "library/busybox", None, None),
            (
                "busybox:1.36",
                "docker.io",
                "library/busybox",
                Some("1.36"),
                None,
            ),
            ("user/repo", "docker.io", "user/repo", None, None),
            (
                "docker.io/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            (
                "index.docker.io/user/repo:v1",
                "docker.io",
                "user/repo",
                Some("v1"),
                None,
            ),
            (
                "docker.io/library/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            (
                "127.0.0.1:5000/user/penguinshell",
                "127.0.0.1:5000",
                "user/penguinshell",
                None,
                None,
            ),
            (
                "127.0.0.1:5000/p:latest",
                "127.0.0.1:5000",
                "p",
                Some("latest"),
                None,
            ),
            ("localhost/p", "localhost", "p", None, None),
            (
                "localhost:5000/a/b/c:t",
                "localhost:5000",
                "a/b/c",
                Some("t"),
                None,
            ),
            (
                "[::1]:5000/user/p:v2",
                "[::1]:5000",
                "user/p",
                Some("v2"),
                None,
            ),
            ("[::1]/p", "[::1]", "p", None, None),
            ("ghcr.io/o/r", "ghcr.io", "o/r", None, None),
            (
                "example.com/a.b/c_d/e__f/g-h---i",
                "example.com",
                "a.b/c_d/e__f/g-h---i",
                None,
                None,
            ),
            (
                "Example.COM:443/lower",
                "Example.COM:443",
                "lower",
                None,
                None,
            ),
        ];
        for (input, registry, repo, tag, digest) in table {
            ok(input, registry, repo, *tag, *digest);
        }
        ok(
            &format!("127.0.0.1:5000/p@{D}"),
            "127.0.0.1:5000",
            "p",
            None,
            Some(D),
        );
        ok(
            &format!("127.0.0.1:5000/p:t@{D}"),
            "127.0.0.1:5000",
            "p",
            Some("t"),
            Some(D),
        );
        ok(
            &format!("busybox@{D}"),
            "docker.io",
            "library/busybox",
            None,
            Some(D),
        );
    }

    #[test]
    fn invalid_references() {
        let upper_digest = D.to_uppercase().replacen("SHA256", "sha256", 1);
        let table: Vec<String> = vec![
            "".into(),
            "User/repo".into(),
            "127.0.0.1:5000/User/repo".into(),
            "127.0.0.1:5000/repo:".into(),
            "127.0.0.1:5000/repo:-tag".into(),
            "127.0.0.1:5000/repo:t@sha256:abc".into(),
            format!("127.0.0.1:5000/repo@{upper_digest}"),
            "127.0.0.1:5000/repo@md5:0123".into(),
            "127.0.0.1:99999/repo".into(),
            "127.0.0.1:/repo".into(),
            "[::1/repo".into(),
            "[zz::1]:5000/repo".into(),
            "a//b".into(),
            "a/b/".into(),
            "-a/b".into(),
            "a/b-".into(),
            "a/b..c".into(),
            "a/b___c".into(),
            "a b".into(),
            format!("x/{}", "a".repeat(300)),
            format!("x:{}", "t".repeat(129)),
        ];
        for input in table {
            let err = Reference::parse(&input).expect_err(&input);
            assert_eq!(err.input, input);
            let line = err.to_string();
            assert!(line.starts_with("invalid reference"), "{line}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn uppercase_names_say_lowercase() {
        let err = Reference::parse("127.0.0.1:5000/Penguin").unwrap_err();
        assert_eq!(err.reason, "repository name must be lowercase");
    }

    #[test]
    fn docker_hub_rules() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.credential_keys()[0], "https://index.docker.io/v1/");
        assert_eq!(r.manifest_ref(), "latest");
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        let r = Reference::parse("[::1]:5000/p:t").unwrap();
        assert_eq!(r.hostname(), "::1");
        assert_eq!(r.api_host(), "[::1]:5000");
        assert_eq!(r.manifest_ref(), "t");
        assert_eq!(r.to_string(), "[::1]:5000/p:t");
        let r = Reference::parse("127.0.0.1:5000/p").unwrap();
        assert_eq!(r.hostname(), "127.0.0.1");
        assert_eq!(r.credential_keys()[0], "127.0.0.1:5000");
    }
}
