//! A client for one repository of one registry: ping `GET /v2/` to learn the scheme and the
//! auth challenge, log in (Basic, or a Bearer token scoped to the repository and any mount
//! source), then send requests with the right `Authorization`, answering a fresh 401
//! challenge once (token expiry, wider scope) and never looping. The Authorization is bound
//! to the registry's own origin: an upload `Location` or a redirect to another host gets none.

use crate::auth::{self, Challenge, Credential, Scheme, Token, token::TokenError};
use crate::errors::{Error, Result};
use crate::reference::Reference;
use crate::transport::{
    Authorization, BodyError, Request, Response, SendError, Transport, TransportOptions,
};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;
use ureq::http::Method;

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// TLS roots, trace and retries.
    pub transport: TransportOptions,
    /// Allow plain HTTP to any host (HTTPS is tried first).
    pub insecure: bool,
    /// The credential to use, if any (see [`auth::find_credentials`]).
    pub credential: Option<Credential>,
}

enum AuthState {
    Anonymous,
    Basic(String),
    Bearer {
        challenge: Challenge,
        scopes: BTreeSet<String>,
        token: Option<Token>,
    },
}

/// A logged-in connection to one repository.
pub struct Client {
    transport: Transport,
    /// The repository's reference.
    pub reference: Reference,
    /// `push`, `pull` or `inspect`, for error messages.
    pub op: &'static str,
    base: String,
    credential: Option<Credential>,
    state: Mutex<AuthState>,
}

impl Client {
    /// Connects: picks the scheme, pings `/v2/`, and logs in for `actions` (`pull` or
    /// `pull,push`) on the repository plus `pull` on each of `mount_sources`.
    pub fn connect(
        op: &'static str,
        reference: &Reference,
        options: &ClientOptions,
        actions: &str,
        mount_sources: &[String],
    ) -> Result<Client> {
        let host = reference.api_host().to_string();
        let transport =
            Transport::new(&options.transport, &host).map_err(|message| Error::Protocol {
                op,
                reference: reference.to_string(),
                message: format!("tls setup: {message}"),
            })?;
        let loopback = crate::transport::is_loopback_host(reference.hostname());
        let schemes: &[&str] = if loopback && options.transport.ca_file.is_none() {
            &["http", "https"]
        } else if loopback || options.insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut scopes = BTreeSet::new();
        scopes.insert(auth::repository_scope(&reference.repository, actions));
        for m in mount_sources {
            scopes.insert(auth::repository_scope(m, "pull"));
        }
        let mut client = Client {
            transport,
            reference: reference.clone(),
            op,
            base: String::new(),
            credential: options.credential.clone(),
            state: Mutex::new(AuthState::Anonymous),
        };
        let mut last_err = None;
        for (i, scheme) in schemes.iter().enumerate() {
            let is_last = i + 1 == schemes.len();
            client.base = format!("{scheme}://{host}");
            let ping = Request::new(Method::GET, format!("{}/v2/", client.base));
            match client.transport.send(&ping, None) {
                Ok(mut resp) => {
                    if resp.status == 400 && !is_last {
                        let body = resp.bytes(4096).unwrap_or_default();
                        if String::from_utf8_lossy(&body).contains("HTTPS server") {
                            continue;
                        }
                    }
                    client.login(resp, scopes)?;
                    return Ok(client);
                }
                Err(e) => {
                    let refused = e.message.to_lowercase().contains("refused");
                    last_err = Some(e);
                    if is_last || (*scheme == "http" && refused) {
                        break;
                    }
                }
            }
        }
        let e = last_err.expect("at least one scheme was tried");
        Err(client.network_error(e))
    }

    /// Learns the auth scheme from the ping's answer and logs in.
    fn login(&self, mut ping: Response, scopes: BTreeSet<String>) -> Result<()> {
        match ping.status {
            200 => return Ok(()),
            401 => {}
            status => {
                let body = ping.bytes(1 << 16).unwrap_or_default();
                return Err(Error::from_status(
                    self.op,
                    &self.reference.to_string(),
                    status,
                    &body,
                    "ping /v2/",
                ));
            }
        }
        let challenges: Vec<Challenge> = ping
            .header_all("WWW-Authenticate")
            .iter()
            .flat_map(|h| auth::parse_challenges(h))
            .collect();
        if let Some(c) = challenges.iter().find(|c| c.scheme == Scheme::Bearer) {
            let mut scopes = scopes;
            scopes.extend(c.scopes());
            let scopes_v: Vec<String> = scopes.iter().cloned().collect();
            let token = auth::fetch_token(&self.transport, c, &scopes_v, self.credential.as_ref())
                .map_err(|e| self.token_error(e))?;
            *self.state.lock().expect("auth state lock") = AuthState::Bearer {
                challenge: c.clone(),
                scopes,
                token: Some(token),
            };
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == Scheme::Basic) {
            let Some(Credential::UserPassword { username, password }) = &self.credential else {
                return Err(self.auth_error(
                    "the registry wants a username and password (basic auth) and none was given: \
                     pass --username and --password-stdin"
                        .into(),
                ));
            };
            let header = auth::basic_header(username, password.expose());
            // check the credentials now, before anything is pushed
            let check = Request::new(Method::GET, format!("{}/v2/", self.base));
            let mut resp = self
                .transport
                .send(&check, self.bind(header.clone()).as_ref())
                .map_err(|e| self.network_error(e))?;
            if resp.status != 200 {
                let body = resp.bytes(1 << 16).unwrap_or_default();
                return Err(Error::from_status(
                    self.op,
                    &self.reference.to_string(),
                    resp.status,
                    &body,
                    "log in",
                ));
            }
            *self.state.lock().expect("auth state lock") = AuthState::Basic(header);
            return Ok(());
        }
        Err(self.auth_error("the registry answered 401 without a usable challenge".into()))
    }

    /// An Authorization value bound to the registry's origin.
    fn bind(&self, value: String) -> Option<Authorization> {
        Authorization::new(value, &self.base)
    }

    fn auth_error(&self, message: String) -> Error {
        Error::Auth {
            op: self.op,
            reference: self.reference.to_string(),
            message,
        }
    }

    fn token_error(&self, e: TokenError) -> Error {
        match e {
            TokenError::Refused(m) => self.auth_error(m),
            TokenError::Failed(m) => Error::Protocol {
                op: self.op,
                reference: self.reference.to_string(),
                message: m,
            },
        }
    }

    /// The error for a request that got no answer.
    pub fn network_error(&self, e: SendError) -> Error {
        Error::Network {
            op: self.op,
            reference: self.reference.to_string(),
            url: e.url.clone(),
            step: e.step.clone(),
            message: if e.unreachable {
                format!("cannot reach {}: {e}", e.url)
            } else {
                format!("{e} ({})", e.url)
            },
        }
    }

    /// The error for a body that could not be read as declared: a network failure (retried by
    /// [`retry_download`]) or a registry that sent more than it should (not retried).
    pub fn download_error(&self, req: &Request, url: &str, e: &BodyError) -> Error {
        body_error(self.op, &self.reference.to_string(), &req.step(), url, e)
    }

    /// `scheme://host/v2/REPOSITORY/` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.reference.repository)
    }

    /// The `Authorization` to send now (bound to the registry's origin), refreshing an
    /// expired token.
    fn authorization(&self) -> Result<Option<Authorization>> {
        let mut state = self.state.lock().expect("auth state lock");
        match &mut *state {
            AuthState::Anonymous => Ok(None),
            AuthState::Basic(h) => Ok(self.bind(h.clone())),
            AuthState::Bearer {
                challenge,
                scopes,
                token,
            } => {
                let fresh = token
                    .as_ref()
                    .is_some_and(|t| Instant::now() < t.refresh_at);
                if !fresh {
                    let scopes_v: Vec<String> = scopes.iter().cloned().collect();
                    let t = auth::fetch_token(
                        &self.transport,
                        challenge,
                        &scopes_v,
                        self.credential.as_ref(),
                    )
                    .map_err(|e| self.token_error(e))?;
                    *token = Some(t);
                }
                Ok(token
                    .as_ref()
                    .and_then(|t| self.bind(format!("Bearer {}", t.value))))
            }
        }
    }

    /// Answers a 401 seen mid-session: takes the new challenge (wider scope, expiry) and
    /// gets a new token. Returns whether a retry makes sense.
    fn reauthenticate(&self, resp: &Response) -> Result<bool> {
        let challenges: Vec<Challenge> = resp
            .header_all("WWW-Authenticate")
            .iter()
            .flat_map(|h| auth::parse_challenges(h))
            .collect();
        let mut state = self.state.lock().expect("auth state lock");
        if let Some(c) = challenges.into_iter().find(|c| c.scheme == Scheme::Bearer) {
            let mut scopes = match &*state {
                AuthState::Bearer { scopes, .. } => scopes.clone(),
                _ => BTreeSet::new(),
            };
            scopes.insert(auth::repository_scope(&self.reference.repository, "pull"));
            scopes.extend(c.scopes());
            *state = AuthState::Bearer {
                challenge: c,
                scopes,
                token: None,
            };
            return Ok(true);
        }
        if let (AuthState::Anonymous, Some(Credential::UserPassword { username, password })) =
            (&*state, &self.credential)
        {
            *state = AuthState::Basic(auth::basic_header(username, password.expose()));
            return Ok(true);
        }
        Ok(false)
    }

    /// Sends a request with authorization; a 401 is answered once with a new login.
    pub fn send(&self, req: &Request) -> Result<Response> {
        let auth = self.authorization()?;
        let resp = self
            .transport
            .send(req, auth.as_ref())
            .map_err(|e| self.network_error(e))?;
        if resp.status != 401 || !self.reauthenticate(&resp)? {
            return Ok(resp);
        }
        let auth = self.authorization()?;
        self.transport
            .send(req, auth.as_ref())
            .map_err(|e| self.network_error(e))
    }

    /// An error from an unexpected status, reading the registry's error body.
    /// An anonymous client refused with 401 is told how to log in.
    pub fn status_error(&self, mut resp: Response, doing: &str) -> Error {
        let body = resp.bytes(1 << 16).unwrap_or_default();
        let e = Error::from_status(
            self.op,
            &self.reference.to_string(),
            resp.status,
            &body,
            doing,
        );
        match e {
            Error::Auth {
                op,
                reference,
                message,
            } if resp.status == 401 && self.credential.is_none() => Error::Auth {
                op,
                reference,
                message: format!(
                    "{message}; no credentials were given: pass --username and --password-stdin"
                ),
            },
            other => other,
        }
    }
}

/// The error for a body of `step` from `url` that could not be read as declared; see
/// [`Client::download_error`].
pub fn body_error(
    op: &'static str,
    reference: &str,
    step: &str,
    url: &str,
    e: &BodyError,
) -> Error {
    match e {
        BodyError::TooLong { .. } => Error::Protocol {
            op,
            reference: reference.to_string(),
            message: format!("{step}: {e}"),
        },
        _ => Error::Network {
            op,
            reference: reference.to_string(),
            step: step.to_string(),
            url: crate::transport::redact_url(url),
            message: format!("{e} ({})", crate::transport::redact_url(url)),
        },
    }
}

/// How many times a download is tried in all when its body fails on the network.
pub const DOWNLOAD_ATTEMPTS: u32 = 3;

/// Runs a download again (a fresh request, a fresh temporary file) when its body failed on
/// the network (the attempt says so with `true`), up to [`DOWNLOAD_ATTEMPTS`] in all, with a
/// short growing pause; an interrupted process does not retry. Requests themselves are
/// retried by the transport.
pub fn retry_download<T>(mut attempt: impl FnMut() -> Result<T, DownloadError>) -> Result<T> {
    let mut n = 0;
    loop {
        n += 1;
        match attempt() {
            Ok(v) => return Ok(v),
            Err(e) if e.transient && n < DOWNLOAD_ATTEMPTS && !crate::transport::is_cancelled() => {
                std::thread::sleep(std::time::Duration::from_millis(200 << n));
            }
            Err(e) => return Err(*e.error),
        }
    }
}

/// A failed download attempt, and whether another may succeed.
#[derive(Debug)]
pub struct DownloadError {
    /// What failed.
    pub error: Box<Error>,
    /// A network failure of the body: worth another try.
    pub transient: bool,
}

impl DownloadError {
    /// A failure another try may fix when `transient`.
    pub fn new(error: Error, transient: bool) -> DownloadError {
        DownloadError {
            error: Box::new(error),
            transient,
        }
    }
}

impl From<Error> for DownloadError {
    fn from(error: Error) -> DownloadError {
        DownloadError::new(error, false)
    }
}
