//! pusher: images on the wire, through the registry HTTP API.
//!
//! The article's last part as a library over `ureq`: get a token, upload each blob, commit it
//! with its digest, push the manifest. It reads and writes images on disk through packer's
//! sources and sinks and builds no tarballs. It speaks packer's image model ([`packer::model`]): oci-spec
//! descriptors, and manifests kept with their exact bytes.
//!
//! Module map:
//! - [`reference`](mod@reference): packer's reference grammar, re-exported;
//! - [`auth`]: challenges, credentials (flags, env, Docker config and helpers), tokens;
//! - [`transport`]: the ureq agent, TLS roots, timeouts, credentials bound to the registry's
//!   origin, bounded bodies, retries, Location resolution, `--trace`;
//! - [`client`]: ping, log in, send with the right Authorization;
//! - [`upload`]: check the blob exists, mount, initiate upload, send the blob, commit;
//! - [`push`], [`pull`], [`copy`], [`inspect`]: the verbs; [`progress`]: what a caller is told
//!   as blobs move (the library prints nothing);
//! - [`errors`]: one-line errors and the CLI's exit codes.
//!
//! Invariants: no secret reaches stdout, stderr, an error message or a file, nor a host other
//! than the registry's origin; no registry text reaches the terminal unescaped; blob bodies
//! stream from and to disk within their declared size, so memory does not grow with blob
//! size. See SECURITY.md.
//!
//! Build with packer, push, then copy to another repository (mounted, not uploaded) and back
//! into an OCI archive (needs a registry at 127.0.0.1:5000, e.g. `cargo xtask registry`):
//!
//! ```no_run
//! use packer::build::{BuildOptions, build};
//! use packer::bundle::Bundle;
//! use packer::compress::{Compression, DEFAULT_GZIP_LEVEL};
//! use packer::sink::DiskSink;
//! use packer::transport::ImageName;
//! use pusher::client::{Client, ClientOptions};
//! use pusher::copy::{CopyOptions, Sink, Source, copy_image};
//! use pusher::progress::Progress;
//! use pusher::push::{PushOptions, push_image};
//! use pusher::reference::Reference;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("sh"), b"#!penguin")?;
//! let mut bundle = Bundle::new();
//! bundle.add_file("bin/sh", dir.path().join("sh"), Some(0o755))?;
//! let report = build(&bundle, &BuildOptions {
//!     settings: Default::default(),
//!     format: Default::default(),
//!     compression: Compression::Gzip(DEFAULT_GZIP_LEVEL),
//!     threads: 2,
//!     tags: vec!["penguin:latest".parse()?],
//!     oci_layout: dir.path().join("layout"),
//!     docker_archive: None,
//!     rootfs_tar: None,
//!     progress: packer::layer::Progress::none(),
//! })?;
//!
//! // push: blobs, then the manifest with its exact bytes; the digest comes back
//! let options = ClientOptions::default();
//! let to = Reference::parse("127.0.0.1:5000/user/penguin:latest")?;
//! let client = Client::connect("push", &to, &options, "pull,push", &[])?;
//! let layout = packer::source::open(&ImageName::parse(&format!("oci:{}", dir.path().join("layout").display()))?)?;
//! let progress = Progress::silent();
//! let pushed = push_image(&client, &*layout, &PushOptions::default(), &progress)?;
//! assert_eq!(pushed.digest, report.manifest.digest().to_string());
//!
//! // copy within the registry (blobs mounted), then back into a new layout, verified
//! let other = Reference::parse("127.0.0.1:5000/other/penguin:latest")?;
//! let mounts = vec!["user/penguin".to_string()];
//! let dest = Client::connect("copy", &other, &options, "pull,push", &mounts)?;
//! let copy = CopyOptions { jobs: 3, ..Default::default() };
//! copy_image(Source::Registry(&client), Sink::Registry(&dest), &copy, &progress)?;
//! let back = ImageName::parse(&format!("oci-archive:{}:penguin:latest", dir.path().join("back.tar").display()))?;
//! let copied = copy_image(Source::Registry(&dest), Sink::Disk(DiskSink::open(&back)?), &copy, &progress)?;
//! assert_eq!(copied.digest, pushed.digest);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod copy;
pub mod errors;
pub mod inspect;
pub mod progress;
pub mod pull;
pub mod push;
pub use packer::reference;
pub mod transport;
pub mod upload;

pub use errors::{Error, Result};
pub use reference::Reference;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod test_server;
