//! The real registry (Debian's `docker-registry serve CONFIG`) on a free 127.0.0.1 port, in a
//! temporary folder, in one of four modes: no auth, htpasswd Basic, token auth (with
//! [`TokenServer`]), or HTTPS with a self-signed CA. Killed when dropped.
//!
//! ```no_run
//! let reg = tests::registry::Registry::start(tests::registry::Auth::Basic).unwrap();
//! println!("push to {}/user/penguinshell as {}", reg.host, reg.username.as_deref().unwrap());
//! ```

use crate::token_server::{ISSUER, SERVICE, TokenServer, openssl};
use crate::tools::require;
use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry authenticates (and whether it speaks TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may push and pull.
    None,
    /// `auth.htpasswd`: 401 with `WWW-Authenticate: Basic`.
    Basic,
    /// `auth.token`: 401 with a Bearer challenge pointing at our token server.
    Token,
    /// HTTPS with a self-signed CA (no auth).
    Tls,
}

impl Auth {
    /// Every mode, for tests that run in each.
    pub const ALL: [Auth; 4] = [Auth::None, Auth::Basic, Auth::Token, Auth::Tls];

    /// A short name for logs and repository names.
    pub fn name(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic => "basic",
            Auth::Token => "token",
            Auth::Tls => "tls",
        }
    }
}

/// The username the Basic and Token modes accept.
pub const USERNAME: &str = "penguin";

/// A running registry.
pub struct Registry {
    /// Its mode.
    pub auth: Auth,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `127.0.0.1:PORT`, the host part of references.
    pub host: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The username to log in with (Basic, Token).
    pub username: Option<String>,
    /// The password to log in with (Basic, Token).
    pub password: Option<String>,
    /// The identity token the token server accepts as an OAuth2 refresh token (Token).
    pub identity_token: Option<String>,
    /// The CA certificate (PEM) that signed the registry's certificate (Tls).
    pub ca_pem: Option<PathBuf>,
    /// The token issuer (Token).
    pub token_server: Option<TokenServer>,
    /// The registry's storage root.
    pub storage: PathBuf,
    /// The registry's log file.
    pub log: PathBuf,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn secret(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}-{}", nanos, std::process::id())
}

/// Generates a CA and a server certificate for 127.0.0.1 and localhost, signed by it.
fn make_tls(dir: &Path) -> Result<()> {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=penguinshell test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    )?;
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    )?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "3650",
            "-extfile",
            "ext.cnf",
        ],
        dir,
    )?;
    Ok(())
}

impl Registry {
    /// Starts a registry in `auth` mode in a fresh temporary folder, and waits until it answers.
    pub fn start(auth: Auth) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("registry-{}-", auth.name()))
            .tempdir()?;
        let path = dir.path().to_path_buf();
        let mut reg = Registry::start_in(auth, &path)?;
        reg._dir = Some(dir);
        Ok(reg)
    }

    /// Starts a registry whose config, certificates and storage live in `dir` (kept).
    pub fn start_in(auth: Auth, dir: &Path) -> Result<Registry> {
        Registry::start_on(auth, dir, free_port()?)
    }

    /// Starts a registry on `127.0.0.1:port` whose files live in `dir` (kept).
    pub fn start_on(auth: Auth, dir: &Path, port: u16) -> Result<Registry> {
        Registry::start_with(auth, dir, port, 0)
    }

    /// [`Registry::start_on`], with the token issuer (Token mode) on `token_port` (0: a free one).
    pub fn start_with(auth: Auth, dir: &Path, port: u16, token_port: u16) -> Result<Registry> {
        let binary = require("docker-registry");
        std::fs::create_dir_all(dir)?;
        let host = format!("127.0.0.1:{port}");
        let storage = dir.join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: penguinshell-test-secret\n",
            storage.display()
        );
        let (mut username, mut password, mut identity_token) = (None, None, None);
        let mut ca_pem = None;
        let mut token_server = None;
        let mut scheme = "http";
        match auth {
            Auth::None => {}
            Auth::Basic => {
                let pw = secret("basic-pw");
                let out = Command::new(require("htpasswd"))
                    .args(["-Bbn", USERNAME, &pw])
                    .output()
                    .context("cannot run htpasswd")?;
                if !out.status.success() {
                    bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                std::fs::write(dir.join("htpasswd"), &out.stdout)?;
                config += &format!(
                    "auth:\n  htpasswd:\n    realm: penguinshell-realm\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
                username = Some(USERNAME.to_string());
                password = Some(pw);
            }
            Auth::Token => {
                let pw = secret("token-pw");
                let idt = secret("identity-token");
                let ts = TokenServer::start_on(
                    &dir.join("issuer"),
                    USERNAME,
                    &pw,
                    Some(&idt),
                    token_port,
                )?;
                config += &format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    ts.realm,
                    ts.cert_pem.display()
                );
                username = Some(USERNAME.to_string());
                password = Some(pw);
                identity_token = Some(idt);
                token_server = Some(ts);
            }
            Auth::Tls => {
                make_tls(dir)?;
                config += &format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.join("server.pem").display(),
                    dir.join("server-key.pem").display()
                );
                ca_pem = Some(dir.join("ca.pem"));
                scheme = "https";
            }
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = dir.join("registry.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("cannot start docker-registry")?;
        let mut reg = Registry {
            auth,
            addr: host.parse()?,
            host,
            scheme,
            username,
            password,
            identity_token,
            ca_pem,
            token_server,
            storage,
            log,
            child,
            _dir: None,
        };
        reg.wait_ready()?;
        Ok(reg)
    }

    /// Waits until the registry we started listens on its port. Another program that holds the
    /// port does not count: the listening socket must be our child's own (read from /proc), so a
    /// taken port ends with the registry's own error line instead of a false "ready".
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "docker-registry exited with {status}: {}",
                    last_error_line(&self.log)
                );
            }
            if listens_on(self.child.id(), self.addr.port())
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "docker-registry did not listen on {} within 20 s",
            self.host
        )
    }

    /// The registry process's id (to read its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `HOST/NAME` (NAME like `user/penguinshell:latest`).
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }

    /// `scheme://host/v2/` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/v2/{path}", self.scheme, self.host)
    }

    /// Makes Docker Engine trust the registry's CA: `/etc/docker/certs.d/HOST/ca.crt` (Tls).
    pub fn install_docker_ca(&self) -> Result<PathBuf> {
        let ca = self.ca_pem.as_ref().context("this registry has no CA")?;
        let dir = Path::new("/etc/docker/certs.d").join(&self.host);
        std::fs::create_dir_all(&dir)?;
        let dest = dir.join("ca.crt");
        std::fs::copy(ca, &dest)?;
        Ok(dest)
    }

    /// Every secret of this registry (password, its Basic encoding, identity token, tokens).
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .password
            .iter()
            .chain(self.identity_token.iter())
            .cloned()
            .collect();
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            use base64::Engine as _;
            s.push(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")));
        }
        if let Some(ts) = &self.token_server {
            s.extend(ts.issued_tokens());
        }
        s
    }

    /// Blocks until the registry exits (for `cargo xtask registry` in the foreground).
    pub fn wait(&mut self) -> Result<std::process::ExitStatus> {
        Ok(self.child.wait()?)
    }

    /// The registry's exit status if it has exited, without waiting.
    pub fn try_exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Stops the registry now (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last non-empty line of a log: the registry's own error when it fails to start
/// (`listen tcp 127.0.0.1:5000: bind: address already in use`).
pub fn last_error_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    // the registry logs logfmt (`time=... level=fatal msg="..." ...`): keep the message
    let Some((_, rest)) = line.split_once("msg=") else {
        return line.trim().to_string();
    };
    let Some(quoted) = rest.strip_prefix('"') else {
        return rest.split_whitespace().next().unwrap_or("").to_string();
    };
    let mut msg = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => msg.extend(chars.next()),
            '"' => break,
            c => msg.push(c),
        }
    }
    msg
}

/// Whether process `pid` holds a TCP socket listening on `port` (IPv4 or IPv6), read from
/// `/proc/PID/fd` and `/proc/net/tcp{,6}`.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: Vec<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(String::from)
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let wanted_port = format!("{port:04X}");
    ["tcp", "tcp6"].iter().any(|table| {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            return false;
        };
        text.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... inode (field 9); 0A is LISTEN
            f.len() > 9
                && f[3] == "0A"
                && f[1].rsplit(':').next() == Some(wanted_port.as_str())
                && inodes.iter().any(|i| i == f[9])
        })
    })
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if self.auth == Auth::Tls {
            let _ = std::fs::remove_dir_all(Path::new("/etc/docker/certs.d").join(&self.host));
        }
    }
}
