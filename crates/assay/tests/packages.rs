//! `assay run package` as a user runs it: local archives always; live registry fetches only
//! with `ASSAY_LIVE_REGISTRY_TESTS=1`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn assay_run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("run")
        .arg("package")
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("ASSAY_CONFIG")
        .output()
        .expect("the assay binary runs")
}

fn report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints the report")
}

/// A gzipped tarball of `files` at the archive's top level.
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, text.as_bytes()).unwrap();
    }
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_local_archive_is_analysed_and_its_ecosystem_detected_or_given() {
    let dir = tempfile::tempdir().unwrap();
    let npm = dir.path().join("tiny-1.0.0.tgz");
    std::fs::write(
        &npm,
        tarball(&[
            (
                "package/package.json",
                r#"{"name": "tiny", "version": "1.0.0", "repository": "github:example/tiny"}"#,
            ),
            ("package/index.js", "module.exports = 1;\n"),
        ]),
    )
    .unwrap();
    let r = report(&assay_run(dir.path(), &[npm.to_str().unwrap(), "--json"]));
    assert_eq!(r["verdict"], "benign", "{r}");
    assert!(r["score"].is_number() && r["findings"].is_array());
    assert_eq!(r["Package"]["Ecosystem"], "npm");

    // Nothing in this archive tells its ecosystem: --ecosystem does.
    let bare = dir.path().join("bare.tgz");
    std::fs::write(&bare, tarball(&[("lib/x.py", "print('hi')\n")])).unwrap();
    let out = assay_run(dir.path(), &[bare.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ecosystem"));
    let r = report(&assay_run(
        dir.path(),
        &[bare.to_str().unwrap(), "--ecosystem", "pypi", "--json"],
    ));
    assert_eq!(r["Package"]["Ecosystem"], "pypi");

    let out = assay_run(dir.path(), &["pkg:maven/org.example/x@1", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported_ecosystem"));
    let out = assay_run(dir.path(), &["no-such-file.tgz"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `ASSAY_LIVE_REGISTRY_TESTS=1 cargo test -p assay --test packages live`
#[test]
fn live_well_known_packages_are_benign() {
    if std::env::var("ASSAY_LIVE_REGISTRY_TESTS").as_deref() != Ok("1") {
        eprintln!("set ASSAY_LIVE_REGISTRY_TESTS=1 to fetch from the real registries");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for purl in ["pkg:npm/lodash@4.17.21", "pkg:pypi/requests@2.31.0"] {
        let r = report(&assay_run(dir.path(), &[purl, "--json"]));
        assert_eq!(r["verdict"], "benign", "{purl}: {r}");
        assert_eq!(
            r["Package"]["Version"],
            purl.rsplit('@').next().unwrap(),
            "{purl}"
        );
        let high: Vec<_> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "high" || f["severity"] == "critical")
            .collect();
        assert!(high.is_empty(), "{purl}: {high:?}");
    }
}
