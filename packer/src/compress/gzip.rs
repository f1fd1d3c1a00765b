//! Gzip on all cores, pigz-style, byte-identical whatever the number of threads.
//!
//! The input is cut into fixed [`GZIP_BLOCK`]-byte blocks, each compressed on its own by
//! libdeflate (no dictionary: libdeflate has none, and a block of 1 MiB loses about 0.3% for
//! it), at the level asked or, for the default [`MIXED`], at level 1 or 2 by how much of the
//! block is text. Workers take two blocks per job, to walk their pieces side by side. libdeflate always ends a stream with a final block, so each piece but the very last is
//! walked ([`super::deflate_walk`]) to clear that block's BFINAL bit and end it byte-aligned;
//! the raw deflate pieces are then joined into ONE gzip member whose CRC32 is combined from
//! the blocks' CRCs. Inside a block, each 8 KiB segment ([`SEGMENT`]) whose byte histogram
//! says it is incompressible (random bytes, compressed files) is written as stored deflate
//! blocks instead, at no CPU cost. The header has mtime 0, no file name, OS unix. Blocks in
//! flight are bounded, so memory stays bounded too. The bytes depend only on the input, the
//! level and the libdeflate version pinned in Cargo.lock.

use super::MAX_THREADS;
use super::deflate_walk;
use libdeflater::{CompressionLvl, Compressor};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Bytes of input per independently deflated block.
pub const GZIP_BLOCK: usize = 1 << 20;
/// Blocks per job handed to a worker: two, so that the walks of their pieces share one loop
/// ([`deflate_walk::find_final2`]). The bytes are the same as with one block per job.
const JOB_BLOCKS: usize = 2;
/// Bytes of input per job.
const JOB: usize = JOB_BLOCKS * GZIP_BLOCK;

struct Job {
    seq: u64,
    data: Vec<u8>,
    last: bool,
}

struct Done {
    seq: u64,
    deflated: io::Result<Vec<u8>>,
    crc: crc32fast::Hasher,
}

/// Gzip in parallel: one gzip member, identical bytes for any thread count.
pub struct ParallelGzip<W: Write> {
    out: W,
    /// the compressor of the single-threaded mode
    engine: Option<Engine>,
    block: Vec<u8>,
    next_seq: u64,
    next_write: u64,
    pending: BTreeMap<u64, Done>,
    in_flight: usize,
    max_in_flight: usize,
    crc: crc32fast::Hasher,
    total: u64,
    header_written: bool,
    workers: Option<Workers>,
}

struct Workers {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelGzip<W> {
    /// Gzips into `out` at `level` (1..=9, or [`MIXED`]) with `threads` worker threads (1 =
    /// inline).
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        let threads = threads.clamp(1, MAX_THREADS);
        let workers = (threads > 1).then(|| {
            let (jobs_tx, jobs_rx) = sync_channel::<Job>(threads);
            let jobs_rx = Arc::new(Mutex::new(jobs_rx));
            let (done_tx, done_rx) = channel::<Done>();
            let handles = (0..threads)
                .map(|_| {
                    let rx = Arc::clone(&jobs_rx);
                    let tx: Sender<Done> = done_tx.clone();
                    std::thread::spawn(move || {
                        let mut engine = Engine::new(level);
                        loop {
                            let job = match rx.lock().map(|r| r.recv()) {
                                Ok(Ok(job)) => job,
                                _ => break,
                            };
                            if tx.send(engine.deflate_job(job)).is_err() {
                                break;
                            }
                        }
                    })
                })
                .collect();
            Workers {
                jobs: jobs_tx,
                done: done_rx,
                handles,
            }
        });
        ParallelGzip {
            out,
            engine: workers.is_none().then(|| Engine::new(level)),
            block: Vec::with_capacity(JOB),
            next_seq: 0,
            next_write: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads + 2,
            crc: crc32fast::Hasher::new(),
            total: 0,
            header_written: false,
            workers,
        }
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        if !self.header_written {
            // magic, deflate, no flags, mtime 0, no extra flags, OS unix
            self.out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])?;
            self.header_written = true;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(JOB));
        let job = Job {
            seq: self.next_seq,
            data,
            last,
        };
        self.next_seq += 1;
        if let Some(engine) = &mut self.engine {
            let done = engine.deflate_job(job);
            self.pending.insert(done.seq, done);
            return self.write_ready();
        }
        while self.in_flight >= self.max_in_flight {
            self.receive_one()?;
        }
        let workers = self.workers.as_ref().expect("threaded mode");
        workers
            .jobs
            .send(job)
            .map_err(|_| io::Error::other("gzip worker stopped"))?;
        self.in_flight += 1;
        Ok(())
    }

    fn receive_one(&mut self) -> io::Result<()> {
        let workers = self.workers.as_ref().expect("threaded mode");
        let done = workers
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip worker stopped"))?;
        self.in_flight -= 1;
        self.pending.insert(done.seq, done);
        self.write_ready()
    }

    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(done) = self.pending.remove(&self.next_write) {
            self.out.write_all(&done.deflated?)?;
            self.crc.combine(&done.crc);
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer (CRC32, size mod 2^32), returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while self.next_write < self.next_seq {
            self.receive_one()?;
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        let total = self.total;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(total as u32).to_le_bytes())?;
        self.out.flush()?;
        if let Some(w) = self.workers.take() {
            drop(w.jobs);
            for h in w.handles {
                let _ = h.join();
            }
        }
        // self has a Drop-free layout, so the writer can be moved out
        let ParallelGzip { out, .. } = self;
        Ok(out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = JOB - self.block.len();
        let n = buf.len().min(room);
        self.block.extend_from_slice(&buf[..n]);
        self.total += n as u64;
        if self.block.len() == JOB {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a worker keeps from job to job: its libdeflate compressor and the buffers its pieces
/// are compressed into, so a job allocates only its output.
struct Engine {
    /// a level 1..=9, or [`MIXED`]
    level: u32,
    /// libdeflate's compressors, by level
    compressors: BTreeMap<u32, Compressor>,
    buffers: Vec<Vec<u8>>,
}

/// A job's output in order: stored bytes, or a deflated piece (in `Engine::buffers`) and
/// whether it is the stream's last.
enum Part {
    Stored(Vec<u8>),
    Deflated {
        buffer: usize,
        len: usize,
        last: bool,
    },
}

impl Engine {
    fn new(level: u32) -> Self {
        Engine {
            level,
            compressors: BTreeMap::new(),
            buffers: Vec::new(),
        }
    }

    /// Deflates a job's blocks (raw deflate), each on its own, ending byte-aligned and not
    /// final, or in the final block when the job is the last.
    fn deflate_job(&mut self, job: Job) -> Done {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&job.data);
        Done {
            seq: job.seq,
            deflated: self.deflate(&job.data, job.last),
            crc,
        }
    }

    fn deflate(&mut self, data: &[u8], last: bool) -> io::Result<Vec<u8>> {
        let mut blocks: Vec<&[u8]> = data.chunks(GZIP_BLOCK).collect();
        if last && data.len().is_multiple_of(GZIP_BLOCK) {
            // the stream ends in a block of its own, empty (as with one block per job)
            blocks.push(b"");
        }
        let mut parts = Vec::new();
        let mut used = 0;
        for (b, block) in blocks.iter().enumerate() {
            let block_last = last && b + 1 == blocks.len();
            let survey = classify(block);
            let level = match self.level {
                MIXED => survey.mixed_level(),
                level => level,
            };
            let runs = survey.runs;
            if runs.is_empty() {
                // only the final block of an empty or block-aligned stream is empty
                parts.push(Part::Stored(stored_blocks(b"", block_last)));
            }
            for (i, &(start, end, stored)) in runs.iter().enumerate() {
                let last = block_last && i + 1 == runs.len();
                let run = &block[start..end];
                if stored {
                    parts.push(Part::Stored(stored_blocks(run, last)));
                    continue;
                }
                let c = self
                    .compressors
                    .entry(level)
                    .or_insert_with(|| Compressor::new(libdeflate_level(level)));
                let bound = c.deflate_compress_bound(GZIP_BLOCK);
                if used == self.buffers.len() {
                    self.buffers.push(vec![0u8; bound]);
                }
                let len = c
                    .deflate_compress(run, &mut self.buffers[used])
                    .map_err(|e| io::Error::other(format!("libdeflate: {e:?}")))?;
                parts.push(Part::Deflated {
                    buffer: used,
                    len,
                    last,
                });
                used += 1;
            }
        }
        // every deflated piece but the stream's last is walked, two at a time
        let mut walk: Vec<(usize, usize)> = Vec::new();
        for part in &parts {
            if let Part::Deflated {
                buffer,
                len,
                last: false,
            } = *part
            {
                walk.push((buffer, len));
            }
        }
        let mut finals = Vec::with_capacity(walk.len());
        let piece = |(buffer, len): (usize, usize)| &self.buffers[buffer][..len];
        for pair in walk.chunks(2) {
            match *pair {
                [a, b] => {
                    let (fa, fb) = deflate_walk::find_final2(piece(a), piece(b))?;
                    finals.extend([fa, fb]);
                }
                [a] => finals.push(deflate_walk::find_final(piece(a))?),
                _ => unreachable!("chunks of two"),
            }
        }
        let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
        let mut finals = finals.into_iter();
        for part in &parts {
            match *part {
                Part::Stored(ref bytes) => out.extend_from_slice(bytes),
                Part::Deflated { buffer, len, last } => {
                    let piece = &self.buffers[buffer][..len];
                    if last {
                        out.extend_from_slice(piece);
                    } else {
                        let found = finals.next().expect("one walk per piece");
                        found.append_unfinished(piece, &mut out);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// libdeflate's level for ours: the same number, within libdeflate's 1..=12.
fn libdeflate_level(level: u32) -> CompressionLvl {
    CompressionLvl::new(level.clamp(1, 12) as i32).unwrap_or_default()
}

/// The level of the mixed default: each block at libdeflate's level 1 or 2 by how much of
/// it is text (`Survey::mixed_level`). Not a level of `--level`.
pub const MIXED: u32 = 0;

/// Percent of text bytes from which a block of the mixed default gets level 1.
const TEXT_PERCENT: u64 = 70;

/// Bytes per unit of the stored-or-deflated decision.
const SEGMENT: usize = 8 * 1024;

/// What the histograms say about a block: its runs `(start, end, stored)` of whole segments
/// of the same kind, and how many of the bytes counted in the segments to deflate are text.
struct Survey {
    runs: Vec<(usize, usize, bool)>,
    /// text bytes among `sampled`
    text: u64,
    /// bytes counted (the first [`PEEK`] of each full segment to deflate)
    sampled: u64,
}

impl Survey {
    /// The libdeflate level of a block of the mixed default ([`MIXED`]): 1 when at least
    /// [`TEXT_PERCENT`] of the counted bytes are text, else 2. Integer arithmetic on counts of
    /// the block's bytes only, so the choice is the same on any machine and thread count.
    fn mixed_level(&self) -> u32 {
        if self.sampled > 0 && 100 * self.text >= TEXT_PERCENT * self.sampled {
            1
        } else {
            2
        }
    }
}

/// Splits a block into runs of whole segments of the same kind.
fn classify(data: &[u8]) -> Survey {
    let mut survey = Survey {
        runs: Vec::new(),
        text: 0,
        sampled: 0,
    };
    for (i, seg) in data.chunks(SEGMENT).enumerate() {
        let start = i * SEGMENT;
        let (stored, text) = look_at(seg);
        if let (false, Some(text)) = (stored, text) {
            survey.text += text;
            survey.sampled += PEEK as u64;
        }
        match survey.runs.last_mut() {
            Some(run) if run.2 == stored => run.1 = start + seg.len(),
            _ => survey.runs.push((start, start + seg.len(), stored)),
        }
    }
    survey
}

/// Bits of entropy per byte above which deflate cannot win more than about 1%: random bytes,
/// already-compressed files. Such blocks are stored, which costs no CPU. In hundredths, as the
/// test below is integer arithmetic.
const STORE_ENTROPY_CENTS: u128 = 795;

/// Fractional bits of the fixed-point logarithms.
const LOG_FRACTION: u32 = 32;

/// `log2(c)` for `c >= 1` in fixed point with [`LOG_FRACTION`] fractional bits, by integer
/// arithmetic only (squaring the mantissa bit by bit): no floating point, whose `log2` may
/// differ between libm builds and CPUs, decides which bytes are stored.
const fn log2_fixed(c: u64) -> u64 {
    let whole = 63 - c.leading_zeros();
    let mut log = (whole as u64) << LOG_FRACTION;
    // the mantissa c / 2^whole in [1, 2), with 62 fractional bits
    let one: u128 = 1 << 62;
    let mut y = (c as u128) << (62 - whole);
    let mut bit = LOG_FRACTION;
    while bit > 0 {
        bit -= 1;
        y = (y * y) >> 62;
        if y >= 2 * one {
            y >>= 1;
            log |= 1 << bit;
        }
    }
    log
}

/// `c * log2(c)` in fixed point for every count a segment can hold, computed by the compiler:
/// 64 KiB in the binary, where building it at run time cost about 1 ms of CPU per process.
static C_LOG2_C: [u64; SEGMENT + 1] = {
    let mut table = [0; SEGMENT + 1];
    let mut c = 2;
    while c <= SEGMENT {
        table[c] = c as u64 * log2_fixed(c as u64);
        c += 1;
    }
    table
};

/// Bytes of a segment counted first: most segments are plainly compressible, and their first
/// quarter says so (see [`PEEK_DEFLATE_CENTS`]).
const PEEK: usize = SEGMENT / 4;

/// Entropy of the first [`PEEK`] bytes, in hundredths of a bit per byte, below which a segment
/// is deflated without counting the rest. Random bytes measure about 7.9 on 2 KiB; on the
/// realistic bundle of `cargo xtask bench pack` no segment above [`STORE_ENTROPY_CENTS`] has
/// a first quarter below 7.7, so this changes no decision there and skips three quarters of
/// the counting for 91% of the segments.
const PEEK_DEFLATE_CENTS: u128 = 750;

/// Whether the byte histogram of a full segment says deflate would gain next to nothing, and
/// how many of its first [`PEEK`] bytes are text (none for a segment shorter than
/// [`SEGMENT`], which is not counted). A pure function of the bytes, in integer arithmetic, so
/// the output stays deterministic.
fn look_at(data: &[u8]) -> (bool, Option<u64>) {
    if data.len() != SEGMENT {
        return (false, None);
    }
    // four interleaved histograms keep the counting loop free of store-to-load stalls
    let mut counts = [[0u32; 256]; 4];
    count_bytes(&mut counts, &data[..PEEK]);
    let text = TEXT
        .iter()
        .map(|&b| u64::from(counts[0][b] + counts[1][b] + counts[2][b] + counts[3][b]))
        .sum();
    if !entropy_above(&counts, PEEK, PEEK_DEFLATE_CENTS) {
        return (false, Some(text));
    }
    count_bytes(&mut counts, &data[PEEK..]);
    (
        entropy_above(&counts, SEGMENT, STORE_ENTROPY_CENTS),
        Some(text),
    )
}

/// The bytes that count as text: printable ASCII, tab, line feed, carriage return.
const TEXT: [usize; 98] = {
    let mut t = [0usize; 98];
    let mut i = 0;
    while i < 95 {
        t[i] = 0x20 + i;
        i += 1;
    }
    t[95] = b'\t' as usize;
    t[96] = b'\n' as usize;
    t[97] = b'\r' as usize;
    t
};

#[cfg(test)]
fn looks_incompressible(data: &[u8]) -> bool {
    look_at(data).0
}

/// Adds the bytes of `data` (a multiple of 4 long) to the four histograms.
fn count_bytes(counts: &mut [[u32; 256]; 4], data: &[u8]) {
    for q in data.chunks_exact(4) {
        counts[0][q[0] as usize] += 1;
        counts[1][q[1] as usize] += 1;
        counts[2][q[2] as usize] += 1;
        counts[3][q[3] as usize] += 1;
    }
}

/// Whether the bytes the histograms counted (`n` of them) have an entropy above `cents`
/// hundredths of a bit per byte.
fn entropy_above(counts: &[[u32; 256]; 4], n: usize, cents: u128) -> bool {
    // entropy * n = n log2(n) - sum(c log2 c)
    let table = &C_LOG2_C;
    let sum: u64 = (0..256)
        .map(|i| table[(counts[0][i] + counts[1][i] + counts[2][i] + counts[3][i]) as usize])
        .sum();
    let n = n as u64;
    let entropy_n = u128::from(n * log2_fixed(n) - sum);
    100 * entropy_n > cents * (u128::from(n) << LOG_FRACTION)
}

/// `data` as deflate stored blocks (each up to 65,535 bytes, byte-aligned), the final one
/// marked when `last`.
fn stored_blocks(data: &[u8], last: bool) -> Vec<u8> {
    const MAX: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + data.len() / MAX * 5 + 10);
    let mut chunks = data.chunks(MAX).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[u8::from(last), 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let is_final = last && chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(is_final)); // BFINAL, BTYPE=00, padded to the byte
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::io::Read;

    /// Half text, half pseudo-random bytes (stored), deterministic.
    pub(in crate::compress) fn sample(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        (0..len)
            .map(|i| {
                if (i / 100_000) % 2 == 0 {
                    b"the penguin shell prints bin dev etc proc sys\n"[i % 46]
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
            })
            .collect()
    }

    /// What a single-member gzip decoder reads from `gz`.
    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    /// Compressible text without a short period: words picked pseudo-randomly.
    fn text(len: usize) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "penguin", "shell", "layer", "digest", "blob", "tar", "gzip", "the", "of", "and",
            "registry", "manifest",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(WORDS[(x % 12) as usize].as_bytes());
            out.push(if x.is_multiple_of(11) { b'\n' } else { b' ' });
        }
        out.truncate(len);
        out
    }

    fn gzip(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut g = ParallelGzip::new(Vec::new(), 6, threads);
        for c in data.chunks(chunk.max(1)) {
            g.write_all(c).unwrap();
        }
        g.finish().unwrap()
    }

    #[test]
    fn same_bytes_for_any_thread_count_and_round_trips() {
        for len in [
            0,
            1,
            1000,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            JOB,
            JOB + GZIP_BLOCK,
            3 * GZIP_BLOCK + 12345,
        ] {
            let data = sample(len);
            let one = gzip(&data, 1, 7919);
            for threads in [2, 3, 8] {
                assert_eq!(
                    one,
                    gzip(&data, threads, 65536),
                    "len {len} threads {threads}"
                );
            }
            assert_eq!(&one[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
            if len % GZIP_BLOCK == 0 {
                // a block-aligned stream ends in an empty final stored block
                assert_eq!(&one[one.len() - 13..one.len() - 8], &[1, 0, 0, 0xff, 0xff]);
            }
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "len {len}");
            // one member: the plain decoder reads it all too
            assert_eq!(gunzip(&one).len(), data.len());
        }
    }

    fn gzip_at(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut g = ParallelGzip::new(Vec::new(), level, threads);
        g.write_all(data).unwrap();
        g.finish().unwrap()
    }

    #[test]
    fn the_mixed_default_takes_level_1_for_text_blocks_and_2_for_the_others() {
        let text = text(2 * GZIP_BLOCK);
        // the same structure, but no byte of it is text
        let binary: Vec<u8> = text.iter().map(|b| b ^ 0x80).collect();
        assert_eq!(gzip_at(&text, MIXED, 2), gzip_at(&text, 1, 2));
        assert_eq!(gzip_at(&binary, MIXED, 2), gzip_at(&binary, 2, 2));
        // block by block, whatever the number of threads
        let mixed = [
            &text[..GZIP_BLOCK],
            &binary[..GZIP_BLOCK],
            &text[..GZIP_BLOCK + 777],
        ]
        .concat();
        let one = gzip_at(&mixed, MIXED, 1);
        for threads in [2, 3] {
            assert_eq!(one, gzip_at(&mixed, MIXED, threads), "{threads} threads");
        }
        assert_ne!(one, gzip_at(&mixed, 1, 1));
        assert_ne!(one, gzip_at(&mixed, 2, 1));
        assert_eq!(gunzip(&one), mixed);
    }

    #[test]
    fn a_block_is_text_from_70_percent_of_text_bytes() {
        let text = text(100 * SEGMENT);
        let binary: Vec<u8> = text.iter().map(|b| b ^ 0x80).collect();
        let block = |text_segments: usize| -> Vec<u8> {
            let mut b = text[..text_segments * SEGMENT].to_vec();
            b.extend_from_slice(&binary[text_segments * SEGMENT..]);
            b
        };
        assert_eq!(classify(&block(70)).mixed_level(), 1);
        assert_eq!(classify(&block(69)).mixed_level(), 2);
        assert_eq!(classify(&block(100)).mixed_level(), 1);
        assert_eq!(classify(&block(0)).mixed_level(), 2);
        // stored segments do not count: random bytes beside text leave it text
        let mut b = block(100);
        b[..12 * SEGMENT].copy_from_slice(&sample(GZIP_BLOCK)[100_000..100_000 + 12 * SEGMENT]);
        let survey = classify(&b);
        assert_eq!(
            survey.runs[0],
            (0, 12 * SEGMENT, true),
            "random bytes are stored"
        );
        assert_eq!(survey.mixed_level(), 1);
    }

    #[test]
    fn compressible_data_gives_the_same_bytes_with_1_2_and_3_threads() {
        let data = text(3 * GZIP_BLOCK + 4321);
        let one = gzip(&data, 1, 100_003);
        assert!(one.len() < data.len() / 2, "compressible: {}", one.len());
        assert_eq!(one, gzip(&data, 2, 1 << 16));
        assert_eq!(one, gzip(&data, 3, GZIP_BLOCK));
        assert_eq!(gunzip(&one), data);
    }

    #[test]
    fn fixed_point_log2_matches_the_float_one() {
        for c in [1u64, 2, 3, 7, 100, 1000, 4097, 8191, 8192] {
            let fixed = log2_fixed(c) as f64 / (1u64 << LOG_FRACTION) as f64;
            assert!((fixed - (c as f64).log2()).abs() < 1e-8, "{c}: {fixed}");
        }
    }

    fn histogram(data: &[u8]) -> [[u32; 256]; 4] {
        let mut counts = [[0u32; 256]; 4];
        count_bytes(&mut counts, data);
        counts
    }

    #[test]
    fn random_blocks_are_stored_and_text_is_deflated() {
        let data = sample(2 * GZIP_BLOCK);
        let random = &data[100_000..170_000];
        assert!(looks_incompressible(&random[..SEGMENT]));
        assert!(!looks_incompressible(&data[..SEGMENT]));
        // the first quarter decides when it is plainly compressible...
        let mut mixed = random[..SEGMENT].to_vec();
        mixed[..PEEK].copy_from_slice(&data[..PEEK]);
        assert!(!looks_incompressible(&mixed));
        // ...and the whole segment when it is not
        let mut mixed = data[..SEGMENT].to_vec();
        mixed[..PEEK].copy_from_slice(&random[..PEEK]);
        assert!(entropy_above(
            &histogram(&mixed[..PEEK]),
            PEEK,
            PEEK_DEFLATE_CENTS
        ));
        assert!(!looks_incompressible(&mixed));
        let out = stored_blocks(random, true);
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, random);
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&stored_blocks(b"", true)[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn block_splitting_costs_little_against_serial_gzip() {
        let data = sample(4 * GZIP_BLOCK);
        let ours = gzip(&data, 2, 1 << 16);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        assert!(
            (ours.len() as f64) < serial.len() as f64 * 1.01,
            "{} vs {}",
            ours.len(),
            serial.len()
        );
    }
}
