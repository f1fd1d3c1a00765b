//! Tar the bundle, then digest and diff id, in one streaming pass.
//!
//! Every file is read once. Tar bytes feed the diff id hash (and the optional rootfs tar);
//! the compressor turns them into layer bytes, which feed the layer digest, the byte count
//! and a temporary blob file that the caller renames to its digest. Memory stays bounded: a
//! copy buffer and the compressor's blocks in flight.

use crate::bundle::{Bundle, CAPABILITY_XATTR, EntryKind};
use crate::compress::{Compression, Compressor};
use crate::digest::DigestWriter;
use crate::error::{Error, IoContext, Result};
use crate::pipe::ThreadedSink;
use crate::tar::{Kind, TarWriter};
use oci_spec::image::Digest;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const COPY_BUF: usize = 256 * 1024;

/// A caller's progress feed: called with the bytes of file content packed so far, after every
/// chunk of at most 256 KiB. The library prints nothing; a binary turns this into a bar.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(u64) + Send + Sync>>);

impl Progress {
    /// Reports to `feed`.
    pub fn new(feed: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(feed)))
    }

    /// Reports nowhere.
    pub fn none() -> Self {
        Progress(None)
    }

    /// The same feed, counting from `base` (the bytes of the layers packed before).
    pub fn offset(&self, base: u64) -> Progress {
        match &self.0 {
            None => Progress(None),
            Some(feed) => {
                let feed = Arc::clone(feed);
                Progress(Some(Arc::new(move |done| feed(base + done))))
            }
        }
    }

    fn report(&self, done: u64) {
        if let Some(feed) = &self.0 {
            feed(done);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(feed)"
        } else {
            "Progress(none)"
        })
    }
}

/// The bytes of file content in `bundle`, as they are on disk now: the total that
/// [`Progress`] counts up to.
pub fn content_size(bundle: &Bundle) -> u64 {
    bundle
        .entries()
        .filter_map(|e| match &e.kind {
            EntryKind::File { source } => std::fs::metadata(source).ok().map(|m| m.len()),
            _ => None,
        })
        .sum()
}

/// What the article computed by hand for a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// sha256 of the compressed bytes: the blob's name
    pub digest: Digest,
    /// size of the compressed bytes
    pub size: u64,
    /// sha256 of the uncompressed tar: the config's `rootfs.diff_ids`
    pub diff_id: Digest,
    /// size of the uncompressed tar
    pub tar_size: u64,
    /// how it is compressed
    pub compression: Compression,
}

/// Writes the bundle as a tar to `out`: bytewise path order, relative names, normalized
/// headers with `mtime`. `out_name` names the destination in write errors.
pub fn write_tar<W: Write>(bundle: &Bundle, mtime: u64, out: W, out_name: &Path) -> Result<W> {
    write_tar_reporting(bundle, mtime, out, out_name, &Progress::none())
}

/// [`write_tar`], reporting the file bytes written to `progress`.
fn write_tar_reporting<W: Write>(
    bundle: &Bundle,
    mtime: u64,
    out: W,
    out_name: &Path,
    progress: &Progress,
) -> Result<W> {
    let mut done = 0u64;
    let mut tar = TarWriter::new(out, mtime);
    let mut buf = vec![0u8; COPY_BUF];
    let werr = |e: io::Error| Error::Io {
        action: "write the layer to",
        path: out_name.to_path_buf(),
        source: e,
    };
    for entry in bundle.entries() {
        tar.set_owner(entry.owner.0, entry.owner.1);
        let caps: Vec<(&str, &[u8])> = entry
            .capability
            .as_deref()
            .map(|c| vec![(CAPABILITY_XATTR, c)])
            .unwrap_or_default();
        match &entry.kind {
            EntryKind::Dir => tar
                .header(Kind::Dir, &entry.path, entry.mode, 0, b"", &caps)
                .map_err(werr)?,
            EntryKind::Symlink { target } => tar
                .header(Kind::Symlink, &entry.path, entry.mode, 0, target, &[])
                .map_err(werr)?,
            EntryKind::HardLink { target } => tar
                .header(Kind::HardLink, &entry.path, entry.mode, 0, target, &[])
                .map_err(werr)?,
            EntryKind::File { source } => {
                let mut file = File::open(source).io("read", source)?;
                let size = file.metadata().io("read", source)?.len();
                tar.header(Kind::File, &entry.path, entry.mode, size, b"", &caps)
                    .map_err(werr)?;
                let mut copy = Copy {
                    tar: &mut tar,
                    buf: &mut buf,
                    progress,
                    done: &mut done,
                };
                copy.exactly(&mut file, source, size, &werr)?;
                tar.pad(size).map_err(werr)?;
            }
        }
    }
    tar.finish().map_err(werr)
}

/// Copies file bytes into the tar, counting them for the progress feed.
struct Copy<'a, W: Write> {
    tar: &'a mut TarWriter<W>,
    buf: &'a mut [u8],
    progress: &'a Progress,
    done: &'a mut u64,
}

impl<W: Write> Copy<'_, W> {
    fn exactly(
        &mut self,
        file: &mut File,
        source: &Path,
        size: u64,
        werr: &impl Fn(io::Error) -> Error,
    ) -> Result<()> {
        let changed = || Error::FileChanged {
            path: source.to_path_buf(),
            expected: size,
        };
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = read_retry(file, &mut self.buf[..want]).io("read", source)?;
            if n == 0 {
                return Err(changed());
            }
            self.tar.get_mut().write_all(&self.buf[..n]).map_err(werr)?;
            left -= n as u64;
            *self.done += n as u64;
            self.progress.report(*self.done);
        }
        if read_retry(file, &mut self.buf[..1]).io("read", source)? != 0 {
            return Err(changed());
        }
        Ok(())
    }
}

fn read_retry(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Tar bytes in: to the diff id hasher (and rootfs tar) on its thread, and to the compressor.
struct Tee<C> {
    diff: ThreadedSink<DigestWriter<Box<dyn Write + Send>>>,
    next: C,
}

impl<C: Write> Write for Tee<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.next.write_all(buf)?;
        self.diff.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The layer blob written by [`pack_layer`]: still a temporary file, to be renamed to its
/// digest by the caller.
pub struct PackedLayer {
    /// digests and sizes
    pub layer: Layer,
    /// the compressed bytes
    pub blob: tempfile::NamedTempFile,
}

/// The one streaming pass: tars `bundle`, hashes the tar (diff id), optionally copies it to
/// `rootfs_tar`, compresses it on `threads` threads into a temporary file in `blob_dir`,
/// hashing and counting the compressed bytes (layer digest and size). File bytes packed so far
/// go to `progress`.
pub fn pack_layer(
    bundle: &Bundle,
    compression: Compression,
    threads: usize,
    mtime: u64,
    blob_dir: &Path,
    rootfs_tar: Option<&Path>,
    progress: &Progress,
) -> Result<PackedLayer> {
    let blob = tempfile::Builder::new()
        .prefix(".packer-layer-")
        .tempfile_in(blob_dir)
        .io("create a temporary file in", blob_dir)?;
    let blob_path: PathBuf = blob.path().to_path_buf();
    let file = blob.as_file().try_clone().io("open", &blob_path)?;
    let rootfs: Box<dyn Write + Send> = match rootfs_tar {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(p).io("create", p)?,
        )),
        None => Box::new(io::sink()),
    };
    // digest and diff id, each hashed on its own thread while the tar is being made
    let diff = ThreadedSink::spawn(DigestWriter::new(rootfs));
    let sink = ThreadedSink::spawn(DigestWriter::new(BufWriter::with_capacity(1 << 16, file)));
    let comp = Compressor::new(compression, threads, sink).io("start compressing", &blob_path)?;
    let tee = Tee { diff, next: comp };
    let Tee { diff, next } = write_tar_reporting(bundle, mtime, tee, &blob_path, progress)?;
    let rootfs_name = rootfs_tar.unwrap_or(&blob_path);
    let (diff_id, tar_size, _) = diff.finish().io("write", rootfs_name)?.finish();
    let sink = next.finish().io("write the layer to", &blob_path)?;
    let (digest, size, _) = sink.finish().io("write the layer to", &blob_path)?.finish();
    Ok(PackedLayer {
        layer: Layer {
            digest,
            size,
            diff_id,
            tar_size,
            compression,
        },
        blob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_holds_entries_in_order_with_normalized_headers() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        let mut b = Bundle::new();
        b.add_file("bin/sh", &f, Some(0o755)).unwrap();
        b.add_symlink("bin/ls", "sh").unwrap();
        b.add_dir("etc", 0o755).unwrap();
        let bytes = write_tar(&b, 0, Vec::new(), Path::new("mem")).unwrap();
        let mut ar = ::tar::Archive::new(&bytes[..]);
        let got: Vec<(String, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("bin/".to_owned(), 0, 0),
                ("bin/ls".to_owned(), 0, 0),
                ("bin/sh".to_owned(), 0, 5),
                ("etc/".to_owned(), 0, 0)
            ]
        );
    }

    #[test]
    fn an_empty_bundle_has_dockers_well_known_empty_layer_diff_id() {
        let bytes = write_tar(&Bundle::new(), 0, Vec::new(), Path::new("mem")).unwrap();
        assert_eq!(
            crate::digest::sha256_digest(&bytes).to_string(),
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        );
    }

    #[test]
    fn file_capabilities_travel_as_a_pax_xattr() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("ping");
        std::fs::write(&f, b"ping").unwrap();
        // vfs_cap_data revision 2: cap_net_raw (13) permitted and effective
        let mut caps = Vec::new();
        for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
            caps.extend_from_slice(&word.to_le_bytes());
        }
        let path = std::ffi::CString::new(f.as_os_str().as_bytes()).unwrap();
        // SAFETY: nul-terminated strings and a buffer we own, alive across the call
        let rc = unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"security.capability".as_ptr(),
                caps.as_ptr().cast(),
                caps.len(),
                0,
            )
        };
        assert_eq!(rc, 0, "setxattr: {}", io::Error::last_os_error());
        let mut b = Bundle::new();
        b.add_file("bin/ping", &f, Some(0o755)).unwrap();
        let bundle_from_dir = Bundle::from_dir(tmp.path()).unwrap();
        for bundle in [b, bundle_from_dir] {
            let bytes = write_tar(&bundle, 0, Vec::new(), Path::new("mem")).unwrap();
            let mut ar = ::tar::Archive::new(&bytes[..]);
            let mut found = None;
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                let name = e.path().unwrap().display().to_string();
                if let Some(exts) = e.pax_extensions().unwrap() {
                    for x in exts {
                        let x = x.unwrap();
                        if x.key() == Ok("SCHILY.xattr.security.capability") {
                            found = Some((name.clone(), x.value_bytes().to_vec()));
                        }
                    }
                }
            }
            let (name, value) = found.expect("a security.capability record");
            assert!(name.ends_with("ping"), "{name}");
            assert_eq!(value, caps);
        }
    }

    #[test]
    fn one_pass_gives_the_digests_of_the_bytes_written() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, vec![7u8; 3_000_000]).unwrap();
        let mut b = Bundle::new();
        b.add_file("big", &f, Some(0o644)).unwrap();
        let rootfs = tmp.path().join("rootfs.tar");
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let feed = Arc::clone(&seen);
        let progress = Progress::new(move |done| {
            // counts only go up
            assert!(feed.fetch_max(done, std::sync::atomic::Ordering::Relaxed) <= done);
        });
        let packed = pack_layer(
            &b,
            Compression::Gzip(6),
            2,
            0,
            tmp.path(),
            Some(&rootfs),
            &progress,
        )
        .unwrap();
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 3_000_000);
        assert_eq!(content_size(&b), 3_000_000);
        let blob = std::fs::read(packed.blob.path()).unwrap();
        let tar = std::fs::read(&rootfs).unwrap();
        assert_eq!(packed.layer.size, blob.len() as u64);
        assert_eq!(packed.layer.digest, crate::digest::sha256_digest(&blob));
        assert_eq!(packed.layer.diff_id, crate::digest::sha256_digest(&tar));
        assert_eq!(packed.layer.tar_size, tar.len() as u64);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, tar);
    }
}
