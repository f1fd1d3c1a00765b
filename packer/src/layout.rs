//! The OCI image layout folder: `oci-layout`, `index.json`, `blobs/sha256/<hex>`; writing and reading.
//!
//! This is the reader other crates (pusher) use to get at an image on disk:
//!
//! - [`OciLayout::open`] / [`OciLayout::create`] a layout folder;
//! - [`OciLayout::resolve`] a tag (the `org.opencontainers.image.ref.name` annotation) to the
//!   top-level descriptor (an image manifest or an image index);
//! - [`OciLayout::read_blob`] (verified), [`OciLayout::blob_path`], [`OciLayout::write_blob`]
//!   (streamed, verified, renamed last), [`OciLayout::verify_blob`] (streamed),
//!   [`OciLayout::add_to_index`] (atomic, under the layout's lock: [`OciLayout::lock`]);
//! - [`resolve_in`] the same over an `index.json` read from elsewhere (an archive).
//!
//! Reading an image whatever holds it (a layout, an archive) goes through
//! [`crate::source`].
//!
//! Blob and index writes go to a temporary file in the same folder first and are renamed into
//! place only once complete and verified.
//!
//! A layout may be hostile: every read checks that the file is a regular file and that its size
//! is the declared one before reading, JSON documents are read into memory only up to
//! [`MAX_JSON_SIZE`], and larger blobs are only ever streamed.

use crate::digest::{DigestWriter, sha256_hex};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_atomic;
use crate::json::to_canonical_vec;
use crate::model::Manifest;
use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, MediaType};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file that marks a folder as an OCI image layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's entry point.
pub const INDEX_FILE: &str = "index.json";
/// The largest manifest or index read (the distribution spec suggests 4 MiB).
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// The content of `oci-layout`.
pub const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// The file `flock`ed around every read-modify-write of `index.json` ([`OciLayout::lock`]).
pub const LOCK_FILE: &str = "index.json.lock";
/// The largest JSON document (`index.json`, a manifest, an index, a config) read into memory:
/// 4 MiB, the manifest limit registries apply.
pub const MAX_JSON_SIZE: u64 = 4 << 20;
/// How deep image indexes may nest below `index.json`.
pub const MAX_NESTING: usize = 16;

/// An OCI image layout folder on disk.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Opens an existing layout; the folder must hold an `oci-layout` file of version 1.0.0.
    pub fn open(dir: impl AsRef<Path>) -> Result<OciLayout> {
        let root = dir.as_ref().to_path_buf();
        std::fs::metadata(&root).io("open", &root)?;
        let marker = root.join(OCI_LAYOUT_FILE);
        let bytes = match read_bounded(&marker, None, MAX_JSON_SIZE, "read") {
            Ok(b) => b,
            Err(Error::Io { source: e, .. }) if e.kind() == io::ErrorKind::NotFound => {
                let reason = if root.is_dir() {
                    "no oci-layout file".to_owned()
                } else if root.exists() {
                    "not a folder".to_owned()
                } else {
                    "no such folder".to_owned()
                };
                return Err(Error::NotALayout { path: root, reason });
            }
            Err(e) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        struct Marker {
            #[serde(rename = "imageLayoutVersion")]
            version: Option<String>,
        }
        let marker: Marker = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: marker.display().to_string(),
            source,
        })?;
        match marker.version.as_deref() {
            Some("1.0.0") => Ok(OciLayout { root }),
            other => Err(Error::NotALayout {
                path: root,
                reason: format!("unsupported imageLayoutVersion {other:?}"),
            }),
        }
    }

    /// Opens the layout at `dir`, creating the folder, `oci-layout`, an empty `index.json` and
    /// `blobs/sha256/` as needed (under the layout's lock, so two processes creating the same
    /// layout do not overwrite each other's index).
    pub fn create(dir: impl AsRef<Path>) -> Result<OciLayout> {
        let root = dir.as_ref().to_path_buf();
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).io("create", &blobs)?;
        let unchecked = OciLayout { root: root.clone() };
        let _lock = unchecked.lock()?;
        let marker = root.join(OCI_LAYOUT_FILE);
        if !marker.exists() {
            write_atomic(&marker, OCI_LAYOUT_CONTENT.as_bytes())?;
        }
        let layout = OciLayout::open(&root)?;
        if !root.join(INDEX_FILE).exists() {
            layout.write_index(&empty_index())?;
        }
        Ok(layout)
    }

    /// Takes the layout's lock: an exclusive `flock` on [`LOCK_FILE`], waiting for another
    /// process that holds it, released when the returned guard drops. Every read-modify-write
    /// of `index.json` happens under it ([`LayoutLock::add_to_index`]); do not call
    /// [`OciLayout::add_to_index`] (which takes it itself) while holding it.
    pub fn lock(&self) -> Result<LayoutLock<'_>> {
        use std::os::fd::AsRawFd;
        let path = self.root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .io("open the lock file", &path)?;
        loop {
            // SAFETY: flock on a file descriptor we own for the duration of the call
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e).io("lock", path);
            }
        }
        Ok(LayoutLock {
            layout: self,
            _file: file,
        })
    }

    /// The layout folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Parses `index.json` (a regular file of at most [`MAX_JSON_SIZE`]).
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join(INDEX_FILE);
        let bytes = read_bounded(&path, None, MAX_JSON_SIZE, "read")?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// Replaces `index.json` (written aside, renamed last).
    pub fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let path = self.root.join(INDEX_FILE);
        let bytes = to_canonical_vec(index, &path.display().to_string())?;
        write_atomic(&path, &bytes)
    }

    /// The tags (`org.opencontainers.image.ref.name`) in `index.json`, in index order.
    pub fn tags(&self) -> Result<Vec<String>> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .filter_map(ref_name)
            .map(str::to_owned)
            .collect())
    }

    /// The top-level descriptor (manifest or index) named `tag`: the entry whose
    /// `org.opencontainers.image.ref.name` is `tag` (`alpha:latest`, what skopeo's
    /// `oci:DIR:alpha:latest` selects), else, for a bare tag such as `latest`, the one entry whose
    /// name ends in `:latest`. With no tag, the only entry of `index.json`. None, several, or
    /// two entries with the same name is an error that lists the names.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        resolve_in(&self.index()?, tag, &self.root)
    }

    /// `blobs/<algorithm>/<hex>` for `digest` (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().to_string())
            .join(digest.digest())
    }

    /// Reads a whole blob of at most [`MAX_JSON_SIZE`] (a manifest, an index, a config) and
    /// checks that it hashes to `digest`. The size is checked before reading, and a blob that
    /// is not a regular file is refused.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        sha256_hex(digest)?;
        let path = self.blob_path(digest);
        let bytes = read_bounded(&path, None, MAX_JSON_SIZE, "read blob")?;
        let actual = crate::digest::sha256_digest(&bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Reads and parses a JSON blob (manifest, index, config), verifying its digest and size.
    /// The declared size must be at most [`MAX_JSON_SIZE`] and match the file's before a byte
    /// is read.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, desc: &Descriptor) -> Result<T> {
        sha256_hex(desc.digest())?;
        let path = self.blob_path(desc.digest());
        if desc.size() > MAX_JSON_SIZE {
            return Err(too_large(&path, desc.size()));
        }
        let bytes = read_bounded(&path, Some(desc.size()), MAX_JSON_SIZE, "read blob")?;
        let actual = crate::digest::sha256_digest(&bytes);
        if &actual != desc.digest() {
            return Err(Error::DigestMismatch {
                what: path.display().to_string(),
                expected: desc.digest().to_string(),
                actual: actual.to_string(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: format!("blob {}", desc.digest()),
            source,
        })
    }

    /// Streams the blob named by `desc` through sha256 and checks its size (before reading) and
    /// digest; a blob that is not a regular file is refused. `what` names it in errors
    /// (`layer sha256:…`). Returns its path.
    pub fn verify_blob(&self, desc: &Descriptor, what: &str) -> Result<PathBuf> {
        sha256_hex(desc.digest())?;
        let path = self.blob_path(desc.digest());
        let (file, len) = open_regular(&path, None, "read blob")?;
        if len != desc.size() {
            return Err(Error::SizeMismatch {
                what: what.to_owned(),
                expected: desc.size(),
                actual: len,
            });
        }
        let mut r = crate::digest::DigestReader::new(io::BufReader::with_capacity(1 << 16, file));
        io::copy(&mut (&mut r).take(desc.size() + 1), &mut io::sink()).io("read blob", &path)?;
        let (actual, size) = r.finish();
        if size != desc.size() {
            return Err(Error::SizeMismatch {
                what: what.to_owned(),
                expected: desc.size(),
                actual: size,
            });
        }
        if &actual != desc.digest() {
            return Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: desc.digest().to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(path)
    }

    /// The file of the blob `desc` names: present, a regular file (not a symlink to a device),
    /// and of the declared size. Its digest is checked by whoever streams it.
    pub fn blob_file(&self, desc: &Descriptor) -> Result<PathBuf> {
        sha256_hex(desc.digest())?;
        let path = self.blob_path(desc.digest());
        let meta = std::fs::symlink_metadata(&path).io("read blob", &path)?;
        if !meta.is_file() {
            return Err(Error::Malformed {
                what: path.display().to_string(),
                reason: format!(
                    "is a {}, not a regular file",
                    crate::fsutil::kind_name(meta.file_type())
                ),
            });
        }
        if meta.len() != desc.size() {
            return Err(Error::SizeMismatch {
                what: path.display().to_string(),
                expected: desc.size(),
                actual: meta.len(),
            });
        }
        Ok(path)
    }

    /// Reads the manifest or index `desc` names, with its exact bytes: the declared size is
    /// checked (at most [`MANIFEST_LIMIT`]) before reading, the digest after.
    pub fn read_manifest(&self, desc: &Descriptor) -> Result<Manifest> {
        if desc.size() > MANIFEST_LIMIT {
            return Err(too_large(&self.blob_path(desc.digest()), desc.size()));
        }
        sha256_hex(desc.digest())?;
        let path = self.blob_path(desc.digest());
        // a regular file (a symlink is followed only to one) of the declared size
        let bytes = read_bounded(&path, Some(desc.size()), MANIFEST_LIMIT, "read blob")?;
        let actual = crate::digest::sha256_digest(&bytes);
        if &actual != desc.digest() {
            return Err(Error::DigestMismatch {
                what: path.display().to_string(),
                expected: desc.digest().to_string(),
                actual: actual.to_string(),
            });
        }
        let manifest =
            Manifest::parse(bytes, Some(desc.media_type()), &path.display().to_string())?;
        manifest.check(desc, &path.display().to_string())?;
        Ok(manifest)
    }

    /// Opens the layout at `dir` to write into: an existing layout, or a new one in a folder
    /// that is missing or empty. A non-empty folder that is not a layout is refused, so no
    /// `blobs/` or `index.json` lands among someone's files (as `packer build` refuses it).
    pub fn open_for_writing(dir: impl AsRef<Path>) -> Result<OciLayout> {
        let root = dir.as_ref();
        if root.join(OCI_LAYOUT_FILE).exists() {
            return OciLayout::open(root);
        }
        if root.exists() {
            let mut entries = std::fs::read_dir(root).io("read", root)?;
            if entries.next().is_some() {
                return Err(Error::NotALayout {
                    path: root.to_path_buf(),
                    reason: "the folder is not empty and has no oci-layout file; give a new or \
                             empty folder"
                        .to_owned(),
                });
            }
        }
        OciLayout::create(root)
    }

    /// Whether the blob `desc` names is present and intact: a regular file of the declared
    /// size whose bytes hash to the digest (streamed). A present blob that fails the check is
    /// removed, so the caller fetches it again.
    pub fn has_verified_blob(&self, desc: &Descriptor) -> Result<bool> {
        let path = self.blob_path(desc.digest());
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).io("read blob", &path),
            Ok(_) => {}
        }
        let intact = match self.blob_file(desc) {
            Ok(_) => {
                let file = std::fs::File::open(&path).io("read blob", &path)?;
                let mut reader = crate::digest::DigestReader::new(io::BufReader::new(file));
                io::copy(&mut reader, &mut io::sink()).io("read blob", &path)?;
                let (actual, _) = reader.finish();
                actual == *desc.digest()
            }
            Err(_) => false,
        };
        if !intact {
            std::fs::remove_file(&path).io("remove the damaged blob", &path)?;
        }
        Ok(intact)
    }

    /// Whether the blob is present (not verified).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Streams `reader` into `blobs/sha256/<hex>` through a temporary file, checks the digest
    /// and size against `desc`, and renames it into place last. A blob already present is
    /// left alone (the reader is not consumed).
    pub fn write_blob(&self, desc: &Descriptor, reader: impl Read) -> Result<()> {
        let hex = sha256_hex(desc.digest())?.to_owned();
        let path = self.blob_path(desc.digest());
        if path.is_file() {
            return Ok(());
        }
        let dir = crate::fsutil::parent_of(&path).to_path_buf();
        std::fs::create_dir_all(&dir).io("create", &dir)?;
        let tmp = crate::fsutil::temp_file_in(&dir)?;
        let mut writer = DigestWriter::new(io::BufWriter::with_capacity(1 << 16, tmp));
        let mut reader = reader;
        io::copy(&mut reader, &mut writer).io("write blob", &path)?;
        let (actual, size, buf) = writer.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .io("write blob", &path)?;
        if size != desc.size() {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", desc.digest()),
                expected: desc.size(),
                actual: size,
            });
        }
        if actual.digest() != hex {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", desc.digest()),
                expected: desc.digest().to_string(),
                actual: actual.to_string(),
            });
        }
        persist_readable(tmp, &path)
    }

    /// Writes a small blob from memory and returns its descriptor.
    pub fn put_blob(&self, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor> {
        let digest = crate::digest::sha256_digest(bytes);
        let desc = Descriptor::new(media_type, bytes.len() as u64, digest);
        self.write_blob(&desc, bytes)?;
        Ok(desc)
    }

    /// Sets the `index.json` entry named `tag` (its `org.opencontainers.image.ref.name`) to
    /// `desc` and returns the entry it replaced, if another image had that name (as skopeo's
    /// `oci:` does: a name moves, it is never held twice); with no tag, adds `desc` unless an
    /// untagged entry with the same digest is there. Written atomically, under the layout's
    /// lock, so concurrent writers lose no entry.
    pub fn add_to_index(&self, desc: Descriptor, tag: Option<&str>) -> Result<Option<Descriptor>> {
        self.lock()?.add_to_index(desc, tag)
    }
}

/// The layout's lock, held until dropped (see [`OciLayout::lock`]).
#[derive(Debug)]
pub struct LayoutLock<'a> {
    layout: &'a OciLayout,
    _file: std::fs::File,
}

impl LayoutLock<'_> {
    /// [`OciLayout::add_to_index`] for a caller already holding the lock: read `index.json`,
    /// set the entry, write it back atomically; returns the entry a name moved away from.
    pub fn add_to_index(&self, desc: Descriptor, tag: Option<&str>) -> Result<Option<Descriptor>> {
        let layout = self.layout;
        let mut index = layout.index()?;
        let mut desc = desc;
        let mut manifests = index.manifests().clone();
        let mut replaced = None;
        match tag {
            Some(tag) => {
                let mut annotations = desc.annotations().clone().unwrap_or_default();
                annotations.insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
                desc.set_annotations(Some(annotations));
                manifests.retain(|d| {
                    let same = ref_name(d) == Some(tag);
                    if same && d.digest() != desc.digest() {
                        replaced = Some(d.clone());
                    }
                    !same
                });
            }
            None => {
                manifests.retain(|d| !(ref_name(d).is_none() && d.digest() == desc.digest()));
            }
        }
        manifests.push(desc);
        index.set_manifests(manifests);
        if index.media_type().is_none() {
            index.set_media_type(Some(MediaType::ImageIndex));
        }
        layout.write_index(&index)?;
        Ok(replaced)
    }
}

fn too_large(path: &Path, size: u64) -> Error {
    Error::Malformed {
        what: path.display().to_string(),
        reason: format!(
            "{size} bytes, more than the {} MiB a manifest, index or config may have",
            MAX_JSON_SIZE >> 20
        ),
    }
}

/// Opens `path` for reading only if it is a regular file (checked before opening, so a device
/// is never opened, and again on the open file), and, when `expected` is given, only if its
/// size is that. Returns the file and its size.
pub(crate) fn open_regular(
    path: &Path,
    expected: Option<u64>,
    action: &'static str,
) -> Result<(std::fs::File, u64)> {
    let not_regular = |ft: std::fs::FileType| Error::Malformed {
        what: path.display().to_string(),
        reason: format!("is a {}, not a regular file", crate::fsutil::kind_name(ft)),
    };
    let meta = std::fs::metadata(path).io(action, path)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .io(action, path)?;
    let meta = file.metadata().io(action, path)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    if let Some(expected) = expected
        && meta.len() != expected
    {
        return Err(Error::SizeMismatch {
            what: path.display().to_string(),
            expected,
            actual: meta.len(),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `limit` bytes (and exactly `expected`, when given),
/// checking the size before reading and never reading more than `limit + 1` bytes.
fn read_bounded(
    path: &Path,
    expected: Option<u64>,
    limit: u64,
    action: &'static str,
) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path, expected, action)?;
    if len > limit {
        return Err(too_large(path, len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .io(action, path)?;
    if bytes.len() as u64 != len {
        return Err(Error::SizeMismatch {
            what: path.display().to_string(),
            expected: len,
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// [`OciLayout::resolve`] over an `index.json` already read; `place` names the layout or
/// archive in errors.
pub fn resolve_in(index: &ImageIndex, tag: Option<&str>, place: &Path) -> Result<Descriptor> {
    let manifests = index.manifests();
    let available: Vec<String> = manifests
        .iter()
        .filter_map(ref_name)
        .map(str::to_owned)
        .collect();
    let Some(tag) = tag else {
        return match manifests.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(Error::AmbiguousImage {
                layout: place.to_path_buf(),
                count: manifests.len(),
                available,
            }),
        };
    };
    let mut found: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| ref_name(d) == Some(tag))
        .collect();
    if found.is_empty() && !tag.contains([':', '/']) {
        found = manifests
            .iter()
            .filter(|d| ref_name(d).and_then(|n| tag_of(n)) == Some(tag))
            .collect();
    }
    match found.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(Error::TagNotFound {
            layout: place.to_path_buf(),
            tag: tag.to_owned(),
            available,
        }),
        several => Err(Error::AmbiguousImage {
            layout: place.to_path_buf(),
            count: several.len(),
            available: several
                .iter()
                .filter_map(|d| ref_name(d))
                .map(str::to_owned)
                .collect(),
        }),
    }
}

/// An index with no entries, as a new layout starts.
pub fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index
}

/// The `org.opencontainers.image.ref.name` annotation of a descriptor.
pub fn ref_name(desc: &Descriptor) -> Option<&str> {
    desc.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

/// The tag part of a name `NAME:TAG` (after the last `:` that follows the last `/`).
fn tag_of(name: &str) -> Option<&str> {
    let (before, tag) = name.rsplit_once(':')?;
    (!tag.contains('/') && !before.is_empty()).then_some(tag)
}

/// Renames a finished temporary file to `path`, readable by all (0644).
pub(crate) fn persist_readable(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let perms = std::fs::Permissions::from_mode(0o644);
    tmp.as_file()
        .set_permissions(perms)
        .io("set permissions of", tmp.path().to_path_buf())?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .io("rename into place", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_put_tag_resolve_read() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(tmp.path().join("img")).unwrap();
        assert!(layout.index().unwrap().manifests().is_empty());
        let desc = layout.put_blob(MediaType::ImageManifest, b"{}").unwrap();
        layout.add_to_index(desc.clone(), Some("v1")).unwrap();
        layout.add_to_index(desc.clone(), Some("v2")).unwrap();
        layout.add_to_index(desc.clone(), Some("v1")).unwrap();
        assert_eq!(layout.tags().unwrap(), ["v2", "v1"]);
        let reopened = OciLayout::open(layout.root()).unwrap();
        assert_eq!(
            reopened.resolve(Some("v1")).unwrap().digest(),
            desc.digest()
        );
        let err = reopened.resolve(None).unwrap_err().to_string();
        assert!(
            err.contains("holds 2 images") && err.contains("v2, v1"),
            "{err}"
        );
        let err = reopened.resolve(Some("nope")).unwrap_err().to_string();
        assert!(err.contains("no image tagged \"nope\""), "{err}");
        assert_eq!(reopened.read_blob(desc.digest()).unwrap(), b"{}");
    }

    #[test]
    fn two_names_with_one_tag_both_resolve_and_a_bare_tag_is_ambiguous() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(tmp.path()).unwrap();
        let a = layout.put_blob(MediaType::ImageManifest, b"{}").unwrap();
        let b = layout.put_blob(MediaType::ImageManifest, b"{ }").unwrap();
        assert_eq!(
            layout
                .add_to_index(a.clone(), Some("alpha:latest"))
                .unwrap(),
            None
        );
        assert_eq!(
            layout.add_to_index(b.clone(), Some("beta:latest")).unwrap(),
            None
        );
        assert_eq!(layout.tags().unwrap(), ["alpha:latest", "beta:latest"]);
        assert_eq!(
            layout.resolve(Some("alpha:latest")).unwrap().digest(),
            a.digest()
        );
        assert_eq!(
            layout.resolve(Some("beta:latest")).unwrap().digest(),
            b.digest()
        );
        let err = layout.resolve(Some("latest")).unwrap_err().to_string();
        assert!(err.contains("alpha:latest, beta:latest"), "{err}");
        // a bare tag picks the one image whose name ends in it
        let c = layout.put_blob(MediaType::ImageManifest, b"{  }").unwrap();
        layout
            .add_to_index(c.clone(), Some("localhost:5000/gamma:v2"))
            .unwrap();
        assert_eq!(layout.resolve(Some("v2")).unwrap().digest(), c.digest());
        // a name that moves to another image says which one it left
        let moved = layout
            .add_to_index(c.clone(), Some("alpha:latest"))
            .unwrap();
        assert_eq!(moved.unwrap().digest(), a.digest());
        assert_eq!(
            layout.resolve(Some("alpha:latest")).unwrap().digest(),
            c.digest()
        );
    }

    #[test]
    fn write_blob_refuses_wrong_content_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(tmp.path()).unwrap();
        let good = crate::digest::sha256_digest(b"abc");
        let desc = Descriptor::new(MediaType::ImageLayer, 3, good.clone());
        let err = layout.write_blob(&desc, &b"abd"[..]).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        let desc4 = Descriptor::new(MediaType::ImageLayer, 4, good.clone());
        let err = layout.write_blob(&desc4, &b"abc"[..]).unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err}");
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn writing_refuses_someones_folder_and_a_damaged_blob_is_not_present() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), b"mine").unwrap();
        let err = OciLayout::open_for_writing(tmp.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        assert!(!tmp.path().join("blobs").exists());
        let layout = OciLayout::open_for_writing(tmp.path().join("new")).unwrap();
        let desc = layout.put_blob(MediaType::ImageLayer, b"abc").unwrap();
        assert!(layout.has_verified_blob(&desc).unwrap());
        std::fs::write(layout.blob_path(desc.digest()), b"abd").unwrap();
        assert!(!layout.has_verified_blob(&desc).unwrap());
        assert!(!layout.blob_path(desc.digest()).exists());
    }

    #[test]
    fn open_refuses_a_plain_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let err = OciLayout::open(tmp.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("is not an oci image layout: no oci-layout file"),
            "{err}"
        );
    }

    #[test]
    fn the_reader_pusher_uses_checks_size_and_kind_before_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(tmp.path()).unwrap();
        let d: Digest = format!("sha256:{}", "cd".repeat(32)).parse().unwrap();
        // 1 GiB, sparse: refused from its size alone
        std::fs::File::create(layout.blob_path(&d))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let err = layout.read_blob(&d).unwrap_err().to_string();
        assert!(
            err.contains("1073741824 bytes, more than the 4 MiB"),
            "{err}"
        );
        let desc = Descriptor::new(MediaType::ImageManifest, 300, d.clone());
        let err = layout
            .read_json::<ImageIndex>(&desc)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 300 bytes, got 1073741824"), "{err}");
        let desc = Descriptor::new(MediaType::ImageManifest, 1 << 40, d.clone());
        let err = layout
            .read_json::<ImageIndex>(&desc)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than the 4 MiB"), "{err}");
        // a symlink to a device
        std::fs::remove_file(layout.blob_path(&d)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", layout.blob_path(&d)).unwrap();
        let err = layout.read_blob(&d).unwrap_err().to_string();
        assert!(
            err.ends_with("is a character device, not a regular file"),
            "{err}"
        );
        let desc = Descriptor::new(MediaType::ImageLayer, 10, d.clone());
        let err = layout.verify_blob(&desc, "layer").unwrap_err().to_string();
        assert!(
            err.ends_with("is a character device, not a regular file"),
            "{err}"
        );
        // index.json itself
        std::fs::remove_file(tmp.path().join(INDEX_FILE)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join(INDEX_FILE)).unwrap();
        let err = layout.index().unwrap_err().to_string();
        assert!(
            err.ends_with("is a character device, not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn the_lock_serializes_index_updates_across_threads() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(tmp.path()).unwrap();
        let desc = layout.put_blob(MediaType::ImageManifest, b"{}").unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (layout, desc) = (layout.clone(), desc.clone());
                s.spawn(move || {
                    for i in 0..10 {
                        layout
                            .add_to_index(desc.clone(), Some(&format!("t{t}-{i}")))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(layout.tags().unwrap().len(), 40);
    }
}
