//! Turns a complete raw deflate stream (what libdeflate writes: it always ends with a final
//! block) into one that can be continued: walk its blocks to find the final one, clear that
//! block's BFINAL bit, and end with an empty stored block, so the stream stops byte-aligned
//! (a zlib "sync flush"). Joining such pieces gives one deflate stream, hence one gzip member.
//!
//! The walk decodes Huffman codes only to skip over symbols; it copies no data. Any stream
//! that does not parse as deflate is an error, never a panic.

use std::io;

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

/// Reads bits least significant first, as deflate packs them.
struct Bits<'a> {
    data: &'a [u8],
    /// position in bits
    pos: usize,
}

impl Bits<'_> {
    /// The next 32 bits without consuming them (zeros past the end).
    #[inline]
    fn peek32(&self) -> u32 {
        let byte = self.pos / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(w) => u64::from_le_bytes(w.try_into().expect("8 bytes")),
            None => {
                let mut word = [0u8; 8];
                let end = (byte + 8).min(self.data.len());
                if byte < end {
                    word[..end - byte].copy_from_slice(&self.data[byte..end]);
                }
                u64::from_le_bytes(word)
            }
        };
        (word >> (self.pos % 8)) as u32
    }

    #[inline]
    fn take(&mut self, n: u32) -> io::Result<u32> {
        let v = if n == 0 {
            0
        } else {
            self.peek32() & ((1u32 << n) - 1)
        };
        self.pos += n as usize;
        if self.pos > self.data.len() * 8 {
            return Err(bad("truncated"));
        }
        Ok(v)
    }
}

/// Bits looked up at once: codes up to this long decode in one step from a table that stays
/// in the L1 cache; longer (rare) codes are decoded a bit at a time.
const FAST_BITS: u32 = 10;

/// A canonical Huffman code: a lookup table indexed by the next [`FAST_BITS`] input bits,
/// `symbol << 4 | length` (0: a longer code, or none), and the code counts per length with the
/// symbols in canonical order for the longer codes.
struct Huffman {
    table: Vec<u16>,
    count: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> io::Result<Self> {
        let mut count = [0u16; 16];
        for &l in lengths {
            if l > 15 {
                return Err(bad("code longer than 15 bits"));
            }
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0;
        for len in 1..16 {
            code = (code + u32::from(count[len - 1])) << 1;
            next[len] = code;
        }
        let mut table = vec![0u16; 1 << FAST_BITS];
        let mut symbols = Vec::with_capacity(lengths.len());
        for len in 1..16u8 {
            symbols
                .extend((0..lengths.len() as u16).filter(|&sym| lengths[usize::from(sym)] == len));
        }
        for (sym, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let len = u32::from(len);
            let c = next[len as usize];
            next[len as usize] += 1;
            if c >= 1 << len {
                return Err(bad("over-subscribed code"));
            }
            if len > FAST_BITS {
                continue;
            }
            // codes are packed most significant bit first: reverse them for an LSB-first read
            let rev = c.reverse_bits() >> (32 - len);
            let entry = ((sym as u16) << 4) | len as u16;
            let mut i = rev as usize;
            while i < table.len() {
                table[i] = entry;
                i += 1 << len;
            }
        }
        Ok(Huffman {
            table,
            count,
            symbols,
        })
    }

    #[inline]
    fn decode(&self, b: &mut Bits<'_>) -> io::Result<u16> {
        let entry = self.table[(b.peek32() & ((1 << FAST_BITS) - 1)) as usize];
        if entry == 0 {
            return self.decode_slowly(b);
        }
        b.take(u32::from(entry & 15))?;
        Ok(entry >> 4)
    }

    /// One bit at a time, walking the canonical code's lengths (as zlib's puff does).
    fn decode_slowly(&self, b: &mut Bits<'_>) -> io::Result<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.take(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - first < count {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(bad("invalid code"))
    }
}

/// Where the final block's header starts and where the stream ends, in bits.
fn find_final_block(data: &[u8]) -> io::Result<(usize, usize)> {
    let mut b = Bits { data, pos: 0 };
    loop {
        let start = b.pos;
        let last = b.take(1)? == 1;
        match b.take(2)? {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.take(16)?;
                let nlen = b.take(16)?;
                if len != !nlen & 0xffff {
                    return Err(bad("stored block length mismatch"));
                }
                b.pos += len as usize * 8;
                if b.pos > data.len() * 8 {
                    return Err(bad("truncated"));
                }
            }
            1 => {
                let mut lit = [8u8; 288];
                lit[144..256].fill(9);
                lit[256..280].fill(7);
                skip_symbols(&mut b, &Huffman::new(&lit)?, &Huffman::new(&[5u8; 30])?)?;
            }
            2 => {
                let hlit = b.take(5)? as usize + 257;
                let hdist = b.take(5)? as usize + 1;
                let hclen = b.take(4)? as usize + 4;
                let mut clen = [0u8; 19];
                for &i in &CLEN_ORDER[..hclen] {
                    clen[i] = b.take(3)? as u8;
                }
                let clen = Huffman::new(&clen)?;
                let mut lengths = Vec::with_capacity(hlit + hdist);
                while lengths.len() < hlit + hdist {
                    let (value, repeat) = match clen.decode(&mut b)? {
                        sym @ 0..=15 => (sym as u8, 1),
                        16 => {
                            let prev = *lengths.last().ok_or_else(|| bad("repeat at start"))?;
                            (prev, 3 + b.take(2)? as usize)
                        }
                        17 => (0, 3 + b.take(3)? as usize),
                        _ => (0, 11 + b.take(7)? as usize),
                    };
                    if lengths.len() + repeat > hlit + hdist {
                        return Err(bad("too many code lengths"));
                    }
                    lengths.extend(std::iter::repeat_n(value, repeat));
                }
                let lit = Huffman::new(&lengths[..hlit])?;
                let dist = Huffman::new(&lengths[hlit..])?;
                skip_symbols(&mut b, &lit, &dist)?;
            }
            _ => return Err(bad("reserved block type")),
        }
        if last {
            return Ok((start, b.pos));
        }
    }
}

/// Skips the symbols of one compressed block, up to and including its end-of-block code.
fn skip_symbols(b: &mut Bits<'_>, lit: &Huffman, dist: &Huffman) -> io::Result<()> {
    loop {
        match lit.decode(b)? {
            0..=255 => {}
            256 => return Ok(()),
            sym @ 257..=285 => {
                b.take(u32::from(LEN_EXTRA[usize::from(sym - 257)]))?;
                let d = dist.decode(b)?;
                let extra = DIST_EXTRA
                    .get(usize::from(d))
                    .ok_or_else(|| bad("bad distance"))?;
                b.take(u32::from(*extra))?;
            }
            _ => return Err(bad("bad length symbol")),
        }
    }
}

/// Makes the complete raw deflate stream `data` continuable: its final block is no longer
/// final, and it ends with an empty stored block, byte-aligned.
pub(super) fn unfinish(data: &mut Vec<u8>) -> io::Result<()> {
    let (start, end) = find_final_block(data)?;
    data[start / 8] &= !(1 << (start % 8));
    data.truncate(end.div_ceil(8));
    // the empty stored block: 3 zero header bits, padding to the byte, LEN 0, NLEN 0xffff
    if end % 8 == 0 || end % 8 > 5 {
        data.push(0);
    }
    data.extend_from_slice(&[0, 0, 0xff, 0xff]);
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
        // fixed, dynamic and stored blocks: tiny, text, random
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes())
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // geometric byte frequencies: the rare bytes get codes longer than FAST_BITS
        let skewed: Vec<u8> = (0..400_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x.trailing_zeros() as u8).wrapping_mul(7)
            })
            .collect();
        let pieces: [&[u8]; 6] = [b"a", &text, &random, b"", &skewed, &text[..1000]];
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
}
