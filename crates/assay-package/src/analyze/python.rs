//! The Python front end: reads calls (with whether they run on import), literals, imports,
//! `os.environ` uses, classes and `cmdclass` keys from a tree-sitter-python tree.

use tree_sitter::{Node, Parser};

use super::obfuscation::decode_call;
use super::syntax::{
    text, unescape, walk, Aliases, Arg, Call, ClassDef, EnvUse, Facts, Import, Lang, Lit, Span,
};

pub(crate) fn parser() -> Option<Parser> {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into()).ok()?;
    Some(p)
}

pub(crate) fn facts(parser: &mut Parser, src: &str) -> Option<Facts> {
    let tree = parser.parse(src, None)?;
    let mut facts = Facts::default();
    let mut aliases = Aliases::new(Lang::Python);
    let mut functions = 0u32;
    let mut classes: Vec<String> = Vec::new();
    walk(&tree, |node, parent, enter| {
        let kind = node.kind();
        match (kind, enter) {
            ("function_definition" | "lambda", true) => functions += 1,
            ("function_definition" | "lambda", false) => functions = functions.saturating_sub(1),
            ("class_definition", true) => {
                let name = node
                    .child_by_field_name("name")
                    .map_or("", |n| text(n, src))
                    .to_owned();
                let bases = node
                    .child_by_field_name("superclasses")
                    .map_or("", |n| text(n, src))
                    .to_owned();
                facts.classes.push(ClassDef {
                    name: name.clone(),
                    bases,
                });
                classes.push(name);
            }
            ("class_definition", false) => {
                classes.pop();
            }
            ("import_statement", true) => {
                let mut c = node.walk();
                for n in node.children_by_field_name("name", &mut c) {
                    let (module, local) = aliased(n, src);
                    if let Some(local) = local {
                        aliases.insert(local, module.clone());
                    }
                    facts.imports.push(Import {
                        module,
                        span: Span::of(node),
                    });
                }
            }
            ("import_from_statement", true) => {
                let module = node
                    .child_by_field_name("module_name")
                    .map_or("", |n| text(n, src))
                    .to_owned();
                let mut c = node.walk();
                for n in node.children_by_field_name("name", &mut c) {
                    let (name, local) = aliased(n, src);
                    let local = local.unwrap_or(&name).to_owned();
                    aliases.insert(&local, format!("{module}.{name}"));
                }
                facts.imports.push(Import {
                    module,
                    span: Span::of(node),
                });
            }
            ("call", true) => {
                let Some(function) = node.child_by_field_name("function") else {
                    return true;
                };
                let callee = aliases.resolve(&dotted(function, src, 0));
                let (args, keywords) = node
                    .child_by_field_name("arguments")
                    .map(|a| arguments(a, src))
                    .unwrap_or_default();
                if keywords.iter().any(|k| k == "cmdclass") {
                    cmdclass_keys(node, src, &mut facts);
                }
                let decoded = decode_call(&callee, &args);
                facts.calls.push(Call {
                    callee,
                    args,
                    span: Span::of(node),
                    top_level: functions == 0 && classes.is_empty(),
                    class: classes.last().cloned(),
                    decoded,
                });
            }
            ("assignment", true)
                if node.child_by_field_name("left").map(|l| text(l, src)) == Some("cmdclass") =>
            {
                cmdclass_keys(node, src, &mut facts);
            }
            ("concatenated_string", true) => {
                if let Arg::Str(value) = literal(node, src) {
                    facts.lits.push(Lit {
                        value,
                        escapes: 0,
                        span: Span::of(node),
                    });
                }
            }
            ("string", true) => {
                let is_docstring = parent.is_some_and(|p| {
                    p.kind() == "expression_statement" && p.named_child_count() == 1
                });
                if !is_docstring {
                    if let Some((value, escapes)) = string_value(text(node, src)) {
                        facts.lits.push(Lit {
                            value,
                            escapes,
                            span: Span::of(node),
                        });
                    }
                }
            }
            ("attribute" | "identifier", true) if text(node, src).ends_with("environ") => {
                if parent.is_some_and(|p| p.kind() == "attribute") && node.kind() == "identifier" {
                    return true;
                }
                if aliases.resolve(&dotted(node, src, 0)) == "os.environ" {
                    facts
                        .envs
                        .push((env_use(node, src, &aliases), Span::of(node)));
                }
            }
            _ => {}
        }
        // Plain strings and comments hold no code; f-strings may.
        kind != "comment" && (kind != "string" || is_fstring(text(node, src)))
    });
    Some(facts)
}

/// `(module, Some(alias))` for `a.b as c`, `(module, None)` for a plain dotted name whose
/// first segment is bound.
fn aliased<'s>(n: Node<'_>, src: &'s str) -> (String, Option<&'s str>) {
    if n.kind() == "aliased_import" {
        let name = n.child_by_field_name("name").map_or("", |x| text(x, src));
        let alias = n.child_by_field_name("alias").map(|x| text(x, src));
        (name.to_owned(), alias)
    } else {
        (text(n, src).to_owned(), None)
    }
}

/// Positional arguments and the names of keyword arguments.
fn arguments(node: Node<'_>, src: &str) -> (Vec<Arg>, Vec<String>) {
    let mut args = Vec::new();
    let mut keywords = Vec::new();
    let mut c = node.walk();
    for a in node.named_children(&mut c) {
        match a.kind() {
            "keyword_argument" => {
                let name = a.child_by_field_name("name").map_or("", |n| text(n, src));
                keywords.push(name.to_owned());
            }
            "string" | "concatenated_string" => args.push(literal(a, src)),
            "integer" | "float" => args.push(
                text(a, src)
                    .replace('_', "")
                    .parse()
                    .map_or(Arg::Other, Arg::Num),
            ),
            "comment" => {}
            _ => args.push(Arg::Other),
        }
    }
    (args, keywords)
}

fn literal(node: Node<'_>, src: &str) -> Arg {
    if node.kind() == "string" {
        return string_value(text(node, src)).map_or(Arg::Other, |(s, _)| Arg::Str(s));
    }
    let mut out = String::new();
    let mut c = node.walk();
    for part in node.named_children(&mut c) {
        match string_value(text(part, src)) {
            Some((s, _)) => out.push_str(&s),
            None => return Arg::Other,
        }
    }
    Arg::Str(out)
}

fn is_fstring(raw: &str) -> bool {
    raw.split(['\'', '"'])
        .next()
        .is_some_and(|prefix| prefix.contains(['f', 'F']))
}

/// The value of a Python string literal (`b'..'`, `r"""..."""`, `f'..'`) and its escape count.
pub(crate) fn string_value(raw: &str) -> Option<(String, usize)> {
    let quote_at = raw.find(['\'', '"'])?;
    let prefix = raw[..quote_at].to_ascii_lowercase();
    let rest = &raw[quote_at..];
    let q = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        3
    } else {
        1
    };
    let body = rest.get(q..rest.len().checked_sub(q)?)?;
    if prefix.contains('r') {
        Some((body.to_owned(), 0))
    } else {
        Some(unescape(body))
    }
}

fn dotted(node: Node<'_>, src: &str, depth: u32) -> String {
    if depth > 16 {
        return "?".into();
    }
    match node.kind() {
        "identifier" => text(node, src).to_owned(),
        "attribute" => {
            let object = node
                .child_by_field_name("object")
                .map_or_else(|| "?".into(), |o| dotted(o, src, depth + 1));
            let attr = node
                .child_by_field_name("attribute")
                .map_or("?", |a| text(a, src));
            format!("{object}.{attr}")
        }
        "parenthesized_expression" => node
            .named_child(0)
            .map_or_else(|| "?".into(), |n| dotted(n, src, depth + 1)),
        _ => "?".into(),
    }
}

/// String keys of the dictionary in a `cmdclass=` keyword or `cmdclass = {...}`.
fn cmdclass_keys(node: Node<'_>, src: &str, facts: &mut Facts) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.kind() == "dictionary" {
            let mut c = n.walk();
            for pair in n.named_children(&mut c) {
                if let Some(k) = pair.child_by_field_name("key") {
                    if let Some((key, _)) = string_value(text(k, src)) {
                        facts.cmdclass.push((key, Span::of(pair)));
                    }
                }
            }
            return;
        }
        let mut c = n.walk();
        stack.extend(n.named_children(&mut c));
    }
}

fn env_use(node: Node<'_>, src: &str, aliases: &Aliases) -> EnvUse {
    let Some(parent) = node.parent() else {
        return EnvUse::Bulk { sinks: Vec::new() };
    };
    match parent.kind() {
        "attribute" => {
            let attr = parent
                .child_by_field_name("attribute")
                .map_or("", |a| text(a, src));
            if matches!(
                attr,
                "get" | "setdefault" | "pop" | "__getitem__" | "__contains__"
            ) {
                return EnvUse::Named(String::new());
            }
        }
        "subscript" => return EnvUse::Named(String::new()),
        "comparison_operator" => return EnvUse::Named(String::new()),
        _ => {}
    }
    let mut sinks = Vec::new();
    let mut up = Some(parent);
    for _ in 0..6 {
        let Some(n) = up else { break };
        let is_env_keyword = n.kind() == "keyword_argument"
            && n.child_by_field_name("name").map(|k| text(k, src)) == Some("env");
        if is_env_keyword && sinks.is_empty() {
            return EnvUse::Passthrough;
        }
        if n.kind() == "call" {
            if let Some(f) = n.child_by_field_name("function") {
                sinks.push(aliases.resolve(&dotted(f, src, 0)));
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
    fn resolves_aliases_and_marks_top_level_calls() {
        let facts = f("import subprocess as sp\nfrom os import system\nsp.run(['x'])\nclass I(install):\n    def run(self):\n        system('curl x')\n");
        assert_eq!(facts.calls[0].callee, "subprocess.run");
        assert!(facts.calls[0].top_level);
        assert_eq!(facts.calls[1].callee, "os.system");
        assert!(!facts.calls[1].top_level);
        assert_eq!(facts.calls[1].class.as_deref(), Some("I"));
        assert_eq!(facts.calls[1].span.line, 6);
        assert_eq!(facts.classes[0].bases, "(install)");
    }

    #[test]
    fn reads_cmdclass_keys_and_environ_uses() {
        let facts = f("import os, json\nsetup(name='x', cmdclass={'install': I, \"develop\": D})\njson.dumps(dict(os.environ))\nos.environ.get('HOME')\n");
        let keys: Vec<_> = facts.cmdclass.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["install", "develop"]);
        assert_eq!(
            facts.envs[0].0,
            EnvUse::Bulk {
                sinks: vec!["dict".into(), "json.dumps".into()]
            }
        );
        assert_eq!(facts.envs[1].0, EnvUse::Named(String::new()));
    }

    #[test]
    fn string_values_handle_prefixes_and_triple_quotes() {
        assert_eq!(string_value("b'\\x41'").unwrap().0, "A");
        assert_eq!(string_value("r'\\x41'").unwrap().0, "\\x41");
        assert_eq!(string_value("'''a\"b'''").unwrap().0, "a\"b");
    }
}
