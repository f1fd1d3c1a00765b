//! A Docker-Hub-like token issuer for the registry's `auth.token` mode.
//!
//! It checks Basic credentials (or an OAuth2 `refresh_token`), and answers
//! `{"token","access_token","expires_in","issued_at"}` with an ES256 JWT whose header carries
//! `x5c` (the issuer certificate) and whose claims carry `iss`, `aud`, `exp`, `nbf`, `iat`,
//! `jti` and `access` (what the scopes asked for). Keys and certificates come from the
//! `openssl` CLI; signing too (`openssl dgst -sha256 -sign`), converted to JOSE's `r||s`.
//! A small `std::net` server in a thread.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The issuer name the registry is configured to trust.
pub const ISSUER: &str = "penguinshell-token-issuer";
/// The service (JWT audience) the registry calls itself.
pub const SERVICE: &str = "penguinshell-registry";

/// A running token issuer.
pub struct TokenServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://ADDR/token`, the registry's `realm`.
    pub realm: String,
    /// The issuer certificate (PEM): the registry's `rootcertbundle`.
    pub cert_pem: PathBuf,
    state: Arc<State>,
}

struct State {
    username: String,
    password: String,
    identity_token: Option<String>,
    key_pem: PathBuf,
    x5c: String,
    expires_in: u64,
    issued: Mutex<Vec<String>>,
    requests: AtomicUsize,
    stop: AtomicBool,
}

/// Runs `openssl ARGS`, failing with its stderr.
pub fn openssl(args: &[&str], dir: &Path) -> Result<Vec<u8>> {
    let out = Command::new(crate::tools::require("openssl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run openssl")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` -> 64 bytes `r||s` (JOSE ES256).
fn der_signature_to_raw(der: &[u8]) -> Result<Vec<u8>> {
    let mut i = 0;
    let mut take = |expect: u8| -> Result<Vec<u8>> {
        if der.get(i) != Some(&expect) {
            bail!("unexpected DER signature");
        }
        let mut len = der[i + 1] as usize;
        i += 2;
        if len & 0x80 != 0 {
            let n = len & 0x7f;
            len = der[i..i + n].iter().fold(0, |a, &b| (a << 8) | b as usize);
            i += n;
        }
        let v = der[i..i + len].to_vec();
        if expect == 0x30 {
            return Ok(v);
        }
        i += len;
        Ok(v)
    };
    let _seq = take(0x30)?;
    let r = take(0x02)?;
    let s = take(0x02)?;
    let mut out = Vec::with_capacity(64);
    for mut n in [r, s] {
        while n.len() > 32 && n[0] == 0 {
            n.remove(0);
        }
        if n.len() > 32 {
            bail!("ECDSA integer longer than 32 bytes");
        }
        out.extend(std::iter::repeat_n(0, 32 - n.len()));
        out.extend(n);
    }
    Ok(out)
}

impl TokenServer {
    /// Generates the issuer key and certificate in `dir` and starts serving on 127.0.0.1.
    /// Only `username`/`password` (or `identity_token` as a refresh token) get access.
    pub fn start(
        dir: &Path,
        username: &str,
        password: &str,
        identity_token: Option<&str>,
    ) -> Result<TokenServer> {
        TokenServer::start_on(dir, username, password, identity_token, 0)
    }

    /// [`TokenServer::start`] on `127.0.0.1:port` (0: a free port).
    pub fn start_on(
        dir: &Path,
        username: &str,
        password: &str,
        identity_token: Option<&str>,
        port: u16,
    ) -> Result<TokenServer> {
        std::fs::create_dir_all(dir)?;
        openssl(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "issuer-key.pem",
            ],
            dir,
        )?;
        openssl(
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                "issuer-key.pem",
                "-out",
                "issuer.pem",
                "-days",
                "3650",
                "-subj",
                "/CN=penguinshell token issuer",
            ],
            dir,
        )?;
        let der = openssl(&["x509", "-in", "issuer.pem", "-outform", "DER"], dir)?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("the token issuer cannot listen on 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            username: username.to_string(),
            password: password.to_string(),
            identity_token: identity_token.map(String::from),
            key_pem: dir.join("issuer-key.pem"),
            x5c: base64::engine::general_purpose::STANDARD.encode(der),
            expires_in: 300,
            issued: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, &st);
                    });
                }
            }
        });
        Ok(TokenServer {
            addr,
            realm: format!("http://{addr}/token"),
            cert_pem: dir.join("issuer.pem"),
            state,
        })
    }

    /// Every token issued so far (to check none leaks into an output).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }

    /// How many token requests were served.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Decodes a URL-encoded string (`%XX` escapes, as in queries and forms).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A request line and its headers (names lowercased).
pub type Head = (String, Vec<(String, String)>);

/// Reads an HTTP request head; returns the request line and headers (names lowercased).
pub fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let request_line = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Some((request_line, headers)))
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn serve(stream: TcpStream, st: &State) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let Some((request_line, headers)) = read_head(&mut reader)? else {
        return Ok(());
    };
    st.requests.fetch_add(1, Ordering::SeqCst);
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut params = form_pairs(query);
    let mut authorized = false;
    if method == "POST" {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        params.extend(form_pairs(&String::from_utf8_lossy(&body)));
        let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        authorized = match get("grant_type").as_deref() {
            Some("refresh_token") => {
                st.identity_token.is_some() && get("refresh_token") == st.identity_token
            }
            Some("password") => {
                get("username").as_deref() == Some(&st.username)
                    && get("password").as_deref() == Some(&st.password)
            }
            _ => false,
        };
        if !authorized {
            return Ok(respond(
                &mut stream,
                "401 Unauthorized",
                r#"{"details":"invalid grant"}"#,
            )?);
        }
    } else if let Some(auth) = header("authorization") {
        let ok = auth
            .strip_prefix("Basic ")
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .map(|raw| raw == format!("{}:{}", st.username, st.password).into_bytes())
            .unwrap_or(false);
        if !ok {
            return Ok(respond(
                &mut stream,
                "401 Unauthorized",
                r#"{"details":"incorrect username or password"}"#,
            )?);
        }
        authorized = true;
    }
    // anonymous callers get a token with no access (the registry then says denied)
    let mut access = Vec::new();
    if authorized {
        for (k, v) in &params {
            if k != "scope" {
                continue;
            }
            for scope in v.split(' ') {
                let mut it = scope.splitn(3, ':');
                let (Some(t), Some(name), Some(actions)) = (it.next(), it.next(), it.next()) else {
                    continue;
                };
                // names may hold a port-less host only; actions are the last field
                let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
                access.push(serde_json::json!({"type": t, "name": name, "actions": actions}));
            }
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let jti = format!("{now}-{}", st.requests.load(Ordering::SeqCst));
    let header_json = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [st.x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": if authorized { st.username.as_str() } else { "" },
        "aud": SERVICE,
        "exp": now + st.expires_in,
        "nbf": now - 10,
        "iat": now,
        "jti": jti,
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header_json.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&st.key_pem)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("openssl stdin")?
        .write_all(signing_input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        respond(&mut stream, "500 Internal Server Error", "{}")?;
        bail!("openssl dgst -sign failed");
    }
    let sig = der_signature_to_raw(&out.stdout)?;
    let token = format!("{signing_input}.{}", b64url(&sig));
    st.issued.lock().unwrap().push(token.clone());
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": st.expires_in,
        "issued_at": humantime_rfc3339(now),
    });
    respond(&mut stream, "200 OK", &body.to_string())?;
    Ok(())
}

/// Seconds since the epoch as RFC 3339 UTC (`issued_at`).
fn humantime_rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::humantime_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::humantime_rfc3339(1_700_000_000),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn der_to_raw() {
        // SEQUENCE { INTEGER 0x00 0x80.. (33 bytes), INTEGER 0x01 }
        let mut der = vec![0x30, 0x26, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x01, 0x01]);
        let raw = super::der_signature_to_raw(&der).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(raw[0], 0x80);
        assert_eq!(raw[63], 0x01);
        assert_eq!(raw[32..63], [0; 31]);
    }
}
