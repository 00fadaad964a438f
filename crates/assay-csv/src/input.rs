//! Raw input: size limit, SHA-256 of the raw bytes, encoding detection and UTF-16 transcoding.
//! Everything downstream sees UTF-8 (validated later, in parallel, by the chunk workers).

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::CsvError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }

    /// Raw bytes before the first decoded byte.
    pub(crate) fn bom_len(self) -> u64 {
        match self {
            Encoding::Utf8 => 0,
            Encoding::Utf8Bom => 3,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
        }
    }
}

/// Reads raw bytes once, hashing and counting them, and hands out UTF-8.
pub(crate) struct Source<R> {
    reader: R,
    path: PathBuf,
    hasher: Sha256,
    raw_bytes: u64,
    max_bytes: u64,
    pub(crate) encoding: Encoding,
    /// Raw bytes read while detecting the encoding, not yet handed out.
    pending: Vec<u8>,
    raw: Vec<u8>,
    eof: bool,
}

const READ_SIZE: usize = 1 << 20;

impl<R: Read> Source<R> {
    pub(crate) fn open(reader: R, path: &Path, max_bytes: u64) -> Result<Self, CsvError> {
        let mut source = Source {
            reader,
            path: path.to_path_buf(),
            hasher: Sha256::new(),
            raw_bytes: 0,
            max_bytes,
            encoding: Encoding::Utf8,
            pending: Vec::new(),
            raw: Vec::new(),
            eof: false,
        };
        let mut head = [0u8; 4];
        let mut got = 0;
        while got < head.len() {
            let n = source.read_raw_into(&mut head[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let head = &head[..got];
        let (encoding, bom) = match head {
            [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8Bom, 3),
            [0xFF, 0xFE, 0, 0] | [0, 0, 0xFE, 0xFF] => {
                return Err(CsvError::UnsupportedEncoding { found: "UTF-32" })
            }
            [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
            [0xFE, 0xFF, ..] => (Encoding::Utf16Be, 2),
            _ => (Encoding::Utf8, 0),
        };
        source.encoding = encoding;
        source.pending = head[bom..].to_vec();
        Ok(source)
    }

    pub(crate) fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    pub(crate) fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    fn read_raw_into(&mut self, buf: &mut [u8]) -> Result<usize, CsvError> {
        loop {
            match self.reader.read(buf) {
                Ok(n) => {
                    self.account(&buf[..n])?;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.io_error(source)),
            }
        }
    }

    fn io_error(&self, source: std::io::Error) -> CsvError {
        CsvError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Hashes and counts raw bytes just read, enforcing the size limit.
    fn account(&mut self, read: &[u8]) -> Result<(), CsvError> {
        self.hasher.update(read);
        self.raw_bytes += read.len() as u64;
        if self.raw_bytes > self.max_bytes {
            return Err(CsvError::TooLarge {
                size: self.raw_bytes,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Appends up to about `want` UTF-8 bytes to `out`; returns false at the end of input.
    pub(crate) fn fill(&mut self, out: &mut Vec<u8>, want: usize) -> Result<bool, CsvError> {
        if self.eof {
            return Ok(false);
        }
        match self.encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => {
                if !self.pending.is_empty() {
                    out.append(&mut self.pending);
                    return Ok(true);
                }
                // read_to_end fills spare capacity without zeroing it first (for files and
                // byte slices), saving a pass over every byte.
                let start = out.len();
                let want = want.max(1);
                out.reserve(want);
                let n = (&mut self.reader)
                    .take(want as u64)
                    .read_to_end(out)
                    .map_err(|e| self.io_error(e))?;
                self.account(out.get(start..).unwrap_or_default())?;
                self.eof = n == 0;
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let mut raw = std::mem::take(&mut self.raw);
                raw.append(&mut self.pending);
                let start = raw.len();
                raw.resize(start + READ_SIZE.min(want.max(2)), 0);
                let n = self.read_raw_into(&mut raw[start..])?;
                raw.truncate(start + n);
                self.eof = n == 0;
                let used = self.decode_utf16(&raw, out)?;
                self.raw = raw.split_off(used);
            }
        }
        Ok(!self.eof)
    }

    /// Transcodes whole code points from `raw`; returns how many bytes were used.
    fn decode_utf16(&self, raw: &[u8], out: &mut Vec<u8>) -> Result<usize, CsvError> {
        let le = self.encoding == Encoding::Utf16Le;
        let unit = |i: usize| {
            let pair = [raw[i], raw[i + 1]];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        };
        // Raw offset of raw[0]: everything read minus what is still in `raw`.
        let base = self.raw_bytes - raw.len() as u64;
        let mut i = 0;
        let mut utf8 = [0u8; 4];
        while i + 1 < raw.len() {
            let u = unit(i);
            let (c, width) = match u {
                0xD800..=0xDBFF => {
                    if i + 3 >= raw.len() {
                        if self.eof {
                            return Err(CsvError::InvalidUtf16 {
                                offset: base + i as u64,
                            });
                        }
                        break;
                    }
                    let low = unit(i + 2);
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(CsvError::InvalidUtf16 {
                            offset: base + i as u64,
                        });
                    }
                    let code =
                        0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    (char::from_u32(code), 4)
                }
                0xDC00..=0xDFFF => (None, 2),
                _ => (char::from_u32(u32::from(u)), 2),
            };
            let Some(c) = c else {
                return Err(CsvError::InvalidUtf16 {
                    offset: base + i as u64,
                });
            };
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            i += width;
        }
        if self.eof && i < raw.len() {
            return Err(CsvError::InvalidUtf16 {
                offset: base + i as u64,
            });
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(Encoding, Vec<u8>), CsvError> {
        let mut s = Source::open(bytes, Path::new("test.csv"), u64::MAX)?;
        let mut out = Vec::new();
        while s.fill(&mut out, 3)? {}
        Ok((s.encoding, out))
    }

    fn utf16(text: &str, le: bool) -> Vec<u8> {
        let mut v = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in text.encode_utf16() {
            v.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        v
    }

    #[test]
    fn detects_boms() {
        assert_eq!(
            decode(b"a,b\n").unwrap(),
            (Encoding::Utf8, b"a,b\n".to_vec())
        );
        assert_eq!(
            decode(b"\xEF\xBB\xBFa\n").unwrap(),
            (Encoding::Utf8Bom, b"a\n".to_vec())
        );
        let text = "naïve,😀\n";
        assert_eq!(decode(&utf16(text, true)).unwrap().1, text.as_bytes());
        assert_eq!(
            decode(&utf16(text, false)).unwrap(),
            (Encoding::Utf16Be, text.as_bytes().to_vec())
        );
    }

    #[test]
    fn rejects_bad_utf16_and_utf32() {
        let lone = [0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0];
        assert!(matches!(
            decode(&lone),
            Err(CsvError::InvalidUtf16 { offset: 4 })
        ));
        assert!(matches!(
            decode(&[0xFF, 0xFE, 0, 0, b'a', 0, 0, 0]),
            Err(CsvError::UnsupportedEncoding { .. })
        ));
    }

    #[test]
    fn enforces_the_size_limit() {
        let r = Source::open(&b"abcdef"[..], Path::new("x"), 5).and_then(|mut s| {
            let mut out = Vec::new();
            while s.fill(&mut out, 2)? {}
            Ok(())
        });
        assert!(matches!(r, Err(CsvError::TooLarge { limit: 5, .. })));
    }
}
