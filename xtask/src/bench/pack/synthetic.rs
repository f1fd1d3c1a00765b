//! The synthetic bundle of `cargo xtask bench pack --synthetic`: about 2,000 files from a
//! deterministic generator, every other one pseudo-random bytes (stored, not deflated), the
//! rest a 30-word text salad that compresses the same at any level. Quick, the same on every
//! machine, and unlike any real root filesystem.

use super::fresh;
use anyhow::Result;
use std::path::Path;

/// A deterministic pseudo-random sequence (xorshift64*), the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const WORDS: &[&str] = &[
    "penguin",
    "shell",
    "layer",
    "digest",
    "manifest",
    "config",
    "registry",
    "blob",
    "tar",
    "gzip",
    "container",
    "image",
    "upload",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "docker",
    "bundle",
    "rootfs",
    "sha256",
    "index",
    "platform",
    "linux",
    "amd64",
    "static",
    "binary",
];

/// Writes the synthetic bundle unless a marker says this exact one is already there:
/// `files` files in folders of 50, sizes spread around the mean, every other file random
/// bytes, the rest text.
pub fn generate(dir: &Path, files: usize, total: u64) -> Result<()> {
    // the marker sits beside the bundle, so it is not part of it
    let marker = dir.with_extension("generated");
    let id = format!("v1 files={files} total={total}\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(id.as_str()) {
        return Ok(());
    }
    eprintln!(
        "generating the {} MiB bundle in {}",
        total >> 20,
        dir.display()
    );
    fresh(dir)?;
    let mean = total / files as u64;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut written = 0u64;
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / 50));
        std::fs::create_dir_all(&sub)?;
        // sizes from mean/16 to about 2 x mean, the last file takes up the rest
        let size = if i + 1 == files {
            total.saturating_sub(written)
        } else {
            (mean / 16 + rng.next() % (mean * 15 / 8)).min(total.saturating_sub(written))
        };
        let mut data = Vec::with_capacity(size as usize);
        if i % 2 == 0 {
            while (data.len() as u64) < size {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            while (data.len() as u64) < size {
                let w = WORDS[(rng.next() % WORDS.len() as u64) as usize];
                data.extend_from_slice(w.as_bytes());
                data.push(if rng.next().is_multiple_of(12) {
                    b'\n'
                } else {
                    b' '
                });
            }
        }
        data.truncate(size as usize);
        std::fs::write(
            sub.join(format!(
                "f{i:04}.{}",
                if i % 2 == 0 { "bin" } else { "txt" }
            )),
            &data,
        )?;
        written += size;
    }
    std::fs::write(&marker, id)?;
    Ok(())
}
