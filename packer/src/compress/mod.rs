//! "Gzip the layer": which compression a layer gets, and the compressor that streams tar bytes
//! into it. Gzip is pigz-style on all cores ([`gzip`]), zstd is libzstd's multithreaded mode
//! ([`zstd`]); both give the same bytes for any number of threads.

mod deflate_walk;
mod gzip;
mod zstd;

pub use gzip::{GZIP_BLOCK, MIXED, ParallelGzip};

use std::io::{self, Write};

/// The default gzip "level", [`MIXED`]: each 1 MiB block at libdeflate's level 1 when at least
/// 70% of it is text, else level 2. On the realistic bundle of `cargo xtask bench pack` (a
/// 421 MB root filesystem tar) the layer is 0.5% smaller than umoci's (pgzip) for about 0.55
/// of its CPU time; pure level 2 gives a layer 1.4% smaller for about 8% more CPU.
pub const DEFAULT_GZIP_LEVEL: u32 = MIXED;
/// The documented "small" gzip level: at most 0.96 of umoci's layer in less than its wall time
/// on the same bundle. Levels 6 to 9 gain under 1% more for up to three times the time.
pub const SMALL_GZIP_LEVEL: u32 = 5;
/// At most this many compression threads: more would only add blocks in flight (memory).
pub const MAX_THREADS: usize = 16;
/// The default zstd level (libzstd's own default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Which compression a layer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (deflate) at a level 1..=9, or [`MIXED`] (the default)
    Gzip(u32),
    /// zstd at a level 1..=19
    Zstd(i32),
    /// an uncompressed tar
    None,
}

impl Compression {
    /// The default level of each kind: [`DEFAULT_GZIP_LEVEL`], [`DEFAULT_ZSTD_LEVEL`].
    pub fn default_of(kind: &str) -> Option<Compression> {
        match kind {
            "gzip" => Some(Compression::Gzip(DEFAULT_GZIP_LEVEL)),
            "zstd" => Some(Compression::Zstd(DEFAULT_ZSTD_LEVEL)),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
}

/// The number of compression threads to use by default: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A compressor in the stream: tar bytes in, compressed bytes out to `W`.
pub enum Compressor<W: Write + Send + 'static> {
    /// parallel gzip
    Gzip(ParallelGzip<W>),
    /// libzstd
    Zstd(::zstd::stream::write::Encoder<'static, W>),
    /// pass-through
    None(W),
}

impl<W: Write + Send + 'static> Compressor<W> {
    /// Starts compressing into `out` with `threads` threads.
    pub fn new(kind: Compression, threads: usize, out: W) -> io::Result<Self> {
        Ok(match kind {
            Compression::Gzip(level) => Compressor::Gzip(ParallelGzip::new(out, level, threads)),
            Compression::Zstd(level) => Compressor::Zstd(zstd::encoder(out, level, threads)?),
            Compression::None => Compressor::None(out),
        })
    }

    /// Ends the stream and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
            Compressor::None(w) => Ok(w),
        }
    }
}

impl<W: Write + Send + 'static> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
            Compressor::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(_) => Ok(()),
            Compressor::Zstd(z) => z.flush(),
            Compressor::None(w) => w.flush(),
        }
    }
}
