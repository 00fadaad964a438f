//! Runs the detector over every image in a folder and prints one JSON line per image:
//! `{"file", "ms", "circles": [[x, y, r, score], ...]}`. `ms` is detection time only, file
//! reading and decoding excluded. Used by bench/circles.sh.
//!
//! Usage: detect_dir DIR [sensitivity]

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    assay_circles::retain_freed_memory();
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: detect_dir DIR [sensitivity]")?);
    let opts = assay_circles::DetectOptions {
        sensitivity: args.next().map(|s| s.parse()).transpose()?.unwrap_or(0.5),
        ..Default::default()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path)?;
        let img = assay_circles::decode(&bytes, &Default::default())?;
        let found = assay_circles::detect(&img, &opts)?;
        let circles: Vec<[f32; 4]> = found
            .objects
            .iter()
            .map(|o| [o.centre.x, o.centre.y, o.radius, o.score])
            .collect();
        let line = serde_json::json!({
            "file": path.file_name().map(|n| n.to_string_lossy()),
            "ms": found.elapsed_ms,
            "circles": circles,
        });
        println!("{line}");
    }
    Ok(())
}
