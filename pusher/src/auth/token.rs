//! The Bearer token exchange: `GET realm?service=..&scope=..` with Basic credentials (or a
//! `POST` with an identity token as OAuth2 refresh token); the answer's `token` or
//! `access_token`, valid for `expires_in` seconds.

use super::challenge::Challenge;
use super::credentials::Credential;
use crate::transport::{Body, Request, Response, Transport};
use base64::Engine as _;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::http::Method;

/// A token and when it stops being good.
#[derive(Clone)]
pub struct Token {
    /// The bearer token (a secret: never printed).
    pub value: String,
    /// When to fetch a new one (a little before the server's expiry).
    pub refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Why the token server did not give a token.
#[derive(Debug)]
pub enum TokenError {
    /// It refused our credentials (401/403): an auth failure.
    Refused(String),
    /// It failed or could not be reached.
    Failed(String),
}

/// `Basic base64(user:password)`.
pub fn basic_header(username: &str, password: &str) -> String {
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Asks the challenge's realm for a token covering `scopes`.
pub fn fetch_token(
    transport: &Transport,
    challenge: &Challenge,
    scopes: &[String],
    credential: Option<&Credential>,
) -> Result<Token, TokenError> {
    let realm = challenge
        .realm()
        .ok_or_else(|| TokenError::Failed("bearer challenge without realm".into()))?;
    let service = challenge.service().unwrap_or("");
    let (req, auth) = match credential {
        Some(Credential::IdentityToken(t)) => {
            let mut form = format!(
                "grant_type=refresh_token&client_id=pusher&service={}&refresh_token={}",
                query_escape(service),
                query_escape(t.expose())
            );
            if !scopes.is_empty() {
                form += &format!("&scope={}", query_escape(&scopes.join(" ")));
            }
            let req = Request::new(Method::POST, realm)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(Body::Bytes(Arc::new(form.into_bytes())));
            (req, None)
        }
        other => {
            let mut url = crate::transport::url::parse_http_url(realm)
                .map_err(|e| TokenError::Failed(format!("bearer challenge realm: {e}")))?;
            {
                let mut q = url.query_pairs_mut();
                if !service.is_empty() {
                    q.append_pair("service", service);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
            }
            let url = String::from(url);
            let auth = match other {
                Some(Credential::UserPassword { username, password }) => {
                    Some(basic_header(username, password.expose()))
                }
                _ => None,
            };
            (Request::new(Method::GET, url), auth)
        }
    };
    let started = Instant::now();
    // the credentials go to the realm's origin only (a redirect elsewhere gets none)
    let auth = auth.and_then(|a| crate::transport::Authorization::new(a, &req.url));
    let mut resp: Response = transport
        .send(&req, auth.as_ref())
        .map_err(|e| TokenError::Failed(format!("token server {}: {e}", e.url)))?;
    let body = resp.bytes(1 << 20).unwrap_or_default();
    resp.trace_json_body(&body);
    if resp.status == 401 || resp.status == 403 {
        return Err(TokenError::Refused(format!(
            "token server refused the credentials ({} {})",
            resp.status,
            crate::transport::reason(resp.status)
        )));
    }
    if resp.status != 200 {
        return Err(TokenError::Failed(format!(
            "token server answered {} {}",
            resp.status,
            crate::transport::reason(resp.status)
        )));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|_| TokenError::Failed("token server answered no token JSON".into()))?;
    let value = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Failed("token server answered no token".into()))?;
    // 60 s is the spec's default lifetime; refresh a little early.
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).max(1));
    let margin = (lifetime / 10).min(Duration::from_secs(10));
    Ok(Token {
        value,
        refresh_at: started + lifetime - margin,
    })
}
