//! The score: a weight per severity with diminishing returns for repeats of one rule, weak
//! signals capped, and bonuses when findings combine into a known attack shape.
//!
//! `score = min(cap, strong + min(weak, 2.5) + bonuses)`, where a rule's k-th finding
//! (strongest first, k from 0) adds `weight(severity) / 2^k`; `strong` sums high and critical
//! findings, `weak` low and medium ones; `cap` is 10 with a decisive finding and 6.9 without.
//! Malicious from 7, suspicious from 4.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Finding, Severity, Verdict};

pub const MALICIOUS_FROM: f32 = 7.0;
pub const SUSPICIOUS_FROM: f32 = 4.0;
/// Low and medium findings alone never make a package suspicious, nor lift one high finding
/// to malicious.
const WEAK_CAP: f32 = 2.5;
/// Without a decisive finding the score stops just short of malicious.
const UNDECIDED_CAP: f32 = 6.9;

/// Rules whose high findings are evidence of intent rather than of capability: a package
/// that installs, downloads and runs programs is suspicious; it is malicious when it also
/// hides code, talks to a webhook or sends secrets.
const DECISIVE: &[&str] = &[
    "install-script",
    "setup-py-code",
    "pth-exec",
    "eval-decoded",
    "unsafe-deserialization",
    "url-paste-site",
    "url-webhook",
    "url-tunnel",
    "url-request-catcher",
    "env-bulk-exfil",
    "credential-file-access",
    "download-exec",
    "reverse-shell",
    "obfuscator-names",
    "binary-executable",
];

fn weight(s: Severity) -> f32 {
    match s {
        Severity::Info => 0.0,
        Severity::Low => 0.5,
        Severity::Medium => 1.5,
        Severity::High => 4.0,
        Severity::Critical => 7.0,
    }
}

const INSTALL: &[&str] = &[
    "install-script",
    "setup-cmdclass",
    "setup-py-code",
    "pth-exec",
];
const SECRETS: &[&str] = &[
    "env-token-access",
    "env-bulk-access",
    "env-bulk-exfil",
    "credential-file-access",
];
const EXEC: &[&str] = &["process-spawn", "dynamic-code", "download-write-exec"];
const DECODE: &[&str] = &[
    "decode-literal",
    "obfuscated-base64",
    "obfuscated-hex",
    "obfuscated-escapes",
    "charcode-obfuscation",
    "obfuscator-names",
];
const DYNAMIC: &[&str] = &["dynamic-code", "eval-decoded", "unsafe-deserialization"];

fn is_network(rule: &str) -> bool {
    rule == "network-access" || rule.starts_with("url-") || rule.starts_with("download-")
}

/// (id, bonus): attack shapes, each counted once.
const COMBOS: &[(&str, f32)] = &[
    ("combo:install+network+secrets", 4.0),
    ("combo:install+exec", 2.0),
    ("combo:network+secrets", 2.0),
    ("combo:download+exec", 2.0),
    ("combo:decode+eval", 2.0),
    ("combo:typosquat+code", 2.0),
    ("combo:raw-ip+exec", 2.0),
];

/// Combos that are decisive on their own.
const DECISIVE_COMBOS: &[&str] = &["combo:typosquat+code", "combo:raw-ip+exec"];

fn combos(findings: &[Finding]) -> Vec<(&'static str, f32)> {
    let live: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Low)
        .collect();
    let any = |p: &dyn Fn(&Finding) -> bool| live.iter().any(|f| p(f));
    let install = any(&|f| INSTALL.contains(&f.rule.as_str()) && (f.severity >= Severity::Medium));
    let network = any(&|f| is_network(&f.rule));
    let secrets = any(&|f| SECRETS.contains(&f.rule.as_str()) && f.severity >= Severity::Medium);
    let exec = any(&|f| EXEC.contains(&f.rule.as_str()));
    // Shapes that must sit in one file to mean anything.
    let mut by_file: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in &live {
        if let Some(file) = &f.file {
            by_file.entry(file).or_default().insert(f.rule.as_str());
        }
    }
    let same_file = |a: &dyn Fn(&str) -> bool, b: &dyn Fn(&str) -> bool| {
        by_file
            .values()
            .any(|rules| rules.iter().any(|r| a(r)) && rules.iter().any(|r| b(r)))
    };
    let download_exec = same_file(&|r| is_network(r), &|r| r == "process-spawn");
    let decode_eval = same_file(&|r| DECODE.contains(&r), &|r| DYNAMIC.contains(&r));
    let raw_ip_exec = same_file(&|r| r == "url-raw-ip", &|r| {
        r == "process-spawn" || r == "download-write-exec"
    });
    let typosquat = any(&|f| f.rule == "typosquat");
    let code = any(&|f| {
        f.severity >= Severity::Medium && f.line.is_some() && !f.rule.starts_with("metadata-")
    });
    let hits = [
        install && network && secrets,
        install && exec,
        network && secrets,
        download_exec,
        decode_eval,
        typosquat && code,
        raw_ip_exec,
    ];
    COMBOS
        .iter()
        .zip(hits)
        .filter(|(_, hit)| *hit)
        .map(|(c, _)| *c)
        .collect()
}

/// The 0-10 score, the verdict, and the rule ids that drove them, strongest first.
pub fn score(findings: &[Finding]) -> (f32, Verdict, Vec<String>) {
    let mut by_rule: BTreeMap<&str, Vec<Severity>> = BTreeMap::new();
    for f in findings {
        by_rule.entry(&f.rule).or_default().push(f.severity);
    }
    let (mut strong, mut weak) = (0.0f32, 0.0f32);
    let mut drivers: Vec<(String, f32)> = Vec::new();
    for (rule, mut sevs) in by_rule {
        sevs.sort_unstable_by(|a, b| b.cmp(a));
        let mut total = 0.0;
        for (k, s) in sevs.iter().enumerate() {
            let w = weight(*s) / 2f32.powi(k.min(30) as i32);
            if *s >= Severity::High {
                strong += w;
            } else {
                weak += w;
            }
            total += w;
        }
        if total > 0.0 {
            drivers.push((rule.to_owned(), total));
        }
    }
    let mut bonus = 0.0;
    let mut decisive = findings.iter().any(|f| {
        f.severity == Severity::Critical
            || (f.severity == Severity::High && DECISIVE.contains(&f.rule.as_str()))
    });
    for (id, b) in combos(findings) {
        bonus += b;
        decisive |= DECISIVE_COMBOS.contains(&id);
        drivers.push((id.to_owned(), b));
    }
    let cap = if decisive { 10.0 } else { UNDECIDED_CAP };
    let score = (strong + weak.min(WEAK_CAP) + bonus).min(cap);
    let score = (score * 10.0).round() / 10.0;
    let verdict = if score >= MALICIOUS_FROM {
        Verdict::Malicious
    } else if score >= SUSPICIOUS_FROM {
        Verdict::Suspicious
    } else {
        Verdict::Benign
    };
    drivers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (score, verdict, drivers.into_iter().map(|d| d.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rule: &str, severity: Severity, file: &str) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: String::new(),
            file: Some(file.into()),
            line: Some(1),
            snippet: None,
        }
    }

    #[test]
    fn nothing_is_benign_zero() {
        assert_eq!(score(&[]), (0.0, Verdict::Benign, vec![]));
    }

    #[test]
    fn repeats_of_one_rule_have_diminishing_weight() {
        let many = vec![f("process-spawn", Severity::Medium, "a.js"); 10];
        let (s, v, d) = score(&many);
        assert_eq!((s, v), (2.5, Verdict::Benign));
        assert_eq!(d, ["process-spawn"]);
    }

    #[test]
    fn capability_without_intent_stays_suspicious() {
        let installer = [
            f("install-script", Severity::Medium, "package/package.json"),
            f("network-access", Severity::Low, "package/install.js"),
            f("process-spawn", Severity::Medium, "package/install.js"),
            f("download-write-exec", Severity::High, "package/install.js"),
        ];
        assert_eq!(score(&installer).0, 6.9);
        assert_eq!(score(&installer).1, Verdict::Suspicious);
    }

    #[test]
    fn attack_shapes_add_bonuses_and_lead_the_drivers() {
        let findings = [
            f("install-script", Severity::Medium, "package/package.json"),
            f("network-access", Severity::Low, "package/i.js"),
            f("env-bulk-exfil", Severity::High, "package/i.js"),
        ];
        let (s, v, d) = score(&findings);
        assert_eq!(v, Verdict::Malicious);
        assert_eq!(s, 10.0);
        assert_eq!(d[0], "combo:install+network+secrets");
        assert!(d.contains(&"env-bulk-exfil".to_owned()));
    }
}
