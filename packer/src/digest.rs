//! Digest and diff id: sha256 over bytes as they stream past, in the `sha256:<hex>` form.

use crate::error::{Error, Result};
use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// The `sha256:<hex>` digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    finish(hasher)
}

/// Turns a finished hasher into a [`Digest`].
pub(crate) fn finish(hasher: Sha256) -> Digest {
    let hex = hex::encode(hasher.finalize());
    Digest::try_from(format!("sha256:{hex}")).expect("a sha256 hex string is a valid digest")
}

/// The hex part of a sha256 digest; any other algorithm is an error naming the digest.
pub fn sha256_hex(digest: &Digest) -> Result<&str> {
    match digest.algorithm() {
        DigestAlgorithm::Sha256 => Ok(digest.digest()),
        _ => Err(Error::UnsupportedDigest(digest.to_string())),
    }
}

/// Parses `sha256:<hex>`, naming `what` on failure.
pub fn parse_digest(s: &str, what: &str) -> Result<Digest> {
    Digest::try_from(s).map_err(|source| Error::Spec {
        what: format!("digest {s:?} in {what}"),
        source,
    })
}

/// A writer that hashes and counts every byte on its way to `inner`.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (finish(self.hasher), self.count, self.inner)
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> DigestReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and count of the bytes read so far.
    pub fn finish(self) -> (Digest, u64) {
        (finish(self.hasher), self.count)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_the_well_known_digest() {
        assert_eq!(
            sha256_digest(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn writer_and_reader_agree_with_the_one_shot_digest() {
        let data = b"hello penguin".repeat(1000);
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (d, n, inner) = w.finish();
        assert_eq!(
            (d.clone(), n, inner.len()),
            (sha256_digest(&data), 13000, 13000)
        );
        let mut r = DigestReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish(), (d, 13000));
    }
}
