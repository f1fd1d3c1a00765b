//! Inspecting an image in a registry: the manifest's digest and media type, the platform(s),
//! and a summary of the config.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::pull::get_manifest;
use crate::push::is_index;
use crate::transport::Request;
use serde_json::Value;
use std::fmt;
use ureq::http::Method;

/// What `pusher inspect` prints.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The reference inspected.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// The manifest media type.
    pub media_type: String,
    /// `os/architecture[/variant]` and, for an index, each manifest's digest.
    pub platforms: Vec<(String, Option<String>)>,
    /// Config summary lines (`name`, `value`), for an image manifest.
    pub config: Vec<(String, String)>,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "reference:  {}", self.reference)?;
        writeln!(f, "digest:     {}", self.digest)?;
        writeln!(f, "media type: {}", self.media_type)?;
        for (p, d) in &self.platforms {
            match d {
                Some(d) => writeln!(f, "platform:   {p} {d}")?,
                None => writeln!(f, "platform:   {p}")?,
            }
        }
        for (k, v) in &self.config {
            writeln!(f, "{:<11} {v}", format!("{k}:"))?;
        }
        Ok(())
    }
}

fn platform_string(p: &Value) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = format!("{}/{}", s("os"), s("architecture"));
    if !s("variant").is_empty() {
        out += &format!("/{}", s("variant"));
    }
    crate::errors::escape_remote(&out)
}

/// Fetches the manifest (and the config, for an image) and summarizes them.
pub fn inspect(client: &Client) -> Result<Inspection> {
    let m = get_manifest(client, client.reference.manifest_ref())?;
    let mut out = Inspection {
        reference: client.reference.to_string(),
        digest: m.digest.clone(),
        media_type: m.media_type.clone(),
        platforms: Vec::new(),
        config: Vec::new(),
    };
    if is_index(&m.media_type) {
        for d in &m.doc.manifests {
            let p = d
                .platform
                .as_ref()
                .map(platform_string)
                .unwrap_or_else(|| "unknown".into());
            out.platforms
                .push((p, Some(crate::errors::escape_remote(&d.digest))));
        }
        return Ok(out);
    }
    let Some(config) = &m.doc.config else {
        return Ok(out);
    };
    let req = Request::new(Method::GET, client.url(&format!("blobs/{}", config.digest)));
    let mut resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the config"));
    }
    let bytes = resp
        .bytes(config.size.min(8 << 20))
        .map_err(|e| Error::Protocol {
            op: client.op,
            reference: client.reference.to_string(),
            message: format!("reading the config: {e}"),
        })?;
    let got = packer::digest::sha256_digest(&bytes).to_string();
    if got != config.digest {
        return Err(Error::DigestMismatch {
            op: client.op,
            reference: client.reference.to_string(),
            what: "config".into(),
            expected: config.digest.clone(),
            got,
        });
    }
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    out.platforms.push((platform_string(&v), None));
    out.config.push((
        "config".into(),
        format!(
            "{} ({} bytes)",
            crate::errors::escape_remote(&config.digest),
            config.size
        ),
    ));
    if let Some(c) = v.get("created").and_then(Value::as_str) {
        out.config
            .push(("created".into(), crate::errors::escape_remote(c)));
    }
    let cfg = v.get("config").cloned().unwrap_or(Value::Null);
    for key in ["Entrypoint", "Cmd", "Env", "WorkingDir", "User"] {
        match cfg.get(key) {
            Some(Value::Null) | None => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(val) => out.config.push((key.to_lowercase(), val.to_string())),
        }
    }
    let total: u64 = m.doc.layers.iter().map(|l| l.size).sum();
    out.config.push((
        "layers".into(),
        format!("{} ({total} bytes compressed)", m.doc.layers.len()),
    ));
    Ok(out)
}
