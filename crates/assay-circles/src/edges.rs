//! Edge points with sub-pixel position and gradient direction: blur, Sobel, non-maximum
//! suppression, a noise-adaptive threshold and hysteresis.

/// One edge point. `(ux, uy)` is the unit gradient, pointing from dark to bright.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub x: f32,
    pub y: f32,
    pub ux: f32,
    pub uy: f32,
}

pub(crate) struct Edges {
    pub points: Vec<Edge>,
    /// The high hysteresis threshold on the gradient magnitude.
    pub threshold: f32,
}

/// Finds edge points in a `width` x `height` grey image.
///
/// The threshold scales with the median gradient magnitude, which on most images measures
/// the noise, so clean and noisy images need no tuning; `sensitivity` lowers it.
pub(crate) fn find(gray: &[u8], width: usize, height: usize, sensitivity: f32) -> Edges {
    if width < 5 || height < 5 {
        return Edges {
            points: Vec::new(),
            threshold: 0.0,
        };
    }
    let smooth = blur(gray, width, height);
    let (gx, gy, mag) = sobel(&smooth, width, height);
    let noise = median(&mag);
    let threshold = (noise * (4.0 - 2.0 * sensitivity)).max(20.0 - 12.0 * sensitivity);
    let low = threshold * 0.5;
    let points = suppress_and_link(&gx, &gy, &mag, width, height, low, threshold);
    Edges { points, threshold }
}

/// 5-tap binomial blur (σ ≈ 1), borders replicated.
fn blur(gray: &[u8], w: usize, h: usize) -> Vec<f32> {
    const K: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        let row = &gray[y * w..(y + 1) * w];
        for (x, out) in tmp[y * w..(y + 1) * w].iter_mut().enumerate() {
            *out = K
                .iter()
                .enumerate()
                .map(|(k, wk)| wk * f32::from(row[(x + k).saturating_sub(2).min(w - 1)]))
                .sum();
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let rows: [usize; 5] = std::array::from_fn(|k| (y + k).saturating_sub(2).min(h - 1) * w);
        for (x, dst) in out[y * w..(y + 1) * w].iter_mut().enumerate() {
            *dst = rows.iter().zip(K).map(|(r, wk)| wk * tmp[r + x]).sum();
        }
    }
    out
}

type Gradients = (Vec<f32>, Vec<f32>, Vec<f32>);

/// Sobel gradients and magnitude; the one-pixel border is left at zero.
fn sobel(img: &[f32], w: usize, h: usize) -> Gradients {
    let mut gx = vec![0f32; w * h];
    let mut gy = vec![0f32; w * h];
    let mut mag = vec![0f32; w * h];
    if w < 3 || h < 3 {
        return (gx, gy, mag);
    }
    for y in 1..h - 1 {
        let (up, mid, down) = (
            &img[(y - 1) * w..y * w],
            &img[y * w..(y + 1) * w],
            &img[(y + 1) * w..(y + 2) * w],
        );
        for x in 1..w - 1 {
            let dx = (up[x + 1] - up[x - 1])
                + 2.0 * (mid[x + 1] - mid[x - 1])
                + (down[x + 1] - down[x - 1]);
            let dy =
                (down[x - 1] - up[x - 1]) + 2.0 * (down[x] - up[x]) + (down[x + 1] - up[x + 1]);
            let i = y * w + x;
            gx[i] = dx;
            gy[i] = dy;
            mag[i] = (dx * dx + dy * dy).sqrt();
        }
    }
    (gx, gy, mag)
}

/// Median gradient magnitude, from a histogram with quarter-level bins.
fn median(mag: &[f32]) -> f32 {
    const BINS: usize = 4096;
    let mut hist = vec![0u32; BINS];
    for &m in mag {
        hist[((m * 4.0) as usize).min(BINS - 1)] += 1;
    }
    let half = mag.len() as u64 / 2;
    let mut seen = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        seen += u64::from(c);
        if seen > half {
            return i as f32 / 4.0;
        }
    }
    0.0
}

/// Offsets of the neighbour across the edge for the four quantised gradient directions.
fn across(gx: f32, gy: f32) -> (isize, isize) {
    // tan(22.5°) ≈ 0.4142
    let (ax, ay) = (gx.abs(), gy.abs());
    if ay <= ax * 0.4142 {
        (1, 0)
    } else if ax <= ay * 0.4142 {
        (0, 1)
    } else if (gx > 0.0) == (gy > 0.0) {
        (1, 1)
    } else {
        (1, -1)
    }
}

fn suppress_and_link(
    gx: &[f32],
    gy: &[f32],
    mag: &[f32],
    w: usize,
    h: usize,
    low: f32,
    high: f32,
) -> Vec<Edge> {
    // 0: not an edge, 1: candidate above `low`, 2: accepted.
    let mut state = vec![0u8; w * h];
    let mut stack = Vec::new();
    for y in 2..h.saturating_sub(2) {
        for x in 2..w - 2 {
            let i = y * w + x;
            let m = mag[i];
            if m < low {
                continue;
            }
            let (dx, dy) = across(gx[i], gy[i]);
            let step = dy * w as isize + dx;
            let before = mag[(i as isize - step) as usize];
            let after = mag[(i as isize + step) as usize];
            if m > before && m >= after {
                state[i] = 1;
                if m >= high {
                    state[i] = 2;
                    stack.push(i);
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        for n in [
            i - w - 1,
            i - w,
            i - w + 1,
            i - 1,
            i + 1,
            i + w - 1,
            i + w,
            i + w + 1,
        ] {
            if state[n] == 1 {
                state[n] = 2;
                stack.push(n);
            }
        }
    }
    let mut points = Vec::new();
    for y in 2..h.saturating_sub(2) {
        for x in 2..w - 2 {
            let i = y * w + x;
            if state[i] == 2 {
                points.push(subpixel(gx, gy, mag, w, x, y));
            }
        }
    }
    points
}

/// Moves the point to the vertex of the parabola through the magnitudes across the edge.
fn subpixel(gx: &[f32], gy: &[f32], mag: &[f32], w: usize, x: usize, y: usize) -> Edge {
    let i = y * w + x;
    let (dx, dy) = across(gx[i], gy[i]);
    let step = dy * w as isize + dx;
    let before = mag[(i as isize - step) as usize];
    let after = mag[(i as isize + step) as usize];
    let m = mag[i];
    let denom = before - 2.0 * m + after;
    let offset = if denom < 0.0 {
        (0.5 * (before - after) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let inv = 1.0 / m;
    Edge {
        x: x as f32 + offset * dx as f32,
        y: y as f32 + offset * dy as f32,
        ux: gx[i] * inv,
        uy: gy[i] * inv,
    }
}
