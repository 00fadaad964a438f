//! Download-and-execute chains: shell one-liners (`curl ... | sh`, `wget ... && chmod +x`,
//! `powershell -enc`) and files that download, write and then run or mark executable.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::RegexSet;

use super::network::is_net_call;
use super::process::is_spawn;
use super::syntax::{Arg, Facts, Span};
use super::Sink;
use crate::Severity;

/// (pattern, severity, what it does).
const SHELL: &[(&str, Severity, &str)] = &[
    (
        r"(?i)\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b",
        Severity::Critical,
        "pipes a download straight into a shell",
    ),
    (
        r"(?i)\b(?:curl|wget)\b[^\n]*(?:&&|;|\|\|)\s*(?:sudo\s+)?(?:chmod\s+(?:\+x|[0-7]?[0-7]*7[0-7]*\b|u\+x)|\./|sh\s|bash\s)",
        Severity::High,
        "downloads a file and then runs it or marks it executable",
    ),
    (
        r"(?i)\bpowershell(?:\.exe)?\b[^\n]*\s-(?:e|ec|enc|encodedcommand)\s",
        Severity::High,
        "runs an encoded PowerShell command",
    ),
    (
        r"(?i)\b(?:iex|invoke-expression)\b[^\n]*(?:downloadstring|invoke-webrequest|\biwr\b|net\.webclient)|(?:downloadstring|net\.webclient)[^\n]*\b(?:iex|invoke-expression)\b",
        Severity::Critical,
        "downloads PowerShell code and runs it",
    ),
    (
        r"(?i)\bcertutil(?:\.exe)?\b[^\n]*-urlcache|\bbitsadmin(?:\.exe)?\b[^\n]*/transfer|\bmshta(?:\.exe)?\s+https?://",
        Severity::High,
        "downloads a file with a Windows living-off-the-land tool",
    ),
    (
        r"/dev/tcp/|\bnc\b[^\n]*\s-e\s|\bbash\s+-i\s*>&",
        Severity::Critical,
        "opens a reverse shell",
    ),
];

/// Words one of the [`SHELL`] patterns needs, in any case; text without them is skipped.
pub(super) const SHELL_WORDS: &[&str] = &[
    "curl",
    "wget",
    "owershell",
    "iex",
    "certutil",
    "bitsadmin",
    "mshta",
    "/dev/tcp",
    "nc ",
];

static SHELL_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(SHELL.iter().map(|s| s.0)).expect("the shell patterns are valid")
});

static SHELL_WORDS_SEARCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(SHELL_WORDS)
        .expect("the shell words build an automaton")
});

pub(super) fn prepare() {
    LazyLock::force(&SHELL_SET);
    LazyLock::force(&SHELL_WORDS_SEARCHER);
}

pub(super) fn check_text(text: &str, span: Span, sink: &mut Sink<'_>) {
    if text.len() > 1 << 16 || text.len() < 8 {
        return;
    }
    // Which pattern matched needs the slow overlapping search: asked only when some does.
    if !SHELL_WORDS_SEARCHER.is_match(text) || !SHELL_SET.is_match(text) {
        return;
    }
    if let Some(i) = SHELL_SET.matches(text).iter().next() {
        let (_, severity, what) = SHELL[i];
        let rule = if what.contains("reverse shell") {
            "reverse-shell"
        } else {
            "download-exec"
        };
        sink.add(
            rule,
            severity,
            format!("Contains a command that {what}."),
            span,
        );
    }
}

fn is_write(callee: &str, args: &[Arg]) -> bool {
    matches!(
        callee,
        "fs.writeFile"
            | "fs.writeFileSync"
            | "fs.createWriteStream"
            | "fs.appendFileSync"
            | "fs.promises.writeFile"
            | "urllib.request.urlretrieve"
            | "urllib.urlretrieve"
            | "shutil.copyfileobj"
            | "wget.download"
    ) || (callee == "open"
        && matches!(args.get(1), Some(Arg::Str(m)) if m.contains('w') || m.contains('a')))
}

/// Calls that mark a file executable (or open it with its handler).
pub(super) const MAKE_EXECUTABLE: &[&str] = &[
    "fs.chmod",
    "fs.chmodSync",
    "fs.promises.chmod",
    "os.chmod",
    "os.startfile",
];

/// A file that downloads, writes and then executes: the dropper shape.
pub(super) fn check(facts: &Facts, sink: &mut Sink<'_>) {
    let downloads = facts.calls.iter().any(|c| is_net_call(&c.callee))
        || facts
            .calls
            .iter()
            .any(|c| c.callee.ends_with("urlretrieve"));
    let writes = facts.calls.iter().any(|c| is_write(&c.callee, &c.args));
    if !(downloads && writes) {
        return;
    }
    // Marking a file executable is the dropper's step; running some program is common.
    let chmod = facts
        .calls
        .iter()
        .find(|c| MAKE_EXECUTABLE.contains(&c.callee.as_str()));
    let run = chmod.or_else(|| facts.calls.iter().find(|c| is_spawn(&c.callee)));
    if let Some(run) = run {
        let severity = if chmod.is_some() {
            Severity::High
        } else {
            Severity::Medium
        };
        sink.add(
            "download-write-exec",
            severity,
            format!(
                "Downloads, writes a file and runs or marks it executable with `{}` in the same file, the shape of a dropper.",
                run.callee
            ),
            run.span,
        );
    }
}
