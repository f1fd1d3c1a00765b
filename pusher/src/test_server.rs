//! A tiny HTTP/1.1 server on 127.0.0.1 for pusher's unit tests: each connection is read one
//! request at a time, recorded, and answered by the test's handler (or stalled, or fed an
//! endless body), so the protocol steps run against real sockets in milliseconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer.
pub enum Reply {
    /// Status, headers, body (Content-Length is added).
    Answer(u16, Vec<(String, String)>, Vec<u8>),
    /// Status and headers announcing `len` bytes, then the body sent, then silence.
    Stall(u16, Vec<(String, String)>, Vec<u8>, u64),
    /// Read the request and never answer.
    Silent,
    /// A 200 with no length and zeros until the client hangs up.
    Endless,
}

/// A shortcut for an answer.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Reply::Answer(
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body.to_vec(),
    )
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A running server; it lives until the test process ends.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Server {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(false, handler)
    }

    /// A server that keeps each connection open after an answer (no `Connection: close`) and
    /// reads the next request from it, as a registry does.
    pub fn start_keep_alive(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_inner(false, true, handler)
    }

    /// With `deaf_uploads`, a PUT or PATCH is recorded from its head alone and its body is
    /// never read: an upload that stops being read.
    pub fn start_with(
        deaf_uploads: bool,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::start_inner(deaf_uploads, false, handler)
    }

    fn start_inner(
        deaf_uploads: bool,
        keep_alive: bool,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let host = listener.local_addr().expect("local addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = seen.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (handler, log) = (handler.clone(), log.clone());
                std::thread::spawn(move || {
                    serve(stream, deaf_uploads, keep_alive, &*handler, &log)
                });
            }
        });
        Server {
            base: format!("http://{host}"),
            host,
            seen,
            connections,
        }
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// How many requests had this method and a target containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.target.contains(part))
            .count()
    }
}

fn read_request(r: &mut impl BufRead, deaf_uploads: bool) -> Option<Seen> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: u64 = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    if deaf_uploads && (method == "PUT" || method == "PATCH") {
        return Some(Seen {
            method,
            target,
            headers,
            body,
        });
    }
    r.take(len).read_to_end(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn head(status: u16, headers: &[(String, String)], len: Option<u64>, keep_alive: bool) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        s += &format!("{k}: {v}\r\n");
    }
    if let Some(len) = len {
        s += &format!("Content-Length: {len}\r\n");
    }
    if !keep_alive {
        s += "Connection: close\r\n";
    }
    s += "\r\n";
    s.into_bytes()
}

fn serve(
    stream: TcpStream,
    deaf_uploads: bool,
    keep_alive: bool,
    handler: &Handler,
    log: &Mutex<Vec<Seen>>,
) {
    let mut out = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let Some(seen) = read_request(&mut reader, deaf_uploads) else {
            return;
        };
        log.lock().expect("seen").push(seen.clone());
        if deaf_uploads && (seen.method == "PUT" || seen.method == "PATCH") {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        let is_head = seen.method == "HEAD";
        match handler(&seen) {
            Reply::Answer(status, headers, body) => {
                let _ = out.write_all(&head(status, &headers, Some(body.len() as u64), keep_alive));
                if !is_head {
                    let _ = out.write_all(&body);
                }
                if keep_alive {
                    continue;
                }
            }
            Reply::Stall(status, headers, body, len) => {
                let _ = out.write_all(&head(status, &headers, Some(len), false));
                let _ = out.write_all(&body);
                let _ = out.flush();
                std::thread::sleep(Duration::from_secs(120));
            }
            Reply::Silent => std::thread::sleep(Duration::from_secs(120)),
            Reply::Endless => {
                let _ = out.write_all(&head(200, &[], None, false));
                let zeros = vec![0u8; 1 << 16];
                while out.write_all(&zeros).is_ok() {}
            }
        }
        return;
    }
}
