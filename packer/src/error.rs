//! The library's one error type: every variant names the path, reference or digest involved.

use std::path::PathBuf;

/// Everything that can go wrong while packing, reading or verifying an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed on `path`.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// what we tried: "read", "create", "rename", ...
        action: &'static str,
        /// the file or folder involved
        path: PathBuf,
        /// the operating system's reason
        #[source]
        source: std::io::Error,
    },
    /// The folder has no `oci-layout` file or an unknown layout version.
    #[error("{} is not an oci image layout: {reason}", path.display())]
    NotALayout {
        /// the folder
        path: PathBuf,
        /// what is missing or wrong
        reason: String,
    },
    /// A JSON document could not be parsed or encoded.
    #[error("invalid json in {what}")]
    Json {
        /// the file or blob involved
        what: String,
        /// the parser's reason
        #[source]
        source: serde_json::Error,
    },
    /// The OCI model refused a value.
    #[error("invalid {what}")]
    Spec {
        /// the document or value involved
        what: String,
        /// oci-spec's reason
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// No image in the layout carries the requested tag.
    #[error("no image tagged {tag:?} in {}; tags there: {}", layout.display(), list(available))]
    TagNotFound {
        /// the layout folder
        layout: PathBuf,
        /// the tag asked for
        tag: String,
        /// the tags the index holds
        available: Vec<String>,
    },
    /// No tag was given and the layout does not hold exactly one image.
    #[error("{} holds {count} images, name one with DIR:TAG; tags there: {}", layout.display(), list(available))]
    AmbiguousImage {
        /// the layout folder
        layout: PathBuf,
        /// how many entries index.json has
        count: usize,
        /// the tags the index holds
        available: Vec<String>,
    },
    /// Content does not hash to the digest that names it.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// the blob or file involved
        what: String,
        /// the digest that names it
        expected: String,
        /// the digest of its bytes
        actual: String,
    },
    /// Content does not have the size its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// the blob involved
        what: String,
        /// the size in the descriptor
        expected: u64,
        /// the size on disk
        actual: u64,
    },
    /// A layer's decompressed bytes do not hash to the config's diff id.
    #[error(
        "diff id mismatch for layer {layer}: config says {expected}, decompressed bytes hash to {actual}"
    )]
    DiffIdMismatch {
        /// the layer digest
        layer: String,
        /// the diff id in the config
        expected: String,
        /// the digest of the decompressed layer
        actual: String,
    },
    /// Only sha256 digests are supported.
    #[error("unsupported digest {0}: only sha256 is supported")]
    UnsupportedDigest(String),
    /// A device, fifo or socket in the bundle.
    #[error("{} is a {kind}: a layer holds only regular files, directories, symlinks and hard links", path.display())]
    SpecialFile {
        /// the file
        path: PathBuf,
        /// "fifo", "socket", "character device", "block device"
        kind: &'static str,
    },
    /// A file's size changed while it was being read into the layer.
    #[error("{} changed while it was being read (expected {expected} bytes)", path.display())]
    FileChanged {
        /// the file
        path: PathBuf,
        /// the size it had when opened
        expected: u64,
    },
    /// A bad value in the build options (platform, tag, env, level, ...).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// which option
        what: &'static str,
        /// the value given
        value: String,
        /// why it is refused
        reason: String,
    },
    /// A registry image named where packer needs one on disk (packer reads no registry).
    #[error("{}", crate::base::registry_hint(reference))]
    NeedsRegistry {
        /// the reference, without `docker://`
        reference: String,
    },
    /// An image, manifest or archive that is malformed in some other way.
    #[error("{what}: {reason}")]
    Malformed {
        /// the file, blob or reference involved
        what: String,
        /// what is wrong
        reason: String,
    },
}

fn list(tags: &[String]) -> String {
    if tags.is_empty() {
        "none".to_owned()
    } else {
        tags.join(", ")
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path and an action to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
