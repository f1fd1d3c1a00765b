//! A fault-injecting HTTP proxy in front of the real registry.
//!
//! It forwards each request on its own upstream connection (`Connection: close`), counts
//! requests by method and path, and, when a rule matches, answers a status itself (503, 429
//! with `Retry-After`) or drops the connection after some bytes of the request body
//! (a connection lost mid-blob). The client talks to the proxy as if it were the registry;
//! the registry builds its `Location` headers from the proxy's `Host`.

use crate::token_server::read_head;
use anyhow::Result;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (after reading the body), with `Retry-After: SECONDS` if given.
    Status {
        /// The status code, e.g. 503 or 429.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u32>,
    },
    /// Answer this status with these extra headers (e.g. a 401 with a `WWW-Authenticate`).
    Respond {
        /// The status code.
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// Forward the head and this many body bytes, then close both connections.
    DropAfter {
        /// Body bytes forwarded before the drop.
        bytes: u64,
    },
}

/// A fault for the next `times` requests whose method is `method` and whose path contains
/// `path_contains`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `PUT`, `PATCH`, `HEAD`, ...
    pub method: String,
    /// A substring of the request target.
    pub path_contains: String,
    /// What to do.
    pub fault: Fault,
    /// How many more requests it applies to.
    pub times: usize,
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The request target without the query.
    pub path: String,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The request body's length (`Content-Length`), bytes sent upstream or not.
    pub body: u64,
}

/// A running proxy.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `127.0.0.1:PORT`, to use in references instead of the registry's.
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (a plain-HTTP registry).
    pub fn start(upstream: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, r, st) = (seen.clone(), rules.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream, &s, &r);
                });
            }
        });
        Ok(Proxy {
            addr,
            host: addr.to_string(),
            seen,
            rules,
            stop,
        })
    }

    /// Adds a fault for the next `times` matching requests.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            fault,
            times,
        });
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests with `method` whose path contains `path_contains` were seen.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(path_contains))
            .count()
    }

    /// Forgets the requests seen (rules stay).
    pub fn reset_counts(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Faults injected so far.
    pub fn faults_applied(&self) -> usize {
        self.seen().iter().filter(|s| s.fault.is_some()).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        408 => "Request Timeout",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        _ => "Injected",
    }
}

fn handle(
    client: TcpStream,
    upstream: SocketAddr,
    seen: &Mutex<Vec<Seen>>,
    rules: &Mutex<Vec<Rule>>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, client.try_clone()?);
    let mut client_w = client;
    // one request per client connection: we answer with Connection: close
    let Some((request_line, headers)) = read_head(&mut reader)? else {
        return Ok(());
    };
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    let content_length: u64 = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    // rules name digests as `sha256:…`; a query may carry them escaped (`sha256%3A…`)
    let decoded = crate::token_server::percent_decode(&target);
    let fault = {
        let mut rules = rules.lock().unwrap();
        let hit = rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == method && decoded.contains(&r.path_contains));
        hit.map(|r| {
            r.times -= 1;
            r.fault.clone()
        })
    };
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path,
        fault: fault.clone(),
        body: content_length,
    });
    let canned = match &fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => Some((
            *status,
            retry_after
                .iter()
                .map(|s| ("Retry-After".to_string(), s.to_string()))
                .collect::<Vec<_>>(),
        )),
        Some(Fault::Respond { status, headers }) => Some((*status, headers.clone())),
        _ => None,
    };
    if let Some((status, extra)) = canned {
        std::io::copy(
            &mut (&mut reader).take(content_length),
            &mut std::io::sink(),
        )?;
        let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        let code = if status == 401 {
            "UNAUTHORIZED"
        } else {
            "UNAVAILABLE"
        };
        let body = format!(r#"{{"errors":[{{"code":"{code}","message":"injected {status}"}}]}}"#);
        write!(
            client_w,
            "HTTP/1.1 {status} {}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            reason(status),
            body.len()
        )?;
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{request_line}\r\n");
    for (k, v) in &headers {
        if k == "connection" || k == "keep-alive" {
            continue;
        }
        head += &format!("{k}: {v}\r\n");
    }
    head += "Connection: close\r\n\r\n";
    up.write_all(head.as_bytes())?;
    let body_to_send = match &fault {
        Some(Fault::DropAfter { bytes }) => (*bytes).min(content_length),
        _ => content_length,
    };
    std::io::copy(&mut (&mut reader).take(body_to_send), &mut up)?;
    if matches!(fault, Some(Fault::DropAfter { .. })) {
        let _ = up.shutdown(Shutdown::Both);
        let _ = client_w.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut up_r = up.try_clone()?;
    std::io::copy(&mut up_r, &mut client_w)?;
    let _ = client_w.shutdown(Shutdown::Both);
    Ok(())
}
