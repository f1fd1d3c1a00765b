//! Reading an image from disk, whatever holds it: the [`ImageSource`] trait and one reader per
//! local transport ([`open`] picks it from an [`ImageName`]):
//!
//! - [`LayoutSource`]: an OCI layout folder (`oci:DIR[:NAME]`);
//! - [`ArchiveSource`] over an OCI layout inside a tar (`oci-archive:FILE[:NAME]`; packer's
//!   `--docker-archive` and Docker 25's `docker save` are such tars, with a `manifest.json`
//!   beside), read in place: the tar's headers are scanned once, then each blob is read from
//!   its offset in the file, nothing is unpacked;
//! - [`ArchiveSource`] over Docker 20.10's classic `docker save` tar
//!   (`docker-archive:FILE[:NAME:TAG]`: `manifest.json`, `<hex>.json`, `<id>/layer.tar`). Its
//!   layers are plain tars: each is checked against the config's diff id and gzip-compressed
//!   once to learn its digest and size, then compressed again, on the fly, for whoever reads it
//!   (the compressor is deterministic, and the reader verifies the digest). The manifest is a
//!   Docker v2 schema 2 one over those descriptors, so a destination gets what `docker push`
//!   would send.
//!
//! `docker://` is not read here: packer reads no registry (pusher does).
//!
//! An archive may be hostile: the entry count, JSON sizes and manifest sizes are bounded, only
//! regular entries count, and every size is checked against its descriptor before a byte is
//! read.

use crate::compress::{Compression, Compressor, DEFAULT_GZIP_LEVEL, default_threads};
use crate::digest::{DigestReader, DigestWriter, sha256_digest};
use crate::docker_archive::DockerManifestEntry;
use crate::error::{Error, IoContext, Result};
use crate::layout::{
    INDEX_FILE, MANIFEST_LIMIT, MAX_JSON_SIZE, OCI_LAYOUT_FILE, OciLayout, ref_name, resolve_in,
};
use crate::manifest::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, Format, image_manifest};
use crate::model::{Descriptor, Digest, ImageConfiguration, ImageIndex, Manifest, MediaType};
use crate::reference::Reference;
use crate::transport::ImageName;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most entries an archive may have.
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;

/// An image on disk to read: its top manifest (or index), the manifests below it, and blobs.
pub trait ImageSource: Send + Sync {
    /// What the user named it by, for messages (`oci-archive:img.tar`).
    fn name(&self) -> String;
    /// The manifest or index the name selects.
    fn top(&self) -> Result<Manifest>;
    /// The top-level images the name selects: the one named, or with no name every entry of
    /// `index.json` (a classic archive: its one image).
    fn images(&self) -> Result<Vec<Descriptor>>;
    /// The `RepoTags` of a `docker load` archive's `manifest.json`, once every file it names is
    /// found in the archive; none for other sources.
    fn repo_tags(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// A manifest or index the source holds, checked against `desc` (size, digest).
    fn manifest(&self, desc: &Descriptor) -> Result<Manifest>;
    /// The bytes of a blob, of the declared size; the reader verifies the digest as it goes
    /// (as [`OciLayout::write_blob`] does).
    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>>;
    /// The blob's file, when it is one of the declared size (a layout folder's), to link or
    /// hand to a reader that wants a path; its digest is not checked.
    fn blob_file(&self, _desc: &Descriptor) -> Option<PathBuf> {
        None
    }
}

/// Opens the image `name` names on disk; `docker://` is refused with how to fetch it first.
pub fn open(name: &ImageName) -> Result<Box<dyn ImageSource>> {
    let label = name.to_string();
    match name {
        ImageName::Oci { dir, name } => Ok(Box::new(LayoutSource::open(dir, name.clone())?)),
        ImageName::OciArchive { file, name } => {
            if std::fs::metadata(file).is_ok_and(|m| m.is_dir()) {
                return Ok(Box::new(LayoutSource::open(file, name.clone())?));
            }
            Ok(Box::new(ArchiveSource::open(
                file,
                Select::Name(name.clone()),
                label,
            )?))
        }
        ImageName::DockerArchive { file, name } => Ok(Box::new(ArchiveSource::open(
            file,
            Select::Reference(name.clone()),
            label,
        )?)),
        ImageName::Docker(r) => Err(Error::Invalid {
            what: "image",
            value: label,
            reason: format!(
                "packer reads no registry; fetch it first: pusher copy docker://{r} oci:DIR"
            ),
        }),
    }
}

/// An OCI layout folder and the name selected in it.
#[derive(Debug)]
pub struct LayoutSource {
    layout: OciLayout,
    name: Option<String>,
}

impl LayoutSource {
    /// Opens the layout `dir`; `name` selects the image as [`OciLayout::resolve`] does.
    pub fn open(dir: &Path, name: Option<String>) -> Result<LayoutSource> {
        Ok(LayoutSource {
            layout: OciLayout::open(dir)?,
            name,
        })
    }

    /// The layout folder.
    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }
}

impl ImageSource for LayoutSource {
    fn name(&self) -> String {
        let suffix = self
            .name
            .as_ref()
            .map(|n| format!(":{n}"))
            .unwrap_or_default();
        format!("oci:{}{suffix}", self.layout.root().display())
    }

    fn top(&self) -> Result<Manifest> {
        let desc = self.layout.resolve(self.name.as_deref())?;
        self.layout.read_manifest(&desc)
    }

    fn images(&self) -> Result<Vec<Descriptor>> {
        match &self.name {
            Some(name) => Ok(vec![self.layout.resolve(Some(name))?]),
            None => Ok(self.layout.index()?.manifests().clone()),
        }
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Manifest> {
        self.layout.read_manifest(desc)
    }

    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        crate::digest::sha256_hex(desc.digest())?;
        let path = self.layout.blob_path(desc.digest());
        // a regular file, never a device or a fifo; its size and digest are the reader's to
        // check, as for every source, and it reads no more than one byte past the size
        let (file, _) = crate::layout::open_regular(&path, None, "read blob")?;
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 16,
            file.take(desc.size() + 1),
        )))
    }

    fn blob_file(&self, desc: &Descriptor) -> Option<PathBuf> {
        self.layout.blob_file(desc).ok()
    }
}

/// How the image in an archive is chosen.
#[derive(Debug, Clone)]
pub enum Select {
    /// By `org.opencontainers.image.ref.name` (or a bare tag), as in a layout.
    Name(Option<String>),
    /// By reference: `RepoTags` of `manifest.json`, or `io.containerd.image.name` /
    /// `ref.name` of `index.json`.
    Reference(Option<Reference>),
}

/// Where a regular file lies in the tar: the offset of its data and its size.
#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    size: u64,
}

/// A blob of a classic `docker save` archive: the entry holding it, and whether it must be
/// compressed on the way out.
#[derive(Debug, Clone, Copy)]
struct ClassicBlob {
    entry: Entry,
    compress: bool,
}

/// An archive read in place; see the module doc.
pub struct ArchiveSource {
    file: Arc<File>,
    path: PathBuf,
    label: String,
    entries: HashMap<String, Entry>,
    /// the top manifest's descriptor (OCI) or the manifest built for a classic archive
    top: Top,
}

enum Top {
    Oci {
        index: Box<ImageIndex>,
        select: Select,
    },
    Classic {
        manifest: Manifest,
        blobs: HashMap<Digest, ClassicBlob>,
    },
}

impl ArchiveSource {
    /// Scans `path`'s tar headers and finds the image `select` names. `label` names the
    /// archive in messages.
    pub fn open(path: &Path, select: Select, label: String) -> Result<ArchiveSource> {
        let file = File::open(path).io("open", path)?;
        let meta = file.metadata().io("read", path)?;
        if !meta.is_file() {
            return Err(Error::Malformed {
                what: path.display().to_string(),
                reason: format!(
                    "is a {}, not an archive",
                    crate::fsutil::kind_name(meta.file_type())
                ),
            });
        }
        let mut magic = [0u8; 4];
        let n = file.read_at(&mut magic, 0).io("read", path)?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n >= 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(Error::Malformed {
                what: path.display().to_string(),
                reason: "a compressed archive; decompress it first (gunzip, zstd -d): archives \
                         are read in place"
                    .to_owned(),
            });
        }
        let entries = scan(&file, path)?;
        let mut source = ArchiveSource {
            file: Arc::new(file),
            path: path.to_path_buf(),
            label,
            entries,
            top: Top::Oci {
                index: Box::default(),
                select: Select::Name(None),
            },
        };
        source.top = if source.entries.contains_key(INDEX_FILE)
            && source.entries.contains_key(OCI_LAYOUT_FILE)
        {
            let index: ImageIndex = source.read_json(INDEX_FILE)?;
            source.select_in_index(&index, &select)?;
            Top::Oci {
                index: Box::new(index),
                select,
            }
        } else if source.entries.contains_key("manifest.json") {
            source.classic(&select)?
        } else {
            return Err(source.malformed(
                "neither an OCI layout (oci-layout, index.json) nor a docker save archive \
                 (manifest.json)",
            ));
        };
        Ok(source)
    }

    fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::Malformed {
            what: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn entry(&self, name: &str) -> Result<Entry> {
        self.entries
            .get(name)
            .copied()
            .ok_or_else(|| self.malformed(format!("no file {name:?} in the archive")))
    }

    fn section(&self, entry: Entry) -> Section {
        Section {
            file: Arc::clone(&self.file),
            pos: entry.offset,
            end: entry.offset + entry.size,
        }
    }

    /// Reads a whole entry of at most `limit` bytes.
    fn read_entry(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let entry = self.entry(name)?;
        if entry.size > limit {
            return Err(self.malformed(format!(
                "{name} has {} bytes, more than the {limit} allowed",
                entry.size
            )));
        }
        let mut bytes = Vec::with_capacity(entry.size as usize);
        self.section(entry)
            .read_to_end(&mut bytes)
            .io("read", &self.path)?;
        Ok(bytes)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.read_entry(name, MAX_JSON_SIZE)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: format!("{} in {}", name, self.path.display()),
            source,
        })
    }

    fn select_in_index(&self, index: &ImageIndex, select: &Select) -> Result<Descriptor> {
        match select {
            Select::Name(name) => resolve_in(index, name.as_deref(), &self.path),
            Select::Reference(None) => resolve_in(index, None, &self.path),
            Select::Reference(Some(want)) => {
                fn names(d: &Descriptor) -> [Option<&str>; 2] {
                    let containerd = d
                        .annotations()
                        .as_ref()
                        .and_then(|a| a.get(crate::build::CONTAINERD_IMAGE_NAME))
                        .map(String::as_str);
                    [containerd, ref_name(d)]
                }
                let found: Vec<&Descriptor> = index
                    .manifests()
                    .iter()
                    .filter(|d| {
                        names(d)
                            .into_iter()
                            .flatten()
                            .any(|n| Reference::parse(n).is_ok_and(|r| &r == want))
                    })
                    .collect();
                match found.as_slice() {
                    [only] => Ok((*only).clone()),
                    _ => Err(Error::TagNotFound {
                        layout: self.path.clone(),
                        tag: want.to_string(),
                        available: index
                            .manifests()
                            .iter()
                            .filter_map(ref_name)
                            .map(str::to_owned)
                            .collect(),
                    }),
                }
            }
        }
    }

    /// Reads a classic `docker save` archive's `manifest.json`, config and layers (see the
    /// module doc) into the manifest to serve.
    fn classic(&self, select: &Select) -> Result<Top> {
        let entries: Vec<DockerManifestEntry> = self.read_json("manifest.json")?;
        let all_tags = || entries.iter().flat_map(|e| e.repo_tags.clone()).collect();
        let want = match select {
            Select::Reference(r) => r.clone(),
            Select::Name(Some(n)) => Some(Reference::parse(n).map_err(|e| Error::Invalid {
                what: "image name",
                value: n.clone(),
                reason: e.reason.to_owned(),
            })?),
            Select::Name(None) => None,
        };
        let chosen: Vec<&DockerManifestEntry> = match &want {
            None => entries.iter().collect(),
            Some(want) => entries
                .iter()
                .filter(|e| {
                    e.repo_tags
                        .iter()
                        .any(|t| Reference::parse(t).is_ok_and(|r| &r == want))
                })
                .collect(),
        };
        let entry = match (chosen.as_slice(), &want) {
            ([only], _) => *only,
            ([], Some(want)) => {
                return Err(Error::TagNotFound {
                    layout: self.path.clone(),
                    tag: want.to_string(),
                    available: all_tags(),
                });
            }
            (several, _) => {
                return Err(Error::AmbiguousImage {
                    layout: self.path.clone(),
                    count: several.len(),
                    available: all_tags(),
                });
            }
        };
        let config_name = normalize(&entry.config);
        let config_bytes = self.read_entry(&config_name, MAX_JSON_SIZE)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|source| Error::Json {
                what: format!("{config_name} in {}", self.path.display()),
                source,
            })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != entry.layers.len() {
            return Err(self.malformed(format!(
                "{config_name} lists {} diff ids for {} layers",
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let config_desc = Descriptor::new(
            MediaType::Other(DOCKER_CONFIG.to_owned()),
            config_bytes.len() as u64,
            sha256_digest(&config_bytes),
        );
        let mut blobs = HashMap::new();
        blobs.insert(
            config_desc.digest().clone(),
            ClassicBlob {
                entry: self.entry(&config_name)?,
                compress: false,
            },
        );
        let mut layers = Vec::new();
        for (name, diff_id) in entry.layers.iter().zip(diff_ids) {
            let name = normalize(name);
            let entry = self.entry(&name)?;
            let (desc, compress) = self.classic_layer(&name, entry, diff_id)?;
            blobs.insert(desc.digest().clone(), ClassicBlob { entry, compress });
            layers.push(desc);
        }
        let manifest =
            image_manifest(Format::Docker, config_desc, layers, &Default::default(), "")?;
        Ok(Top::Classic {
            manifest: Manifest::from_image(&manifest)?,
            blobs,
        })
    }

    /// One classic layer: gzip (as it is) or a plain tar (compressed once to learn the
    /// digest); either way its diff id is checked.
    fn classic_layer(&self, name: &str, entry: Entry, diff_id: &str) -> Result<(Descriptor, bool)> {
        let mut magic = [0u8; 2];
        let n = self
            .file
            .read_at(&mut magic, entry.offset)
            .io("read", &self.path)?;
        let gzipped = n == 2 && magic == [0x1f, 0x8b] && entry.size > 2;
        let what = format!("{name} in {}", self.path.display());
        let (diff, digest, size) = if gzipped {
            let mut raw =
                DigestReader::new(io::BufReader::with_capacity(1 << 16, self.section(entry)));
            let mut gunzip = DigestReader::new(flate2::bufread::GzDecoder::new(
                io::BufReader::with_capacity(1 << 16, &mut raw),
            ));
            io::copy(&mut gunzip, &mut io::sink()).io("decompress", &self.path)?;
            let (diff, _) = gunzip.finish();
            let (digest, size) = raw.finish();
            (diff, digest, size)
        } else {
            let mut plain = DigestReader::new(self.section(entry));
            let out = DigestWriter::new(io::sink());
            let mut gzip = Compressor::new(
                Compression::Gzip(DEFAULT_GZIP_LEVEL),
                default_threads(),
                out,
            )
            .io("compress", &self.path)?;
            io::copy(&mut plain, &mut gzip).io("compress", &self.path)?;
            let (digest, size, _) = gzip.finish().io("compress", &self.path)?.finish();
            (plain.finish().0, digest, size)
        };
        if diff.as_ref() != diff_id {
            return Err(Error::DiffIdMismatch {
                layer: what,
                expected: diff_id.to_owned(),
                actual: diff.to_string(),
            });
        }
        Ok((
            Descriptor::new(MediaType::Other(DOCKER_LAYER_GZIP.to_owned()), size, digest),
            !gzipped,
        ))
    }

    fn blob_entry(&self, digest: &Digest) -> Result<ClassicBlob> {
        match &self.top {
            Top::Classic { blobs, .. } => blobs.get(digest).copied(),
            Top::Oci { .. } => {
                let name = crate::docker_archive::blob_name(digest);
                self.entries.get(&name).map(|&entry| ClassicBlob {
                    entry,
                    compress: false,
                })
            }
        }
        .ok_or_else(|| self.malformed(format!("no blob {digest} in the archive")))
    }
}

impl ImageSource for ArchiveSource {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn top(&self) -> Result<Manifest> {
        match &self.top {
            Top::Oci { index, select } => self.manifest(&self.select_in_index(index, select)?),
            Top::Classic { manifest, .. } => Ok(manifest.clone()),
        }
    }

    fn images(&self) -> Result<Vec<Descriptor>> {
        match &self.top {
            Top::Oci {
                index,
                select: Select::Name(None) | Select::Reference(None),
            } => Ok(index.manifests().clone()),
            Top::Oci { index, select } => Ok(vec![self.select_in_index(index, select)?]),
            Top::Classic { manifest, .. } => Ok(vec![manifest.descriptor()]),
        }
    }

    fn repo_tags(&self) -> Result<Vec<String>> {
        if !self.entries.contains_key("manifest.json") {
            return Ok(Vec::new());
        }
        let entries: Vec<DockerManifestEntry> = self.read_json("manifest.json")?;
        let mut tags = Vec::new();
        for entry in entries {
            for f in std::iter::once(&entry.config).chain(&entry.layers) {
                if !self.entries.contains_key(&normalize(f)) {
                    return Err(self.malformed(format!(
                        "manifest.json names {f}, which is not in the archive"
                    )));
                }
            }
            tags.extend(entry.repo_tags);
        }
        Ok(tags)
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Manifest> {
        if let Top::Classic { manifest, .. } = &self.top
            && manifest.digest() == desc.digest()
        {
            return Ok(manifest.clone());
        }
        crate::digest::sha256_hex(desc.digest())?;
        let what = format!("manifest {} in {}", desc.digest(), self.path.display());
        if desc.size() > MANIFEST_LIMIT {
            return Err(Error::Malformed {
                what,
                reason: format!(
                    "{} bytes, more than the {} MiB a manifest, index or config may have",
                    desc.size(),
                    MANIFEST_LIMIT >> 20
                ),
            });
        }
        let blob = self.blob_entry(desc.digest())?;
        if blob.entry.size != desc.size() {
            return Err(Error::SizeMismatch {
                what,
                expected: desc.size(),
                actual: blob.entry.size,
            });
        }
        let mut bytes = Vec::with_capacity(desc.size() as usize);
        self.section(blob.entry)
            .read_to_end(&mut bytes)
            .io("read", &self.path)?;
        let manifest = Manifest::parse(bytes, Some(desc.media_type()), &what)?;
        manifest.check(desc, &what)?;
        Ok(manifest)
    }

    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        crate::digest::sha256_hex(desc.digest())?;
        let blob = self.blob_entry(desc.digest())?;
        if blob.compress {
            return Ok(Box::new(CompressingReader::spawn(self.section(blob.entry))));
        }
        if blob.entry.size != desc.size() {
            return Err(Error::SizeMismatch {
                what: format!("blob {} in {}", desc.digest(), self.path.display()),
                expected: desc.size(),
                actual: blob.entry.size,
            });
        }
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 16,
            self.section(blob.entry),
        )))
    }
}

/// `./a/b` and `a/b` name the same entry.
fn normalize(name: &str) -> String {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name.trim_start_matches('/').to_owned()
}

/// The largest PAX extended header or GNU long name read: a name or a size, not a file.
const MAX_EXTENSION: u64 = 1 << 20;

/// Reads the tar's headers (ustar, PAX `path`/`size` records, GNU long names), jumping over
/// the data, and records every regular file's offset and size. Written by hand rather than
/// with the `tar` crate, which reads a PAX header or long name of any size into memory: here
/// each is bounded by [`MAX_EXTENSION`], the entries by [`MAX_ARCHIVE_ENTRIES`], every header's
/// checksum is checked, and an entry must end inside the file.
fn scan(file: &File, path: &Path) -> Result<HashMap<String, Entry>> {
    let bad = |reason: String| Error::Malformed {
        what: path.display().to_string(),
        reason: format!("not a readable tar archive: {reason}"),
    };
    let len = file.metadata().io("read", path)?.len();
    let mut entries = HashMap::new();
    let mut at = 0u64;
    let mut count = 0usize;
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut header = [0u8; 512];
    loop {
        if at + 512 > len {
            // a tar that ends without its two zero blocks is still read (as tar does)
            break;
        }
        file.read_exact_at(&mut header, at).io("read", path)?;
        if header.iter().all(|&b| b == 0) {
            break;
        }
        count += 1;
        if count > MAX_ARCHIVE_ENTRIES {
            return Err(bad(format!("more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let stored = octal(&header[148..156]).ok_or_else(|| bad(format!("bad header at {at}")))?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(bad(format!("header checksum mismatch at byte {at}")));
        }
        let size = match pax_size.take() {
            Some(size) => size,
            None => size_field(&header[124..136])
                .ok_or_else(|| bad(format!("bad size at byte {at}")))?,
        };
        let data = at + 512;
        let end = data
            .checked_add(size)
            .filter(|&end| end <= len)
            .ok_or_else(|| bad(format!("the entry at byte {at} runs past the end")))?;
        let read_extension = || -> Result<Vec<u8>> {
            if size > MAX_EXTENSION {
                return Err(bad(format!(
                    "an extended header of {size} bytes at byte {at}"
                )));
            }
            let mut bytes = vec![0u8; size as usize];
            file.read_exact_at(&mut bytes, data).io("read", path)?;
            Ok(bytes)
        };
        match header[156] {
            b'x' => {
                let records = read_extension()?;
                let (p, s) = pax_records(&records)
                    .ok_or_else(|| bad(format!("bad PAX header at byte {at}")))?;
                pax_path = p;
                pax_size = s;
            }
            b'L' => {
                let bytes = read_extension()?;
                let name = bytes.split(|&b| b == 0).next().unwrap_or_default();
                long_name = Some(String::from_utf8_lossy(name).into_owned());
            }
            kind => {
                let name = pax_path.take().or(long_name.take()).unwrap_or_else(|| {
                    let field = |r: std::ops::Range<usize>| {
                        let f = &header[r];
                        let n = f.iter().position(|&b| b == 0).unwrap_or(f.len());
                        String::from_utf8_lossy(&f[..n]).into_owned()
                    };
                    let name = field(0..100);
                    let prefix = if &header[257..263] == b"ustar\0" {
                        field(345..500)
                    } else {
                        String::new()
                    };
                    if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    }
                });
                if matches!(kind, b'0' | 0 | b'7') {
                    entries.insert(normalize(&name), Entry { offset: data, size });
                }
            }
        }
        at = end
            .checked_add(511)
            .map(|e| e / 512 * 512)
            .ok_or_else(|| bad(format!("the entry at byte {at} runs past the end")))?;
    }
    Ok(entries)
}

/// An octal field (NUL or space terminated).
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The size field: octal, or GNU's base-256 (the high bit set) for sizes of 8 GiB and more.
fn size_field(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 == 0 {
        return octal(field);
    }
    if field[0] & 0x40 != 0 || field[1..4].iter().any(|&b| b != 0) {
        return None; // negative, or more than 64 bits
    }
    Some(field[4..].iter().fold(0u64, |n, &b| n << 8 | u64::from(b)))
}

/// The `path` and `size` of a PAX extended header's `LEN key=value\n` records.
fn pax_records(mut records: &[u8]) -> Option<(Option<String>, Option<u64>)> {
    let (mut path, mut size) = (None, None);
    while !records.is_empty() {
        let space = records.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&records[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > records.len() || records[len - 1] != b'\n' {
            return None;
        }
        let record = &records[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=')?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(String::from_utf8_lossy(value).into_owned()),
            b"size" => size = Some(std::str::from_utf8(value).ok()?.parse().ok()?),
            _ => {}
        }
        records = &records[len..];
    }
    Some((path, size))
}

/// A part of the archive file, read with positioned reads (no shared cursor).
struct Section {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for Section {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.end - self.pos).min(buf.len() as u64) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..left], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Gzip of a plain tar entry, produced by a thread as it is read: memory stays bounded by the
/// compressor's blocks and a few chunks in the channel.
struct CompressingReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

/// The compressor's output side: chunks into the channel.
struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

const CHANNEL_CHUNK: usize = 1 << 20;

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHANNEL_CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHANNEL_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == CHANNEL_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CompressingReader {
    fn spawn(mut input: Section) -> CompressingReader {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            let out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHANNEL_CHUNK),
            };
            let run = || -> io::Result<()> {
                let mut gzip = Compressor::new(
                    Compression::Gzip(DEFAULT_GZIP_LEVEL),
                    default_threads(),
                    out,
                )?;
                io::copy(&mut input, &mut gzip)?;
                let mut out = gzip.finish()?;
                if !out.buf.is_empty() {
                    out.send()?;
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = tx.send(Err(e));
            }
        });
        CompressingReader {
            rx,
            chunk: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl Read for CompressingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // the thread finished and dropped its sender
                Err(_) => self.done = true,
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Parsed;

    /// A tar of `(name, bytes)` files, in order.
    fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A classic `docker save` archive of one image with one layer holding `hello`.
    fn classic(diff_id_of: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let layer = tar_of(&[("hello", b"hi\n".to_vec())]);
        let diff_id = sha256_digest(diff_id_of);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["A=1"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        )
        .into_bytes();
        let hex = sha256_digest(&config).digest().to_owned();
        let manifest = format!(
            r#"[{{"Config":"{hex}.json","RepoTags":["hello:v1"],"Layers":["abc/layer.tar"]}}]"#
        );
        let archive = tar_of(&[
            (&format!("{hex}.json"), config.clone()),
            ("abc/layer.tar", layer.clone()),
            ("abc/VERSION", b"1.0".to_vec()),
            ("manifest.json", manifest.into_bytes()),
        ]);
        (archive, config, layer)
    }

    fn open_file(bytes: &[u8], spec: &str) -> (tempfile::TempDir, Result<Box<dyn ImageSource>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        let name = ImageName::parse(&format!("{spec}{}", path.display())).unwrap();
        let opened = open(&name);
        (dir, opened)
    }

    #[test]
    fn a_classic_docker_save_reads_as_a_docker_manifest_with_gzip_layers() {
        let (archive, config, layer) = {
            let layer = tar_of(&[("hello", b"hi\n".to_vec())]);
            let (a, c, l) = classic(&layer);
            assert_eq!(l, layer);
            (a, c, l)
        };
        let (_dir, source) = open_file(&archive, "docker-archive:");
        let source = source.unwrap();
        let top = source.top().unwrap();
        assert_eq!(top.media_type().as_ref(), crate::model::DOCKER_MANIFEST);
        let Parsed::Image(m) = top.parsed() else {
            panic!("an image")
        };
        assert!(m.annotations().is_none());
        assert_eq!(*m.config().digest(), sha256_digest(&config));
        let gz = &m.layers()[0];
        assert_eq!(gz.media_type().as_ref(), DOCKER_LAYER_GZIP);
        // the layer comes out compressed, as the descriptor says, and decompresses to the tar
        let mut bytes = Vec::new();
        source
            .open_blob(gz)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes.len() as u64, gz.size());
        assert_eq!(sha256_digest(&bytes), *gz.digest());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, layer);
        // the config comes out as stored
        let mut c = Vec::new();
        source
            .open_blob(m.config())
            .unwrap()
            .read_to_end(&mut c)
            .unwrap();
        assert_eq!(c, config);
        assert_eq!(source.repo_tags().unwrap(), ["hello:v1"]);
        // selected by name, or refused naming the tags there
        let (_d, named) = open_file(&archive, "docker-archive:");
        assert!(named.is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, &archive).unwrap();
        let other = ImageName::parse(&format!("docker-archive:{}:other:v1", path.display()));
        let err = open(&other.unwrap()).err().unwrap().to_string();
        assert!(err.contains("hello:v1"), "{err}");
    }

    #[test]
    fn a_layer_that_is_not_what_the_config_says_is_refused() {
        let (archive, _, _) = classic(b"something else");
        let (_dir, source) = open_file(&archive, "docker-archive:");
        let err = source.err().unwrap().to_string();
        assert!(err.contains("diff id mismatch"), "{err}");
    }

    #[test]
    fn the_scanner_reads_long_names_and_bounds_extended_headers() {
        let long = format!("{}/file", "d".repeat(150));
        let bytes = tar_of(&[(&long, b"long".to_vec()), ("short", b"s".to_vec())]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, &bytes).unwrap();
        let entries = scan(&File::open(&path).unwrap(), &path).unwrap();
        assert_eq!(entries[&long].size, 4);
        assert_eq!(entries["short"].size, 1);
        let mut four = [0u8; 4];
        File::open(&path)
            .unwrap()
            .read_exact_at(&mut four, entries[&long].offset)
            .unwrap();
        assert_eq!(&four, b"long");

        // a PAX header claiming 2 MiB is not read into memory
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(2 << 20);
        h.set_cksum();
        let mut hostile = h.as_bytes().to_vec();
        hostile.resize(512 + (2 << 20) + 1024, 0);
        std::fs::write(&path, &hostile).unwrap();
        let err = scan(&File::open(&path).unwrap(), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("extended header of 2097152 bytes"), "{err}");

        // an entry that claims to run past the end, and a damaged header
        let mut truncated = bytes.clone();
        truncated.truncate(514);
        std::fs::write(&path, &truncated).unwrap();
        let err = scan(&File::open(&path).unwrap(), &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the entry at byte 0 runs past the end"),
            "{err}"
        );
        let mut damaged = bytes;
        damaged[10] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let err = scan(&File::open(&path).unwrap(), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("checksum mismatch at byte 0"), "{err}");
    }

    #[test]
    fn compressed_foreign_and_lying_archives_are_refused() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&classic(b"x").0).unwrap();
        let (_d, s) = open_file(&gz.finish().unwrap(), "docker-archive:");
        assert!(s.err().unwrap().to_string().contains("decompress it first"));

        let (_d, s) = open_file(&tar_of(&[("notes", b"x".to_vec())]), "oci-archive:");
        assert!(
            s.err()
                .unwrap()
                .to_string()
                .contains("neither an OCI layout")
        );

        // an index entry whose size is not the blob's
        let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
        let digest = sha256_digest(&manifest);
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{}}}]}}"#,
            manifest.len() + 1
        );
        let archive = tar_of(&[
            ("oci-layout", crate::layout::OCI_LAYOUT_CONTENT.into()),
            ("index.json", index.into_bytes()),
            (&format!("blobs/sha256/{}", digest.digest()), manifest),
        ]);
        let (_d, s) = open_file(&archive, "oci-archive:");
        let err = s.unwrap().top().unwrap_err().to_string();
        assert!(err.contains("size mismatch"), "{err}");
    }
}
