//! The synthetic corpus under `tests/corpus/`: small, inert packages that each imitate one
//! known malware technique, and benign look-alikes that must stay benign. Every case states
//! its verdict and the rule ids it must raise.

use std::collections::BTreeSet;
use std::path::Path;

use assay_package::archive::Entry;
use assay_package::{analyze, Ecosystem, Severity, Verdict};

/// An ELF header followed by junk: enough for the magic-byte rule, runs nowhere.
const FAKE_ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0not a real program";

fn read(root: &Path, dir: &Path, out: &mut Vec<Entry>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory is readable")
        .map(|e| e.expect("corpus entry is readable").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("path is under the root");
            out.push(Entry {
                path: rel.to_string_lossy().replace('\\', "/"),
                data: std::fs::read(&path).expect("corpus file is readable"),
            });
        }
    }
}

fn package(case: &str) -> Vec<Entry> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(case);
    let mut files = Vec::new();
    read(&root, &root, &mut files);
    match case {
        "elf-dropper" => files.push(Entry {
            path: "package/bin/.helper".into(),
            data: FAKE_ELF.to_vec(),
        }),
        "benign-native-wheel" => files.push(Entry {
            path: "fastthing/_speedups.cpython-311-x86_64-linux-gnu.so".into(),
            data: FAKE_ELF.to_vec(),
        }),
        _ => {}
    }
    files
}

struct Case {
    dir: &'static str,
    ecosystem: Ecosystem,
    name: &'static str,
    verdict: Verdict,
    rules: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        dir: "env-stealer-postinstall",
        ecosystem: Ecosystem::Npm,
        name: "env-stealer-postinstall",
        verdict: Verdict::Malicious,
        rules: &["install-script", "env-bulk-exfil", "network-access"],
    },
    Case {
        dir: "base64-eval-loader",
        ecosystem: Ecosystem::Npm,
        name: "base64-eval-loader",
        verdict: Verdict::Malicious,
        rules: &[
            "eval-decoded",
            "decode-literal",
            "download-exec",
            "process-spawn",
        ],
    },
    Case {
        dir: "setup-curl-sh",
        ecosystem: Ecosystem::Pypi,
        name: "setup-curl-sh",
        verdict: Verdict::Malicious,
        rules: &["setup-py-code", "process-spawn", "download-exec"],
    },
    Case {
        dir: "pth-persistence",
        ecosystem: Ecosystem::Pypi,
        name: "pthpersist",
        verdict: Verdict::Malicious,
        rules: &["pth-exec", "eval-decoded", "network-access", "url-raw-ip"],
    },
    Case {
        dir: "typosquat-reqeusts",
        ecosystem: Ecosystem::Pypi,
        name: "reqeusts",
        verdict: Verdict::Malicious,
        rules: &["typosquat", "process-spawn", "network-access", "url-raw-ip"],
    },
    Case {
        dir: "typosquat-lodahs",
        ecosystem: Ecosystem::Npm,
        name: "lodahs",
        verdict: Verdict::Malicious,
        rules: &["typosquat", "url-tunnel", "network-access"],
    },
    Case {
        dir: "elf-dropper",
        ecosystem: Ecosystem::Npm,
        name: "elf-dropper",
        verdict: Verdict::Malicious,
        rules: &["binary-executable", "install-script", "process-spawn"],
    },
    Case {
        dir: "discord-stealer",
        ecosystem: Ecosystem::Npm,
        name: "discord-stealer",
        verdict: Verdict::Malicious,
        rules: &[
            "obfuscated-escapes",
            "url-webhook",
            "credential-file-access",
            "network-access",
        ],
    },
    Case {
        dir: "cmdclass-dropper",
        ecosystem: Ecosystem::Pypi,
        name: "cmdclass-dropper",
        verdict: Verdict::Malicious,
        rules: &["setup-cmdclass", "download-write-exec", "process-spawn"],
    },
    Case {
        dir: "charcode-loader",
        ecosystem: Ecosystem::Npm,
        name: "charcode-loader",
        verdict: Verdict::Malicious,
        rules: &[
            "charcode-obfuscation",
            "dynamic-code",
            "download-exec",
            "process-spawn",
        ],
    },
    Case {
        dir: "ssh-aws-exfil",
        ecosystem: Ecosystem::Pypi,
        name: "sshaws",
        verdict: Verdict::Malicious,
        rules: &[
            "credential-file-access",
            "url-request-catcher",
            "network-access",
        ],
    },
    Case {
        dir: "benign-node-gyp",
        ecosystem: Ecosystem::Npm,
        name: "benign-node-gyp",
        verdict: Verdict::Benign,
        rules: &["install-script"],
    },
    Case {
        dir: "benign-native-wheel",
        ecosystem: Ecosystem::Pypi,
        name: "fastthing",
        verdict: Verdict::Benign,
        rules: &["binary-native-extension"],
    },
    Case {
        dir: "benign-telemetry",
        ecosystem: Ecosystem::Npm,
        name: "benign-telemetry",
        verdict: Verdict::Benign,
        rules: &["network-access"],
    },
    Case {
        dir: "benign-minified-dist",
        ecosystem: Ecosystem::Npm,
        name: "benign-minified-dist",
        verdict: Verdict::Benign,
        rules: &[],
    },
    Case {
        dir: "benign-node-env",
        ecosystem: Ecosystem::Npm,
        name: "benign-node-env",
        verdict: Verdict::Benign,
        rules: &[],
    },
    Case {
        dir: "benign-plain-setup",
        ecosystem: Ecosystem::Pypi,
        name: "plainpkg",
        verdict: Verdict::Benign,
        rules: &[],
    },
    Case {
        dir: "benign-git-spawn",
        ecosystem: Ecosystem::Npm,
        name: "benign-git-spawn",
        verdict: Verdict::Benign,
        rules: &["process-spawn"],
    },
];

#[test]
fn every_corpus_package_gets_its_verdict_and_rules() {
    let mut failures = Vec::new();
    for case in CASES {
        let files = package(case.dir);
        let findings = analyze::analyze(case.ecosystem, case.name, &files);
        let reference = analyze::analyze_parsing_every_file(case.ecosystem, case.name, &files);
        assert_eq!(
            findings, reference,
            "{}: the prefilter changed the findings",
            case.dir
        );
        let (score, verdict, drivers) = analyze::score(&findings);
        let found: BTreeSet<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        let missing: Vec<_> = case.rules.iter().filter(|r| !found.contains(*r)).collect();
        let strong: Vec<_> = findings
            .iter()
            .filter(|f| f.severity >= Severity::High)
            .map(|f| f.rule.as_str())
            .collect();
        let benign_but_strong = case.verdict == Verdict::Benign && !strong.is_empty();
        if verdict != case.verdict || !missing.is_empty() || benign_but_strong {
            failures.push(format!(
                "{}: verdict {verdict:?} (score {score}, drivers {drivers:?}), expected {:?}; missing {missing:?}; found {found:?}",
                case.dir, case.verdict
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_has_ten_malicious_and_six_benign_packages() {
    let malicious = CASES
        .iter()
        .filter(|c| c.verdict == Verdict::Malicious)
        .count();
    let benign = CASES
        .iter()
        .filter(|c| c.verdict == Verdict::Benign)
        .count();
    assert!(
        malicious >= 10 && benign >= 6,
        "{malicious} malicious, {benign} benign"
    );
}
