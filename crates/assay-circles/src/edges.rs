//! Edge points with sub-pixel position and gradient direction: blur, Sobel, non-maximum
//! suppression, a noise-adaptive threshold and hysteresis.

use crate::par;

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
    let grad = sobel(&smooth, width, height);
    let noise = median(&grad);
    let threshold = (noise * (4.0 - 2.0 * sensitivity)).max(20.0 - 12.0 * sensitivity);
    let points = suppress_and_link(&grad, width, height, threshold * 0.5, threshold);
    Edges { points, threshold }
}

/// 9-tap binomial blur (σ = √2), borders replicated: enough smoothing that low-contrast
/// rims in strong noise still give connected edges, little enough for radius-5 circles.
fn blur(gray: &[u8], w: usize, h: usize) -> Vec<f32> {
    const K: [f32; 5] = [
        70.0 / 256.0,
        56.0 / 256.0,
        28.0 / 256.0,
        8.0 / 256.0,
        1.0 / 256.0,
    ];
    let mut tmp = vec![0f32; w * h];
    par::by_rows(&mut tmp, w, |y, out| {
        let row = &gray[y * w..(y + 1) * w];
        let at = |x: isize| f32::from(row[x.clamp(0, w as isize - 1) as usize]);
        let padded: Vec<f32> = (-4..w as isize + 4).map(at).collect();
        for (o, p) in out.iter_mut().zip(padded.windows(9)) {
            *o = K[0] * p[4]
                + K[1] * (p[3] + p[5])
                + K[2] * (p[2] + p[6])
                + K[3] * (p[1] + p[7])
                + K[4] * (p[0] + p[8]);
        }
    });
    let mut out = vec![0f32; w * h];
    par::by_rows(&mut out, w, |y, dst| {
        let row = |k: usize| {
            let r = (y + k).saturating_sub(4).min(h - 1);
            &tmp[r * w..(r + 1) * w]
        };
        let rows: [&[f32]; 9] = std::array::from_fn(row);
        for (x, d) in dst.iter_mut().enumerate() {
            *d = K[0] * rows[4][x]
                + K[1] * (rows[3][x] + rows[5][x])
                + K[2] * (rows[2][x] + rows[6][x])
                + K[3] * (rows[1][x] + rows[7][x])
                + K[4] * (rows[0][x] + rows[8][x]);
        }
    });
    out
}

/// Sobel derivatives and magnitude of one pixel.
#[derive(Debug, Clone, Copy, Default)]
struct Grad {
    gx: f32,
    gy: f32,
    mag: f32,
}

/// Sobel gradients; the one-pixel border is left at zero.
fn sobel(img: &[f32], w: usize, h: usize) -> Vec<Grad> {
    let mut grad = vec![Grad::default(); w * h];
    par::by_rows(&mut grad, w, |y, out| {
        if y == 0 || y + 1 >= h {
            return;
        }
        let (up, mid, down) = (
            &img[(y - 1) * w..y * w],
            &img[y * w..(y + 1) * w],
            &img[(y + 1) * w..(y + 2) * w],
        );
        for x in 1..w - 1 {
            let gx = (up[x + 1] - up[x - 1])
                + 2.0 * (mid[x + 1] - mid[x - 1])
                + (down[x + 1] - down[x - 1]);
            let gy =
                (down[x - 1] - up[x - 1]) + 2.0 * (down[x] - up[x]) + (down[x + 1] - up[x + 1]);
            out[x] = Grad {
                gx,
                gy,
                mag: (gx * gx + gy * gy).sqrt(),
            };
        }
    });
    grad
}

/// Median gradient magnitude, from a histogram with quarter-level bins.
fn median(grad: &[Grad]) -> f32 {
    const BINS: usize = 4096;
    let mut hist = vec![0u32; BINS];
    for g in grad {
        hist[((g.mag * 4.0) as usize).min(BINS - 1)] += 1;
    }
    let half = grad.len() as u64 / 2;
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
fn across(g: &Grad) -> (isize, isize) {
    // tan(22.5°) ≈ 0.4142
    let (ax, ay) = (g.gx.abs(), g.gy.abs());
    if ay <= ax * 0.4142 {
        (1, 0)
    } else if ax <= ay * 0.4142 {
        (0, 1)
    } else if (g.gx > 0.0) == (g.gy > 0.0) {
        (1, 1)
    } else {
        (1, -1)
    }
}

/// Magnitudes of the two neighbours across the edge at `i`, and the step between them.
fn neighbours(grad: &[Grad], w: usize, i: usize) -> (f32, f32, (isize, isize)) {
    let (dx, dy) = across(&grad[i]);
    let step = dy * w as isize + dx;
    (
        grad[i.wrapping_sub(step as usize)].mag,
        grad[i.wrapping_add(step as usize)].mag,
        (dx, dy),
    )
}

/// Canny's non-maximum suppression and hysteresis; returns the surviving points.
fn suppress_and_link(grad: &[Grad], w: usize, h: usize, low: f32, high: f32) -> Vec<Edge> {
    // 0: not an edge, 1: local maximum above `low`, 2: accepted.
    let mut state = vec![0u8; w * h];
    par::by_rows(&mut state, w, |y, row| {
        if y < 2 || y + 2 >= h {
            return;
        }
        for (x, cell) in row.iter_mut().enumerate().take(w - 2).skip(2) {
            let i = y * w + x;
            let m = grad[i].mag;
            if m < low {
                continue;
            }
            let (before, after, _) = neighbours(grad, w, i);
            if m > before && m >= after {
                *cell = if m >= high { 2 } else { 1 };
            }
        }
    });
    let mut stack: Vec<usize> = (0..w * h).filter(|&i| state[i] == 2).collect();
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
    (0..w * h)
        .filter(|&i| state[i] == 2)
        .map(|i| subpixel(grad, w, i))
        .collect()
}

/// Moves the point to the vertex of the parabola through the magnitudes across the edge.
fn subpixel(grad: &[Grad], w: usize, i: usize) -> Edge {
    let (before, after, (dx, dy)) = neighbours(grad, w, i);
    let g = grad[i];
    let denom = before - 2.0 * g.mag + after;
    let offset = if denom < 0.0 {
        (0.5 * (before - after) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let inv = 1.0 / g.mag;
    Edge {
        x: (i % w) as f32 + offset * dx as f32,
        y: (i / w) as f32 + offset * dy as f32,
        ux: g.gx * inv,
        uy: g.gy * inv,
    }
}
