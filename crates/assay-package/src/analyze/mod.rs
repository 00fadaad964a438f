//! Static analysis of extracted package files.
//!
//! Every code file is parsed with tree-sitter (JavaScript or Python) into [`syntax::Facts`]:
//! resolved calls, string literals, imports and uses of the environment. One module per rule
//! family reads those facts and the package's metadata and reports [`Finding`]s. Literals that
//! decode to text (`atob('...')`, long base64, `String.fromCharCode(...)`) are decoded and
//! scanned again with the same rules, up to [`MAX_DECODE_DEPTH`] levels, keeping the original
//! file and line. [`score`] turns the findings into a 0-10 score and a verdict;
//! `docs/analyzers/package.md` lists every rule.

mod binaries;
mod credentials;
mod download;
mod dynamic;
mod install;
mod js;
mod metadata;
mod network;
mod obfuscation;
mod prefilter;
mod process;
mod python;
mod score;
mod syntax;
mod typosquat;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::archive::Entry;
use crate::{Ecosystem, Finding, Severity};

pub use score::score;
use syntax::{Facts, Lang, Span};

/// Code files larger than this are not parsed (`file-too-large-to-parse`).
pub const MAX_PARSE_BYTES: usize = 2 << 20;
/// How many times decoded text is decoded and scanned again.
pub const MAX_DECODE_DEPTH: u32 = 3;
/// Findings of one rule kept per file; the score gives repeats little weight anyway.
const MAX_PER_RULE_PER_FILE: usize = 5;
const SNIPPET_CHARS: usize = 200;

/// Runs every rule over the package's files and its name.
pub fn analyze(ecosystem: Ecosystem, name: &str, files: &[Entry]) -> Vec<Finding> {
    analyze_files(ecosystem, name, files, true)
}

/// Builds the automata and regexes the rules share, which takes a few milliseconds: a caller
/// with a core to spare runs it beside other work (extraction) instead of leaving it to the
/// first files scanned. Without it they are built on first use; findings are the same.
/// `None` prepares for both languages.
pub fn prepare(ecosystem: Option<Ecosystem>) {
    // The rules' patterns first: the scan reaches them after the prefilter's.
    network::prepare();
    credentials::prepare();
    download::prepare();
    obfuscation::prepare();
    let langs: &[Lang] = match ecosystem {
        Some(Ecosystem::Npm) => &[Lang::Js],
        Some(Ecosystem::Pypi) => &[Lang::Python],
        None => &[Lang::Js, Lang::Python],
    };
    for &lang in langs {
        prefilter::prepare(lang);
    }
}

/// [`analyze`] parsing every code file, even those the prefilter shows no rule can fire on:
/// the reference the tests hold the prefilter to.
#[doc(hidden)]
pub fn analyze_parsing_every_file(
    ecosystem: Ecosystem,
    name: &str,
    files: &[Entry],
) -> Vec<Finding> {
    analyze_files(ecosystem, name, files, false)
}

fn analyze_files(
    ecosystem: Ecosystem,
    name: &str,
    files: &[Entry],
    prefilter: bool,
) -> Vec<Finding> {
    let name = if name.is_empty() {
        metadata::declared_name(ecosystem, files).unwrap_or_default()
    } else {
        name.to_owned()
    };
    let mut findings = typosquat::check(ecosystem, &name);
    findings.extend(metadata::check(ecosystem, &name, files));
    findings.extend(install::check_package_json(files));
    let pkg = PackageCtx {
        ecosystem,
        platform_wheel: binaries::is_platform_wheel(files),
        prefilter,
    };
    let per_file = scan_parallel(&pkg, files);
    findings.extend(per_file.into_iter().flatten());
    findings
}

/// What every file's rules need to know about the package.
struct PackageCtx {
    ecosystem: Ecosystem,
    platform_wheel: bool,
    /// Skip the code files [`prefilter::may_match`] clears.
    prefilter: bool,
}

/// Scans the files on every core; results keep the files' order.
fn scan_parallel(pkg: &PackageCtx, files: &[Entry]) -> Vec<Vec<Finding>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(files.len().max(1));
    // Largest code files first, so no worker is left with a big one at the end.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| {
        let f = &files[i];
        let code = code_kind(&f.path.to_ascii_lowercase()).is_some();
        std::cmp::Reverse(if code { f.data.len() } else { 0 })
    });
    let next = AtomicUsize::new(0);
    let mut results: Vec<Vec<Finding>> = vec![Vec::new(); files.len()];
    let chunks: Vec<Vec<(usize, Vec<Finding>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut parsers = Parsers::default();
                    let mut out = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(n) else { break };
                        let file = &files[i];
                        out.push((i, scan_file(pkg, file, &mut parsers)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, f) in chunks.into_iter().flatten() {
        results[i] = f;
    }
    results
}

/// One parser per language per worker, made on first use.
#[derive(Default)]
struct Parsers {
    js: Option<tree_sitter::Parser>,
    python: Option<tree_sitter::Parser>,
}

impl Parsers {
    fn facts(&mut self, lang: Lang, src: &str) -> Option<Facts> {
        match lang {
            Lang::Js => {
                if self.js.is_none() {
                    self.js = js::parser();
                }
                js::facts(self.js.as_mut()?, src)
            }
            Lang::Python => {
                if self.python.is_none() {
                    self.python = python::parser();
                }
                python::facts(self.python.as_mut()?, src)
            }
        }
    }
}

/// What the rules need to know about the file being scanned.
pub(crate) struct FileCtx {
    pub lang: Lang,
    /// A bundle or minified build output (`dist/`, `*.min.js`), where obfuscation-like text
    /// is normal.
    pub bundle: bool,
    /// The package's top-level `setup.py`, which runs on every install from source.
    pub setup_py: bool,
}

fn scan_file(pkg: &PackageCtx, file: &Entry, parsers: &mut Parsers) -> Vec<Finding> {
    let mut out = binaries::check(pkg.ecosystem, pkg.platform_wheel, file);
    let lower = file.path.to_ascii_lowercase();
    let Some(code) = code_kind(&lower) else {
        return out;
    };
    if file.data.len() > MAX_PARSE_BYTES {
        out.push(Finding {
            rule: "file-too-large-to-parse".into(),
            severity: Severity::Info,
            message: format!(
                "The file is {} bytes, over the {MAX_PARSE_BYTES}-byte parsing limit, so no code rule read it.",
                file.data.len()
            ),
            file: Some(file.path.clone()),
            line: None,
            snippet: None,
        });
        return out;
    }
    let src = String::from_utf8_lossy(&file.data);
    let mut sink = Sink::new(&file.path, &src);
    sink.demote = is_test(&lower);
    match code {
        Code::Source(lang) => {
            let ctx = FileCtx {
                lang,
                bundle: is_bundle(&lower),
                setup_py: is_top_setup_py(&lower),
            };
            let pth = lower.ends_with(".pth");
            if pth {
                install::check_pth(&src, &mut sink);
            }
            if !pkg.prefilter || pth || ctx.setup_py || prefilter::may_match(lang, ctx.bundle, &src)
            {
                scan_code(&ctx, &src, parsers, 0, &mut sink);
            }
        }
        Code::Shell => scan_shell(&src, &mut sink),
    }
    out.extend(sink.findings);
    out
}

/// What the code rules read a file as.
#[derive(Clone, Copy)]
enum Code {
    Source(Lang),
    Shell,
}

/// The kind of code in a file, by its lower-cased path; `None` for files the code rules skip.
fn code_kind(lower: &str) -> Option<Code> {
    let ends = |exts: &[&str]| exts.iter().any(|e| lower.ends_with(e));
    if lower.ends_with(".d.ts") {
        None
    } else if ends(&[".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"]) {
        Some(Code::Source(Lang::Js))
    } else if ends(&[".py", ".pyw", ".pth"]) {
        Some(Code::Source(Lang::Python))
    } else if ends(&[".sh", ".bash", ".bat", ".cmd", ".ps1"]) {
        Some(Code::Shell)
    } else {
        None
    }
}

fn is_bundle(lower: &str) -> bool {
    let name = lower.rsplit('/').next().unwrap_or(lower);
    name.contains(".min.")
        || name.contains(".bundle.")
        || name.contains(".prod.")
        || name.contains(".production.")
        || [
            "dist/", "build/", "umd/", "cjs/", "esm/", "min/", "bundles/", "vendor/", "static/",
        ]
        .iter()
        .any(|d| lower.starts_with(d) || lower.contains(&format!("/{d}")))
}

/// Test code runs only when someone runs the package's tests.
fn is_test(lower: &str) -> bool {
    let name = lower.rsplit('/').next().unwrap_or(lower);
    lower
        .split('/')
        .any(|d| matches!(d, "test" | "tests" | "testing" | "__tests__" | "spec"))
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name.contains(".test.")
        || name.contains(".spec.")
}

fn is_top_setup_py(lower: &str) -> bool {
    lower == "setup.py" || (lower.ends_with("/setup.py") && lower.matches('/').count() == 1)
}

/// Runs the code rules over `src`, then scans again every text decoded from it.
fn scan_code(ctx: &FileCtx, src: &str, parsers: &mut Parsers, depth: u32, sink: &mut Sink) {
    let Some(mut facts) = parsers.facts(ctx.lang, src) else {
        return;
    };
    obfuscation::decompress_chains(&mut facts);
    process::check(&facts, sink);
    dynamic::check(ctx, &facts, sink);
    network::check(ctx, &facts, sink);
    credentials::check(&facts, sink);
    download::check(&facts, sink);
    install::check_setup_py(ctx, &facts, sink);
    for lit in &facts.lits {
        check_text(&lit.value, lit.span, sink);
    }
    let rescans = obfuscation::check(ctx, src, &facts, sink);
    if depth >= MAX_DECODE_DEPTH {
        return;
    }
    for rescan in rescans {
        let origin = sink.origin.clone();
        if origin.is_none() {
            sink.origin = Some(Origin {
                line: rescan.span.line,
                kind: rescan.kind,
            });
        }
        sink.with_text(&rescan.text, |sink| {
            if !rescan.text_checked {
                check_text(&rescan.text, rescan.span_in_text(), sink);
            }
            scan_code(ctx, &rescan.text, parsers, depth + 1, sink);
        });
        sink.origin = origin;
    }
}

/// The text rules, for every literal, install command and decoded text.
fn check_text(text: &str, span: Span, sink: &mut Sink) {
    network::check_text(text, span, sink);
    credentials::check_text(text, span, sink);
    download::check_text(text, span, sink);
}

/// Shell and batch scripts: the text rules, line by line.
fn scan_shell(src: &str, sink: &mut Sink) {
    for (span, line) in syntax::lines(src) {
        if !line.trim_start().starts_with('#') {
            check_text(line, span, sink);
        }
    }
}

/// Where decoded text came from: findings in it are reported on this line of the file.
#[derive(Debug, Clone)]
struct Origin {
    line: u32,
    kind: &'static str,
}

/// Text decoded from a literal, to be scanned again.
pub(crate) struct Rescan {
    pub span: Span,
    pub kind: &'static str,
    pub text: String,
    /// The text rules already read this text as a literal (escaped strings).
    pub text_checked: bool,
}

impl Rescan {
    fn span_in_text(&self) -> Span {
        Span {
            line: 1,
            start: 0,
            end: self.text.len(),
        }
    }
}

/// Collects the findings of one file, capping repeats of a rule and placing findings in
/// decoded text at the line of the literal they came from.
pub(crate) struct Sink<'a> {
    file: &'a str,
    /// The text spans refer to: the file, or the decoded text being rescanned.
    src: String,
    origin: Option<Origin>,
    /// Weigh every finding one step lower (test files).
    demote: bool,
    counts: HashMap<&'static str, usize>,
    /// (rule, line, message) already reported: decoded text is often reached twice.
    seen: HashSet<(&'static str, u32, String)>,
    findings: Vec<Finding>,
}

impl<'a> Sink<'a> {
    fn new(file: &'a str, src: &str) -> Sink<'a> {
        Sink {
            file,
            src: src.to_owned(),
            origin: None,
            demote: false,
            counts: HashMap::new(),
            seen: HashSet::new(),
            findings: Vec::new(),
        }
    }

    fn with_text(&mut self, text: &str, f: impl FnOnce(&mut Sink<'a>)) {
        let saved = std::mem::replace(&mut self.src, text.to_owned());
        f(self);
        self.src = saved;
    }

    /// Whether this sink is scanning decoded text rather than the file itself.
    pub fn in_decoded(&self) -> bool {
        self.origin.is_some()
    }

    pub fn add(&mut self, rule: &'static str, severity: Severity, message: String, span: Span) {
        let (severity, message) = if self.demote {
            (
                lower(severity),
                format!("{message} (In test code, so weighed one step lower.)"),
            )
        } else {
            (severity, message)
        };
        let (line, message) = match &self.origin {
            Some(o) => (
                o.line,
                format!(
                    "{message} (Found in text decoded from {} on this line.)",
                    o.kind
                ),
            ),
            None => (span.line, message),
        };
        if !self.seen.insert((rule, line, message.clone())) {
            return;
        }
        let count = self.counts.entry(rule).or_default();
        *count += 1;
        if *count > MAX_PER_RULE_PER_FILE {
            return;
        }
        let snippet = self
            .src
            .get(span.start..span.end.min(span.start + 4 * SNIPPET_CHARS))
            .or_else(|| self.src.get(span.start..))
            .map(escape_snippet);
        self.findings.push(Finding {
            rule: rule.to_owned(),
            severity,
            message,
            file: Some(self.file.to_owned()),
            line: Some(line),
            snippet,
        });
    }
}

/// One step lower, for findings in places that rarely run.
pub(crate) fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

/// At most 200 characters, control characters escaped so a snippet is always one line.
pub(crate) fn escape_snippet(s: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let s = s.trim();
    for c in s.chars() {
        let piece = match c {
            '\n' => "\\n".to_owned(),
            '\r' => "\\r".to_owned(),
            '\t' => "\\t".to_owned(),
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        };
        let n = piece.chars().count();
        if chars + n > SNIPPET_CHARS - 1 {
            out.push('…');
            return out;
        }
        chars += n;
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_escape_control_characters_and_stay_short() {
        assert_eq!(escape_snippet("a\nb\t\u{1b}[31m"), "a\\nb\\t\\u{1b}[31m");
        let long = escape_snippet(&"x".repeat(500));
        assert_eq!(long.chars().count(), 200);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn bundles_are_recognised_by_path() {
        assert!(is_bundle("package/dist/index.js"));
        assert!(is_bundle("package/lodash.min.js"));
        assert!(!is_bundle("package/lib/index.js"));
        assert!(is_test("numpy/lib/tests/test_io.py"));
        assert!(!is_test("package/lib/contest.js"));
    }
}
