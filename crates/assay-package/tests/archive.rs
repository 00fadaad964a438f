//! Extraction of well-formed and hostile archives, all built in memory.

use std::io::Write;
use std::time::{Duration, Instant};

use assay_package::archive::{self, detect_ecosystem, Extracted, Limits, MAX_FINDINGS_PER_RULE};
use assay_package::{Ecosystem, Severity};

fn header(path: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_old();
    // Written raw: `set_path` refuses the hostile names these tests need.
    header.as_old_mut().name[..path.len()].copy_from_slice(path);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header
}

/// A tar of `(path, type, data, link target)` entries, names written unchecked.
fn tar_raw(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data, link) in entries {
        let mut h = header(path.as_bytes(), *kind, data.len() as u64);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        builder.append(&h, *data).expect("append");
    }
    builder.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<_> = files
        .iter()
        .map(|(p, d)| (*p, tar::EntryType::Regular, *d, ""))
        .collect();
    gzip(&tar_raw(&entries))
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data) in files {
        zip.start_file(*path, zip::write::SimpleFileOptions::default())
            .expect("start file");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("zip").into_inner()
}

/// One zip entry written byte by byte, for names, modes and payloads a zip library would not
/// produce. The CRC is left at 0: extraction reads raw entries and does not check it.
struct RawZipEntry<'a> {
    name: &'a str,
    deflated: bool,
    data: &'a [u8],
    size: u32,
    unix_mode: Option<u32>,
}

fn raw_zip(entries: &[RawZipEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for e in entries {
        let offset = out.len() as u32;
        let method = if e.deflated { 8 } else { 0 };
        le32(&mut out, 0x0403_4b50);
        for x in [20, 0x0800, method, 0, 0] {
            le16(&mut out, x);
        }
        for x in [0, e.data.len() as u32, e.size] {
            le32(&mut out, x);
        }
        le16(&mut out, e.name.len() as u16);
        le16(&mut out, 0);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(e.data);

        le32(&mut central, 0x0201_4b50);
        let made_by = if e.unix_mode.is_some() {
            3 << 8 | 20
        } else {
            20
        };
        for x in [made_by, 20, 0x0800, method, 0, 0] {
            le16(&mut central, x);
        }
        for x in [0, e.data.len() as u32, e.size] {
            le32(&mut central, x);
        }
        for x in [e.name.len() as u16, 0, 0, 0, 0] {
            le16(&mut central, x);
        }
        le32(&mut central, e.unix_mode.unwrap_or(0) << 16);
        le32(&mut central, offset);
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    le32(&mut out, 0x0605_4b50);
    for x in [0, 0, entries.len() as u16, entries.len() as u16] {
        le16(&mut out, x);
    }
    le32(&mut out, central.len() as u32);
    le32(&mut out, cd_offset);
    le16(&mut out, 0);
    out
}

fn stored<'a>(name: &'a str, data: &'a [u8]) -> RawZipEntry<'a> {
    RawZipEntry {
        name,
        deflated: false,
        data,
        size: data.len() as u32,
        unix_mode: None,
    }
}

/// Raw deflate blocks that expand to `chunks` × 64 MiB of zeros. One chunk is compressed once
/// and ended with a sync flush (byte-aligned, no final block); it starts with a literal and
/// only ever refers back to zeros, so the same bytes can be repeated.
fn deflated_zeros(chunks: usize) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        encoder.write_all(&zeros).expect("deflate");
    }
    encoder.flush().expect("flush");
    let chunk = encoder.get_ref().clone();
    let mut out = Vec::with_capacity(chunk.len() * chunks + 2);
    for _ in 0..chunks {
        out.extend_from_slice(&chunk);
    }
    // A final, empty fixed-Huffman block.
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

fn extract(filename: &str, bytes: &[u8]) -> Extracted {
    extract_with(filename, bytes, &Limits::default())
}

fn extract_with(filename: &str, bytes: &[u8], limits: &Limits) -> Extracted {
    match archive::extract(filename, bytes, limits) {
        Ok(extracted) => extracted,
        Err(e) => panic!("{filename}: {e}"),
    }
}

fn paths(x: &Extracted) -> Vec<&str> {
    x.files.iter().map(|f| f.path.as_str()).collect()
}

fn rules(x: &Extracted) -> Vec<&str> {
    x.findings.iter().map(|f| f.rule.as_str()).collect()
}

fn all<'x>(x: &'x Extracted, rule: &str) -> Vec<&'x assay_package::Finding> {
    x.findings.iter().filter(|f| f.rule == rule).collect()
}

fn finding<'x>(x: &'x Extracted, rule: &str) -> &'x assay_package::Finding {
    match x.findings.iter().find(|f| f.rule == rule) {
        Some(f) => f,
        None => panic!("no {rule} finding in {:?}", x.findings),
    }
}

#[test]
fn normal_npm_tarball() {
    let bytes = tgz(&[
        (
            "package/package.json",
            br#"{"name":"demo","version":"1.0.0"}"#,
        ),
        ("./package/lib/index.js", b"module.exports = 1;\n"),
    ]);
    let x = extract("demo-1.0.0.tgz", &bytes);
    assert_eq!(paths(&x), ["package/package.json", "package/lib/index.js"]);
    assert_eq!(x.files[1].data, b"module.exports = 1;\n");
    assert!(x.findings.is_empty(), "{:?}", x.findings);
    assert!(!x.truncated);
    assert_eq!(detect_ecosystem(&x.files), Some(Ecosystem::Npm));
}

#[test]
fn npm_package_json_under_any_single_top_dir() {
    let x = extract(
        "n.tgz",
        &tgz(&[("node-demo/package.json", b"{}"), ("node-demo/a.js", b"")]),
    );
    assert_eq!(detect_ecosystem(&x.files), Some(Ecosystem::Npm));
    // Nested deeper, it is not the package's manifest.
    let x = extract(
        "n.tgz",
        &tgz(&[("package/test/fixture/package.json", b"{}")]),
    );
    assert_eq!(detect_ecosystem(&x.files), None);
}

#[test]
fn normal_zip_and_magic_sniffing() {
    let bytes = zip(&[("a/b.txt", b"hello"), ("a/c/d.py", b"print(1)\n")]);
    let x = extract("thing.zip", &bytes);
    assert_eq!(paths(&x), ["a/b.txt", "a/c/d.py"]);
    assert!(x.findings.is_empty(), "{:?}", x.findings);
    // No telling extension: the magic bytes decide.
    let x = extract("download", &bytes);
    assert_eq!(paths(&x), ["a/b.txt", "a/c/d.py"]);
    let x = extract("artifact.bin", &tgz(&[("package/package.json", b"{}")]));
    assert_eq!(paths(&x), ["package/package.json"]);
}

#[test]
fn wheel_and_sdist_are_pypi() {
    let wheel = zip(&[
        ("demo/__init__.py", b""),
        ("demo-1.0.dist-info/METADATA", b"Name: demo\n"),
    ]);
    let x = extract("demo-1.0-py3-none-any.whl", &wheel);
    assert_eq!(detect_ecosystem(&x.files), Some(Ecosystem::Pypi));

    let sdist = tgz(&[
        ("demo-1.0/PKG-INFO", b"Name: demo\n"),
        ("demo-1.0/setup.py", b""),
    ]);
    assert_eq!(
        detect_ecosystem(&extract("demo-1.0.tar.gz", &sdist).files),
        Some(Ecosystem::Pypi)
    );

    let pyproject = tgz(&[("demo-1.0/pyproject.toml", b""), ("demo-1.0/demo.py", b"")]);
    assert_eq!(
        detect_ecosystem(&extract("demo-1.0.tar.gz", &pyproject).files),
        Some(Ecosystem::Pypi)
    );

    let egg = zip(&[("EGG-INFO/PKG-INFO", b""), ("setup.py", b"")]);
    assert_eq!(
        detect_ecosystem(&extract("demo.egg", &egg).files),
        Some(Ecosystem::Pypi)
    );

    assert_eq!(detect_ecosystem(&[]), None);
}

#[test]
fn bzip2_tar() {
    let tar = tar_raw(&[("pkg/setup.py", tar::EntryType::Regular, b"x = 1\n", "")]);
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&tar).expect("bzip2");
    let bytes = bz.finish().expect("bzip2");
    let x = extract("pkg-1.0.tar.bz2", &bytes);
    assert_eq!(paths(&x), ["pkg/setup.py"]);
}

#[test]
fn tar_path_traversal() {
    let bytes = gzip(&tar_raw(&[
        (
            "../../etc/cron.d/evil",
            tar::EntryType::Regular,
            b"* * * * * root sh",
            "",
        ),
        ("package/../../escape.js", tar::EntryType::Regular, b"x", ""),
        ("package/ok.js", tar::EntryType::Regular, b"ok", ""),
    ]));
    let x = extract("evil.tgz", &bytes);
    assert_eq!(paths(&x), ["package/ok.js"]);
    let found = all(&x, "archive-path-traversal");
    assert_eq!(found.len(), 2, "{:?}", x.findings);
    assert_eq!(found[0].severity, Severity::High);
    assert!(
        found[0].message.contains("../../etc/cron.d/evil"),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].line, None);
}

#[test]
fn zip_path_traversal_with_slashes_and_backslashes() {
    let bytes = raw_zip(&[
        stored("../evil.txt", b"x"),
        stored("..\\..\\windows\\evil.dll", b"x"),
        stored("a\\b.txt", b"fine"),
    ]);
    let x = extract("evil.zip", &bytes);
    assert_eq!(paths(&x), ["a/b.txt"]);
    let found = all(&x, "archive-path-traversal");
    assert_eq!(found.len(), 2, "{:?}", x.findings);
    assert!(
        found[1].message.contains("backslashes"),
        "{}",
        found[1].message
    );
}

#[test]
fn absolute_paths() {
    let x = extract(
        "abs.tgz",
        &gzip(&tar_raw(&[(
            "/etc/passwd",
            tar::EntryType::Regular,
            b"root",
            "",
        )])),
    );
    assert!(x.files.is_empty());
    assert_eq!(
        finding(&x, "archive-absolute-path").severity,
        Severity::High
    );

    let x = extract(
        "abs.zip",
        &raw_zip(&[stored("C:\\Windows\\evil.dll", b"MZ"), stored("/abs", b"x")]),
    );
    assert!(x.files.is_empty(), "{:?}", paths(&x));
    assert_eq!(
        rules(&x),
        ["archive-absolute-path", "archive-absolute-path"]
    );
}

#[test]
fn symlinks_and_hardlinks_are_not_followed() {
    let bytes = gzip(&tar_raw(&[
        ("package/link", tar::EntryType::Symlink, b"", "/etc/passwd"),
        ("package/hard", tar::EntryType::Link, b"", "package/link"),
        ("package/index.js", tar::EntryType::Regular, b"1", ""),
    ]));
    let x = extract("links.tgz", &bytes);
    assert_eq!(paths(&x), ["package/index.js"]);
    let links = all(&x, "archive-link");
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].severity, Severity::Medium);
    assert!(
        links[0].message.contains("symbolic link to `/etc/passwd`"),
        "{}",
        links[0].message
    );
    assert!(
        links[1].message.contains("hard link to `package/link`"),
        "{}",
        links[1].message
    );
    assert_eq!(links[0].file.as_deref(), Some("package/link"));

    let zip_link = raw_zip(&[RawZipEntry {
        name: "pkg/link",
        deflated: false,
        data: b"../../../home/user/.ssh/id_rsa",
        size: 30,
        unix_mode: Some(0o120_777),
    }]);
    let x = extract("link.zip", &zip_link);
    assert!(x.files.is_empty());
    assert!(finding(&x, "archive-link").message.contains(".ssh/id_rsa"));

    // As a zip library writes it: the target deflated.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer
        .add_symlink("pkg/cfg", "/etc/shadow", options)
        .expect("symlink");
    let x = extract("link.zip", &writer.finish().expect("zip").into_inner());
    assert!(x.files.is_empty());
    let f = finding(&x, "archive-link");
    assert!(
        f.message.contains("symbolic link to `/etc/shadow`"),
        "{}",
        f.message
    );
}

#[test]
fn device_files_and_fifos() {
    let bytes = tar_raw(&[
        ("package/dev", tar::EntryType::Char, b"", ""),
        ("package/disk", tar::EntryType::Block, b"", ""),
        ("package/pipe", tar::EntryType::Fifo, b"", ""),
    ]);
    let x = extract("dev.tar", &bytes);
    assert!(x.files.is_empty());
    assert_eq!(rules(&x), ["archive-special-file"; 3]);
    assert!(x.findings.iter().all(|f| f.severity == Severity::High));
    assert!(x.findings[0].message.contains("character device"));

    let zip_dev = raw_zip(&[RawZipEntry {
        name: "pkg/null",
        deflated: false,
        data: b"",
        size: 0,
        unix_mode: Some(0o020_666),
    }]);
    assert_eq!(
        rules(&extract("dev.zip", &zip_dev)),
        ["archive-special-file"]
    );
}

#[test]
fn duplicate_names_keep_the_first() {
    let bytes = tgz(&[
        ("package/index.js", b"benign"),
        ("package/./index.js", b"evil"),
        ("package//index.js", b"evil too"),
    ]);
    let x = extract("dup.tgz", &bytes);
    assert_eq!(paths(&x), ["package/index.js"]);
    assert_eq!(x.files[0].data, b"benign");
    assert_eq!(
        rules(&x),
        ["archive-duplicate-name", "archive-duplicate-name"]
    );
    assert_eq!(x.findings[0].severity, Severity::Medium);
}

#[test]
fn case_collisions() {
    let x = extract(
        "case.zip",
        &zip(&[("pkg/Index.js", b"a"), ("pkg/index.js", b"b")]),
    );
    assert_eq!(paths(&x), ["pkg/Index.js"]);
    let f = finding(&x, "archive-case-collision");
    assert_eq!(f.severity, Severity::Low);
    assert!(f.message.contains("`pkg/Index.js`"), "{}", f.message);
}

#[test]
fn zip_bomb_stops_early() {
    // 32 × 64 MiB = 2 GiB of zeros in about 2 MB.
    let data = deflated_zeros(32);
    let bomb = raw_zip(&[
        RawZipEntry {
            name: "zeros.bin",
            deflated: true,
            data: &data,
            size: u32::MAX,
            unix_mode: None,
        },
        stored("after.txt", b"never read"),
    ]);
    let started = Instant::now();
    let x = extract("bomb.zip", &bomb);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(x.truncated);
    assert!(x.files.is_empty(), "{:?}", paths(&x));
    let f = finding(&x, "archive-bomb");
    assert_eq!(f.severity, Severity::High);
    assert!(f.message.contains("decompression bomb"), "{}", f.message);
}

#[test]
fn tgz_bomb_stops_early() {
    // Gzip members concatenate: a tar header for a 1 GiB file, then the zeros, then the end.
    let header = {
        let mut h = header(b"package/zeros.bin", tar::EntryType::Regular, 1 << 30);
        h.set_cksum();
        h.as_bytes().to_vec()
    };
    let zeros = gzip(&vec![0u8; 64 << 20]);
    let mut bomb = gzip(&header);
    for _ in 0..16 {
        bomb.extend_from_slice(&zeros);
    }
    bomb.extend_from_slice(&gzip(&[0u8; 1024]));
    let x = extract("bomb.tgz", &bomb);
    assert!(x.truncated);
    assert!(x.files.is_empty());
    finding(&x, "archive-bomb");
}

#[test]
fn total_limit_stops_extraction() {
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files: Vec<(String, &[u8])> = (0..10)
        .map(|i| (format!("p/{i}.bin"), noise.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let limits = Limits {
        max_total_bytes: 1_000_000,
        ..Limits::default()
    };
    let x = extract_with("big.tgz", &tgz(&refs), &limits);
    assert!(x.truncated);
    assert!(x.files.len() < 10);
    assert!(finding(&x, "archive-bomb")
        .message
        .contains("1000000 bytes"));
}

#[test]
fn file_over_the_per_file_limit_is_skipped() {
    let limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let x = extract_with(
        "p.tgz",
        &tgz(&[("p/big", b"01234567890"), ("p/small", b"0123456789")]),
        &limits,
    );
    assert_eq!(paths(&x), ["p/small"]);
    let f = finding(&x, "archive-file-too-large");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.file.as_deref(), Some("p/big"));
    assert!(!x.truncated);
}

#[test]
fn tar_header_lying_about_size() {
    let mut h = header(b"package/liar.js", tar::EntryType::Regular, 1 << 40);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(&[b'A'; 1024]);
    for name in ["liar.tar", "liar.tgz"] {
        let input = if name.ends_with(".tgz") {
            gzip(&bytes)
        } else {
            bytes.clone()
        };
        let x = extract(name, &input);
        assert!(x.files.is_empty(), "{name}: {:?}", paths(&x));
        let f = finding(&x, "archive-corrupt");
        assert!(
            f.message.contains("claims 1099511627776 bytes"),
            "{}",
            f.message
        );
    }
}

#[test]
fn a_hundred_thousand_files_stop_at_the_limit_quickly() {
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..100_000 {
        let mut h = header(format!("p/{i}").as_bytes(), tar::EntryType::Regular, 1);
        h.set_cksum();
        builder.append(&h, &b"x"[..]).expect("append");
    }
    let bytes = gzip(&builder.into_inner().expect("tar"));
    let started = Instant::now();
    let x = extract("many.tgz", &bytes);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(x.files.len(), Limits::default().max_files);
    assert!(x.truncated);
    assert_eq!(rules(&x), ["archive-too-many-files"]);
    assert_eq!(x.findings[0].severity, Severity::High);
}

#[test]
fn findings_of_one_rule_are_capped() {
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..100_000 {
        let mut h = header(format!("../{i}").as_bytes(), tar::EntryType::Regular, 0);
        h.set_cksum();
        builder.append(&h, &b""[..]).expect("append");
    }
    let limits = Limits {
        max_files: 200_000,
        ..Limits::default()
    };
    let x = extract_with("many.tar", &builder.into_inner().expect("tar"), &limits);
    assert!(x.files.is_empty());
    assert_eq!(x.findings.len(), MAX_FINDINGS_PER_RULE + 1);
    let summary = &x.findings[MAX_FINDINGS_PER_RULE];
    assert_eq!(summary.rule, "archive-path-traversal");
    assert!(
        summary.message.starts_with("99980 more entries"),
        "{}",
        summary.message
    );
}

#[test]
fn nested_archives_are_opened_to_the_depth_limit() {
    let inner = zip(&[("a.txt", b"deep")]);
    let middle = tgz(&[("lib/inner.zip", &inner)]);
    let outer = tgz(&[
        ("package/package.json", b"{}"),
        ("package/middle.tgz", &middle),
    ]);

    let x = extract("outer.tgz", &outer);
    assert_eq!(
        paths(&x),
        [
            "package/package.json",
            "package/middle.tgz!/lib/inner.zip!/a.txt",
            "package/middle.tgz!/lib/inner.zip",
            "package/middle.tgz",
        ]
    );
    assert!(x.findings.is_empty(), "{:?}", x.findings);
    // Nested files do not change what the package is.
    assert_eq!(detect_ecosystem(&x.files), Some(Ecosystem::Npm));

    let limits = Limits {
        max_depth: 1,
        ..Limits::default()
    };
    let x = extract_with("outer.tgz", &outer, &limits);
    assert!(
        !paths(&x).iter().any(|p| p.ends_with("a.txt")),
        "{:?}",
        paths(&x)
    );
    let f = finding(&x, "archive-nesting-too-deep");
    assert_eq!(f.file.as_deref(), Some("package/middle.tgz!/lib/inner.zip"));
}

#[test]
fn hostile_entries_inside_nested_archives_are_found() {
    let inner = raw_zip(&[stored("../../escape", b"x")]);
    let outer = tgz(&[("package/fixture.zip", &inner)]);
    let x = extract("outer.tgz", &outer);
    let f = finding(&x, "archive-path-traversal");
    assert_eq!(f.file.as_deref(), Some("package/fixture.zip!/../../escape"));
    assert_eq!(paths(&x), ["package/fixture.zip"]);
}

#[test]
fn unreadable_nested_archive_is_a_finding() {
    let outer = tgz(&[("package/broken.zip", b"not a zip at all")]);
    let x = extract("outer.tgz", &outer);
    assert_eq!(paths(&x), ["package/broken.zip"]);
    assert_eq!(
        finding(&x, "archive-nested-unreadable").severity,
        Severity::Info
    );
}

#[test]
fn corrupt_and_unknown_archives_are_errors() {
    for name in ["x.tgz", "x.zip", "x.tar.bz2"] {
        let e =
            archive::extract(name, b"this is not an archive", &Limits::default()).expect_err(name);
        assert_eq!(e.code(), "invalid_archive", "{name}");
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = archive::extract("x.rar", b"Rar!\x1a\x07", &Limits::default()).expect_err("rar");
    assert_eq!(e.code(), "unsupported_archive");
    assert!(e.to_string().contains("x.rar"), "{e}");
    let e = archive::extract("x.tgz", b"", &Limits::default()).expect_err("empty input");
    assert_eq!(e.code(), "invalid_archive");
}

#[test]
fn truncated_archives_never_panic() {
    let full = tgz(&[
        ("package/a.js", &[b'a'; 5000]),
        ("package/b.js", &[b'b'; 5000]),
    ]);
    for cut in [10, full.len() / 2, full.len() - 10] {
        match archive::extract("cut.tgz", &full[..cut], &Limits::default()) {
            Ok(x) => assert!(
                x.truncated || !x.findings.is_empty() || x.files.len() == 2,
                "cut at {cut}"
            ),
            Err(e) => assert_eq!(e.code(), "invalid_archive"),
        }
    }
    let zip_full = zip(&[("a.txt", b"aaaa"), ("b.txt", b"bbbb")]);
    for cut in 0..zip_full.len() {
        // Any outcome but a panic.
        let _ = archive::extract("cut.zip", &zip_full[..cut], &Limits::default());
    }
}

#[test]
fn empty_archives() {
    let empty_tar = tar::Builder::new(Vec::new()).into_inner().expect("tar");
    let x = extract("empty.tgz", &gzip(&empty_tar));
    assert!(x.files.is_empty() && x.findings.is_empty() && !x.truncated);
    let x = extract("empty.zip", &zip(&[]));
    assert!(x.files.is_empty() && x.findings.is_empty());
    assert_eq!(detect_ecosystem(&x.files), None);
}
