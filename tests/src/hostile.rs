//! A deliberately malicious registry on 127.0.0.1, in two shapes.
//!
//! [`ForeignUploads`] sits in front of the real registry and hands every upload to "another
//! host" (a second port of its own): the upload `Location` points there, as registries that
//! delegate uploads to a storage service do. It records which requests reached that other
//! host with an `Authorization` header (none may), and forwards them to the registry with the
//! credentials the client gave the registry itself, so the push completes for real.
//!
//! [`Scripted`] answers by itself, with whatever the test asks: a manifest, a body that stalls
//! after its first bytes, an endless body, an error whose text tries to forge terminal output.

use anyhow::Result;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::token_server::read_head;

/// One request as the malicious server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `registry` (the front) or `storage` (the foreign host).
    pub host: &'static str,
    /// The method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The `Authorization` header, if one came.
    pub authorization: Option<String>,
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Result<Option<Request>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some((line, headers)) = read_head(&mut reader)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let len: u64 = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(len).read_to_end(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The registry with its uploads handed to a foreign host; see the module doc.
pub struct ForeignUploads {
    /// `127.0.0.1:PORT` of the front: use it in references.
    pub host: String,
    /// `127.0.0.1:PORT` of the foreign upload host.
    pub storage_host: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    front: String,
    storage: String,
    seen: Mutex<Vec<Seen>>,
    /// The last Authorization the client sent the registry (the storage "signs" with it).
    last_auth: Mutex<Option<String>>,
}

impl ForeignUploads {
    /// Starts both listeners in front of the plain-HTTP registry at `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<ForeignUploads> {
        let front = TcpListener::bind("127.0.0.1:0")?;
        let storage = TcpListener::bind("127.0.0.1:0")?;
        let shared = Arc::new(Shared {
            upstream,
            front: front.local_addr()?.to_string(),
            storage: storage.local_addr()?.to_string(),
            seen: Mutex::new(Vec::new()),
            last_auth: Mutex::new(None),
        });
        for (listener, host) in [(front, "registry"), (storage, "storage")] {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let _ = forward(conn, host, &shared);
                    });
                }
            });
        }
        Ok(ForeignUploads {
            host: shared.front.clone(),
            storage_host: shared.storage.clone(),
            shared,
        })
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn forward(client: TcpStream, host: &'static str, shared: &Shared) -> Result<()> {
    let Some(req) = read_request(&client)? else {
        return Ok(());
    };
    let authorization = header(&req.headers, "authorization").map(String::from);
    shared.seen.lock().unwrap().push(Seen {
        host,
        method: req.method.clone(),
        target: req.target.clone(),
        authorization: authorization.clone(),
    });
    let auth = if host == "registry" {
        if authorization.is_some() {
            *shared.last_auth.lock().unwrap() = authorization.clone();
        }
        authorization
    } else {
        shared.last_auth.lock().unwrap().clone()
    };
    let mut up = TcpStream::connect(shared.upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !matches!(k.as_str(), "connection" | "authorization" | "host") {
            head += &format!("{k}: {v}\r\n");
        }
    }
    if let Some(a) = auth {
        head += &format!("Authorization: {a}\r\n");
    }
    head += &format!("Host: {}\r\nConnection: close\r\n\r\n", shared.front);
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let (head, body) = answer.split_at(split);
    let mut head = String::from_utf8_lossy(head).into_owned();
    if host == "registry" && req.method == "POST" && head.starts_with("HTTP/1.1 202") {
        // hand the upload to the foreign host
        head = head
            .split("\r\n")
            .map(|line| match line.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("location") => {
                    let v = v.trim();
                    let path = v
                        .strip_prefix("http://")
                        .and_then(|r| r.find('/').map(|i| &r[i..]))
                        .unwrap_or(v);
                    format!("Location: http://{}{path}", shared.storage)
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\r\n");
    }
    let mut client = client;
    client.write_all(head.as_bytes())?;
    client.write_all(body)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// How [`Scripted`] answers one request.
pub enum Reply {
    /// Status, headers and body (Content-Length added).
    Answer(u16, Vec<(String, String)>, Vec<u8>),
    /// Headers announcing `len` bytes, these first bytes, then silence for a long time.
    Stall(Vec<u8>, u64),
    /// A 200 without a length, then zeros until the client hangs up.
    Endless,
    /// Read the request and never answer.
    Silent,
}

type Handler = dyn Fn(&str, &str) -> Reply + Send + Sync;

/// A registry that answers by itself: `handler(method, target)` decides each answer.
pub struct Scripted {
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl Scripted {
    /// Starts it; `/v2/` is answered 200 before the handler is asked.
    pub fn start(
        handler: impl Fn(&str, &str) -> Reply + Send + Sync + 'static,
    ) -> Result<Scripted> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let host = listener.local_addr()?.to_string();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let _ = answer(conn, &*handler);
                });
            }
        });
        Ok(Scripted { host })
    }
}

fn answer(stream: TcpStream, handler: &Handler) -> Result<()> {
    let Some(req) = read_request(&stream)? else {
        return Ok(());
    };
    let reply = if req.target == "/v2/" {
        Reply::Answer(200, vec![], b"{}".to_vec())
    } else {
        handler(&req.method, &req.target)
    };
    let mut out = stream;
    let head = |status: u16, headers: &[(String, String)], len: Option<u64>| {
        let mut s = format!("HTTP/1.1 {status} Whatever\r\n");
        for (k, v) in headers {
            s += &format!("{k}: {v}\r\n");
        }
        if let Some(len) = len {
            s += &format!("Content-Length: {len}\r\n");
        }
        s + "Connection: close\r\n\r\n"
    };
    match reply {
        Reply::Answer(status, headers, body) => {
            out.write_all(head(status, &headers, Some(body.len() as u64)).as_bytes())?;
            if req.method != "HEAD" {
                out.write_all(&body)?;
            }
        }
        Reply::Stall(first, len) => {
            out.write_all(head(200, &[], Some(len)).as_bytes())?;
            out.write_all(&first)?;
            out.flush()?;
            std::thread::sleep(Duration::from_secs(300));
        }
        Reply::Silent => std::thread::sleep(Duration::from_secs(300)),
        Reply::Endless => {
            out.write_all(head(200, &[], None).as_bytes())?;
            let zeros = vec![0u8; 1 << 16];
            while out.write_all(&zeros).is_ok() {}
        }
    }
    Ok(())
}
