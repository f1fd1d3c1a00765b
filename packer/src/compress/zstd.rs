//! Zstd through libzstd's multithreaded mode, with at least one worker and fixed job sizes,
//! so the output does not depend on the number of workers.

use std::io::{self, Write};
use zstd::stream::raw::CParameter;
use zstd::stream::write::Encoder;

/// Bytes per libzstd multithreading job.
const ZSTD_JOB: u32 = 2 << 20;
/// At most this many libzstd workers.
const MAX_WORKERS: usize = 8;

/// A zstd encoder into `out` at `level` with `threads` workers (at least one, so libzstd always
/// takes its multithreaded path, whose bytes do not depend on the worker count).
pub(super) fn encoder<W: Write>(
    out: W,
    level: i32,
    threads: usize,
) -> io::Result<Encoder<'static, W>> {
    let mut enc = Encoder::new(out, level)?;
    enc.multithread(threads.clamp(1, MAX_WORKERS) as u32)?;
    // fixed 2 MiB jobs: bounded memory, and output independent of the worker count
    enc.set_parameter(CParameter::JobSize(ZSTD_JOB))?;
    enc.include_checksum(false)?;
    enc.include_contentsize(false)?;
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::super::gzip::tests::sample;
    use super::super::{Compression, Compressor};
    use std::io::Write;

    #[test]
    fn zstd_output_does_not_depend_on_workers() {
        let data = sample(3 << 20);
        let run = |threads| {
            let mut c = Compressor::new(Compression::Zstd(3), threads, Vec::new()).unwrap();
            c.write_all(&data).unwrap();
            c.finish().unwrap()
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }
}
