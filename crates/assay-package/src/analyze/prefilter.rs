//! A first look at a code file's text that tells when no rule can fire on it, so the file
//! need not be parsed: most files of a large package name no process, network, environment,
//! decoder or credential and hold no long literal, and tree-sitter costs far more than one
//! pass of a few automata.
//!
//! The test is conservative by construction. Every call a rule reacts to is a dotted name
//! whose segments the front ends copy from identifiers or string contents, so each segment
//! appears in the text as a whole word. Every literal a text rule reads is a contiguous part
//! of the text, or of the text with its escapes decoded ([`unescape`] of the whole file keeps
//! every literal's decoded value whole), except literals joined from parts (`'a' + 'b'`,
//! Python's `'a' 'b'`): between two parts lie only quotes, white space, `+`, parentheses and
//! line continuations ([`is_joiner`]; a comment there makes the file parsed), so the words the
//! text rules need are searched with those characters dropped from both text and words.
//! `tests/corpus.rs` and `tests/rules.rs` check that findings are the same with and without
//! this test.

use std::collections::HashSet;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::syntax::{unescape, Lang};
use super::{credentials, download, dynamic, network, process};

/// Calls the rules react to besides the lists the rule modules export. A segment ending in
/// `*` matches any longer word (`os.exec*` for `os.execv`), one starting with `*` any word
/// ending so (`*b64decode`).
const CALLS: &[&str] = &[
    // `dynamic::check`'s `dynamic-import`.
    "__import__",
    // `process::is_spawn`'s prefixes.
    "os.exec*",
    "os.spawn*",
    // `js::env_use` and `python` read these as the environment.
    "process.env",
    "os.environ",
    // `obfuscation::decode_call`: calls whose literal arguments are decoded.
    "String.fromCharCode",
    "atob",
    "Buffer.from",
    "new Buffer",
    "base64.b64decode",
    "base64.standard_b64decode",
    "base64.urlsafe_b64decode",
    "base64.decodebytes",
    "base64.decodestring",
    "binascii.a2b_base64",
    "binascii.unhexlify",
    "binascii.a2b_hex",
    "bytes.fromhex",
    "codecs.decode",
    "*b64decode",
];

/// Words in any case whose presence in a literal some text rule needs: the ones the rule
/// modules export, plus these: one per alternative of the patterns in `credentials::STORES`
/// and `download::SHELL` (but `nc`, see [`NC`]).
const TEXT_WORDS: &[&str] = &[
    ".ssh",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "authorized_keys",
    ".aws",
    ".docker",
    ".kube",
    ".git-credentials",
    "gcloud",
    ".azure",
    ".npmrc",
    ".pypirc",
    ".yarnrc",
    "netrc",
    "/etc/passwd",
    "/etc/shadow",
    "login data",
    "local state",
    "user data",
    ".mozilla",
    "key4.db",
    "logins.json",
    "bravesoftware",
    "google/chrome",
    "google\\chrome",
    "local storage",
    "wallet.dat",
    "exodus",
    "electrum",
    "metamask",
    "nkbihfbeogaeaoehlefnkodbefgpgknn",
    "ethereum",
    "solana",
    ".bash_history",
    ".zsh_history",
    ".gnupg",
    "curl",
    "wget",
    "powershell",
    "downloadstring",
    "invoke-webrequest",
    "iwr",
    "net.webclient",
    "certutil",
    "bitsadmin",
    "mshta",
    "/dev/tcp",
    "bash -i",
    // `obfuscation::literal`: a JavaScript data URI is decoded whatever its length.
    ";base64,",
    // `obfuscation::whole_file`: javascript-obfuscator's names.
    "_0x",
];

/// Shortest literal the length-based obfuscation rules look at (entropy, hex, base64).
const MIN_LONG_LITERAL: usize = 80;
/// Shortest hex or base64 literal the obfuscation rules decode (`MIN_ENCODED_CHARS`).
const MIN_ENCODED_LITERAL: usize = 100;
/// Different characters a string needs for `obfuscation::ENTROPY_BITS` (2^5.2 is 36.8).
const MIN_ENTROPY_SYMBOLS: usize = 37;
/// Escapes in one literal from which `obfuscated-escapes` may fire.
const MIN_ESCAPES: usize = 16;
/// Shortest file and line `minified-code` reports.
const MIN_MINIFIED_FILE: usize = 2000;
const MIN_MINIFIED_LINE: usize = 1500;

/// A word of a call or module name and how it must stand in the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Word {
    text: String,
    start_bounded: bool,
    end_bounded: bool,
    /// The whole call or Python module name (`eval`, `urllib.request`): not after `x.`
    /// unless `x` is the global object, not before `.`, not defined (`def eval`).
    alone: bool,
    /// A JavaScript module name, only ever read from a string (`require('http')`).
    quoted: bool,
}

struct CallWords {
    words: Vec<Word>,
    searcher: AhoCorasick,
    /// For each call, the indexes into `words` of its segments.
    calls: Vec<Vec<usize>>,
    /// Names of the global object, which the front ends strip (`window.eval` is `eval`).
    globals: &'static [&'static str],
}

static JS_WORDS: LazyLock<CallWords> = LazyLock::new(|| {
    let calls = process::SPAWNERS
        .iter()
        .chain(dynamic::JS_DYNAMIC)
        .chain(dynamic::DESERIALISERS)
        .chain(network::BROWSER_CALLS)
        .chain(download::MAKE_EXECUTABLE)
        .chain(CALLS);
    let globals = &["globalThis", "global", "window", "self"];
    call_words(calls, network::JS_MODULES, true, globals)
});

static PY_WORDS: LazyLock<CallWords> = LazyLock::new(|| {
    let calls = process::SPAWNERS
        .iter()
        .chain(dynamic::PY_DYNAMIC)
        .chain(dynamic::DESERIALISERS)
        .chain(network::BROWSER_CALLS)
        .chain(download::MAKE_EXECUTABLE)
        .chain(CALLS);
    call_words(calls, network::PY_MODULES, false, &["builtins"])
});

/// The words of `calls` (dotted names) and of the imported `modules`, which the front ends
/// copy whole: from a string in JavaScript (`quoted`), from the dotted name in Python.
fn call_words<'a>(
    calls: impl Iterator<Item = &'a &'a str>,
    modules: &'a [&'a str],
    quoted_modules: bool,
    globals: &'static [&'static str],
) -> CallWords {
    let names = calls
        .map(|c| (*c, false))
        .chain(modules.iter().map(|m| (*m, true)));
    let mut words: Vec<Word> = Vec::new();
    let mut calls = Vec::new();
    for (name, module) in names {
        let name = name.strip_prefix("new ").unwrap_or(name);
        let quoted = module && quoted_modules;
        let alone = !quoted && (module || !name.contains(['.', '*']));
        let split: Vec<&str> = if module {
            vec![name]
        } else {
            name.split('.').collect()
        };
        let segments = split.into_iter().map(|segment| {
            let word = Word {
                text: segment.trim_matches('*').to_owned(),
                start_bounded: !segment.starts_with('*'),
                end_bounded: !segment.ends_with('*'),
                alone,
                quoted,
            };
            match words.iter().position(|w| *w == word) {
                Some(i) => i,
                None => {
                    words.push(word);
                    words.len() - 1
                }
            }
        });
        calls.push(segments.collect());
    }
    let searcher = AhoCorasick::new(words.iter().map(|w| w.text.as_str()))
        .expect("the call words build an automaton");
    CallWords {
        words,
        searcher,
        calls,
        globals,
    }
}

static TEXT_SEARCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    let hosts = network::CATEGORIES.iter().flat_map(|c| c.2.iter());
    let words = credentials::TOKEN_NAMES
        .iter()
        .chain(hosts)
        .chain(TEXT_WORDS)
        .map(|w| without_joiners(w));
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .expect("the text words build an automaton")
});

/// What `network::check_text` reports without a known host: an IPv4 address, or a URL with
/// a port.
static ADDRESS: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r"(?i)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|(?:https?|wss?|ftp)://[a-z0-9.\-]+:\d",
    )
    .expect("the address pattern is valid")
});

/// `download::SHELL`'s `\bnc\b`, in one literal or split over two (`'n' + 'c'`).
static NC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:^|[^a-z0-9_])n(?:[\s'"`+()\\]*['"`][\s'"`+()\\]*)?c(?:[^a-z0-9_]|$)"#)
        .expect("the nc pattern is valid")
});

/// A comment between two joined literals: `'a' /* c */ + 'b'`, `'a' + // c`, or in Python
/// `'a'  # c` with a string on a later line.
static JS_COMMENTED_JOIN: LazyLock<Regex> = LazyLock::new(|| {
    let comment = r"(?:/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|//[^\n]*)";
    Regex::new(&format!(
        r#"['"`][\s)]*(?:{comment}[\s)]*)+\+|\+[\s(]*(?:{comment}[\s(]*)+['"`]"#
    ))
    .expect("the JavaScript pattern is valid")
});
static PY_COMMENTED_JOIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"['"][\s\\]*#[^\n]*\n(?:[\s\\]*#[^\n]*\n)*[\s\\]*[rRbBuUfF]{0,2}['"]"#)
        .expect("the Python pattern is valid")
});

/// Builds the automata [`may_match`] uses for `lang`.
pub(crate) fn prepare(lang: Lang) {
    match lang {
        Lang::Js => {
            LazyLock::force(&JS_WORDS);
            LazyLock::force(&JS_COMMENTED_JOIN);
        }
        Lang::Python => {
            LazyLock::force(&PY_WORDS);
            LazyLock::force(&PY_COMMENTED_JOIN);
        }
    }
    LazyLock::force(&TEXT_SEARCHER);
    LazyLock::force(&ADDRESS);
    LazyLock::force(&NC);
}

/// What may lie between two joined literals, besides a comment and Python's string prefixes.
fn is_joiner(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\'' | b'"' | b'`' | b'+' | b'(' | b')' | b'\\'
    )
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'\'' | b'"' | b'`')
}

/// The text's bytes without [`is_joiner`] characters: a joined literal's parts come together,
/// and Python's prefixes (`f'..'`) are the only other characters between them. Joiners are
/// ASCII and UTF-8 never uses ASCII bytes inside a longer character, so the rest stays UTF-8.
fn without_joiners(text: &str) -> Vec<u8> {
    text.bytes().filter(|&b| !is_joiner(b)).collect()
}

/// Whether some code rule might fire on this file; `false` means parsing it would find
/// nothing. `bundle` is [`super::FileCtx::bundle`].
pub(crate) fn may_match(lang: Lang, bundle: bool, src: &str) -> bool {
    let commented_join = match lang {
        Lang::Js => JS_COMMENTED_JOIN.is_match(src),
        Lang::Python => PY_COMMENTED_JOIN.is_match(src),
    };
    if commented_join || dense_escapes(src) || minified(lang, bundle, src) {
        return true;
    }
    let decoded = src.contains('\\').then(|| unescape(src).0);
    std::iter::once(src)
        .chain(decoded.as_deref())
        .any(|text| names_a_call(lang, text) || text_rule_may_match(text))
}

fn text_rule_may_match(text: &str) -> bool {
    if NC.is_match(text) || has_long_run(text) {
        return true;
    }
    let joined = without_joiners(text);
    TEXT_SEARCHER.is_match(&joined) || ADDRESS.is_match(&joined)
}

/// Whether some literal may be written mostly in escapes (`obfuscated-escapes`): at least
/// [`MIN_ESCAPES`] `\x`, `\u`, `\U` or octal escapes (the ones `unescape` counts), one per 8
/// characters of its value. An escape takes at most 10 characters of text, so the value's
/// text holds one escape per 17 characters or fewer, and then some run of [`MIN_ESCAPES`]
/// escapes in a row spans less than twice that; `\u{..}` has no length limit, so it counts
/// as dense.
fn dense_escapes(src: &str) -> bool {
    let bytes = src.as_bytes();
    let escapes: Vec<usize> = bytes
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] == b'\\' && matches!(w[1], b'x' | b'u' | b'U' | b'0'..=b'7'))
        .map(|(i, _)| i)
        .collect();
    if escapes.len() < MIN_ESCAPES {
        return false;
    }
    escapes
        .iter()
        .any(|&i| bytes.get(i + 2) == Some(&b'{') && bytes[i + 1] == b'u')
        || escapes
            .windows(MIN_ESCAPES)
            .any(|w| w[MIN_ESCAPES - 1] - w[0] < 2 * 17 * MIN_ESCAPES)
}

/// `obfuscation::whole_file`'s test for minified code, or an over-estimate of it.
fn minified(lang: Lang, bundle: bool, src: &str) -> bool {
    lang == Lang::Js
        && !bundle
        && src.len() >= MIN_MINIFIED_FILE
        && src.split('\n').any(|l| l.len() >= MIN_MINIFIED_LINE)
}

/// A stretch of text that may hold a literal the length-based rules read: holding no space
/// (`obfuscation::literal`, after trimming) and as long as the shortest they read, with the
/// different characters a high-entropy string needs or a run of hex or base64 characters.
/// Spaces end a stretch, except between two quotes in a run of joiners (or before a Python
/// prefix and its quote), where they may lie between the parts of one literal.
fn has_long_run(text: &str) -> bool {
    let bytes = text.as_bytes();
    let long = |run: &[u8]| {
        run.len() >= MIN_LONG_LITERAL
            && (distinct_bytes(run) >= MIN_ENTROPY_SYMBOLS || has_encoded_stretch(run))
    };
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_joiner(bytes[i]) {
            i += 1;
            continue;
        }
        let run = i;
        while i < bytes.len() && is_joiner(bytes[i]) {
            i += 1;
        }
        let joiners = &bytes[run..i];
        let (Some(first), Some(last)) = (
            joiners.iter().position(|&b| b == b' '),
            joiners.iter().rposition(|&b| b == b' '),
        ) else {
            continue;
        };
        let between_parts = joiners[..first].iter().any(|&b| is_quote(b))
            && (joiners[last..].iter().any(|&b| is_quote(b))
                || starts_with_prefixed_quote(&bytes[i..]));
        if !between_parts {
            if long(&bytes[start..run]) {
                return true;
            }
            start = i;
        }
    }
    long(&bytes[start..])
}

/// A stretch as long as the shortest hex or base64 literal the rules decode, of their
/// characters and joiners.
fn has_encoded_stretch(run: &[u8]) -> bool {
    run.split(|&b| {
        !(b.is_ascii_alphanumeric() || matches!(b, b'/' | b'=' | b'-' | b'_') || is_joiner(b))
    })
    .any(|s| s.len() >= MIN_ENCODED_LITERAL)
}

fn distinct_bytes(run: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in run {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

/// `f'`, `rb"`: a Python string prefix and its opening quote.
fn starts_with_prefixed_quote(bytes: &[u8]) -> bool {
    let letters = bytes
        .iter()
        .take(3)
        .take_while(|b| matches!(b, b'r' | b'R' | b'b' | b'B' | b'u' | b'U' | b'f' | b'F'))
        .count();
    (1..=2).contains(&letters) && bytes.get(letters).is_some_and(|&b| is_quote(b))
}

/// Whether every segment of some call name appears in `text` as a word.
fn names_a_call(lang: Lang, text: &str) -> bool {
    let cw = match lang {
        Lang::Js => &*JS_WORDS,
        Lang::Python => &*PY_WORDS,
    };
    let bytes = text.as_bytes();
    // Letters and `_` (and `$` in JavaScript) continue a name; a digit before a name does
    // not, since tree-sitter may read `1eval` as a number and a name.
    let continues = |b: u8, digits: bool| {
        b.is_ascii_alphabetic()
            || b == b'_'
            || (b == b'$' && lang == Lang::Js)
            || (digits && b.is_ascii_digit())
    };
    let mut found = HashSet::new();
    for m in cw.searcher.find_overlapping_iter(bytes) {
        let word = &cw.words[m.pattern().as_usize()];
        let before = bytes[..m.start()].last().copied();
        let after = bytes.get(m.end()).copied();
        let fits = if word.quoted {
            before.is_some_and(|b| is_quote(b) || b == b':') && after.is_some_and(is_quote)
        } else {
            (!word.start_bounded || before.is_none_or(|b| !continues(b, false)))
                && (!word.end_bounded || after.is_none_or(|b| !continues(b, true)))
                && (!word.alone || !is_member(bytes, m.start(), m.end(), cw.globals))
        };
        if fits {
            found.insert(m.pattern().as_usize());
        }
    }
    cw.calls
        .iter()
        .any(|segments| segments.iter().all(|s| found.contains(s)))
}

/// Whether the name at `start..end` is a member of some object other than the global one
/// (`re.compile`), has members (`Function.prototype`) or is being defined (`def compile`):
/// not a call of the name itself. Only spaces and tabs are skipped, so a line break keeps the
/// name.
fn is_member(bytes: &[u8], start: usize, end: usize, globals: &[&str]) -> bool {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    if bytes[end..].iter().find(|b| !blank(b)) == Some(&b'.') {
        return true;
    }
    let before_end = bytes[..start]
        .iter()
        .rposition(|b| !blank(b))
        .map_or(0, |i| i + 1);
    let word_start = |end: usize| {
        bytes[..end]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$')))
            .map_or(0, |i| i + 1)
    };
    let before = &bytes[word_start(before_end)..before_end];
    if before_end < start && matches!(before, b"def" | b"function" | b"class") {
        return true;
    }
    if bytes[..before_end].last() != Some(&b'.') {
        return false;
    }
    let dot = before_end - 1;
    let object_end = bytes[..dot]
        .iter()
        .rposition(|b| !blank(b))
        .map_or(0, |i| i + 1);
    let object = &bytes[word_start(object_end)..object_end];
    // Only a plain name: `(window).eval`, `x?.eval` and `1.eval` count as calls.
    object
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'$'))
        && !globals.iter().any(|g| g.as_bytes() == object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_names_need_every_segment_as_a_word() {
        let js = |s: &str| may_match(Lang::Js, false, s);
        let py = |s: &str| may_match(Lang::Python, false, s);
        assert!(js("const cp = require('child_process'); cp.exec(x)"));
        assert!(!js("const cp = require('child_processes'); cp.exec(x)"));
        assert!(js("1eval(x)"));
        assert!(!js("$eval(x); evaluate(y)"));
        assert!(js("require('\\x68ttp')"));
        assert!(py("import os\nos.execvp(a, b)"));
        assert!(!py("import ox\nox.execvp(a, b)"));
        assert!(py("x = urlsafe_b64decode(y)"));
        assert!(!py("def f(x):\n    return x + 1\n"));
        assert!(!py("import re\nr = re.compile('x')"));
        assert!(!py("def compile(x):\n    return x\n"));
        assert!(!py(
            "from urllib.parse import quote\ndef f(request):\n    return request\n"
        ));
        assert!(py("from urllib.request import urlopen"));
        assert!(py("import socket"));
        assert!(!py("from .socket import x"));
        assert!(py("import builtins\nbuiltins.compile(s, 'f', 'exec')"));
        assert!(js("(window).eval(x)") && js("window\n  .eval(x)") && js("new Function;"));
        assert!(!js("var t = Function.prototype.toString; x.eval(y)"));
        assert!(!js("// see https://example.org\nvar http = 1;"));
        assert!(js("import h from 'node:http'"));
    }

    #[test]
    fn literals_with_rule_words_or_long_runs_are_parsed() {
        let py = |s: &str| may_match(Lang::Python, false, s);
        for path in [
            "~/.ssh/id_rsa",
            ".aws/credentials",
            "/etc/passwd",
            ".netrc",
            "Google/Chrome/User Data/Default/Login Data",
            "Ethereum/keystore",
            "wallet.dat",
        ] {
            assert!(py(&format!("p = '{path}'")), "{path}");
        }
        assert!(py("u = 'https://pastebin.com/raw/x'"));
        assert!(py("u = 'http://example.org:8081/'"));
        assert!(py("u = '203.0.113.9'"));
        assert!(py(&format!("k = '{}'", "A".repeat(100))));
        assert!(!py(&format!("k = '{}'", "A".repeat(90))));
        assert!(py("u = 'paste' 'bin.com'"));
        assert!(py("u = ('paste'\n     'bin.com')"));
        assert!(py("u = 'paste''bin.com'"));
        assert!(py("u = ('paste'  # a comment\n     'bin.com')"));
        assert!(py("u = ('paste'\n     # a comment\n     'bin.com')"));
        assert!(py(&format!(
            "k = ('{}'\n     '{}')",
            "A".repeat(60),
            "B".repeat(60)
        )));
        let (a, b) = ("A".repeat(60), "B".repeat(60));
        assert!(py(&format!("k = ('{a}'\n     f'{b}')")));
        assert!(may_match(Lang::Js, false, &format!("k = '{a}' +\n '{b}'")));
        assert!(!py(&format!("k = ['{a}',\n     '{b}']")));
        assert!(!py(&format!("# {}\nX = 1\n", "a".repeat(79))));
        let symbols: String = ('!'..='~').filter(|c| !matches!(c, '\\' | '"')).collect();
        assert!(py(&format!("k = \"\"\"{symbols}\n{symbols}\"\"\"")));
        assert!(py("c = 'n' 'c -e /bin/sh'"));
        assert!(!py("u = '' if x else 'y'\n"));
        assert!(may_match(Lang::Js, false, "u = 'paste' + ('bin.com')"));
        assert!(!may_match(Lang::Js, false, "u = a + b; v = 'x'"));
        assert!(may_match(
            Lang::Js,
            false,
            "u = 'paste' /* c */ + 'bin.com'"
        ));
        assert!(may_match(Lang::Js, false, "u = 'paste' + // c\n 'bin.com'"));
        assert!(!may_match(
            Lang::Js,
            false,
            "f('a') /* c */ g(b) /* d */ + 1"
        ));
    }
}
