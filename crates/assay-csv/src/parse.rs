//! A byte-level RFC 4180 tokenizer, the record-boundary scanner that shares its quoting
//! rules, and delimiter sniffing.
//!
//! Rules: records end at `\n` (a `\r` before it is dropped); a field that starts with `"` is
//! quoted, may hold delimiters and line breaks, and writes a quote as `""`; bytes after a
//! closing quote are kept up to the next delimiter; a quote inside an unquoted field is an
//! ordinary byte. The tokenizer borrows fields from the input and copies only fields that
//! contain `""` escapes or bytes after the closing quote.

use memchr::{memchr, memchr2, memchr_iter, memrchr};

/// What ended a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A delimiter: more fields follow in this record.
    Delimiter,
    /// A line break: the record is complete.
    Record,
    /// The end of the input.
    Input,
}

/// Where a field's bytes are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    Slice(usize, usize),
    Scratch,
}

/// A quoted field has no closing quote before the end of the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unterminated;

pub(crate) struct Tokenizer<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
    delimiter: u8,
    /// Line breaks consumed so far, inside quoted fields too.
    pub(crate) lines: u64,
    /// `data[block..block_end]` (at most 64 bytes) has its separators marked in `bits`,
    /// bit i for `data[block + i]`, so most fields end with a shift and a bit scan.
    block: usize,
    block_end: usize,
    bits: u64,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(data: &'a [u8], delimiter: u8) -> Self {
        Tokenizer {
            data,
            pos: 0,
            delimiter,
            lines: 0,
            block: 0,
            block_end: 0,
            bits: 0,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Consumes an empty line at the current position, if there is one.
    #[inline]
    pub(crate) fn skip_blank_line(&mut self) -> bool {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let skip = match rest {
            [b'\n', ..] => 1,
            [b'\r', b'\n', ..] => 2,
            _ => return false,
        };
        self.pos += skip;
        self.lines += 1;
        true
    }

    /// The bytes of a field returned by [`Tokenizer::next_field`].
    #[inline]
    pub(crate) fn bytes<'s>(&self, field: Field, scratch: &'s [u8]) -> &'s [u8]
    where
        'a: 's,
    {
        match field {
            Field::Slice(start, end) => self.data.get(start..end).unwrap_or_default(),
            Field::Scratch => scratch,
        }
    }

    /// Reads the field at the current position.
    #[inline(always)]
    pub(crate) fn next_field(
        &mut self,
        scratch: &mut Vec<u8>,
    ) -> Result<(Field, End), Unterminated> {
        let data = self.data;
        let start = self.pos;
        if data.get(start) == Some(&b'"') {
            return self.quoted_field(scratch);
        }
        let i = self.next_separator(start);
        Ok(self.finish_unquoted(start, i))
    }

    /// The position of the first delimiter or line break at or after `from`, or the end of
    /// the data.
    #[inline]
    fn next_separator(&mut self, mut from: usize) -> usize {
        loop {
            if from >= self.block && from < self.block_end {
                let bits = self.bits >> (from - self.block);
                if bits != 0 {
                    return from + bits.trailing_zeros() as usize;
                }
                from = self.block_end;
            }
            if from >= self.data.len() {
                return self.data.len();
            }
            self.mark_block(from);
        }
    }

    fn mark_block(&mut self, from: usize) {
        let rest = self.data.get(from..).unwrap_or_default();
        let (bits, len) = match rest.first_chunk::<64>() {
            Some(block) => (separator_bits(block, self.delimiter), 64),
            None => {
                let mut block = [0u8; 64];
                block[..rest.len()].copy_from_slice(rest);
                let bits = separator_bits(&block, self.delimiter) & ((1 << rest.len()) - 1);
                (bits, rest.len())
            }
        };
        (self.block, self.block_end, self.bits) = (from, from + len, bits);
    }

    #[inline]
    fn finish_unquoted(&mut self, start: usize, i: usize) -> (Field, End) {
        let data = self.data;
        match data.get(i) {
            None => {
                self.pos = data.len();
                let end = if i > start && data[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                (Field::Slice(start, end), End::Input)
            }
            Some(&b'\n') => {
                self.pos = i + 1;
                self.lines += 1;
                let end = if i > start && data[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                (Field::Slice(start, end), End::Record)
            }
            Some(_) => {
                self.pos = i + 1;
                (Field::Slice(start, i), End::Delimiter)
            }
        }
    }

    #[inline(never)]
    fn quoted_field(&mut self, scratch: &mut Vec<u8>) -> Result<(Field, End), Unterminated> {
        let data = self.data;
        let open = self.pos;
        let mut segment = open + 1;
        let mut i = segment;
        let mut escaped = false;
        let close = loop {
            let q = i + memchr(b'"', data.get(i..).unwrap_or_default()).ok_or(Unterminated)?;
            if data.get(q + 1) == Some(&b'"') {
                if !escaped {
                    scratch.clear();
                    escaped = true;
                }
                scratch.extend_from_slice(&data[segment..=q]);
                i = q + 2;
                segment = i;
            } else {
                break q;
            }
        };
        self.lines += memchr_iter(b'\n', &data[open..close]).count() as u64;
        let mut field = if escaped {
            scratch.extend_from_slice(&data[segment..close]);
            Field::Scratch
        } else {
            Field::Slice(open + 1, close)
        };
        let after = close + 1;
        let mut i = after;
        while i < data.len() && data[i] != self.delimiter && data[i] != b'\n' {
            i += 1;
        }
        let (_, end) = self.finish_unquoted(after, i);
        let trailing = match end {
            End::Delimiter => &data[after..i],
            _ => match data.get(after..i) {
                Some([rest @ .., b'\r']) => rest,
                Some(rest) => rest,
                None => &[],
            },
        };
        if !trailing.is_empty() {
            if let Field::Slice(s, e) = field {
                scratch.clear();
                scratch.extend_from_slice(&data[s..e]);
                field = Field::Scratch;
            }
            scratch.extend_from_slice(trailing);
        }
        Ok((field, end))
    }

    /// Reads a whole record into owned fields (used for the header and sniffing), with what
    /// ended it: a line break or the end of the input.
    pub(crate) fn record(&mut self) -> Result<(Vec<Vec<u8>>, End), Unterminated> {
        let mut scratch = Vec::new();
        let mut fields = Vec::new();
        loop {
            let (field, end) = self.next_field(&mut scratch)?;
            fields.push(self.bytes(field, &scratch).to_vec());
            if end != End::Delimiter {
                return Ok((fields, end));
            }
        }
    }
}

/// Bit i set when `block[i]` is the delimiter or a line break.
#[inline]
fn separator_bits(block: &[u8; 64], delimiter: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline, and each unaligned load reads 16 of
        // `block`'s 64 bytes.
        unsafe {
            let delimiter = _mm_set1_epi8(delimiter as i8);
            let newline = _mm_set1_epi8(b'\n' as i8);
            let mut bits = 0;
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
                let hits = _mm_or_si128(_mm_cmpeq_epi8(v, delimiter), _mm_cmpeq_epi8(v, newline));
                bits |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
            }
            bits
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block.iter().enumerate().fold(0, |bits, (i, &b)| {
            bits | u64::from(b == delimiter || b == b'\n') << i
        })
    }
}

/// The offset just past the last line break that ends a record, reading from a record start
/// with the tokenizer's quoting rules. `None` when no record ends in `data`.
pub(crate) fn last_record_end(data: &[u8], delimiter: u8) -> Option<usize> {
    if memchr(b'"', data).is_none() {
        return memrchr(b'\n', data).map(|i| i + 1);
    }
    let mut last = None;
    let mut i = 0;
    let mut field_start = true;
    while i < data.len() {
        if field_start && data[i] == b'"' {
            i += 1;
            loop {
                let Some(k) = memchr(b'"', data.get(i..).unwrap_or_default()) else {
                    return last;
                };
                let q = i + k;
                if data.get(q + 1) == Some(&b'"') {
                    i = q + 2;
                } else {
                    i = q + 1;
                    break;
                }
            }
            field_start = false;
            continue;
        }
        let Some(k) = memchr2(delimiter, b'\n', data.get(i..).unwrap_or_default()) else {
            break;
        };
        let j = i + k;
        if data[j] == b'\n' {
            last = Some(j + 1);
        }
        field_start = true;
        i = j + 1;
    }
    last
}

/// Candidate delimiters, in order of preference on ties.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
const SNIFF_RECORDS: usize = 50;

/// Picks the candidate that splits the first records into the same number of fields most
/// consistently, preferring more fields; a file with one column gets a comma.
pub(crate) fn sniff_delimiter(sample: &[u8], complete: bool) -> u8 {
    let sample = if complete {
        sample
    } else {
        &sample[..last_record_end(sample, b',').unwrap_or(sample.len())]
    };
    let mut best = (0.0, 0usize, b',');
    for &d in &CANDIDATES {
        let mut tok = Tokenizer::new(sample, d);
        let mut counts = Vec::new();
        while counts.len() < SNIFF_RECORDS && !tok.at_end() {
            if tok.skip_blank_line() {
                continue;
            }
            match tok.record() {
                Ok((fields, _)) => counts.push(fields.len()),
                Err(Unterminated) => break,
            }
        }
        let Some(mode) = mode(&counts) else { continue };
        if mode < 2 {
            continue;
        }
        let agree = counts.iter().filter(|&&c| c == mode).count() as f64 / counts.len() as f64;
        if agree > best.0 || (agree == best.0 && mode > best.1) {
            best = (agree, mode, d);
        }
    }
    best.2
}

fn mode(counts: &[usize]) -> Option<usize> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let mut best: Option<(usize, usize)> = None;
    for group in sorted.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(_, n)| group.len() > n) {
            best = Some((group[0], group.len()));
        }
    }
    best.map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(data: &str, d: u8) -> Vec<Vec<String>> {
        let mut tok = Tokenizer::new(data.as_bytes(), d);
        let mut out = Vec::new();
        while !tok.at_end() {
            if tok.skip_blank_line() {
                continue;
            }
            let (r, _) = tok.record().unwrap();
            out.push(
                r.into_iter()
                    .map(|f| String::from_utf8(f).unwrap())
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn tokenizes_quotes_escapes_and_crlf() {
        let r = records("a,\"b,1\",\"say \"\"hi\"\"\"\r\n\"x\ny\",,z\n", b',');
        assert_eq!(
            r,
            vec![vec!["a", "b,1", "say \"hi\""], vec!["x\ny", "", "z"]]
        );
    }

    #[test]
    fn bytes_after_closing_quote_are_kept() {
        assert_eq!(records("\"ab\"c,d\n", b','), vec![vec!["abc", "d"]]);
        assert_eq!(records("a\"b,c\n", b','), vec![vec!["a\"b", "c"]]);
    }

    #[test]
    fn separator_search_matches_a_byte_loop() {
        let mut data = b"ab,c\x01,\x00\x01\n,,0123456789abcdef,x\ny".repeat(5);
        data.extend_from_slice(&[b'z'; 70]);
        data.extend_from_slice(b",\x00tail");
        for delimiter in [b',', 0] {
            let expected = |from: usize| {
                (from..data.len())
                    .find(|&i| data[i] == delimiter || data[i] == b'\n')
                    .unwrap_or(data.len())
            };
            // In order, as fields are read, and jumping around, as after quoted fields.
            let mut tok = Tokenizer::new(&data, delimiter);
            for from in (0..=data.len()).chain((0..=data.len()).rev().step_by(7)) {
                assert_eq!(tok.next_separator(from), expected(from), "from {from}");
            }
        }
    }

    #[test]
    fn trailing_delimiter_gives_empty_field() {
        assert_eq!(records("a,b,", b','), vec![vec!["a", "b", ""]]);
    }

    #[test]
    fn counts_lines_inside_quotes() {
        let mut tok = Tokenizer::new(b"\"a\nb\nc\",d\ne\n", b',');
        tok.record().unwrap();
        assert_eq!(tok.lines, 3);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let mut tok = Tokenizer::new(b"a,\"bc\n", b',');
        assert!(tok.record().is_err());
    }

    #[test]
    fn boundary_respects_quotes() {
        let data = b"a,\"x\ny\"\nb,\"open\nstill";
        assert_eq!(last_record_end(data, b','), Some(8));
        assert_eq!(last_record_end(b"a,b\nc,d\ne", b','), Some(8));
        assert_eq!(last_record_end(b"\"a\"\"\n\"\n", b','), Some(7));
        assert_eq!(last_record_end(b"no newline", b','), None);
    }

    #[test]
    fn sniffs_common_delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2;3\n", true), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", true), b'\t');
        assert_eq!(sniff_delimiter(b"a|b\n1|2\n", true), b'|');
        assert_eq!(sniff_delimiter(b"a,b;c\n1,2;3\n", true), b',');
        assert_eq!(sniff_delimiter(b"name\nx\n", true), b',');
        assert_eq!(sniff_delimiter(b"a;b\n\"1;x\";2\n", true), b';');
    }
}
