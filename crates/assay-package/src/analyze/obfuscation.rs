//! Obfuscation: long base64, hex and `\x`-escaped literals, high-entropy strings, minified
//! one-liners outside build output, javascript-obfuscator names, `String.fromCharCode`
//! chains and decoding calls. Whatever decodes to text goes back to the caller to be scanned
//! again with every rule.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

use super::dynamic::is_dynamic;
use super::syntax::{Arg, Decoded, Facts, Lang, Span};
use super::{FileCtx, Rescan, Sink};
use crate::Severity;

/// Literals shorter than this are not treated as encoded payloads.
const MIN_ENCODED_CHARS: usize = 100;
const MIN_ENTROPY_CHARS: usize = 80;
/// Bits per character above which a literal looks random (English is about 4.1).
const ENTROPY_BITS: f64 = 5.2;
const MIN_CHARCODES: usize = 8;

/// Decompressed text kept from one literal; more is cut (a bomb gains nothing).
const MAX_DECOMPRESSED: u64 = 1 << 20;

const DECOMPRESSORS: &[&str] = &[
    "zlib.decompress",
    "gzip.decompress",
    "zlib.inflateSync",
    "zlib.inflateRawSync",
    "zlib.gunzipSync",
    "zlib.unzipSync",
];

/// `zlib.decompress(base64.b64decode('...'))`: a decompressor whose first argument is a
/// call that decoded a literal gets the decompressed bytes as its own decoded result.
pub(crate) fn decompress_chains(facts: &mut Facts) {
    for i in 0..facts.calls.len() {
        let (head, tail) = facts.calls.split_at_mut(i + 1);
        let outer = &mut head[i];
        if outer.decoded.is_some() || !DECOMPRESSORS.contains(&outer.callee.as_str()) {
            continue;
        }
        // The first call inside, in document order, is the one in the first argument.
        let Some(inner) = tail.first().filter(|c| outer.span.contains(&c.span)) else {
            continue;
        };
        if let Some(bytes) = inner.decoded.as_ref().and_then(|d| decompress(&d.bytes)) {
            outer.decoded = Some(Decoded {
                kind: "compressed base64",
                bytes,
            });
        }
    }
}

/// zlib, gzip or raw deflate, whichever reads.
fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
    use std::io::Read;
    let attempts: [Box<dyn Read + '_>; 3] = [
        Box::new(ZlibDecoder::new(data)),
        Box::new(GzDecoder::new(data)),
        Box::new(DeflateDecoder::new(data)),
    ];
    for reader in attempts {
        let mut out = Vec::new();
        if reader.take(MAX_DECOMPRESSED).read_to_end(&mut out).is_ok() && !out.is_empty() {
            return Some(out);
        }
    }
    None
}

/// Whether the call decodes its argument (used to spot `eval(atob(...))`).
pub(super) fn is_decode(callee: &str) -> bool {
    matches!(
        callee,
        "atob"
            | "Buffer.from"
            | "new Buffer"
            | "String.fromCharCode"
            | "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.urlsafe_b64decode"
            | "base64.b32decode"
            | "base64.b16decode"
            | "base64.b85decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "binascii.a2b_base64"
            | "binascii.unhexlify"
            | "binascii.a2b_hex"
            | "bytes.fromhex"
            | "codecs.decode"
            | "zlib.decompress"
            | "lzma.decompress"
            | "bz2.decompress"
    ) || callee.starts_with("b64decode")
        || callee.ends_with(".b64decode")
}

/// The bytes a decoding call yields when its arguments are literals.
pub(crate) fn decode_call(callee: &str, args: &[Arg]) -> Option<Decoded> {
    let first = match args.first() {
        Some(Arg::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let second = match args.get(1) {
        Some(Arg::Str(s)) => Some(s.to_ascii_lowercase()),
        _ => None,
    };
    let (kind, bytes) = match callee {
        "String.fromCharCode" => {
            let mut out = String::new();
            for a in args {
                let Arg::Num(n) = a else { return None };
                out.push(char::from_u32(*n as u32)?);
            }
            ("char codes", out.into_bytes())
        }
        "atob"
        | "base64.b64decode"
        | "base64.standard_b64decode"
        | "base64.decodebytes"
        | "base64.decodestring"
        | "binascii.a2b_base64"
        | "base64.urlsafe_b64decode" => ("base64", base64_bytes(first?)?),
        "Buffer.from" | "new Buffer" => match second.as_deref() {
            Some("base64" | "base64url") => ("base64", base64_bytes(first?)?),
            Some("hex") => ("hex", hex::decode(first?.trim()).ok()?),
            _ => return None,
        },
        "bytes.fromhex" | "binascii.unhexlify" | "binascii.a2b_hex" => (
            "hex",
            hex::decode(first?.split_whitespace().collect::<String>()).ok()?,
        ),
        "codecs.decode" => match second.as_deref() {
            Some("rot13" | "rot_13" | "rot-13") => ("rot13", rot13(first?).into_bytes()),
            Some("hex" | "hex_codec") => ("hex", hex::decode(first?.trim()).ok()?),
            Some("base64" | "base64_codec") => ("base64", base64_bytes(first?)?),
            _ => return None,
        },
        c if c.ends_with("b64decode") => ("base64", base64_bytes(first?)?),
        _ => return None,
    };
    Some(Decoded { kind, bytes })
}

fn base64_bytes(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let clean = clean.trim_end_matches('=');
    let engine = if clean.contains(['-', '_']) {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine.decode(clean).ok()
}

fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            c => c,
        })
        .collect()
}

/// The bytes as text when they read as text (UTF-8, mostly printable), else `None`.
fn as_text(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() {
        return None;
    }
    let printable = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    (printable * 100 >= s.chars().count() * 95).then(|| s.to_owned())
}

fn is_base64ish(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    body.len() >= MIN_ENCODED_CHARS
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        && body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
}

fn is_hexish(s: &str) -> bool {
    s.len() >= MIN_ENCODED_CHARS && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// One step lower in build output, where these shapes are expected.
fn weigh(ctx: &FileCtx, s: Severity) -> Severity {
    if ctx.bundle {
        super::lower(s)
    } else {
        s
    }
}

static OBFUSCATOR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b_0x[0-9a-f]{4,6}\b").expect("the name pattern is valid"));

pub(super) fn prepare() {
    LazyLock::force(&OBFUSCATOR_NAME);
}

pub(super) fn check(ctx: &FileCtx, src: &str, facts: &Facts, sink: &mut Sink<'_>) -> Vec<Rescan> {
    let mut rescans = Vec::new();
    for call in &facts.calls {
        if let Some(d) = &call.decoded {
            decoded_call(ctx, call.span, d, sink, &mut rescans);
        } else if is_dynamic(ctx.lang, &call.callee) {
            // A constant string run as code is code: read it too.
            for a in &call.args {
                if let Arg::Str(s) = a {
                    if s.len() >= 8 && s.trim() != "return this" {
                        rescans.push(Rescan {
                            span: call.span,
                            kind: "a string run as code",
                            text: s.clone(),
                            text_checked: true,
                        });
                    }
                }
            }
        }
    }
    for lit in &facts.lits {
        literal(ctx, lit.span, &lit.value, lit.escapes, sink, &mut rescans);
    }
    if ctx.lang == Lang::Js && !sink.in_decoded() {
        whole_file(ctx, src, sink);
    }
    rescans
}

fn decoded_call(
    ctx: &FileCtx,
    span: Span,
    d: &Decoded,
    sink: &mut Sink<'_>,
    rescans: &mut Vec<Rescan>,
) {
    let text = as_text(&d.bytes);
    if d.kind == "char codes" {
        if d.bytes.len() >= MIN_CHARCODES {
            sink.add(
                "charcode-obfuscation",
                weigh(ctx, Severity::Medium),
                format!(
                    "Builds a {}-character string from character codes, hiding it from readers.",
                    d.bytes.len()
                ),
                span,
            );
        }
    } else if d.bytes.len() >= 16 {
        let severity = if text.is_some() {
            Severity::Medium
        } else {
            Severity::Low
        };
        sink.add(
            "decode-literal",
            weigh(ctx, severity),
            format!(
                "Decodes a {} literal of {} bytes at run time.",
                d.kind,
                d.bytes.len()
            ),
            span,
        );
    }
    if let Some(text) = text {
        rescans.push(Rescan {
            span,
            kind: d.kind,
            text,
            text_checked: false,
        });
    }
}

fn literal(
    ctx: &FileCtx,
    span: Span,
    value: &str,
    escapes: usize,
    sink: &mut Sink<'_>,
    rescans: &mut Vec<Rescan>,
) {
    if value.len() < MIN_CHARCODES {
        return;
    }
    // Data URIs of images and fonts are base64 by design; scripts inside them are not.
    let (value, data_uri) = match value.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((mime, body)) if mime.contains("javascript") => (body, true),
            _ => return,
        },
        None => (value, false),
    };
    let trimmed = value.trim();
    let ascii_text = value
        .chars()
        .filter(|c| c.is_ascii_graphic() || c.is_ascii_whitespace())
        .count()
        * 10
        >= value.chars().count() * 9;
    if escapes >= 16 && escapes * 4 * 2 >= value.len() && ascii_text {
        sink.add(
            "obfuscated-escapes",
            weigh(ctx, Severity::Medium),
            format!("A string written almost entirely as {escapes} `\\x`/`\\u` escapes, hiding its text."),
            span,
        );
        if value.len() >= 8 {
            rescans.push(Rescan {
                span,
                kind: "escape sequences",
                text: value.to_owned(),
                text_checked: true,
            });
        }
        return;
    }
    if is_hexish(trimmed) {
        if let Some(text) = hex::decode(trimmed).ok().as_deref().and_then(as_text) {
            sink.add(
                "obfuscated-hex",
                weigh(ctx, Severity::Medium),
                format!(
                    "A {}-character hex literal that decodes to text.",
                    trimmed.len()
                ),
                span,
            );
            rescans.push(Rescan {
                span,
                kind: "hex",
                text,
                text_checked: false,
            });
            return;
        }
    }
    if data_uri || is_base64ish(trimmed) {
        if let Some(text) = base64_bytes(trimmed).as_deref().and_then(as_text) {
            sink.add(
                "obfuscated-base64",
                weigh(ctx, Severity::Medium),
                format!(
                    "A {}-character base64 literal that decodes to text.",
                    trimmed.len()
                ),
                span,
            );
            rescans.push(Rescan {
                span,
                kind: "base64",
                text,
                text_checked: false,
            });
            return;
        }
    }
    // Base64 of any length is decoded above or too short to matter.
    let base64_charset = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if trimmed.len() >= MIN_ENTROPY_CHARS
        && !base64_charset
        && !trimmed.contains(' ')
        && shannon_entropy(trimmed) >= ENTROPY_BITS
        && !ctx.bundle
    {
        sink.add(
            "high-entropy-string",
            Severity::Low,
            format!(
                "A {}-character string with {:.1} bits of entropy per character, like encrypted or packed data.",
                trimmed.len(),
                shannon_entropy(trimmed)
            ),
            span,
        );
    }
}

fn whole_file(ctx: &FileCtx, src: &str, sink: &mut Sink<'_>) {
    let names = OBFUSCATOR_NAME.find_iter(src).take(20).count();
    if names >= 20 {
        let first = OBFUSCATOR_NAME.find(src).map_or(0, |m| m.start());
        sink.add(
            "obfuscator-names",
            weigh(ctx, Severity::High),
            "Uses the `_0x1a2b`-style names javascript-obfuscator generates.".into(),
            line_span(src, first),
        );
    }
    if ctx.bundle || src.len() < 2000 {
        return;
    }
    let lines = src.lines().count().max(1);
    let longest = src.lines().map(str::len).max().unwrap_or(0);
    if longest >= 1500 && (lines <= 5 || src.len() / lines >= 500) {
        let at = src.lines().position(|l| l.len() == longest).unwrap_or(0);
        let start = src.lines().take(at).map(|l| l.len() + 1).sum();
        sink.add(
            "minified-code",
            Severity::Low,
            format!("Minified code ({longest}-character line) outside any build-output folder, where it hides what the package does."),
            Span {
                line: at as u32 + 1,
                start,
                end: start + longest,
            },
        );
    }
}

fn line_span(src: &str, at: usize) -> Span {
    let line = src.get(..at).map_or(0, |s| s.matches('\n').count()) as u32 + 1;
    Span {
        line,
        start: at,
        end: (at + 120).min(src.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_common_encodings() {
        let s = |v: &str| Arg::Str(v.into());
        let d = decode_call("Buffer.from", &[s("aGk="), s("base64")]).unwrap();
        assert_eq!(d.bytes, b"hi");
        let d = decode_call("codecs.decode", &[s("uryyb"), s("rot13")]).unwrap();
        assert_eq!(d.bytes, b"hello");
        assert!(decode_call("Buffer.from", &[s("aGk=")]).is_none());
        assert!(decode_call("String.fromCharCode", &[Arg::Num(f64::MAX)]).is_none());
    }

    #[test]
    fn entropy_of_random_text_is_high() {
        assert!(shannon_entropy("aaaaaaaa") < 0.1);
        assert!(shannon_entropy("q8Z+3kP0/aL9xWv2mR7tYc1NbE4uJ6hG") > 4.5);
    }
}
