//! Deterministic tar headers: ustar with PAX extended records for long or non-ASCII names,
//! long link targets, huge sizes and the `security.capability` xattr.
//!
//! Every header has uid/gid 0, empty user and group names and the one mtime the caller fixes,
//! so the same entries always give the same bytes.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;
const USTAR_NAME_MAX: usize = 100;
const OCTAL_SIZE_MAX: u64 = 0o77777777777; // 11 octal digits

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// a regular file with content
    File,
    /// a hard link to an earlier entry
    HardLink,
    /// a symbolic link
    Symlink,
    /// a directory
    Dir,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::Dir => b'5',
        }
    }
}

/// Writes tar entries with normalized headers to `out`.
pub struct TarWriter<W> {
    out: W,
    mtime: u64,
    /// uid and gid of the next headers (0, 0 unless set)
    owner: (u32, u32),
}

impl<W: Write> TarWriter<W> {
    /// A writer stamping every entry with `mtime` (seconds since the epoch).
    pub fn new(out: W, mtime: u64) -> Self {
        TarWriter {
            out,
            mtime,
            owner: (0, 0),
        }
    }

    /// Sets the uid and gid of the headers written next (each at most [`MAX_OWNER_ID`]).
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        self.owner = (uid.min(MAX_OWNER_ID), gid.min(MAX_OWNER_ID));
    }

    /// The writer the tar goes to.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes one header (preceded by a PAX header when needed). `path` is relative, without
    /// `./`; directories get a trailing `/` here.
    pub fn header(
        &mut self,
        kind: Kind,
        path: &[u8],
        mode: u32,
        size: u64,
        link: &[u8],
        xattrs: &[(&str, &[u8])],
    ) -> io::Result<()> {
        let mut name = path.to_vec();
        if kind == Kind::Dir && !name.ends_with(b"/") {
            name.push(b'/');
        }
        let mut pax: Vec<(&str, &[u8])> = Vec::new();
        if !fits_ustar(&name) {
            pax.push(("path", &name));
        }
        if !fits_ustar(link) {
            pax.push(("linkpath", link));
        }
        let size_str = size.to_string();
        if size > OCTAL_SIZE_MAX {
            pax.push(("size", size_str.as_bytes()));
        }
        let xattr_keys: Vec<String> = xattrs
            .iter()
            .map(|(k, _)| format!("SCHILY.xattr.{k}"))
            .collect();
        for (key, (_, value)) in xattr_keys.iter().zip(xattrs) {
            pax.push((key, value));
        }
        if !pax.is_empty() {
            let records = pax_records(&pax);
            let mut pax_name = b"PaxHeaders/".to_vec();
            pax_name.extend_from_slice(&truncate(&name, USTAR_NAME_MAX - 11));
            let h = raw_header(
                b'x',
                &pax_name,
                0o644,
                records.len() as u64,
                b"",
                self.mtime,
            );
            self.out.write_all(&h)?;
            self.out.write_all(&records)?;
            self.pad(records.len() as u64)?;
        }
        let short_size = if size > OCTAL_SIZE_MAX { 0 } else { size };
        let mut h = raw_header(
            kind.flag(),
            &truncate(&name, USTAR_NAME_MAX),
            mode,
            short_size,
            &truncate(link, USTAR_NAME_MAX),
            self.mtime,
        );
        if self.owner != (0, 0) {
            octal(&mut h[108..116], u64::from(self.owner.0));
            octal(&mut h[116..124], u64::from(self.owner.1));
            checksum(&mut h);
        }
        self.out.write_all(&h)
    }

    /// Copies exactly `size` bytes of content from `data` and pads to the block size; a short
    /// read is an `UnexpectedEof` error.
    pub fn content(&mut self, data: &mut impl Read, size: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = data.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being read",
                ));
            }
            self.out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        // a file that grew is as wrong as one that shrank
        if data.read(&mut buf[..1])? != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file grew while being read",
            ));
        }
        self.pad(size)
    }

    /// A whole entry with in-memory content.
    pub fn file_bytes(&mut self, path: &[u8], mode: u32, bytes: &[u8]) -> io::Result<()> {
        self.header(Kind::File, path, mode, bytes.len() as u64, b"", &[])?;
        self.out.write_all(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// Pads content of `size` bytes to the 512-byte block size.
    pub fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes the two zero blocks that end an archive and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

fn fits_ustar(name: &[u8]) -> bool {
    name.len() <= USTAR_NAME_MAX && name.iter().all(|b| b.is_ascii() && *b != 0)
}

fn truncate(name: &[u8], max: usize) -> Vec<u8> {
    name.iter()
        .take(max)
        .map(|&b| if b.is_ascii() && b != 0 { b } else { b'_' })
        .collect()
}

/// PAX records `"<len> <key>=<value>\n"`, where `<len>` counts the whole record itself.
fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // space, '=', '\n'
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

fn raw_header(flag: u8, name: &[u8], mode: u32, size: u64, link: &[u8], mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.min(OCTAL_SIZE_MAX));
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname, gname empty; devmajor/devminor zero
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    checksum(&mut h);
    h
}

/// The largest uid or gid a header holds (seven octal digits).
pub const MAX_OWNER_ID: u32 = 0o7777777;

/// Fills in the header's checksum.
fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = (String, u8, u32, Vec<u8>, Vec<u8>);

    fn read_back(bytes: &[u8]) -> Vec<Seen> {
        let mut ar = ::tar::Archive::new(bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path_bytes().into_owned();
                let link = e
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (
                    String::from_utf8_lossy(&path).into_owned(),
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    link,
                    data,
                )
            })
            .collect()
    }

    #[test]
    fn long_and_odd_names_round_trip_through_pax() {
        let long = "d/".repeat(80) + "file";
        let mut w = TarWriter::new(Vec::new(), 0);
        w.header(Kind::Dir, b"d", 0o4755, 0, b"", &[]).unwrap();
        w.file_bytes(long.as_bytes(), 0o644, b"hi").unwrap();
        w.header(Kind::Symlink, b"l", 0o777, 0, long.as_bytes(), &[])
            .unwrap();
        w.header(
            Kind::HardLink,
            "h\u{e9}".as_bytes(),
            0o644,
            0,
            long.as_bytes(),
            &[],
        )
        .unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let got = read_back(&bytes);
        assert_eq!(got[0].0, "d/");
        assert_eq!(got[0].2, 0o4755);
        assert_eq!(got[1].0, long);
        assert_eq!(got[1].4, b"hi");
        assert_eq!(got[2].3, long.as_bytes());
        assert_eq!(got[3].0, "h\u{e9}");
        assert_eq!(got[3].1, b'1');
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_records(&[("path", &[b'a'; 5])]);
        assert_eq!(r, b"14 path=aaaaa\n");
        let v = vec![b'x'; 90];
        let r = pax_records(&[("path", &v)]);
        let space = r.iter().position(|&b| b == b' ').unwrap();
        assert_eq!(r.len().to_string().as_bytes(), &r[..space]);
    }

    #[test]
    fn headers_have_a_valid_checksum_and_no_owner() {
        let mut w = TarWriter::new(Vec::new(), 1_700_000_000);
        w.file_bytes(b"a", 0o755, b"x").unwrap();
        let bytes = w.finish().unwrap();
        let h = ::tar::Header::from_byte_slice(&bytes[..512]);
        assert_eq!(h.cksum().unwrap(), {
            let mut c = bytes[..512].to_vec();
            c[148..156].fill(b' ');
            c.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
    }
}
