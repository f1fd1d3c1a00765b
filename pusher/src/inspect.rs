//! Inspecting an image in a registry: the manifest's digest and media type, the platform(s),
//! and a summary of the config.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::pull::get_manifest;
use crate::transport::Request;
use packer::model::{ImageConfiguration, Parsed, platform_string};
use std::fmt;
use ureq::http::Method;

/// Configs larger than this are refused.
const CONFIG_LIMIT: u64 = 8 << 20;

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

/// Fetches the manifest (and the config, for an image) and summarizes them.
pub fn inspect(client: &Client) -> Result<Inspection> {
    let m = get_manifest(client, client.reference.manifest_ref())?;
    let mut out = Inspection {
        reference: client.reference.to_string(),
        digest: m.digest().to_string(),
        media_type: m.media_type().to_string(),
        platforms: Vec::new(),
        config: Vec::new(),
    };
    if m.is_index() {
        for d in m.children() {
            let p = d
                .platform()
                .as_ref()
                .map(platform_string)
                .unwrap_or_else(|| "unknown".into());
            out.platforms.push((p, Some(d.digest().to_string())));
        }
        return Ok(out);
    }
    let Parsed::Image(image) = m.parsed() else {
        return Ok(out);
    };
    let config = image.config();
    let req = Request::new(
        Method::GET,
        client.url(&format!("blobs/{}", config.digest())),
    );
    let mut resp = client.send(&req)?;
    if resp.status != 200 {
        return Err(client.status_error(resp, "get the config"));
    }
    let bytes = resp
        .bytes(config.size().min(CONFIG_LIMIT))
        .map_err(|e| Error::Protocol {
            op: client.op,
            reference: client.reference.to_string(),
            message: format!("reading the config: {e}"),
        })?;
    let got = packer::digest::sha256_digest(&bytes);
    if got != *config.digest() {
        return Err(Error::DigestMismatch {
            op: client.op,
            reference: client.reference.to_string(),
            what: "config".into(),
            expected: config.digest().to_string(),
            got: got.to_string(),
        });
    }
    let v: ImageConfiguration = serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
        op: client.op,
        reference: client.reference.to_string(),
        message: format!("config {} is not an image config: {e}", config.digest()),
    })?;
    let mut platform = format!("{}/{}", v.os(), v.architecture());
    if let Some(variant) = v.variant().as_deref().filter(|s| !s.is_empty()) {
        platform = format!("{platform}/{variant}");
    }
    out.platforms.push((platform, None));
    out.config.push((
        "config".into(),
        format!("{} ({} bytes)", config.digest(), config.size()),
    ));
    if let Some(c) = v.created() {
        out.config
            .push(("created".into(), crate::errors::escape_remote(c)));
    }
    if let Some(cfg) = v.config() {
        let list = |l: &Option<Vec<String>>| {
            l.as_ref()
                .map(|l| serde_json::to_string(l).expect("strings serialize"))
        };
        let text = |s: &Option<String>| {
            s.as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| serde_json::to_string(s).expect("a string serializes"))
        };
        let fields = [
            ("entrypoint", list(cfg.entrypoint())),
            ("cmd", list(cfg.cmd())),
            ("env", list(cfg.env())),
            ("workingdir", text(cfg.working_dir())),
            ("user", text(cfg.user())),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                out.config.push((key.into(), value));
            }
        }
    }
    let total: u64 = image.layers().iter().map(|l| l.size()).sum();
    out.config.push((
        "layers".into(),
        format!("{} ({total} bytes compressed)", image.layers().len()),
    ));
    Ok(out)
}
