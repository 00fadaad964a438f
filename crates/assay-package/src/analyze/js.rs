//! The JavaScript front end: reads calls, literals, imports and `process.env` uses from a
//! tree-sitter-javascript tree. TypeScript sources go through the same grammar, whose error
//! recovery keeps the calls and literals that matter here.

use tree_sitter::{Node, Parser};

use super::obfuscation::decode_call;
use super::syntax::{
    normalise_module, text, unescape, walk, Aliases, Arg, Call, EnvUse, Facts, Import, Lang, Lit,
    Span,
};

/// A parser for JavaScript, or `None` when the grammar and library disagree (never expected).
pub(crate) fn parser() -> Option<Parser> {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_javascript::LANGUAGE.into())
        .ok()?;
    Some(p)
}

pub(crate) fn facts(parser: &mut Parser, src: &str) -> Option<Facts> {
    let tree = parser.parse(src, None)?;
    let mut facts = Facts::default();
    let mut aliases = Aliases::new(Lang::Js);
    walk(&tree, |node, parent, enter| {
        if !enter {
            return false;
        }
        let kind = node.kind();
        match kind {
            "variable_declarator" => declare(node, src, &mut aliases),
            "import_statement" => import(node, src, &mut aliases, &mut facts),
            "call_expression" => call(node, src, &aliases, &mut facts),
            "new_expression" => {
                if let Some(ctor) = node.child_by_field_name("constructor") {
                    let callee = format!("new {}", aliases.resolve(&dotted(ctor, src, 0)));
                    let args = node
                        .child_by_field_name("arguments")
                        .map(|a| args(a, src))
                        .unwrap_or_default();
                    push_call(&mut facts, callee, args, node);
                }
            }
            "string" | "template_string" => {
                let (value, escapes) = literal(node, src);
                facts.lits.push(Lit {
                    value,
                    escapes,
                    span: Span::of(node),
                });
            }
            "binary_expression" if parent.is_none_or(|p| p.kind() != "binary_expression") => {
                if let Some(lit) = concatenation(node, src) {
                    facts.lits.push(lit);
                }
            }
            "member_expression" if text(node, src) == "process.env" => {
                facts
                    .envs
                    .push((env_use(node, src, &aliases), Span::of(node)));
            }
            _ => {}
        }
        // Nothing of interest sits inside these.
        !matches!(kind, "string" | "comment" | "regex" | "number")
    });
    Some(facts)
}

/// The value of a string or template literal, and its escape count.
fn literal(node: Node<'_>, src: &str) -> (String, usize) {
    let raw = text(node, src);
    unescape(raw.get(1..raw.len().saturating_sub(1)).unwrap_or(""))
}

/// `'disc' + 'ord.com'`: a `+` chain of literals only, joined.
fn concatenation(node: Node<'_>, src: &str) -> Option<Lit> {
    let mut value = String::new();
    let mut escapes = 0;
    let mut parts = 0;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        parts += 1;
        if parts > 1000 {
            return None;
        }
        match n.kind() {
            "binary_expression" => {
                let op = n.child_by_field_name("operator").map(|o| text(o, src));
                if op != Some("+") {
                    return None;
                }
                stack.push(n.child_by_field_name("right")?);
                stack.push(n.child_by_field_name("left")?);
            }
            "string" => {
                let (v, e) = literal(n, src);
                value.push_str(&v);
                escapes += e;
            }
            "parenthesized_expression" => stack.push(n.named_child(0)?),
            _ => return None,
        }
    }
    Some(Lit {
        value,
        escapes,
        span: Span::of(node),
    })
}

fn push_call(facts: &mut Facts, callee: String, args: Vec<Arg>, node: Node<'_>) {
    let decoded = decode_call(&callee, &args);
    facts.calls.push(Call {
        callee,
        args,
        span: Span::of(node),
        top_level: false,
        class: None,
        decoded,
    });
}

fn call(node: Node<'_>, src: &str, aliases: &Aliases, facts: &mut Facts) {
    let Some(function) = node.child_by_field_name("function") else {
        return;
    };
    let args = node
        .child_by_field_name("arguments")
        .map(|a| args(a, src))
        .unwrap_or_default();
    if function.kind() == "import" || text(function, src) == "require" {
        if let Some(Arg::Str(m)) = args.first() {
            facts.imports.push(Import {
                module: normalise_module(m),
                span: Span::of(node),
            });
        }
        return;
    }
    let callee = aliases.resolve(&dotted(function, src, 0));
    push_call(facts, callee, args, node);
}

fn args(node: Node<'_>, src: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut cursor = node.walk();
    for a in node.named_children(&mut cursor) {
        if out.len() >= 10_000 {
            break;
        }
        match a.kind() {
            "string" => out.push(Arg::Str(literal(a, src).0)),
            "template_string" if a.named_child_count() <= 1 => {
                out.push(Arg::Str(literal(a, src).0))
            }
            "number" => out.push(number(text(a, src))),
            "spread_element" => match a.named_child(0) {
                Some(arr) if arr.kind() == "array" => {
                    let mut c = arr.walk();
                    for n in arr.named_children(&mut c) {
                        out.push(if n.kind() == "number" {
                            number(text(n, src))
                        } else {
                            Arg::Other
                        });
                    }
                }
                _ => out.push(Arg::Other),
            },
            "comment" => {}
            _ => out.push(Arg::Other),
        }
    }
    out
}

fn number(t: &str) -> Arg {
    let t = t.replace('_', "");
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok().map(|v| v as f64)
    } else if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok().map(|v| v as f64)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok().map(|v| v as f64)
    } else {
        t.parse().ok()
    };
    v.map_or(Arg::Other, Arg::Num)
}

/// `a.b.c` for member chains, the module for `require('m')`, `?` for anything else.
fn dotted(node: Node<'_>, src: &str, depth: u32) -> String {
    if depth > 16 {
        return "?".into();
    }
    match node.kind() {
        "identifier" | "this" | "property_identifier" => text(node, src).to_owned(),
        "member_expression" => {
            let object = node
                .child_by_field_name("object")
                .map_or_else(|| "?".into(), |o| dotted(o, src, depth + 1));
            let property = node
                .child_by_field_name("property")
                .map_or("?", |p| text(p, src));
            format!("{object}.{property}")
        }
        "subscript_expression" => {
            let object = node
                .child_by_field_name("object")
                .map_or_else(|| "?".into(), |o| dotted(o, src, depth + 1));
            match node.child_by_field_name("index") {
                Some(i) if i.kind() == "string" => format!("{object}.{}", literal(i, src).0),
                _ => format!("{object}.?"),
            }
        }
        "parenthesized_expression" => node
            .named_child(0)
            .map_or_else(|| "?".into(), |n| dotted(n, src, depth + 1)),
        "call_expression" => required_module(node, src).unwrap_or_else(|| "?".into()),
        _ => "?".into(),
    }
}

/// `m` for `require('m')`.
fn required_module(node: Node<'_>, src: &str) -> Option<String> {
    let f = node.child_by_field_name("function")?;
    if text(f, src) != "require" {
        return None;
    }
    let a = node.child_by_field_name("arguments")?.named_child(0)?;
    if a.kind() != "string" {
        return None;
    }
    Some(normalise_module(&literal(a, src).0))
}

/// `const cp = require('child_process')`, `const { exec } = cp`, `const e = eval`.
fn declare(node: Node<'_>, src: &str, aliases: &mut Aliases) {
    let (Some(name), Some(value)) = (
        node.child_by_field_name("name"),
        node.child_by_field_name("value"),
    ) else {
        return;
    };
    let value = if value.kind() == "await_expression" {
        match value.named_child(0) {
            Some(v) => v,
            None => return,
        }
    } else {
        value
    };
    let target = match value.kind() {
        "call_expression" => match required_module(value, src) {
            Some(m) => m,
            None => return,
        },
        "identifier" | "member_expression" => {
            let raw = dotted(value, src, 0);
            let resolved = aliases.resolve(&raw);
            if resolved == raw && !matches!(raw.as_str(), "eval" | "Function" | "process.env") {
                return;
            }
            resolved
        }
        _ => return,
    };
    match name.kind() {
        "identifier" => aliases.insert(text(name, src), target),
        "object_pattern" => {
            let mut cursor = name.walk();
            for p in name.named_children(&mut cursor) {
                match p.kind() {
                    "shorthand_property_identifier_pattern" => {
                        let n = text(p, src);
                        aliases.insert(n, format!("{target}.{n}"));
                    }
                    "pair_pattern" => {
                        if let (Some(k), Some(v)) =
                            (p.child_by_field_name("key"), p.child_by_field_name("value"))
                        {
                            aliases.insert(text(v, src), format!("{target}.{}", text(k, src)));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn import(node: Node<'_>, src: &str, aliases: &mut Aliases, facts: &mut Facts) {
    let Some(source) = node.child_by_field_name("source") else {
        return;
    };
    let module = normalise_module(&literal(source, src).0);
    facts.imports.push(Import {
        module: module.clone(),
        span: Span::of(node),
    });
    let mut cursor = node.walk();
    for clause in node.named_children(&mut cursor) {
        if clause.kind() != "import_clause" {
            continue;
        }
        let mut c = clause.walk();
        for part in clause.named_children(&mut c) {
            match part.kind() {
                "identifier" => aliases.insert(text(part, src), module.clone()),
                "namespace_import" => {
                    if let Some(id) = part.named_child(0) {
                        aliases.insert(text(id, src), module.clone());
                    }
                }
                "named_imports" => {
                    let mut s = part.walk();
                    for spec in part.named_children(&mut s) {
                        let Some(n) = spec.child_by_field_name("name") else {
                            continue;
                        };
                        let local = spec.child_by_field_name("alias").unwrap_or(n);
                        aliases.insert(text(local, src), format!("{module}.{}", text(n, src)));
                    }
                }
                _ => {}
            }
        }
    }
}

/// How one `process.env` is used: one variable, the whole object, or handed to a child.
fn env_use(node: Node<'_>, src: &str, aliases: &Aliases) -> EnvUse {
    let Some(parent) = node.parent() else {
        return EnvUse::Bulk { sinks: Vec::new() };
    };
    match parent.kind() {
        "member_expression" if parent.child_by_field_name("object") == Some(node) => {
            let p = parent
                .child_by_field_name("property")
                .map_or("", |p| text(p, src));
            return EnvUse::Named(p.to_owned());
        }
        "subscript_expression" if parent.child_by_field_name("object") == Some(node) => {
            return match parent.child_by_field_name("index") {
                Some(i) if i.kind() == "string" => EnvUse::Named(literal(i, src).0),
                _ => EnvUse::Named(String::new()),
            };
        }
        "variable_declarator" => {
            if let Some(name) = parent.child_by_field_name("name") {
                if name.kind() == "object_pattern" {
                    return EnvUse::Named(text(name, src).to_owned());
                }
            }
        }
        "pair" => {
            let key = parent
                .child_by_field_name("key")
                .map_or("", |k| text(k, src));
            if key.trim_matches(['"', '\'']) == "env" {
                return EnvUse::Passthrough;
            }
        }
        "shorthand_property_identifier" => return EnvUse::Passthrough,
        _ => {}
    }
    // The enclosing calls tell where the whole environment goes.
    let mut sinks = Vec::new();
    let mut up = Some(parent);
    for _ in 0..6 {
        let Some(n) = up else { break };
        if matches!(n.kind(), "call_expression" | "new_expression") {
            let f = n
                .child_by_field_name("function")
                .or_else(|| n.child_by_field_name("constructor"));
            if let Some(f) = f {
                let callee = aliases.resolve(&dotted(f, src, 0));
                if sinks.is_empty() && callee == "Object.assign" {
                    return EnvUse::Passthrough;
                }
                sinks.push(callee);
            }
        }
        up = n.parent();
    }
    EnvUse::Bulk { sinks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(src: &str) -> Facts {
        facts(&mut parser().unwrap(), src).unwrap()
    }

    #[test]
    fn resolves_required_and_destructured_and_imported_names() {
        let facts = f("const cp = require('child_process');\nconst { exec: run } = require('node:child_process');\nimport * as vm from 'vm';\ncp.spawn('x'); run('y'); vm.runInThisContext(code); require('https').get(u);");
        let callees: Vec<_> = facts.calls.iter().map(|c| c.callee.as_str()).collect();
        assert_eq!(
            callees,
            [
                "child_process.spawn",
                "child_process.exec",
                "vm.runInThisContext",
                "https.get"
            ]
        );
        assert_eq!(facts.calls[0].span.line, 4);
        let modules: Vec<_> = facts.imports.iter().map(|i| i.module.as_str()).collect();
        assert!(modules.contains(&"child_process") && modules.contains(&"vm"));
    }

    #[test]
    fn classifies_env_uses() {
        let facts = f("a(process.env.NPM_TOKEN); a(JSON.stringify(process.env)); spawn(c, {env: process.env});");
        let uses: Vec<_> = facts.envs.iter().map(|(u, _)| u.clone()).collect();
        assert_eq!(
            uses,
            [
                EnvUse::Named("NPM_TOKEN".into()),
                EnvUse::Bulk {
                    sinks: vec!["JSON.stringify".into(), "a".into()]
                },
                EnvUse::Passthrough
            ]
        );
    }

    #[test]
    fn decodes_literal_arguments() {
        let facts = f("eval(atob('Y3VybA==')); String.fromCharCode(104, 105)");
        let d = facts.calls.iter().find_map(|c| c.decoded.clone()).unwrap();
        assert_eq!((d.kind, d.bytes.as_slice()), ("base64", &b"curl"[..]));
        assert_eq!(facts.calls[2].decoded.as_ref().unwrap().bytes, b"hi");
    }
}
