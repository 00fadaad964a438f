//! Fetching against a registry and an index served from this process, so no test needs the
//! internet. Tests that need `npm` or pip skip, with a notice, where the client is missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use assay_package::fetch::{FetchError, Fetched, Fetcher};
use assay_package::purl::Purl;
use sha2::{Digest, Sha256, Sha512};

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn json(body: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    /// pip reads an index page only when it has the PEP 691 content type.
    fn simple(body: serde_json::Value) -> Reply {
        Reply {
            content_type: "application/vnd.pypi.simple.v1+json",
            ..Reply::json(body)
        }
    }

    fn bytes(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type: "application/octet-stream",
            body,
        }
    }

    fn status(status: u16) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            body: b"error".to_vec(),
        }
    }
}

/// A local HTTP server answering fixed paths; anything else is a 404. Returns its base URL.
fn serve(routes: impl FnOnce(&str) -> HashMap<String, Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let routes = Arc::new(routes(&base));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let routes = Arc::clone(&routes);
            thread::spawn(move || answer(stream, &routes));
        }
    });
    base
}

fn answer(mut stream: TcpStream, routes: &HashMap<String, Reply>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path).to_ascii_lowercase();
    let not_found = Reply::status(404);
    let reply = routes.get(&path).unwrap_or(&not_found);
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *data)
            .expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

fn wheel(name: &str, version: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let dist_info = format!("{name}-{version}.dist-info");
    for (path, data) in [
        (format!("{name}/__init__.py"), "print('hi')\n".to_owned()),
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_owned(),
        ),
        (format!("{dist_info}/RECORD"), String::new()),
    ] {
        zip.start_file(path, options).expect("start file");
        zip.write_all(data.as_bytes()).expect("write");
    }
    zip.finish().expect("zip").into_inner()
}

fn has_client(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("notice: `{program}` is not usable here; skipping this test");
    }
    ok
}

/// An executable `sh` script in `dir`, returned as a program path.
fn shell_script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .expect("chmod");
    assert!(status.success());
    path.to_string_lossy().into_owned()
}

fn has_npm() -> bool {
    has_client("npm", &["--version"])
}

fn has_pip() -> bool {
    has_client("python3", &["-m", "pip", "--version"])
}

fn fetcher() -> Fetcher {
    Fetcher {
        timeout: Duration::from_secs(60),
        ..Fetcher::default()
    }
}

fn purl(s: &str) -> Purl {
    Purl::parse(s).expect("valid purl")
}

/// Adds a package's packument and tarballs to `routes`; the last version is `latest`.
fn npm_package(routes: &mut HashMap<String, Reply>, base: &str, name: &str, versions: &[&str]) {
    let mut manifests = serde_json::Map::new();
    for version in versions {
        let manifest = format!(r#"{{"name":"{name}","version":"{version}"}}"#);
        let tarball = tgz(&[
            ("package/package.json", manifest.as_bytes()),
            ("package/index.js", b"module.exports = 1;\n"),
        ]);
        let path = format!("/{name}/-/{version}.tgz");
        manifests.insert(
            (*version).to_owned(),
            serde_json::json!({
                "name": name,
                "version": version,
                "dist": {
                    "tarball": format!("{base}{path}"),
                    "integrity": format!("sha512-{}", base64(&Sha512::digest(&tarball))),
                }
            }),
        );
        routes.insert(path, Reply::bytes(tarball));
    }
    let packument = serde_json::json!({
        "name": name,
        "dist-tags": {"latest": versions.last()},
        "versions": manifests,
    });
    // npm asks for a scoped package as `/@scope%2fname`.
    routes.insert(
        format!("/{}", name.replace('/', "%2f")),
        Reply::json(packument),
    );
}

/// An npm registry with `demo-pkg` 1.0.0 and 1.1.0 (latest), `@demo/scoped` 2.0.0 and a
/// `broken-pkg` that fails.
fn npm_registry() -> String {
    serve(|base| {
        let mut routes = HashMap::new();
        npm_package(&mut routes, base, "demo-pkg", &["1.0.0", "1.1.0"]);
        npm_package(&mut routes, base, "@demo/scoped", &["2.0.0"]);
        routes.insert("/broken-pkg".to_owned(), Reply::status(500));
        routes
    })
}

/// A fetcher pointed at a fresh local registry, or `None` (after a notice) without npm.
fn npm_test_fetcher() -> Option<Fetcher> {
    has_npm().then(|| Fetcher {
        npm_registry: Some(format!("{}/", npm_registry())),
        ..fetcher()
    })
}

fn filenames(fetched: &Fetched) -> Vec<&str> {
    fetched
        .artifacts
        .iter()
        .map(|a| a.filename.as_str())
        .collect()
}

fn assert_one_tarball(fetched: &Fetched, filename: &str) {
    assert_eq!(filenames(fetched), [filename]);
    let artifact = &fetched.artifacts[0];
    assert_eq!(
        artifact.sha256,
        hex::encode(Sha256::digest(&artifact.bytes))
    );
    assert_eq!(&artifact.bytes[..2], &[0x1f, 0x8b], "a gzip file");
}

/// A pinned version, the latest when none is given, and a scoped package.
#[test]
fn npm_fetches_one_tarball() {
    let Some(fetcher) = npm_test_fetcher() else {
        return;
    };
    for (p, name, version, tarball) in [
        (
            "pkg:npm/demo-pkg@1.0.0",
            "demo-pkg",
            "1.0.0",
            "demo-pkg-1.0.0.tgz",
        ),
        (
            "pkg:npm/demo-pkg",
            "demo-pkg",
            "1.1.0",
            "demo-pkg-1.1.0.tgz",
        ),
        (
            "pkg:npm/%40demo/scoped",
            "@demo/scoped",
            "2.0.0",
            "demo-scoped-2.0.0.tgz",
        ),
    ] {
        let fetched = fetcher.fetch(&purl(p)).expect("fetched");
        assert_eq!(fetched.name, name, "{p}");
        assert_eq!(fetched.version, version, "{p}");
        assert_one_tarball(&fetched, tarball);
    }
}

#[test]
fn npm_unknown_package_and_version_are_not_found() {
    let Some(fetcher) = npm_test_fetcher() else {
        return;
    };
    for p in [
        "pkg:npm/no-such-pkg@1.0.0",
        "pkg:npm/no-such-pkg",
        "pkg:npm/demo-pkg@9.9.9",
    ] {
        let e = fetcher.fetch(&purl(p)).expect_err("not found");
        assert!(matches!(e, FetchError::NotFound(_)), "{p}: {e:?}");
        assert_eq!(e.code(), "package_not_found");
        assert!(e.to_string().starts_with("package not found"), "{e}");
        assert!(!e.is_retryable());
    }
}

#[test]
fn npm_registry_error_is_unavailable() {
    let Some(fetcher) = npm_test_fetcher() else {
        return;
    };
    let e = fetcher
        .fetch(&purl("pkg:npm/broken-pkg@1.0.0"))
        .expect_err("500");
    assert!(matches!(e, FetchError::Unavailable(_)), "{e:?}");
    assert!(e.is_retryable());
}

#[test]
fn npm_too_large_tarball_is_refused() {
    let Some(fetcher) = npm_test_fetcher() else {
        return;
    };
    let fetcher = Fetcher {
        max_artifact_bytes: 10,
        ..fetcher
    };
    let e = fetcher
        .fetch(&purl("pkg:npm/demo-pkg@1.0.0"))
        .expect_err("too large");
    assert_eq!(e.code(), "artifact_too_large", "{e}");
}

struct PypiFile {
    filename: String,
    bytes: Vec<u8>,
    sha256: String,
}

fn pypi_file(filename: &str, bytes: Vec<u8>) -> PypiFile {
    PypiFile {
        filename: filename.to_owned(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    }
}

/// A PEP 691 index: `demo-pkg` 1.0 (sdist and wheel), 1.1 (sdist only, latest final),
/// 2.0rc1 (a pre-release), a `bad-hash` package whose sdist hash is wrong, and a `broken`
/// package whose page fails.
fn pypi_index() -> String {
    serve(|base| {
        let mut routes = HashMap::new();
        let files = [
            pypi_file(
                "demo_pkg-1.0.tar.gz",
                tgz(&[("demo_pkg-1.0/PKG-INFO", b"Name: demo-pkg\nVersion: 1.0\n")]),
            ),
            pypi_file("demo_pkg-1.0-py3-none-any.whl", wheel("demo_pkg", "1.0")),
            pypi_file(
                "demo_pkg-1.1.tar.gz",
                tgz(&[("demo_pkg-1.1/PKG-INFO", b"Name: demo-pkg\nVersion: 1.1\n")]),
            ),
            pypi_file(
                "demo_pkg-2.0rc1.tar.gz",
                tgz(&[("demo_pkg-2.0rc1/PKG-INFO", b"Version: 2.0rc1\n")]),
            ),
        ];
        let entries: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // Both relative and absolute file URLs occur on real indexes.
                let url = if i % 2 == 0 {
                    format!("../../files/{}", f.filename)
                } else {
                    format!("{base}/files/{}", f.filename)
                };
                serde_json::json!({"filename": f.filename, "url": url, "hashes": {"sha256": f.sha256}})
            })
            .collect();
        routes.insert(
            "/simple/demo-pkg/".to_owned(),
            Reply::simple(serde_json::json!({"meta": {"api-version": "1.0"}, "name": "demo-pkg", "files": entries})),
        );
        routes.insert(
            "/simple/bad-hash/".to_owned(),
            Reply::simple(serde_json::json!({"meta": {"api-version": "1.0"}, "name": "bad-hash", "files": [
                {"filename": "bad_hash-1.0.tar.gz", "url": "/files/demo_pkg-1.0.tar.gz", "hashes": {"sha256": "00"}}
            ]})),
        );
        routes.insert("/simple/broken/".to_owned(), Reply::status(500));
        for f in files {
            routes.insert(format!("/files/{}", f.filename), Reply::bytes(f.bytes));
        }
        routes
    })
}

fn pypi_fetcher(index: &str) -> Fetcher {
    Fetcher {
        pypi_index: Some(format!("{index}/simple")),
        ..fetcher()
    }
}

#[test]
fn pypi_fetches_sdist_and_wheel() {
    if !has_pip() {
        return;
    }
    let index = pypi_index();
    let fetched = pypi_fetcher(&index)
        .fetch(&purl("pkg:pypi/Demo_Pkg@1.0"))
        .expect("fetched");
    assert_eq!(fetched.name, "demo-pkg");
    assert_eq!(fetched.version, "1.0");
    let names = filenames(&fetched);
    assert_eq!(
        names,
        ["demo_pkg-1.0.tar.gz", "demo_pkg-1.0-py3-none-any.whl"]
    );
    for a in &fetched.artifacts {
        assert_eq!(a.sha256, hex::encode(Sha256::digest(&a.bytes)));
    }
}

#[test]
fn pypi_index_is_discovered_from_pip() {
    if !has_pip() {
        return;
    }
    let index = pypi_index();
    // pip is configured through its environment here; the fetcher is told nothing.
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!("PIP_INDEX_URL={index}/simple exec python3 \"$@\"");
    let fetcher = Fetcher {
        python_program: shell_script(&dir, "python", &script),
        ..fetcher()
    };
    let fetched = fetcher
        .fetch(&purl("pkg:pypi/demo-pkg@1.0"))
        .expect("fetched");
    assert_eq!(fetched.artifacts.len(), 2);
}

#[test]
fn pypi_resolves_latest_final_release_with_sdist_only() {
    if !has_pip() {
        return;
    }
    let index = pypi_index();
    let fetched = pypi_fetcher(&index)
        .fetch(&purl("pkg:pypi/demo-pkg"))
        .expect("fetched");
    assert_eq!(fetched.version, "1.1");
    let names = filenames(&fetched);
    assert_eq!(names, ["demo_pkg-1.1.tar.gz"]);
}

#[test]
fn pypi_unknown_package_and_version_are_not_found() {
    let index = pypi_index();
    let fetcher = pypi_fetcher(&index);
    let e = fetcher
        .fetch(&purl("pkg:pypi/no-such-pkg@1.0"))
        .expect_err("not found");
    assert_eq!(e.code(), "package_not_found", "{e}");
    assert!(e.to_string().starts_with("package not found"), "{e}");
    if !has_pip() {
        return;
    }
    let e = fetcher
        .fetch(&purl("pkg:pypi/demo-pkg@9.9"))
        .expect_err("not found");
    assert_eq!(e.code(), "package_not_found", "{e}");
    assert!(!e.is_retryable());
}

#[test]
fn pypi_index_error_is_unavailable() {
    let index = pypi_index();
    let e = pypi_fetcher(&index)
        .fetch(&purl("pkg:pypi/broken@1.0"))
        .expect_err("500");
    assert!(matches!(e, FetchError::Unavailable(_)), "{e:?}");
    assert_eq!(e.code(), "registry_unavailable");
    assert!(e.is_retryable());
}

#[test]
fn pypi_unreachable_index_is_unavailable() {
    // A port that was free a moment ago: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let fetcher = Fetcher {
        pypi_index: Some(format!("http://127.0.0.1:{port}/simple")),
        ..fetcher()
    };
    let e = fetcher
        .fetch(&purl("pkg:pypi/demo-pkg@1.0"))
        .expect_err("refused");
    assert_eq!(e.code(), "registry_unavailable", "{e}");
}

#[test]
fn pypi_sdist_hash_mismatch_is_refused() {
    let index = pypi_index();
    let e = pypi_fetcher(&index)
        .fetch(&purl("pkg:pypi/bad-hash@1.0"))
        .expect_err("bad hash");
    assert_eq!(e.code(), "integrity_mismatch", "{e}");
}

#[test]
fn pypi_too_large_sdist_is_refused() {
    let index = pypi_index();
    let fetcher = Fetcher {
        max_artifact_bytes: 10,
        ..pypi_fetcher(&index)
    };
    let e = fetcher
        .fetch(&purl("pkg:pypi/demo-pkg@1.1"))
        .expect_err("too large");
    assert_eq!(e.code(), "artifact_too_large", "{e}");
}

#[test]
fn pip_missing_is_client_missing() {
    let index = pypi_index();
    let fetcher = Fetcher {
        python_program: "assay-no-such-python".to_owned(),
        ..pypi_fetcher(&index)
    };
    let e = fetcher
        .fetch(&purl("pkg:pypi/demo-pkg@1.0"))
        .expect_err("no python");
    assert_eq!(e.code(), "client_missing", "{e}");
    assert!(!e.is_retryable());
}

#[test]
fn client_timeout_kills_the_child_and_what_it_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("grandchild.pid");
    let body = format!("sleep 30 &\necho $! > {}\nwait", pid_file.display());
    let fetcher = Fetcher {
        npm_program: shell_script(&dir, "slow-npm", &body),
        timeout: Duration::from_millis(300),
        ..Fetcher::default()
    };
    let started = std::time::Instant::now();
    let e = fetcher
        .fetch(&purl("pkg:npm/demo-pkg@1.0.0"))
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.code(), "registry_unavailable", "{e}");
    assert!(e.to_string().contains("took longer"), "{e}");
    let pid = std::fs::read_to_string(&pid_file).expect("the script started its child");
    thread::sleep(Duration::from_millis(100));
    // Gone, or a zombie waiting for init to reap it.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "still running: {stat}"
    );
}

/// Opt-in: `ASSAY_LIVE_REGISTRY_TESTS=1` fetches real packages through the default clients.
#[test]
fn live_registries() {
    if std::env::var("ASSAY_LIVE_REGISTRY_TESTS").as_deref() != Ok("1") {
        eprintln!("notice: set ASSAY_LIVE_REGISTRY_TESTS=1 to fetch from the real registries");
        return;
    }
    let fetcher = fetcher();
    let fetched = fetcher
        .fetch(&purl("pkg:npm/lodash@4.17.21"))
        .expect("lodash");
    assert_one_tarball(&fetched, "lodash-4.17.21.tgz");
    let fetched = fetcher
        .fetch(&purl("pkg:pypi/requests@2.31.0"))
        .expect("requests");
    let names = filenames(&fetched);
    assert_eq!(
        names,
        ["requests-2.31.0.tar.gz", "requests-2.31.0-py3-none-any.whl"]
    );
}
