//! Dynamic code: `eval`, `new Function`, `vm.runIn*`, Python `exec`/`eval`/`compile`,
//! `__import__` of a computed name, and unpickling or unmarshalling embedded blobs.

use super::obfuscation::is_decode;
use super::syntax::{Arg, Call, Facts, Lang};
use super::{FileCtx, Sink};
use crate::Severity;

/// The global-object idiom bundlers and lodash use; not dynamic code in any useful sense.
const HARMLESS_BODIES: &[&str] = &["return this", "return this;"];

/// Calls that run a string or bytes as code, in JavaScript.
pub(super) const JS_DYNAMIC: &[&str] = &[
    "eval",
    "Function",
    "new Function",
    "vm.runInThisContext",
    "vm.runInNewContext",
    "vm.runInContext",
    "vm.compileFunction",
    "new vm.Script",
    "vm.Script",
];
/// Calls that run a string or bytes as code, in Python.
pub(super) const PY_DYNAMIC: &[&str] = &[
    "exec",
    "eval",
    "compile",
    "execfile",
    "marshal.loads",
    "pickle.loads",
];
/// Calls that rebuild objects from bytes and can run code while doing so.
pub(super) const DESERIALISERS: &[&str] = &[
    "marshal.loads",
    "pickle.loads",
    "cPickle.loads",
    "dill.loads",
];

/// Calls that run a string or bytes as code.
pub(super) fn is_dynamic(lang: Lang, callee: &str) -> bool {
    match lang {
        Lang::Js => JS_DYNAMIC.contains(&callee),
        Lang::Python => PY_DYNAMIC.contains(&callee),
    }
}

pub(super) fn check(ctx: &FileCtx, facts: &Facts, sink: &mut Sink<'_>) {
    for (i, call) in facts.calls.iter().enumerate() {
        let callee = call.callee.as_str();
        if DESERIALISERS.contains(&callee) {
            let embedded =
                call.first_str().is_some() || decoding(&facts.calls[i + 1..], call) == Some(true);
            if embedded {
                sink.add(
                    "unsafe-deserialization",
                    Severity::High,
                    format!(
                        "Loads an embedded blob with `{callee}`, which can run arbitrary code."
                    ),
                    call.span,
                );
            }
            continue;
        }
        if callee == "__import__" || callee == "importlib.import_module" {
            if call.first_str().is_none() && callee == "__import__" {
                sink.add(
                    "dynamic-import",
                    Severity::Low,
                    "Imports a module whose name is computed at run time.".into(),
                    call.span,
                );
            }
            continue;
        }
        if !is_dynamic(ctx.lang, callee) {
            continue;
        }
        if let Some(literal) = decoding(&facts.calls[i + 1..], call) {
            let (severity, message) = if literal {
                (
                    Severity::Critical,
                    format!("Runs code decoded from a literal with `{callee}`, the shape of an obfuscated loader."),
                )
            } else {
                (
                    Severity::High,
                    format!("Runs code decoded at run time with `{callee}`."),
                )
            };
            sink.add("eval-decoded", severity, message, call.span);
            continue;
        }
        let literal = call.all_str();
        if literal
            && call
                .args
                .iter()
                .any(|a| matches!(a, Arg::Str(s) if HARMLESS_BODIES.contains(&s.trim())))
        {
            continue;
        }
        let (severity, what) = if literal {
            (Severity::Low, "a constant string as code")
        } else {
            (Severity::Medium, "code built at run time")
        };
        sink.add(
            "dynamic-code",
            severity,
            format!("Runs {what} with `{callee}`."),
            call.span,
        );
    }
}

/// Whether a decoding call sits inside this call's arguments (`eval(atob(x))`): `Some(true)`
/// when one decodes a literal (`eval(atob('...'))`), `None` when there is none.
/// `later` are the calls after `call` in document order, so the ones inside it come first.
fn decoding(later: &[Call], call: &Call) -> Option<bool> {
    let mut inner = later
        .iter()
        .take_while(|c| c.span.start < call.span.end)
        .filter(|c| call.span.contains(&c.span) && is_decode(&c.callee))
        .peekable();
    inner.peek()?;
    Some(inner.any(|c| c.decoded.is_some()))
}
