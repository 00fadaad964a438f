//! Fake detections for wiring tests: the seed service's dummy mode, made deterministic.

use crate::report::{CircleObject, DetectParams, Detection, SCHEMA_VERSION};

/// Returns one to five plausible circles derived from a hash of `seed_bytes` (usually the
/// uploaded file), so the same upload always gets the same answer. No pixel is looked at.
pub fn dummy_detection(img_width: u32, img_height: u32, seed_bytes: &[u8]) -> Detection {
    // FNV-1a, then xorshift64*: tiny, stable across platforms and releases.
    let mut state = seed_bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 40) as f32 / (1u64 << 24) as f32
    };
    let short = img_width.min(img_height) as f32;
    let count = if short < 4.0 {
        0
    } else {
        1 + (next() * 5.0) as usize
    };
    let mut circles: Vec<(f32, f32, f32, f32)> = (0..count)
        .map(|_| {
            let r = (short * (0.05 + 0.15 * next())).max(1.0);
            let x = r + next() * (img_width as f32 - 2.0 * r).max(0.0);
            let y = r + next() * (img_height as f32 - 2.0 * r).max(0.0);
            let score = 0.5 + 0.5 * next();
            (x, y, r, score)
        })
        .collect();
    circles.sort_by(|a, b| b.3.total_cmp(&a.3));
    let round = |v: f32| (v * 100.0).round() / 100.0;
    Detection {
        schema_version: SCHEMA_VERSION,
        width: img_width,
        height: img_height,
        objects: circles
            .iter()
            .enumerate()
            .map(|(i, &(x, y, r, s))| {
                CircleObject::new(
                    i as u32 + 1,
                    round(x),
                    round(y),
                    round(r),
                    round(s),
                    img_width,
                    img_height,
                )
            })
            .collect(),
        elapsed_ms: 0.0,
        params: DetectParams {
            method: "dummy".into(),
            min_radius: 0,
            max_radius: 0,
            sensitivity: 0.0,
            max_circles: 5,
            edge_threshold: 0.0,
            min_score: 0.0,
        },
    }
}
