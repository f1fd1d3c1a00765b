//! Where credentials come from: the flags, `PUSHER_USERNAME`/`PUSHER_PASSWORD`, or Docker's
//! config.json (`credHelpers`, `auths` with `auth` or `identitytoken`, `credsStore`), the helpers
//! run as `docker-credential-NAME get`. Secrets live in [`Secret`], which never prints itself.

use crate::errors::{Error, Result};
use crate::reference::Reference;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A password or token. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What we log in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A username and password (or personal access token).
    UserPassword {
        /// The username.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json, `<token>` from a helper).
    IdentityToken(Secret),
}

impl Credential {
    /// Every secret this credential carries, so outputs can be checked or scrubbed.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::UserPassword { password, .. } => vec![password.expose()],
            Credential::IdentityToken(t) => vec![t.expose()],
        }
    }
}

/// Where the credential was found, for `--trace` (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--username` and `--password-stdin`.
    Flags,
    /// `PUSHER_USERNAME` / `PUSHER_PASSWORD`.
    Environment,
    /// config.json `auths`.
    ConfigAuths(PathBuf),
    /// A `docker-credential-NAME` helper.
    Helper(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flags => f.write_str("--username and --password-stdin"),
            Origin::Environment => f.write_str("PUSHER_USERNAME and PUSHER_PASSWORD"),
            Origin::ConfigAuths(p) => write!(f, "the auths of {}", p.display()),
            Origin::Helper(h) => write!(f, "{h} get"),
        }
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// Finds credentials for `reference`: the flags, then the environment, then Docker's config.
pub fn find_credentials(
    reference: &Reference,
    flags: Option<Credential>,
) -> Result<Option<(Credential, Origin)>> {
    if let Some(c) = flags {
        return Ok(Some((c, Origin::Flags)));
    }
    if let (Ok(username), Ok(password)) = (
        std::env::var("PUSHER_USERNAME"),
        std::env::var("PUSHER_PASSWORD"),
    ) {
        return Ok(Some((
            Credential::UserPassword {
                username,
                password: Secret::new(password),
            },
            Origin::Environment,
        )));
    }
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    from_docker_config(reference, &path)
}

/// Looks `reference` up in one Docker config file (a missing file means no credentials).
pub fn from_docker_config(
    reference: &Reference,
    path: &std::path::Path,
) -> Result<Option<(Credential, Origin)>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let config: DockerConfig = serde_json::from_slice(&text)
        .map_err(|e| Error::Credentials(format!("{}: not a docker config: {e}", path.display())))?;
    let keys = reference.credential_keys();
    for key in &keys {
        if let Some(helper) = config.cred_helpers.get(key) {
            return run_helper(helper, &keys[0]);
        }
    }
    for key in &keys {
        if let Some(entry) = config.auths.get(key)
            && let Some(c) = auth_entry(entry, key, path)?
        {
            return Ok(Some((c, Origin::ConfigAuths(path.to_path_buf()))));
        }
    }
    if let Some(store) = &config.creds_store {
        return run_helper(store, &keys[0]);
    }
    Ok(None)
}

fn auth_entry(entry: &AuthEntry, key: &str, path: &std::path::Path) -> Result<Option<Credential>> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(Secret::new(token))));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let bad = || {
            Error::Credentials(format!(
                "{}: auths entry for {key} is not base64 of user:password",
                path.display()
            ))
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (username, password) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::UserPassword {
            username: username.to_string(),
            password: Secret::new(password),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credential::UserPassword {
            username: u.clone(),
            password: Secret::new(p.clone()),
        }));
    }
    Ok(None)
}

/// Runs `docker-credential-NAME get` with the server URL on stdin.
pub fn run_helper(name: &str, server: &str) -> Result<Option<(Credential, Origin)>> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Credentials(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // a helper that exits early closes its stdin: its exit status tells the story
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Credentials(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if said.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::Credentials(format!(
            "{program} get failed with {}",
            out.status
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| Error::Credentials(format!("{program} get printed no credentials JSON")))?;
    let origin = Origin::Helper(program);
    if answer.username == "<token>" {
        return Ok(Some((
            Credential::IdentityToken(Secret::new(answer.secret)),
            origin,
        )));
    }
    Ok(Some((
        Credential::UserPassword {
            username: answer.username,
            password: Secret::new(answer.secret),
        },
        origin,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(config: &str, reference: &str) -> Option<Credential> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, config).unwrap();
        from_docker_config(&Reference::parse(reference).unwrap(), &path)
            .unwrap()
            .map(|(c, _)| c)
    }

    fn up(u: &str, p: &str) -> Option<Credential> {
        Some(Credential::UserPassword {
            username: u.into(),
            password: Secret::new(p),
        })
    }

    #[test]
    fn config_auths_entries() {
        // "alice:s3cr:et" base64
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let config = format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{b64}"}}}}}}"#);
        assert_eq!(lookup(&config, "127.0.0.1:5000/p"), up("alice", "s3cr:et"));
        assert_eq!(lookup(&config, "127.0.0.1:5001/p"), None);
        let config = format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{b64}"}}}}}}"#);
        assert_eq!(lookup(&config, "busybox"), up("alice", "s3cr:et"));
        let config = r#"{"auths":{"https://r.example:5000":{"identitytoken":"tok"}}}"#;
        assert_eq!(
            lookup(config, "r.example:5000/a/b"),
            Some(Credential::IdentityToken(Secret::new("tok")))
        );
        assert_eq!(lookup(r#"{"auths":{"r.example":{}}}"#, "r.example/a"), None);
    }

    #[test]
    fn secrets_do_not_print() {
        let c = up("alice", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Secret::new("x").to_string(), "<redacted>");
    }
}
