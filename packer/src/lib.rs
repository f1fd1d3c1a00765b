//! packer: a filesystem bundle in, a byte-reproducible OCI/Docker image out.
//!
//! The article's middle, as a library: tar the bundle, gzip it, take the digest, the diff id
//! and the size, write config.json and the manifest, lay them out as an OCI image layout.
//!
//! Module map:
//! - [`layout`]: the OCI layout folder (write and read); [`layout::open_source`] is how other
//!   crates read an image from disk.
//! - [`digest`]: sha256 digests of streamed bytes; [`json`]: canonical (sorted-key) JSON.
//! - [`tar`]: normalized tar headers; [`docker_archive`]: the `docker load` archive.
//! - [`error`]: the one error type.
//!
//! Invariants: packer does no network IO; the same input gives the same digests on any
//! machine, any day, with any number of threads.

pub mod build;
pub mod bundle;
pub mod compress;
pub mod config;
pub mod digest;
pub mod docker_archive;
pub mod error;
pub mod fsutil;
pub mod index;
pub mod inspect;
pub mod json;
pub mod layer;
pub mod layout;
pub mod manifest;
pub mod pipe;
pub mod tar;

pub use error::{Error, Result};
pub use layout::{OciLayout, SourceImage, open_source};
pub use oci_spec;
