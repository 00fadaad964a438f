//! Typosquatting: a name one or two edits from a popular package's, or the same name with
//! other separators, an added `-js`/`py` style affix, or a confused npm scope. Being on the
//! popular list is not squatting.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::{Ecosystem, Finding, Severity};

static NPM: LazyLock<Vec<String>> = LazyLock::new(|| load(include_str!("popular-npm.txt")));
static PYPI: LazyLock<Vec<String>> = LazyLock::new(|| load(include_str!("popular-pypi.txt")));

/// Affixes squatters add to a real name.
const AFFIXES: &[&str] = &[
    "-js",
    ".js",
    "js",
    "-node",
    "node-",
    "-py",
    "py",
    "py-",
    "python-",
    "-python",
    "-dev",
    "-lib",
    "2",
    "3",
    "-official",
];
/// Names shorter than this are too close to too many others for edit distance to mean much.
const MIN_LEN: usize = 5;
/// Two edits only count for names at least this long.
const MIN_LEN_TWO_EDITS: usize = 8;

fn load(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| seen.insert(*l))
        .map(str::to_owned)
        .collect()
}

/// PyPI treats `-`, `_` and `.` as one separator, case-insensitively (PEP 503).
fn normalise(ecosystem: Ecosystem, name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match ecosystem {
        Ecosystem::Npm => lower,
        Ecosystem::Pypi => {
            let mut out = String::new();
            for c in lower.chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !out.ends_with('-') {
                        out.push('-');
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect()
}

pub(super) fn check(ecosystem: Ecosystem, name: &str) -> Vec<Finding> {
    let popular = match ecosystem {
        Ecosystem::Npm => &*NPM,
        Ecosystem::Pypi => &*PYPI,
    };
    let n = normalise(ecosystem, name);
    if n.is_empty() || popular.iter().any(|p| normalise(ecosystem, p) == n) {
        return Vec::new();
    }
    let best = popular
        .iter()
        .filter_map(|p| resemble(&n, &normalise(ecosystem, p)).map(|(rank, how)| (rank, p, how)))
        .min_by_key(|(rank, _, _)| *rank);
    match best {
        Some((_, p, how)) => vec![Finding {
            rule: "typosquat".into(),
            severity: Severity::Medium,
            message: format!("The name `{name}` resembles the popular package `{p}`: {how}."),
            file: None,
            line: None,
            snippet: Some(super::escape_snippet(name)),
        }],
        None => Vec::new(),
    }
}

/// How `n` imitates `p`, ranked (lower is closer), or `None`.
fn resemble(n: &str, p: &str) -> Option<(u32, String)> {
    if squash(n) == squash(p) {
        return Some((0, "it differs only in separators".into()));
    }
    if let (Some((ns, nn)), Some((ps, pn))) = (scoped(n), scoped(p)) {
        if nn == pn && osa(ns, ps, 1).is_some() {
            return Some((1, format!("its scope `@{ns}` imitates `@{ps}`")));
        }
    }
    if let Some((ps, pn)) = scoped(p) {
        let bare = n.trim_start_matches('@');
        if bare == format!("{ps}-{pn}") || bare == format!("{ps}{pn}") {
            return Some((1, format!("it is an unscoped copy of `{p}`")));
        }
    }
    if p.len() >= MIN_LEN {
        for a in AFFIXES {
            if n == format!("{p}{a}") || n == format!("{a}{p}") {
                return Some((2, format!("it adds `{a}` to it")));
            }
        }
    }
    if n.chars().count() < MIN_LEN || p.chars().count() < MIN_LEN {
        return None;
    }
    let max = if n.len() >= MIN_LEN_TWO_EDITS { 2 } else { 1 };
    let d = osa(n, p, max)?;
    let how = match (n.len() as isize - p.len() as isize, d) {
        (-1, 1) => "it omits one character".to_owned(),
        (1, 1) if doubled(n) => "it doubles a character".to_owned(),
        (1, 1) => "it adds one character".to_owned(),
        (0, 1) if swapped(n, p) => "it swaps two adjacent characters".to_owned(),
        (0, 1) => "it changes one character".to_owned(),
        _ => format!("it is {d} edits away"),
    };
    Some((2 + d as u32, how))
}

fn scoped(s: &str) -> Option<(&str, &str)> {
    s.strip_prefix('@')?.split_once('/')
}

fn doubled(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w[0] == w[1])
}

fn swapped(a: &str, b: &str) -> bool {
    let diffs: Vec<usize> = a
        .bytes()
        .zip(b.bytes())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i)
        .collect();
    diffs.len() == 2 && diffs[1] == diffs[0] + 1
}

/// Optimal-string-alignment distance (edits and adjacent swaps), or `None` above `max`.
fn osa(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
    }
    let v = d[a.len() * w + b.len()];
    (v <= max).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squat(eco: Ecosystem, name: &str) -> Option<String> {
        check(eco, name).first().map(|f| f.message.clone())
    }

    #[test]
    fn popular_names_are_not_squats() {
        assert_eq!(squat(Ecosystem::Npm, "lodash"), None);
        assert_eq!(squat(Ecosystem::Pypi, "Requests"), None);
        assert_eq!(squat(Ecosystem::Pypi, "python_dateutil"), None);
        assert_eq!(squat(Ecosystem::Npm, "left-pad-unrelated-name"), None);
    }

    #[test]
    fn finds_the_usual_tricks() {
        assert!(squat(Ecosystem::Npm, "lodahs").unwrap().contains("swaps"));
        assert!(squat(Ecosystem::Pypi, "reqeusts")
            .unwrap()
            .contains("`requests`"));
        assert!(squat(Ecosystem::Pypi, "requestss")
            .unwrap()
            .contains("doubles"));
        assert!(squat(Ecosystem::Npm, "expres").unwrap().contains("omits"));
        assert!(squat(Ecosystem::Pypi, "pythondateutil")
            .unwrap()
            .contains("separators"));
        assert!(squat(Ecosystem::Npm, "axios-js").unwrap().contains("`-js`"));
        assert!(squat(Ecosystem::Npm, "@typs/node")
            .unwrap()
            .contains("scope"));
        assert!(squat(Ecosystem::Npm, "types-node")
            .unwrap()
            .contains("unscoped"));
        assert_eq!(squat(Ecosystem::Npm, "ms2"), None);
    }

    #[test]
    fn osa_counts_swaps_as_one_edit() {
        assert_eq!(osa("lodahs", "lodash", 2), Some(1));
        assert_eq!(osa("abcdef", "uvwxyz", 2), None);
    }
}
