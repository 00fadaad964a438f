//! Scans one package archive with [`assay_package::scan`] and prints every finding
//! (`rule<TAB>file:line`), the finding count per rule and the time taken.
//!
//! `cargo run --release -p assay-package --example scan_file -- lodash-4.17.21.tgz npm [RUNS]`

#[path = "support/cpu.rs"]
mod cpu;

use std::collections::BTreeMap;
use std::time::Instant;

use assay_package::archive::Limits;
use assay_package::{scan, ArtifactInput, Ecosystem};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (path, eco, runs) = match args.as_slice() {
        [_, path] => (path, None, 1),
        [_, path, eco] => (path, Some(eco), 1),
        [_, path, eco, runs] => (path, Some(eco), runs.parse()?),
        _ => return Err("usage: scan_file FILE [npm|pypi] [RUNS]".into()),
    };
    let ecosystem = match eco.map(String::as_str) {
        None => None,
        Some("npm") => Some(Ecosystem::Npm),
        Some("pypi") => Some(Ecosystem::Pypi),
        Some(other) => return Err(format!("unknown ecosystem `{other}`; use npm or pypi").into()),
    };
    let bytes = std::fs::read(path)?;
    let filename = path.rsplit('/').next().unwrap_or(path);
    let input = [ArtifactInput {
        filename,
        bytes: &bytes,
    }];
    let mut best_wall = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut report = None;
    for _ in 0..runs {
        let (cpu_start, started) = (cpu::cpu_ms(), Instant::now());
        report = Some(scan(ecosystem, None, None, &input, &Limits::default())?);
        best_wall = best_wall.min(started.elapsed().as_secs_f64() * 1000.0);
        best_cpu = best_cpu.min(cpu::cpu_ms() - cpu_start);
    }
    let report = report.ok_or("RUNS must be at least 1")?;
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *per_rule.entry(&f.rule).or_default() += 1;
        println!(
            "{}\t{}:{}",
            f.rule,
            f.file.as_deref().unwrap_or("-"),
            f.line.unwrap_or(0)
        );
    }
    for (rule, n) in &per_rule {
        println!("# {rule}: {n}");
    }
    println!(
        "# {} files, {} bytes, {} findings, score {}, verdict {:?}, {best_wall:.1} ms wall, {best_cpu:.0} ms CPU (best of {runs})",
        report.files_scanned,
        report.bytes_scanned,
        report.findings.len(),
        report.score,
        report.verdict,
    );
    Ok(())
}
