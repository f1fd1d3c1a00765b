//! The bundle: what goes in the layer, either walked from a folder or listed entry by entry
//! (files from host paths, directories, symlinks, hard links), kept in bytewise path order.

use crate::error::{Error, IoContext, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The xattr a layer keeps (file capabilities, e.g. `cap_net_bind_service`).
pub const CAPABILITY_XATTR: &str = "security.capability";

/// What an entry is and where its content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file whose bytes are read from `source` when the layer is written.
    File {
        /// the host file
        source: PathBuf,
    },
    /// A directory.
    Dir,
    /// A symbolic link; the target is kept verbatim.
    Symlink {
        /// the link target, as bytes
        target: Vec<u8>,
    },
    /// A hard link to another file entry of the bundle (by its path in the image).
    HardLink {
        /// the path in the image of the file it links to
        target: Vec<u8>,
    },
}

/// One entry of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path in the image, relative, no `./`, no trailing `/`.
    pub path: Vec<u8>,
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    /// What it is.
    pub kind: EntryKind,
    /// The `security.capability` xattr, if the file has one.
    pub capability: Option<Vec<u8>>,
    /// uid and gid: (0, 0) unless [`Bundle::set_owner`] changed them
    pub owner: (u32, u32),
}

/// The entries of a layer, in bytewise path order, every parent directory present.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// parent directories added because an entry below needed them, not by a call
    implied: BTreeSet<Vec<u8>>,
}

impl Bundle {
    /// An empty bundle, to fill with [`Bundle::add_file`] and friends.
    pub fn new() -> Bundle {
        Bundle::default()
    }

    /// Walks the folder `root` (not following symlinks). Hard-linked files become one file and
    /// hard links to it; a device, fifo or socket is an error naming it.
    pub fn from_dir(root: impl AsRef<Path>) -> Result<Bundle> {
        let root = root.as_ref();
        let meta = std::fs::metadata(root).io("read", root)?;
        if !meta.is_dir() {
            return Err(Error::Invalid {
                what: "rootfs",
                value: root.display().to_string(),
                reason: "not a folder".to_owned(),
            });
        }
        let mut bundle = Bundle::new();
        let mut inodes: HashMap<(u64, u64), Vec<Vec<u8>>> = HashMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for item in std::fs::read_dir(&dir).io("read", &dir)? {
                let item = item.io("read", &dir)?;
                let host = item.path();
                let meta = std::fs::symlink_metadata(&host).io("read", &host)?;
                let rel = host.strip_prefix(root).expect("walked below root");
                let path = rel.as_os_str().as_bytes().to_vec();
                let mode = meta.mode() & 0o7777;
                let ft = meta.file_type();
                let kind = if ft.is_dir() {
                    stack.push(host.clone());
                    EntryKind::Dir
                } else if ft.is_file() {
                    if meta.nlink() > 1 {
                        inodes
                            .entry((meta.dev(), meta.ino()))
                            .or_default()
                            .push(path.clone());
                    }
                    EntryKind::File {
                        source: host.clone(),
                    }
                } else if ft.is_symlink() {
                    let target = std::fs::read_link(&host).io("read link", &host)?;
                    EntryKind::Symlink {
                        target: target.as_os_str().as_bytes().to_vec(),
                    }
                } else {
                    return Err(Error::SpecialFile {
                        path: host,
                        kind: crate::fsutil::kind_name(ft),
                    });
                };
                let capability = match kind {
                    EntryKind::File { .. } => read_capability(&host)?,
                    _ => None,
                };
                let mode = if ft.is_symlink() { 0o777 } else { mode };
                bundle.entries.insert(
                    path.clone(),
                    Entry {
                        path,
                        mode,
                        kind,
                        capability,
                        owner: (0, 0),
                    },
                );
            }
        }
        for (_, mut paths) in inodes {
            paths.sort();
            let first = paths[0].clone();
            for link in &paths[1..] {
                if let Some(e) = bundle.entries.get_mut(link) {
                    e.kind = EntryKind::HardLink {
                        target: first.clone(),
                    };
                    e.capability = None;
                }
            }
        }
        Ok(bundle)
    }

    /// Adds a regular file at `path` in the image whose bytes come from `source` on the host;
    /// `mode` defaults to the host file's permission bits.
    pub fn add_file(
        &mut self,
        path: impl AsRef<[u8]>,
        source: impl Into<PathBuf>,
        mode: Option<u32>,
    ) -> Result<()> {
        let source = source.into();
        let meta = std::fs::metadata(&source).io("read", &source)?;
        if !meta.is_file() {
            return Err(Error::SpecialFile {
                kind: crate::fsutil::kind_name(meta.file_type()),
                path: source,
            });
        }
        let capability = read_capability(&source)?;
        let mode = mode.unwrap_or(meta.mode()) & 0o7777;
        self.insert(path.as_ref(), mode, EntryKind::File { source }, capability)
    }

    /// Adds a directory at `path` in the image.
    pub fn add_dir(&mut self, path: impl AsRef<[u8]>, mode: u32) -> Result<()> {
        self.insert(path.as_ref(), mode & 0o7777, EntryKind::Dir, None)
    }

    /// Adds a symlink at `path` pointing to `target` (kept verbatim).
    pub fn add_symlink(&mut self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Result<()> {
        let target = target.as_ref().to_vec();
        self.insert(path.as_ref(), 0o777, EntryKind::Symlink { target }, None)
    }

    /// Adds a hard link at `path` to the file entry at `target` (which must be added first).
    pub fn add_hardlink(&mut self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Result<()> {
        let target = normalize(target.as_ref())?;
        let Some(t) = self.entries.get(&target) else {
            return Err(Error::Invalid {
                what: "hard link target",
                value: String::from_utf8_lossy(&target).into_owned(),
                reason: "no such file in the bundle".to_owned(),
            });
        };
        let (mode, target) = match &t.kind {
            EntryKind::File { .. } => (t.mode, target),
            EntryKind::HardLink { target } => (t.mode, target.clone()),
            _ => {
                return Err(Error::Invalid {
                    what: "hard link target",
                    value: String::from_utf8_lossy(&target).into_owned(),
                    reason: "not a regular file".to_owned(),
                });
            }
        };
        let path = normalize(path.as_ref())?;
        if path < target {
            // tar readers need the file before its links: the first path carries the bytes
            let file = self.entries.remove(&target).expect("checked above");
            for e in self.entries.values_mut() {
                if e.kind
                    == (EntryKind::HardLink {
                        target: target.clone(),
                    })
                {
                    e.kind = EntryKind::HardLink {
                        target: path.clone(),
                    };
                }
            }
            self.insert(&path, mode, file.kind, file.capability)?;
            return self.insert(&target, mode, EntryKind::HardLink { target: path }, None);
        }
        self.insert(&path, mode, EntryKind::HardLink { target }, None)
    }

    fn insert(
        &mut self,
        path: &[u8],
        mode: u32,
        kind: EntryKind,
        capability: Option<Vec<u8>>,
    ) -> Result<()> {
        let path = normalize(path)?;
        // every parent directory present
        let mut end = 0;
        while let Some(i) = path[end..].iter().position(|&b| b == b'/') {
            let parent = path[..end + i].to_vec();
            if !self.entries.contains_key(&parent) {
                self.implied.insert(parent.clone());
                self.entries.insert(
                    parent.clone(),
                    Entry {
                        path: parent,
                        mode: 0o755,
                        kind: EntryKind::Dir,
                        capability: None,
                        owner: (0, 0),
                    },
                );
            }
            end += i + 1;
        }
        self.implied.remove(&path);
        self.entries.insert(
            path.clone(),
            Entry {
                path,
                mode,
                kind,
                capability,
                owner: (0, 0),
            },
        );
        Ok(())
    }

    /// Drops the parent directories that no call added, only an entry below them needed (as
    /// 0755): a layer on a base image leaves those to the base, so its directories keep their
    /// modes (`/tmp` stays 1777). Tools that apply a layer create a missing parent as 0755.
    pub fn without_implied_dirs(mut self) -> Bundle {
        for p in std::mem::take(&mut self.implied) {
            self.entries.remove(&p);
        }
        self
    }

    /// Gives every entry the numeric owner `uid:gid` (`COPY --chown`); each at most
    /// 2097151, the most a tar header holds.
    pub fn set_owner(&mut self, uid: u32, gid: u32) -> Result<()> {
        let max = crate::tar::MAX_OWNER_ID;
        if uid > max || gid > max {
            return Err(Error::Invalid {
                what: "owner",
                value: format!("{uid}:{gid}"),
                reason: format!("a uid or gid is at most {max}"),
            });
        }
        for e in self.entries.values_mut() {
            e.owner = (uid, gid);
        }
        Ok(())
    }

    /// Gives the entry at `path` the numeric owner `uid:gid` (an archive member's, which `ADD`
    /// keeps); at most 2097151 each, the most a tar header holds.
    pub fn set_entry_owner(&mut self, path: impl AsRef<[u8]>, uid: u64, gid: u64) -> Result<()> {
        let max = u64::from(crate::tar::MAX_OWNER_ID);
        let path = normalize(path.as_ref())?;
        if uid > max || gid > max {
            return Err(Error::Invalid {
                what: "owner",
                value: format!("{uid}:{gid} of {}", String::from_utf8_lossy(&path)),
                reason: format!("a uid or gid is at most {max}"),
            });
        }
        if let Some(e) = self.entries.get_mut(&path) {
            e.owner = (uid as u32, gid as u32);
        }
        Ok(())
    }

    /// The entries in bytewise path order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `./a//b/` -> `a/b`; absolute paths lose their `/`; `..` and empty paths are refused.
fn normalize(path: &[u8]) -> Result<Vec<u8>> {
    let parts: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    let shown = || String::from_utf8_lossy(path).into_owned();
    if parts.is_empty() {
        return Err(Error::Invalid {
            what: "path in image",
            value: shown(),
            reason: "empty".to_owned(),
        });
    }
    if parts.iter().any(|p| *p == b"..") {
        return Err(Error::Invalid {
            what: "path in image",
            value: shown(),
            reason: "must not contain ..".to_owned(),
        });
    }
    Ok(parts.join(&b'/'))
}

/// Reads `security.capability` of `path` (not following symlinks); absent is `None`.
fn read_capability(path: &Path) -> Result<Option<Vec<u8>>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Invalid {
        what: "path",
        value: path.display().to_string(),
        reason: "contains a nul byte".to_owned(),
    })?;
    let name = CString::new(CAPABILITY_XATTR).expect("no nul");
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are nul-terminated and live across the call; the buffer pointer and
    // length describe writable memory we own.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
            _ => Err(err).io("read the capability of", path),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// A host path as image-path bytes (helper for callers building entry lists).
pub fn path_bytes(p: &Path) -> &[u8] {
    OsStr::as_bytes(p.as_os_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(b: &Bundle) -> Vec<(String, u32, String)> {
        b.entries()
            .map(|e| {
                let k = match &e.kind {
                    EntryKind::File { .. } => "file".to_owned(),
                    EntryKind::Dir => "dir".to_owned(),
                    EntryKind::Symlink { target } => {
                        format!("-> {}", String::from_utf8_lossy(target))
                    }
                    EntryKind::HardLink { target } => {
                        format!("=> {}", String::from_utf8_lossy(target))
                    }
                };
                (String::from_utf8_lossy(&e.path).into_owned(), e.mode, k)
            })
            .collect()
    }

    #[test]
    fn entry_list_adds_parents_and_sorts_bytewise() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let mut b = Bundle::new();
        b.add_file("/bin/sh", &f, Some(0o755)).unwrap();
        b.add_symlink("./bin/ls", "sh").unwrap();
        b.add_file("bin-x", &f, Some(0o4755)).unwrap();
        b.add_dir("etc", 0o700).unwrap();
        b.add_hardlink("a/hard", "bin/sh").unwrap();
        let got = kinds(&b);
        let want: Vec<(String, u32, String)> = [
            ("a", 0o755, "dir"),
            ("a/hard", 0o755, "file"),
            ("bin", 0o755, "dir"),
            ("bin-x", 0o4755, "file"),
            ("bin/ls", 0o777, "-> sh"),
            ("bin/sh", 0o755, "=> a/hard"),
            ("etc", 0o700, "dir"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), *b, c.to_string()))
        .collect();
        assert_eq!(got, want);
        assert!(b.add_dir("../x", 0o755).is_err());
    }

    #[test]
    fn walk_finds_hard_links_and_refuses_fifos() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/z"), b"z").unwrap();
        std::fs::hard_link(r.join("d/z"), r.join("a")).unwrap();
        std::os::unix::fs::symlink("d/z", r.join("s")).unwrap();
        let b = Bundle::from_dir(r).unwrap();
        let got: Vec<String> = kinds(&b)
            .into_iter()
            .map(|(p, _, k)| format!("{p} {k}"))
            .collect();
        assert_eq!(got, ["a file", "d dir", "d/z => a", "s -> d/z"]);
        let fifo = r.join("d/pipe");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid nul-terminated path
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = Bundle::from_dir(r).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} is a fifo: a layer holds only regular files, directories, symlinks and hard links",
                fifo.display()
            )
        );
    }
}
