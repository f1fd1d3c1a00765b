//! Inspecting an image in a registry: the manifest's digest and media type, the platform(s),
//! and a summary of the config.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::pull::get_manifest;
use crate::transport::Request;
use packer::model::{Descriptor, ImageConfiguration, Parsed, platform_string};
use std::fmt;
use ureq::http::Method;

/// Configs larger than this are refused.
const CONFIG_LIMIT: u64 = 8 << 20;

/// What `pusher inspect` prints: the same lines, in the same words, as `packer inspect` prints
/// for an image on disk (`image`, `manifest`, `platform`, `created`, `entrypoint`, `env`,
/// `config`, `layer`), so the two can be read side by side.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The reference inspected.
    pub reference: String,
    /// The manifest (or index) as the registry serves it.
    pub manifest: Descriptor,
    /// `os/architecture[/variant]` and, for an index, each manifest's digest.
    pub platforms: Vec<(String, Option<String>)>,
    /// The config's summary lines (`created`, `entrypoint`, `cmd`, `env`, ...), for an image.
    pub settings: Vec<(&'static str, String)>,
    /// The config blob (its digest checked), for an image.
    pub config: Option<Descriptor>,
    /// The layers, for an image.
    pub layers: Vec<Descriptor>,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(f, "image     {}", self.reference)?;
        let kind = if self.platforms.iter().any(|(_, child)| child.is_some()) {
            "index    "
        } else {
            "manifest "
        };
        writeln!(
            f,
            "{kind} {}  {} bytes  {}",
            m.digest(),
            m.size(),
            m.media_type()
        )?;
        for (p, d) in &self.platforms {
            match d {
                Some(d) => writeln!(f, "platform  {p}  {d}")?,
                None => writeln!(f, "platform  {p}")?,
            }
        }
        for (k, v) in &self.settings {
            writeln!(f, "{k:<9} {v}")?;
        }
        if let Some(c) = &self.config {
            writeln!(f, "config    {}  {} bytes  ok", c.digest(), c.size())?;
        }
        for l in &self.layers {
            writeln!(
                f,
                "layer     {}  {} bytes  {}",
                l.digest(),
                l.size(),
                l.media_type()
            )?;
        }
        Ok(())
    }
}

/// Fetches the manifest (and the config, for an image) and summarizes them.
pub fn inspect(client: &Client) -> Result<Inspection> {
    let m = get_manifest(client, client.reference.manifest_ref())?;
    let mut out = Inspection {
        reference: client.reference.to_string(),
        manifest: m.descriptor(),
        platforms: Vec::new(),
        settings: Vec::new(),
        config: None,
        layers: Vec::new(),
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
    out.platforms
        .push((crate::errors::escape_remote(&platform), None));
    let text = |s: &str| crate::errors::escape_remote(s);
    if let Some(c) = v.created() {
        out.settings.push(("created", text(c)));
    }
    if let Some(cfg) = v.config() {
        let list = |l: &Option<Vec<String>>| {
            l.as_ref()
                .map(|l| text(&serde_json::to_string(l).expect("strings serialize")))
        };
        if let Some(e) = list(cfg.entrypoint()) {
            out.settings.push(("entrypoint", e));
        }
        if let Some(c) = list(cfg.cmd()) {
            out.settings.push(("cmd", c));
        }
        for e in cfg.env().iter().flatten() {
            out.settings.push(("env", text(e)));
        }
        if let Some(w) = cfg.working_dir().as_deref().filter(|w| !w.is_empty()) {
            out.settings.push(("workdir", text(w)));
        }
        if let Some(u) = cfg.user().as_deref().filter(|u| !u.is_empty()) {
            out.settings.push(("user", text(u)));
        }
    }
    out.config = Some(config.clone());
    out.layers = image.layers().clone();
    Ok(out)
}
