//! What the rules read from one source file: calls, string literals, imports and uses of the
//! environment, each with its place. The two front ends ([`super::js`], [`super::python`])
//! fill it from a tree-sitter tree, so the rule families never see a parser.

use std::collections::HashMap;

use tree_sitter::{Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Js,
    Python,
}

/// A place in the scanned text: 1-based line and byte range (for the snippet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub line: u32,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn of(node: Node<'_>) -> Span {
        Span {
            line: node.start_position().row as u32 + 1,
            start: node.start_byte(),
            end: node.end_byte(),
        }
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end && self != other
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Str(String),
    Num(f64),
    Other,
}

/// Bytes a decoding call produces from literal arguments, such as `atob('...')`.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    /// `base64`, `hex`, `char codes`, `rot13`.
    pub kind: &'static str,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The called name with import aliases resolved: `child_process.exec`, `os.system`,
    /// `eval`, `new Function`.
    pub callee: String,
    pub args: Vec<Arg>,
    pub span: Span,
    /// Outside every function and class body (Python), so it runs on import.
    pub top_level: bool,
    /// The enclosing class (Python), for `cmdclass` overrides.
    pub class: Option<String>,
    pub decoded: Option<Decoded>,
}

impl Call {
    pub fn first_str(&self) -> Option<&str> {
        match self.args.first() {
            Some(Arg::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn all_str(&self) -> bool {
        !self.args.is_empty() && self.args.iter().all(|a| matches!(a, Arg::Str(_)))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Lit {
    pub value: String,
    /// Escape sequences (`\x41`, `\u0041`) in the source text of the literal.
    pub escapes: usize,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct Import {
    pub module: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EnvUse {
    /// One variable read by name: `process.env.NPM_TOKEN`.
    Named(String),
    /// The whole environment, with the calls it is handed to, innermost first
    /// (`JSON.stringify`, then `https.request`).
    Bulk { sinks: Vec<String> },
    /// Handed to a child process as its environment (`env: process.env`): harmless.
    Passthrough,
}

#[derive(Debug, Clone)]
pub(crate) struct ClassDef {
    pub name: String,
    pub bases: String,
}

#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub calls: Vec<Call>,
    pub lits: Vec<Lit>,
    pub imports: Vec<Import>,
    pub envs: Vec<(EnvUse, Span)>,
    pub classes: Vec<ClassDef>,
    /// Keys of a Python `cmdclass` dictionary: `install`, `develop`...
    pub cmdclass: Vec<(String, Span)>,
}

/// Visits every node in document order, calling `f(node, parent, true)` on entry, which
/// answers whether to visit the node's children, and `f(node, parent, false)` on exit. No
/// recursion, so deep trees cannot overflow the stack; the parent comes from the walk because
/// tree-sitter's own `parent()` searches from the root.
pub(crate) fn walk<'t>(
    tree: &'t Tree,
    mut f: impl FnMut(Node<'t>, Option<Node<'t>>, bool) -> bool,
) {
    let mut cursor = tree.walk();
    let mut stack: Vec<Node<'t>> = Vec::new();
    loop {
        let node = cursor.node();
        if f(node, stack.last().copied(), true) && cursor.goto_first_child() {
            stack.push(node);
            continue;
        }
        loop {
            let node = cursor.node();
            let parent = stack.last().copied();
            f(node, parent, false);
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            stack.pop();
        }
    }
}

/// Each line of `src` with its span, for the line-based rules.
pub(crate) fn lines(src: &str) -> impl Iterator<Item = (Span, &str)> {
    let mut start = 0;
    src.split('\n').enumerate().map(move |(i, line)| {
        let span = Span {
            line: i as u32 + 1,
            start,
            end: start + line.len(),
        };
        start += line.len() + 1;
        (span, line)
    })
}

pub(crate) fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.start_byte()..node.end_byte()).unwrap_or("")
}

/// Import aliases: local name to the module path it stands for.
#[derive(Debug)]
pub(crate) struct Aliases {
    map: HashMap<String, String>,
    /// Names of the global object, stripped so `window.eval` reads as `eval`.
    globals: &'static [&'static str],
}

impl Aliases {
    pub fn new(lang: Lang) -> Aliases {
        let globals: &'static [&'static str] = match lang {
            Lang::Js => &["globalThis.", "global.", "window.", "self."],
            Lang::Python => &["builtins."],
        };
        Aliases {
            map: HashMap::new(),
            globals,
        }
    }

    pub fn insert(&mut self, local: &str, target: String) {
        if local != target {
            self.map.insert(local.to_owned(), target);
        }
    }

    /// Replaces the first segment of a dotted name by what it was imported as.
    pub fn resolve(&self, dotted: &str) -> String {
        let dotted = self
            .globals
            .iter()
            .find_map(|p| dotted.strip_prefix(p))
            .unwrap_or(dotted);
        let (head, rest) = match dotted.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (dotted, None),
        };
        match (self.map.get(head), rest) {
            (Some(t), Some(r)) => format!("{t}.{r}"),
            (Some(t), None) => t.clone(),
            (None, _) => dotted.to_owned(),
        }
    }
}

/// Node's `node:` prefix and subpath imports (`fs/promises`) name the same module.
pub(crate) fn normalise_module(m: &str) -> String {
    let m = m.strip_prefix("node:").unwrap_or(m);
    match m {
        "fs/promises" => "fs".to_owned(),
        "child_process/promises" => "child_process".to_owned(),
        _ => m.to_owned(),
    }
}

/// Decodes the escapes of a JavaScript or (non-raw) Python string body.
pub(crate) fn unescape(body: &str) -> (String, usize) {
    let mut out = String::with_capacity(body.len());
    let mut escapes = 0;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars.peek().and_then(|c| c.to_digit(16))?;
                chars.next();
                v = v * 16 + d;
            }
            Some(v)
        };
        let decoded = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '0'..='7' => {
                escapes += 1;
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                char::from_u32(v)
            }
            'x' => {
                escapes += 1;
                hex(&mut chars, 2).and_then(char::from_u32)
            }
            'u' if chars.peek() == Some(&'{') => {
                escapes += 1;
                chars.next();
                let mut v = 0u32;
                for c in chars.by_ref() {
                    match c.to_digit(16) {
                        Some(d) => v = v.saturating_mul(16).saturating_add(d),
                        None => break,
                    }
                }
                char::from_u32(v)
            }
            'u' => {
                escapes += 1;
                hex(&mut chars, 4).and_then(char::from_u32)
            }
            'U' => {
                escapes += 1;
                hex(&mut chars, 8).and_then(char::from_u32)
            }
            '\n' => None,
            other => Some(other),
        };
        if let Some(d) = decoded {
            out.push(d);
        }
    }
    (out, escapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_decodes_hex_unicode_and_octal() {
        let (s, n) = unescape(r"\x63url \u0068\u{74}tp \101\n");
        assert_eq!(s, "curl http A\n");
        assert_eq!(n, 4);
    }

    #[test]
    fn aliases_resolve_first_segment_only() {
        let mut a = Aliases::new(Lang::Js);
        a.insert("cp", "child_process".into());
        assert_eq!(a.resolve("cp.exec"), "child_process.exec");
        assert_eq!(a.resolve("global.eval"), "eval");
        assert_eq!(a.resolve("x.cp"), "x.cp");
        assert_eq!(
            Aliases::new(Lang::Python).resolve("self.compile"),
            "self.compile"
        );
    }
}
