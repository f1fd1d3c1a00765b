//! Turns a complete raw deflate stream (what libdeflate writes: it always ends with a final
//! block) into one that can be continued: walk its blocks to find the final one, clear that
//! block's BFINAL bit, and end with an empty stored block, so the stream stops byte-aligned
//! (a zlib "sync flush"). Joining such pieces gives one deflate stream, hence one gzip member.
//!
//! The walk only skips over symbols: it copies no data and never needs a symbol's value, only
//! how many bits it takes. So one table look-up gives, for a literal/length code, the bits of
//! the code plus its extra bits, and whether a distance follows; one more does the distance.
//! Bits come from a 64-bit buffer refilled 8 bytes at a time, enough for a whole
//! length/distance pair between refills. Any stream that does not parse as deflate is an
//! error, never a panic.

use std::io;
use std::sync::OnceLock;

/// Order of the code length code lengths in a dynamic block header (RFC 1951, 3.2.7).
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Extra bits of the length symbols 257..=285.
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Extra bits of the distance symbols 0..=29.
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("deflate stream: {what}"),
    )
}

/// Bits a refill leaves in the buffer, at least: room for a literal/length code with its
/// extra bits (15 + 5) and a distance code with its extra bits (15 + 13), 48 bits.
const REFILLED: u32 = 56;
/// Zero bytes the reader may invent past the end before the stream is called truncated (a
/// garbage stream of zero codes must stop somewhere).
const SLACK: usize = 16;

/// Reads bits least significant first, as deflate packs them, through a 64-bit buffer.
struct Bits<'a> {
    data: &'a [u8],
    /// the next byte to load (may run past the end: those bytes read as zeros)
    next: usize,
    buf: u64,
    /// valid bits in `buf`
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            next: 0,
            buf: 0,
            count: 0,
        }
    }

    /// The position in bits of the next unread bit.
    fn pos(&self) -> usize {
        self.next * 8 - self.count as usize
    }

    /// Restarts reading at the byte `byte`.
    fn seek_byte(&mut self, byte: usize) {
        self.next = byte;
        self.buf = 0;
        self.count = 0;
    }

    /// At least [`REFILLED`] bits in the buffer. Away from the end this always loads 8 bytes,
    /// without a branch on how many bits are left: the bits above `count` are always the
    /// stream's next bits, so loading them again changes nothing.
    #[inline(always)]
    fn refill(&mut self) -> io::Result<()> {
        if let Some(w) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            self.buf |= word << self.count;
            self.next += ((63 - self.count) / 8) as usize;
            self.count |= REFILLED;
            return Ok(());
        }
        self.refill_at_the_end()
    }

    #[cold]
    fn refill_at_the_end(&mut self) -> io::Result<()> {
        while self.count < REFILLED {
            if self.next > self.data.len() + SLACK {
                return Err(bad("truncated"));
            }
            let byte = self.data.get(self.next).copied().unwrap_or(0);
            self.buf |= u64::from(byte) << self.count;
            self.next += 1;
            self.count += 8;
        }
        Ok(())
    }

    /// Drops `n` bits (at most what the buffer holds).
    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    /// The next `n` bits (n <= 32), consumed.
    fn take(&mut self, n: u32) -> io::Result<u32> {
        self.refill()?;
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        Ok(v)
    }
}

/// Entries of the literal/length tables, indexed by the next 11 bits: codes up to 11 bits
/// decode in one step from tables that stay in the L1 cache (2,048 entries of 4 bytes);
/// longer, rare codes take the slow path.
const LIT_N: usize = 1 << 11;
/// The same for distance codes and code length codes, by the next 9 bits.
const DIST_N: usize = 1 << 9;

/// What a table entry says about the code at the front of the buffer (bits 7..10 of it).
mod kind {
    /// no code of at most the table's bits: a longer code, or none (the slow path says which)
    pub const LONG: u32 = 0;
    /// a literal byte
    pub const LITERAL: u32 = 1;
    /// a match length: a distance code follows
    pub const LENGTH: u32 = 2;
    /// the end of the block
    pub const END: u32 = 3;
    /// a symbol deflate does not allow here (lengths 286, 287; distances 30, 31)
    pub const INVALID: u32 = 4;
    /// a distance, or a code length symbol
    pub const PLAIN: u32 = 5;
}

/// Entry bit: a distance code follows (a length).
const FOLLOWS: u32 = 1 << 5;
/// Entry bit: not a literal, length or distance whose code is in the table: the walk's slow
/// path handles it (end of block, long code, invalid symbol).
const SPECIAL: u32 = 1 << 6;

/// A table entry: bits to consume (code and extra bits) in bits 0..5, [`FOLLOWS`],
/// [`SPECIAL`], the kind in bits 7..10, the code's own length in bits 10..14, the symbol in
/// bits 16..32.
fn entry(total: u32, kind: u32, len: u32, sym: u32) -> u32 {
    let flags = match kind {
        kind::LITERAL | kind::PLAIN => 0,
        kind::LENGTH => FOLLOWS,
        _ => SPECIAL,
    };
    total | flags | kind << 7 | len << 10 | sym << 16
}

fn kind_of(entry: u32) -> u32 {
    entry >> 7 & 7
}

fn code_len(entry: u32) -> u32 {
    entry >> 10 & 15
}

/// Which alphabet a code is for: how its symbols are classified.
#[derive(Clone, Copy)]
enum Alphabet {
    LitLen,
    Dist,
    CodeLengths,
}

impl Alphabet {
    /// The kind and extra bits of `sym`.
    fn classify(self, sym: usize) -> (u32, u32) {
        match self {
            Alphabet::LitLen => match sym {
                0..=255 => (kind::LITERAL, 0),
                256 => (kind::END, 0),
                257..=285 => (kind::LENGTH, u32::from(LEN_EXTRA[sym - 257])),
                _ => (kind::INVALID, 0),
            },
            Alphabet::Dist => match DIST_EXTRA.get(sym) {
                Some(&e) => (kind::PLAIN, u32::from(e)),
                None => (kind::INVALID, 0),
            },
            // the repeat codes' extra bits are read by the header parser, which needs them
            Alphabet::CodeLengths => (kind::PLAIN, 0),
        }
    }
}

/// A canonical Huffman code: the look-up table of `N` entries (a power of two), and for codes
/// longer than its bits the code counts per length with the symbols in canonical order.
struct Huffman<const N: usize> {
    table: Box<[u32; N]>,
    count: [u16; 16],
    symbols: Vec<u16>,
    alphabet: Alphabet,
}

impl<const N: usize> Huffman<N> {
    fn new(lengths: &[u8], alphabet: Alphabet) -> io::Result<Self> {
        let mut count = [0u16; 16];
        for &l in lengths {
            if l > 15 {
                return Err(bad("code longer than 15 bits"));
            }
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        // first code and first canonical index of each length
        let mut next = [0u32; 16];
        let mut offset = [0u16; 16];
        let mut code = 0;
        for len in 1..16 {
            code = (code + u32::from(count[len - 1])) << 1;
            next[len] = code;
            offset[len] = offset[len - 1] + count[len - 1];
        }
        for len in 1..16 {
            if count[len] > 0 && next[len] + u32::from(count[len]) > 1 << len {
                return Err(bad("over-subscribed code"));
            }
        }
        // the symbols in canonical order: by code length, then by symbol
        let start = offset;
        let mut symbols = vec![0u16; usize::from(offset[15] + count[15])];
        for (sym, &len) in lengths.iter().enumerate() {
            if len != 0 {
                let l = usize::from(len);
                symbols[usize::from(offset[l])] = sym as u16;
                offset[l] += 1;
            }
        }
        // The table by doubling, one code length at a time: the entries of the codes up to
        // `len - 1` bits repeat in the upper half, then each code of `len` bits takes its one
        // entry. What no code covers stays LONG. (Codes are packed most significant bit
        // first: they are reversed for an LSB-first read.)
        let bits = N.trailing_zeros() as usize;
        let mut table: Box<[u32; N]> = vec![0; N].into_boxed_slice().try_into().expect("N entries");
        table[0] = entry(0, kind::LONG, 0, 0);
        let mut size = 1;
        for len in 1..=bits {
            table.copy_within(0..size, size);
            size *= 2;
            let first = usize::from(start[len]);
            for k in 0..usize::from(count[len]) {
                let sym = usize::from(symbols[first + k]);
                let code = next[len] + k as u32;
                let (kd, extra) = alphabet.classify(sym);
                let len = len as u32;
                table[(code.reverse_bits() >> (32 - len)) as usize] =
                    entry(len + extra, kd, len, sym as u32);
            }
        }
        Ok(Huffman {
            table,
            count,
            symbols,
            alphabet,
        })
    }

    /// The table entry for the code at the front of `buf`.
    #[inline(always)]
    fn fast(&self, buf: u64) -> u32 {
        self.table[buf as usize & (N - 1)]
    }

    /// The entry for the code at the front of `buf` (at least 15 bits), long codes included:
    /// kind `INVALID` when no code matches.
    fn look_up(&self, buf: u64) -> u32 {
        let e = self.fast(buf);
        if kind_of(e) != kind::LONG {
            return e;
        }
        // one bit at a time, walking the canonical code's lengths (as zlib's puff does)
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16u32 {
            code |= (buf >> (len - 1) & 1) as i32;
            let count = i32::from(self.count[len as usize]);
            if code - first < count {
                let sym = usize::from(self.symbols[(index + code - first) as usize]);
                let (k, extra) = self.alphabet.classify(sym);
                return entry(len + extra, k, len, sym as u32);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        entry(0, kind::INVALID, 0, 0)
    }

    /// Decodes one symbol of a code length code (header parsing).
    fn decode(&self, b: &mut Bits<'_>) -> io::Result<u32> {
        b.refill()?;
        let e = self.look_up(b.buf);
        if kind_of(e) == kind::INVALID {
            return Err(bad("invalid code"));
        }
        b.consume(e & 31);
        Ok(e >> 16)
    }
}

/// A literal/length code, with a second table for the walk's fast loop where a literal whose
/// code leaves room in the 11 bits is paired with the code after it (a literal or a length):
/// one look-up then skips two symbols.
struct LitLen {
    code: Huffman<LIT_N>,
    pairs: Box<[u32; LIT_N]>,
}

impl LitLen {
    fn new(lengths: &[u8]) -> io::Result<Self> {
        let code = Huffman::<LIT_N>::new(lengths, Alphabet::LitLen)?;
        let mut pairs = code.table.clone();
        let bits = LIT_N.trailing_zeros();
        let table = &code.table;
        // without branches: which entry wins depends on the data, so branches would mispredict
        for (i, pair) in pairs.iter_mut().enumerate() {
            let first = table[i];
            let used = code_len(first);
            let second = table[i >> used];
            // the second code must lie wholly inside the bits that index this entry
            let pairs_up = kind_of(first) == kind::LITERAL
                && (kind_of(second) == kind::LITERAL) | (kind_of(second) == kind::LENGTH)
                && used + code_len(second) <= bits;
            let paired = (used + (second & 31)) | (second & FOLLOWS);
            *pair = if pairs_up { paired } else { first };
        }
        Ok(LitLen { code, pairs })
    }

    /// The pair table's entry for the bits at the front of `buf`.
    #[inline(always)]
    fn fast(&self, buf: u64) -> u32 {
        self.pairs[buf as usize & (LIT_N - 1)]
    }
}

/// A distance code.
type Dist = Huffman<DIST_N>;

/// The fixed codes of block type 1, built once.
fn fixed_codes() -> io::Result<&'static (LitLen, Dist)> {
    static FIXED: OnceLock<(LitLen, Dist)> = OnceLock::new();
    if let Some(f) = FIXED.get() {
        return Ok(f);
    }
    let mut lit = [8u8; 288];
    lit[144..256].fill(9);
    lit[256..280].fill(7);
    let codes = (LitLen::new(&lit)?, Dist::new(&[5u8; 30], Alphabet::Dist)?);
    Ok(FIXED.get_or_init(|| codes))
}

/// A compressed block's codes: the fixed ones, or a dynamic block's own.
enum Codes {
    Fixed(&'static (LitLen, Dist)),
    Dynamic(Box<(LitLen, Dist)>),
}

impl Codes {
    fn get(&self) -> (&LitLen, &Dist) {
        let (lit, dist) = match self {
            Codes::Fixed(c) => c,
            Codes::Dynamic(c) => &**c,
        };
        (lit, dist)
    }
}

/// A walk over one stream's blocks that stops at each compressed block's symbols, so the
/// symbols of two streams can be skipped in one loop ([`skip_symbols2`]).
struct Walk<'a> {
    bits: Bits<'a>,
    /// where the current block's header starts, in bits
    start: usize,
    /// whether the current block is the final one
    last: bool,
    /// the current compressed block's codes
    codes: Codes,
}

impl<'a> Walk<'a> {
    fn new(data: &'a [u8]) -> io::Result<Self> {
        Ok(Walk {
            bits: Bits::new(data),
            start: 0,
            last: false,
            codes: Codes::Fixed(fixed_codes()?),
        })
    }

    /// At a block boundary: reads headers (skipping stored blocks) until a compressed block's
    /// symbols come next (`None`), or returns where the final block's header starts and where
    /// the stream ends, in bits, once the final block is behind.
    fn next_block(&mut self) -> io::Result<Option<(usize, usize)>> {
        let data = self.bits.data;
        loop {
            let b = &mut self.bits;
            if b.pos() > data.len() * 8 {
                return Err(bad("truncated"));
            }
            if self.last {
                return Ok(Some((self.start, b.pos())));
            }
            self.start = b.pos();
            self.last = b.take(1)? == 1;
            match b.take(2)? {
                0 => {
                    let byte = b.pos().div_ceil(8);
                    let header = data.get(byte..byte + 4).ok_or_else(|| bad("truncated"))?;
                    let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
                    let nlen = usize::from(u16::from_le_bytes([header[2], header[3]]));
                    if len != !nlen & 0xffff {
                        return Err(bad("stored block length mismatch"));
                    }
                    let end = byte + 4 + len;
                    if end > data.len() {
                        return Err(bad("truncated"));
                    }
                    b.seek_byte(end);
                }
                1 => {
                    self.codes = Codes::Fixed(fixed_codes()?);
                    return Ok(None);
                }
                2 => {
                    self.codes = Codes::Dynamic(Box::new(dynamic_codes(b)?));
                    return Ok(None);
                }
                _ => return Err(bad("reserved block type")),
            }
        }
    }

    /// Skips the current block's symbols, then goes on to the next block.
    fn finish(mut self) -> io::Result<(usize, usize)> {
        loop {
            let (lit, dist) = self.codes.get();
            skip_symbols(&mut self.bits, lit, dist)?;
            if let Some(done) = self.next_block()? {
                return Ok(done);
            }
        }
    }
}

/// Reads a dynamic block's header (after BTYPE) and builds its codes.
fn dynamic_codes(b: &mut Bits<'_>) -> io::Result<(LitLen, Dist)> {
    let hlit = b.take(5)? as usize + 257;
    let hdist = b.take(5)? as usize + 1;
    let hclen = b.take(4)? as usize + 4;
    if hlit > 286 || hdist > 30 {
        return Err(bad("too many codes"));
    }
    let mut clen = [0u8; 19];
    for &i in &CLEN_ORDER[..hclen] {
        clen[i] = b.take(3)? as u8;
    }
    let clen = Huffman::<DIST_N>::new(&clen, Alphabet::CodeLengths)?;
    let mut lengths = [0u8; 286 + 30];
    let mut n = 0;
    while n < hlit + hdist {
        let (value, repeat) = match clen.decode(b)? {
            sym @ 0..=15 => (sym as u8, 1),
            16 => {
                let prev = n
                    .checked_sub(1)
                    .map(|i| lengths[i])
                    .ok_or_else(|| bad("repeat at start"))?;
                (prev, 3 + b.take(2)? as usize)
            }
            17 => (0, 3 + b.take(3)? as usize),
            _ => (0, 11 + b.take(7)? as usize),
        };
        if n + repeat > hlit + hdist {
            return Err(bad("too many code lengths"));
        }
        lengths[n..n + repeat].fill(value);
        n += repeat;
    }
    Ok((
        LitLen::new(&lengths[..hlit])?,
        Dist::new(&lengths[hlit..hlit + hdist], Alphabet::Dist)?,
    ))
}

/// Where the final block's header starts and where the stream ends, in bits.
fn find_final_block(data: &[u8]) -> io::Result<(usize, usize)> {
    let mut w = Walk::new(data)?;
    match w.next_block()? {
        Some(done) => Ok(done),
        None => w.finish(),
    }
}

/// [`find_final_block`] of two streams at once: their symbols are skipped in one loop, so
/// the two chains of dependent table look-ups overlap.
fn find_final_blocks2(a: &[u8], b: &[u8]) -> io::Result<((usize, usize), (usize, usize))> {
    let (mut wa, mut wb) = (Walk::new(a)?, Walk::new(b)?);
    let (mut da, mut db) = (wa.next_block()?, wb.next_block()?);
    loop {
        match (da, db) {
            (Some(ra), Some(rb)) => return Ok((ra, rb)),
            (Some(ra), None) => return Ok((ra, wb.finish()?)),
            (None, Some(rb)) => return Ok((wa.finish()?, rb)),
            (None, None) => {
                let (la, dista) = wa.codes.get();
                let (lb, distb) = wb.codes.get();
                let (ended_a, ended_b) =
                    skip_symbols2(&mut wa.bits, (la, dista), &mut wb.bits, (lb, distb))?;
                if ended_a {
                    da = wa.next_block()?;
                }
                if ended_b {
                    db = wb.next_block()?;
                }
            }
        }
    }
}

/// Skips the symbols of one compressed block, up to and including its end-of-block code.
///
/// The hot loop has no data-dependent branch for literals against lengths: it always looks
/// up a distance and consumes it only when a length came first. Everything else (end of
/// block, long codes, bad symbols) leaves through the one [`SPECIAL`] branch. The bit buffer
/// lives in local variables, so it stays in registers.
fn skip_symbols(bits: &mut Bits<'_>, lit: &LitLen, dist: &Dist) -> io::Result<()> {
    let data = bits.data;
    let (mut next, mut buf, mut count) = (bits.next, bits.buf, bits.count);
    loop {
        refill_in_registers(data, &mut next, &mut buf, &mut count)?;
        // room for a length/distance pair with all their extra bits
        let e = lit.fast(buf);
        let d = dist.fast(buf >> (e & 31));
        // all ones when a distance follows the code, else zero
        let follows = 0u32.wrapping_sub(e >> 5 & 1);
        if (e | d & follows) & SPECIAL != 0 {
            let (used, end) = slow_symbol(buf, lit, dist)?;
            buf >>= used;
            count -= used;
            if end {
                (bits.next, bits.buf, bits.count) = (next, buf, count);
                return Ok(());
            }
            continue;
        }
        let used = (e & 31) + (d & 31 & follows);
        buf >>= used;
        count -= used;
    }
}

/// [`skip_symbols`] for two streams in one loop, until at least one of them reaches its
/// block's end: says which did. Each stream's look-ups depend on the one before, so a single
/// stream waits on memory latency; two independent chains run side by side.
fn skip_symbols2(
    a: &mut Bits<'_>,
    (lit_a, dist_a): (&LitLen, &Dist),
    b: &mut Bits<'_>,
    (lit_b, dist_b): (&LitLen, &Dist),
) -> io::Result<(bool, bool)> {
    let (data_a, data_b) = (a.data, b.data);
    let (mut next_a, mut buf_a, mut count_a) = (a.next, a.buf, a.count);
    let (mut next_b, mut buf_b, mut count_b) = (b.next, b.buf, b.count);
    loop {
        refill_in_registers(data_a, &mut next_a, &mut buf_a, &mut count_a)?;
        refill_in_registers(data_b, &mut next_b, &mut buf_b, &mut count_b)?;
        let ea = lit_a.fast(buf_a);
        let eb = lit_b.fast(buf_b);
        let da = dist_a.fast(buf_a >> (ea & 31));
        let db = dist_b.fast(buf_b >> (eb & 31));
        let follows_a = 0u32.wrapping_sub(ea >> 5 & 1);
        let follows_b = 0u32.wrapping_sub(eb >> 5 & 1);
        let special_a = (ea | da & follows_a) & SPECIAL != 0;
        let special_b = (eb | db & follows_b) & SPECIAL != 0;
        if special_a | special_b {
            let (mut end_a, mut end_b) = (false, false);
            let used_a = if special_a {
                let (used, end) = slow_symbol(buf_a, lit_a, dist_a)?;
                end_a = end;
                used
            } else {
                (ea & 31) + (da & 31 & follows_a)
            };
            let used_b = if special_b {
                let (used, end) = slow_symbol(buf_b, lit_b, dist_b)?;
                end_b = end;
                used
            } else {
                (eb & 31) + (db & 31 & follows_b)
            };
            buf_a >>= used_a;
            count_a -= used_a;
            buf_b >>= used_b;
            count_b -= used_b;
            if end_a | end_b {
                (a.next, a.buf, a.count) = (next_a, buf_a, count_a);
                (b.next, b.buf, b.count) = (next_b, buf_b, count_b);
                return Ok((end_a, end_b));
            }
            continue;
        }
        let used_a = (ea & 31) + (da & 31 & follows_a);
        let used_b = (eb & 31) + (db & 31 & follows_b);
        buf_a >>= used_a;
        count_a -= used_a;
        buf_b >>= used_b;
        count_b -= used_b;
    }
}

/// [`Bits::refill`] on a bit reader held in local variables, so that it stays in registers:
/// away from the end, it always loads 8 bytes.
#[inline(always)]
fn refill_in_registers(
    data: &[u8],
    next: &mut usize,
    buf: &mut u64,
    count: &mut u32,
) -> io::Result<()> {
    if let Some(w) = data.get(*next..*next + 8) {
        let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        *buf |= word << *count;
        *next += ((63 - *count) / 8) as usize;
        *count |= REFILLED;
        return Ok(());
    }
    let mut b = Bits {
        data,
        next: *next,
        buf: *buf,
        count: *count,
    };
    b.refill()?;
    (*next, *buf, *count) = (b.next, b.buf, b.count);
    Ok(())
}

/// One symbol the fast loop left alone, at the front of `buf`: the bits it takes, and whether
/// it ends the block.
#[cold]
fn slow_symbol(buf: u64, lit: &LitLen, dist: &Dist) -> io::Result<(u32, bool)> {
    let e = lit.code.look_up(buf);
    let used = e & 31;
    match kind_of(e) {
        kind::LITERAL => Ok((used, false)),
        kind::LENGTH => {
            let d = dist.look_up(buf >> used);
            if kind_of(d) != kind::PLAIN {
                return Err(bad("bad distance"));
            }
            Ok((used + (d & 31), false))
        }
        kind::END => Ok((used, true)),
        _ => Err(bad("bad literal/length code")),
    }
}

/// Where a complete stream's final block starts and where the stream ends, in bits: what
/// [`find_final`] finds, and all that [`Final::append_unfinished`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Final {
    start: usize,
    end: usize,
}

/// Walks the complete raw deflate stream `data` to its final block.
pub(super) fn find_final(data: &[u8]) -> io::Result<Final> {
    let (start, end) = find_final_block(data)?;
    Ok(Final { start, end })
}

/// [`find_final`] of two streams at once, faster than one after the other.
pub(super) fn find_final2(a: &[u8], b: &[u8]) -> io::Result<(Final, Final)> {
    let ((sa, ea), (sb, eb)) = find_final_blocks2(a, b)?;
    Ok((Final { start: sa, end: ea }, Final { start: sb, end: eb }))
}

impl Final {
    /// Appends the stream `data` it was found in to `out`, made continuable: its final block
    /// is no longer final, and it ends with an empty stored block, byte-aligned.
    pub(super) fn append_unfinished(self, data: &[u8], out: &mut Vec<u8>) {
        let Final { start, end } = self;
        let at = out.len();
        out.extend_from_slice(&data[..end.div_ceil(8)]);
        out[at + start / 8] &= !(1 << (start % 8));
        // the empty stored block: 3 zero header bits, padding to the byte, LEN 0, NLEN 0xffff
        if end % 8 == 0 || end % 8 > 5 {
            out.push(0);
        }
        out.extend_from_slice(&[0, 0, 0xff, 0xff]);
    }
}

/// Makes the complete raw deflate stream `data` continuable (see [`Final::append_unfinished`]).
#[cfg(test)]
pub(super) fn unfinish(data: &mut Vec<u8>) -> io::Result<()> {
    let found = find_final(data)?;
    let mut out = Vec::with_capacity(data.len() + 5);
    found.append_unfinished(data, &mut out);
    *data = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn libdeflate(data: &[u8], level: i32) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn joined_pieces_inflate_to_the_whole_input() {
        let pieces = test_pieces();
        let pieces: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
        for level in [1, 6, 12] {
            let mut joined = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                let mut d = libdeflate(piece, level);
                if i + 1 < pieces.len() {
                    unfinish(&mut d).unwrap();
                }
                joined.extend_from_slice(&d);
            }
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(&joined[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, pieces.concat(), "level {level}");
        }
    }

    #[test]
    fn two_streams_walked_together_end_where_each_alone_does() {
        let pieces = test_pieces();
        let streams: Vec<Vec<u8>> = [1, 2, 12]
            .iter()
            .flat_map(|&level| {
                let pieces = &pieces;
                pieces
                    .iter()
                    .map(move |p| libdeflate(&p[..p.len().min(150_000)], level))
            })
            .collect();
        for a in &streams {
            for b in &streams {
                let alone = (find_final(a).unwrap(), find_final(b).unwrap());
                assert_eq!(find_final2(a, b).unwrap(), alone);
            }
        }
        // a damaged stream beside a good one: an error, never a panic
        let good = &streams[1];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            let bad = damaged(good, xorshift(&mut x));
            let alone = find_final(&bad);
            let together = find_final2(good, &bad);
            assert_eq!(alone.is_ok(), together.is_ok());
            assert_eq!(find_final2(&bad, good).is_ok(), together.is_ok());
            if let (Ok(alone), Ok((_, together))) = (alone, together) {
                assert_eq!(alone, together);
            }
        }
    }

    /// The next of a deterministic pseudo-random sequence (xorshift64).
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// `good` with the bit `x` picks flipped and up to 3 bytes cut off its end.
    fn damaged(good: &[u8], x: u64) -> Vec<u8> {
        let mut bad = good.to_vec();
        let bit = (x % (bad.len() as u64 * 8)) as usize;
        bad[bit / 8] ^= 1 << (bit % 8);
        bad.truncate(bad.len() - (x >> 40) as usize % 4);
        bad
    }

    /// Streams with fixed, dynamic and stored blocks: tiny, text, random, long codes.
    fn test_pieces() -> Vec<Vec<u8>> {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes())
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..70_000).map(|_| xorshift(&mut x) as u8).collect();
        // geometric byte frequencies: the rare bytes get codes longer than FAST_BITS
        let skewed: Vec<u8> = (0..400_000)
            .map(|_| (xorshift(&mut x).trailing_zeros() as u8).wrapping_mul(7))
            .collect();
        let short = text[..1000].to_vec();
        vec![b"a".to_vec(), text, random, Vec::new(), skewed, short]
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [&b""[..], b"\x07", b"\xff\xff\xff", b"\x04\x00"] {
            assert!(unfinish(&mut data.to_vec()).is_err(), "{data:?}");
        }
        let mut x = 1u32;
        for _ in 0..2000 {
            let junk: Vec<u8> = (0..64)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = unfinish(&mut junk.clone());
        }
    }

    #[test]
    fn damaged_streams_are_errors_or_walk_to_their_end_never_panics() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{} {}\n", i % 97, i % 13).into_bytes())
            .collect();
        let good = libdeflate(&text, 6);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let bad = damaged(&good, xorshift(&mut x));
            if let Ok((start, end)) = find_final_block(&bad) {
                assert!(start < end && end <= bad.len() * 8, "{start} {end}");
            }
        }
    }
}
