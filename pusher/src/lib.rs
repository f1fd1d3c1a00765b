//! pusher: images on the wire, through the registry HTTP API.
//!
//! The article's last part as a library over `ureq`: get a token, upload each blob, commit it
//! with its digest, push the manifest. It reads images through packer's OCI layout reader and
//! builds no tarballs.
//!
//! Module map:
//! - [`reference`](mod@reference): packer's reference grammar, re-exported;
//! - [`auth`]: challenges, credentials (flags, env, Docker config and helpers), tokens;
//! - [`transport`]: the ureq agent, TLS roots, retries, Location resolution, `--trace`;
//! - [`client`]: ping, log in, send with the right Authorization;
//! - [`upload`]: check the blob exists, mount, initiate upload, send the blob, commit;
//! - [`push`], [`pull`], [`copy`], [`inspect`]: the verbs; [`progress`]: stderr reporting;
//! - [`errors`]: one-line errors and the CLI's exit codes.
//!
//! Invariants: no secret reaches stdout, stderr, an error message or a file; blob bodies
//! stream from and to disk, so memory does not grow with blob size.
//!
//! ```no_run
//! use pusher::{client::{Client, ClientOptions}, reference::Reference, upload};
//! let r = Reference::parse("127.0.0.1:5000/user/penguinshell:latest")?;
//! let client = Client::connect("push", &r, &ClientOptions::default(), "pull,push", &[])?;
//! let present = upload::check_blob_exists(&client, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")?;
//! # Ok::<(), pusher::errors::Error>(())
//! ```

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
