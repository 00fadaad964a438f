//! Metadata: what `package.json`, `PKG-INFO` or a wheel's `METADATA` say about the package
//! (repository, homepage, author, name, version, entry points), and whether it holds up.

use super::install::package_json;
use crate::archive::Entry;
use crate::{Ecosystem, Finding, Severity};

/// Commands a package's `bin` should never shadow.
const SYSTEM_COMMANDS: &[&str] = &[
    "node", "npm", "npx", "sh", "bash", "zsh", "curl", "wget", "git", "python", "python3", "pip",
    "ls", "cat", "sudo", "ssh", "cd", "rm", "cp", "mv", "env", "yarn", "pnpm",
];

/// The name the package's own metadata declares.
pub(super) fn declared_name(ecosystem: Ecosystem, files: &[Entry]) -> Option<String> {
    match ecosystem {
        Ecosystem::Npm => package_json(files)?
            .1
            .get("name")?
            .as_str()
            .map(str::to_owned),
        Ecosystem::Pypi => {
            let (_, text) = pkg_info(files)?;
            header(&text, "Name").map(str::to_owned)
        }
    }
}

fn pkg_info(files: &[Entry]) -> Option<(&Entry, String)> {
    // The package's own metadata sits at the top; vendored packages carry theirs deeper.
    let top = |f: &&Entry| f.path.matches('/').count() <= 1;
    let entry = files
        .iter()
        .filter(top)
        .find(|f| f.path.ends_with(".dist-info/METADATA") || f.path.ends_with("PKG-INFO"))?;
    Some((entry, String::from_utf8_lossy(&entry.data).into_owned()))
}

/// The first value of an email-style header, from the header block only.
fn header<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .filter(|v| !v.is_empty() && *v != "UNKNOWN")
}

fn finding(rule: &str, severity: Severity, message: String, file: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        message,
        file: Some(file.to_owned()),
        line: None,
        snippet: None,
    }
}

fn version_findings(version: &str, file: &str, out: &mut Vec<Finding>) {
    let major = version
        .trim_start_matches(['v', '='])
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok());
    if version == "0.0.0" {
        out.push(finding(
            "metadata-version-anomaly",
            Severity::Low,
            "The version is 0.0.0, common in placeholder and dependency-confusion packages.".into(),
            file,
        ));
    } else if major.is_some_and(|m| (99..1900).contains(&m)) {
        out.push(finding(
            "metadata-version-anomaly",
            Severity::Medium,
            format!("The version {version} has a very high major number, the trick dependency-confusion packages use to win over an internal package."),
            file,
        ));
    }
}

pub(super) fn check(ecosystem: Ecosystem, name: &str, files: &[Entry]) -> Vec<Finding> {
    let mut out = Vec::new();
    match ecosystem {
        Ecosystem::Npm => npm(name, files, &mut out),
        Ecosystem::Pypi => pypi(name, files, &mut out),
    }
    out
}

fn npm(name: &str, files: &[Entry], out: &mut Vec<Finding>) {
    let Some((entry, json)) = package_json(files) else {
        return;
    };
    let file = entry.path.as_str();
    let root = file.strip_suffix("package.json").unwrap_or("");
    if json.get("repository").is_none() {
        out.push(finding(
            "metadata-no-repository",
            Severity::Info,
            "package.json names no source repository, so the published code cannot be compared with its source.".into(),
            file,
        ));
    }
    if let Some(declared) = json.get("name").and_then(|n| n.as_str()) {
        if !name.is_empty() && !declared.eq_ignore_ascii_case(name) {
            out.push(finding(
                "metadata-name-mismatch",
                Severity::Medium,
                format!("package.json declares the name `{declared}`, not `{name}`."),
                file,
            ));
        }
    }
    if let Some(v) = json.get("version").and_then(|v| v.as_str()) {
        version_findings(v, file, out);
    }
    if let Some(main) = json.get("main").and_then(|m| m.as_str()) {
        let main = main.trim_start_matches("./").trim_end_matches('/');
        let candidates = [
            format!("{root}{main}"),
            format!("{root}{main}.js"),
            format!("{root}{main}.json"),
            format!("{root}{main}/index.js"),
        ];
        if !main.is_empty() && !files.iter().any(|f| candidates.contains(&f.path)) {
            out.push(finding(
                "metadata-main-missing",
                Severity::Low,
                format!(
                    "package.json's `main` points at `{main}`, which the package does not contain."
                ),
                file,
            ));
        }
    }
    if let Some(bins) = json.get("bin").and_then(|b| b.as_object()) {
        for cmd in bins.keys() {
            let odd = cmd.starts_with('.') || SYSTEM_COMMANDS.contains(&cmd.as_str());
            if odd {
                out.push(finding(
                    "metadata-bin-odd",
                    Severity::Medium,
                    format!("package.json installs a command named `{cmd}`, which is hidden or shadows a system command."),
                    file,
                ));
            }
        }
    }
}

fn pypi(name: &str, files: &[Entry], out: &mut Vec<Finding>) {
    let Some((entry, text)) = pkg_info(files) else {
        return;
    };
    let file = entry.path.as_str();
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '.'], "-");
    if let Some(declared) = header(&text, "Name") {
        if !name.is_empty() && norm(declared) != norm(name) {
            out.push(finding(
                "metadata-name-mismatch",
                Severity::Medium,
                format!("The metadata declares the name `{declared}`, not `{name}`."),
                file,
            ));
        }
    }
    if let Some(v) = header(&text, "Version") {
        version_findings(v, file, out);
    }
    if header(&text, "Home-page").is_none() && header(&text, "Project-URL").is_none() {
        out.push(finding(
            "metadata-no-homepage",
            Severity::Info,
            "The metadata names no homepage or project URL.".into(),
            file,
        ));
    }
    let author = ["Author", "Author-email", "Maintainer", "Maintainer-email"]
        .iter()
        .any(|h| header(&text, h).is_some());
    if !author {
        out.push(finding(
            "metadata-no-author",
            Severity::Info,
            "The metadata names no author or maintainer.".into(),
            file,
        ));
    }
}
