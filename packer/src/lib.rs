//! packer: a filesystem bundle in, a byte-reproducible OCI/Docker image out.
//!
//! The article's middle, as a library: tar the bundle, gzip it, take the digest, the diff id
//! and the size, write config.json and the manifest, lay them out as an OCI image layout.
//!
//! ```
//! use packer::build::{BuildOptions, build};
//! use packer::bundle::Bundle;
//! use packer::compress::{Compression, DEFAULT_GZIP_LEVEL};
//! use packer::config::ImageSettings;
//! use packer::manifest::Format;
//!
//! # fn main() -> Result<(), packer::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("sh"), b"#!penguin").unwrap();
//! let mut bundle = Bundle::new(); // or Bundle::from_dir("rootfs")
//! bundle.add_file("bin/sh", dir.path().join("sh"), Some(0o755))?;
//! bundle.add_dir("etc", 0o755)?;
//! let report = build(&bundle, &BuildOptions {
//!     settings: ImageSettings { entrypoint: vec!["/bin/sh".into()], ..Default::default() },
//!     format: Format::Oci,
//!     compression: Compression::Gzip(DEFAULT_GZIP_LEVEL),
//!     threads: 2,
//!     tags: vec!["penguin:latest".parse()?],
//!     oci_layout: dir.path().join("layout"),
//!     docker_archive: None,
//!     rootfs_tar: None,
//!     progress: packer::layer::Progress::none(),
//! })?;
//! // the same bundle gives the same digests on any machine, any day
//! assert_eq!(report.diff_id.to_string().len(), 71);
//! let name = packer::transport::ImageName::parse(&format!("oci:{}:penguin:latest", dir.path().join("layout").display()))?;
//! let image = packer::source::open(&name)?;
//! assert_eq!(image.top()?.digest(), report.manifest.digest());
//! # Ok(())
//! # }
//! ```
//!
//! Module map, in the article's order:
//! - [`bundle`]: the bundle, walked from a folder or listed entry by entry.
//! - `tar` (internal): normalized tar headers (PAX for long names and xattrs).
//! - [`layer`]: "tar the bundle", "digest and diff id": the one streaming pass.
//! - [`compress`]: "gzip the layer" on all cores, byte-identical for any thread count; zstd.
//! - `pipe` (internal): hashing and writing on their own threads.
//! - [`digest`]: sha256 digests of streamed bytes; `json` (internal): canonical (sorted-key) JSON.
//! - [`model`]: the one image model (oci-spec types, media types, a manifest with its bytes)
//!   that pusher and xtask use too.
//! - [`reference`]: image names, `host[:port]/path:tag@digest` with Docker Hub's rules, the
//!   one grammar `packer build --tag`, pusher and xtask share.
//! - [`config`]: config.json; [`manifest`]: the manifest (OCI or Docker media types);
//!   [`index`]: an image index over several platforms.
//! - [`layout`]: the OCI layout folder (write and read).
//! - [`source`]: reading an image from disk whatever holds it (a layout, an OCI archive, a
//!   `docker save` archive, read in place); [`sink`]: writing one (a layout, an archive).
//! - [`docker_archive`]: the tar that is both an OCI layout and a `docker load` archive.
//! - [`transport`]: image names as skopeo users type them (`oci:`, `oci-archive:`,
//!   `docker-archive:`, `docker://`) and the bare forms.
//! - [`containerfile`]: the Dockerfile subset `packer build --file` reads, parsed with Docker's
//!   semantics (pure: text in, instructions out).
//! - [`base`]: the base image of a build (`--base`, `FROM`), one platform of it, its layers
//!   linked untouched into the output; [`apply`]: a config edited as Docker's builder edits
//!   it, step by step, with its history; [`executor`]: a parsed Containerfile turned into a
//!   plan of layers and config steps, checked whole before anything is written.
//! - [`build`]: the whole of `packer build` (one bundle, or a plan in steps:
//!   [`build::build_plan`]), outputs written aside and renamed last.
//! - [`inspect`]: verify every blob of an image: digest, size, diff id.
//! - [`error`]: the one error type; `fsutil` (internal): atomic writes, output checks,
//!   temporaries removed on a signal or by the next run.
//!
//! Invariants: packer does no network IO; the same input gives the same digests on any
//! machine, any day, with any number of threads; nothing half-written survives a failure.

#![warn(missing_docs)]

pub mod apply;
pub mod base;
pub mod build;
pub mod bundle;
pub mod compress;
pub mod config;
pub mod containerfile;
pub mod digest;
pub mod docker_archive;
pub mod error;
pub mod executor;
pub(crate) mod fsutil;
pub mod index;
pub mod inspect;
pub mod json;
pub mod layer;
pub mod layout;
pub mod manifest;
pub mod model;
pub(crate) mod pipe;
pub mod reference;
pub mod sink;
pub mod source;
pub(crate) mod tar;
pub mod transport;

pub use error::{Error, Result};
pub use fsutil::remove_staged;
pub use layout::OciLayout;
pub use oci_spec;
pub use reference::Reference;
