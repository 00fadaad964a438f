//! Scans an unpacked package directory and prints the findings, the score and the time.
//!
//! `cargo run --release -p assay-package --example scan_dir -- npm lodash /tmp/lodash`
//! (for an npm tarball unpacked into `/tmp/lodash/package/...`).

use std::path::Path;
use std::time::Instant;

use assay_package::archive::Entry;
use assay_package::{analyze, Ecosystem};

fn read_dir(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_dir(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Entry {
                path: rel,
                data: std::fs::read(&path)?,
            });
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, eco, name, dir] = args.as_slice() else {
        return Err("usage: scan_dir npm|pypi NAME DIR".into());
    };
    let ecosystem = match eco.as_str() {
        "npm" => Ecosystem::Npm,
        "pypi" => Ecosystem::Pypi,
        other => return Err(format!("unknown ecosystem `{other}`; use npm or pypi").into()),
    };
    let mut files = Vec::new();
    read_dir(Path::new(dir), Path::new(dir), &mut files)?;
    let bytes: usize = files.iter().map(|f| f.data.len()).sum();
    // Warm-up run so the timing excludes first-touch costs such as page faults.
    let _ = analyze::analyze(ecosystem, name, &files);
    let started = Instant::now();
    let findings = analyze::analyze(ecosystem, name, &files);
    let elapsed = started.elapsed();
    let (score, verdict, drivers) = analyze::score(&findings);
    for f in &findings {
        println!(
            "{:?}\t{}\t{}:{}\t{}\t{}",
            f.severity,
            f.rule,
            f.file.as_deref().unwrap_or("-"),
            f.line.unwrap_or(0),
            f.message,
            f.snippet.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} files, {bytes} bytes, {} findings, score {score}, verdict {verdict:?}, drivers {drivers:?}, {:.1} ms",
        files.len(),
        findings.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}
