//! Edge points with sub-pixel position and gradient direction: blur, Sobel, non-maximum
//! suppression, a noise-adaptive threshold and hysteresis.
//!
//! The image is processed in integers, a few rows at a time: each thread blurs and
//! differentiates its half of the image through small rolling row buffers that stay in cache,
//! and writes only what the later steps read (gradient, its magnitude and direction).

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

/// Blurred grey levels carry this many fractional bits, and so do gradient magnitudes.
const FRACTION_BITS: u32 = 4;
const SCALE: f32 = (1 << FRACTION_BITS) as f32;
/// Quarter-level bins of the magnitude histogram whose median measures the noise.
const MEDIAN_BINS: usize = 4096;

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
    let (w, h) = (width, height);
    let half = h / 2;
    let rows = |side: usize| if side == 0 { 0..half } else { half..h };
    // Each thread blurs and differentiates its half, then, with the threshold from both
    // halves' histograms, thins its half's edges.
    let steps = par::two_steps(
        |side| gradients(gray, w, h, rows(side)),
        |side, top, bottom| {
            let noise = median(&top.hist, &bottom.hist, w * h);
            let threshold = (noise * (4.0 - 2.0 * sensitivity)).max(20.0 - 12.0 * sensitivity);
            let grad = Gradients {
                w,
                h,
                half,
                top,
                bottom,
            };
            let maxima = local_maxima(
                &grad,
                rows(side),
                threshold * 0.5 * SCALE,
                threshold * SCALE,
            );
            (maxima, threshold)
        },
    );
    let Some(([top, bottom], [((mut state, mut maxima), threshold), ((state_b, maxima_b), _)])) =
        steps
    else {
        return Edges {
            points: Vec::new(),
            threshold: 0.0,
        };
    };
    state.extend_from_slice(&state_b);
    maxima.extend_from_slice(&maxima_b);
    let grad = Gradients {
        w,
        h,
        half,
        top: &top,
        bottom: &bottom,
    };
    let points = link(&grad, state, &maxima);
    Edges { points, threshold }
}

/// A band of rows of the blurred image and of its Sobel gradient, in units of 1/16 grey
/// level; the gradient is zero on the one-pixel image border. The derivatives themselves are
/// recomputed from the blurred rows for the few edge points that need them.
struct Band {
    blurred: Vec<i16>,
    /// Rounded gradient magnitude.
    mag: Vec<u16>,
    /// Quantised gradient direction, an index into [`ACROSS`].
    dir: Vec<u8>,
    /// Histogram of the magnitudes in quarter grey levels, [`COPIES`] interleaved copies.
    hist: Vec<u32>,
}

/// Consecutive pixels count into different copies of the histogram, so that runs of equal
/// bins do not wait on each other's increments.
const COPIES: usize = 8;

/// Both bands, read by row.
struct Gradients<'a> {
    w: usize,
    h: usize,
    half: usize,
    top: &'a Band,
    bottom: &'a Band,
}

impl Gradients<'_> {
    fn band(&self, y: usize) -> (&Band, usize) {
        if y < self.half {
            (self.top, y * self.w)
        } else {
            (self.bottom, (y - self.half) * self.w)
        }
    }

    fn mag_row(&self, y: usize) -> &[u16] {
        let (b, at) = self.band(y);
        &b.mag[at..at + self.w]
    }

    fn dir_row(&self, y: usize) -> &[u8] {
        let (b, at) = self.band(y);
        &b.dir[at..at + self.w]
    }

    fn blurred_row(&self, y: usize) -> &[i16] {
        let (b, at) = self.band(y);
        &b.blurred[at..at + self.w]
    }

    fn mag_at(&self, x: usize, y: usize) -> u16 {
        self.mag_row(y)[x]
    }

    /// Sobel derivatives at an inner pixel.
    fn sobel_at(&self, x: usize, y: usize) -> (i16, i16) {
        let (up, mid, down) = (
            self.blurred_row(y - 1),
            self.blurred_row(y),
            self.blurred_row(y + 1),
        );
        let (mut gx, mut gy) = ([0i16; 3], [0i16; 3]);
        sobel(
            &up[x - 1..x + 2],
            &mid[x - 1..x + 2],
            &down[x - 1..x + 2],
            &mut gx,
            &mut gy,
        );
        (gx[1], gy[1])
    }
}

/// 9-tap binomial kernel (σ = √2), weights summing to 256: enough smoothing that low-contrast
/// rims in strong noise still give connected edges, little enough for radius-5 circles.
const KERNEL: [u32; 5] = [70, 56, 28, 8, 1];

hot! {
    /// Blurs (borders replicated) and differentiates rows `rows` of the image.
    fn gradients(gray: &[u8], w: usize, h: usize, rows: std::ops::Range<usize>) -> Band {
        let n = rows.len() * w;
        let mut band = Band {
            blurred: Vec::with_capacity(n),
            mag: Vec::with_capacity(n),
            dir: Vec::with_capacity(n),
            hist: vec![0u32; COPIES * MEDIAN_BINS],
        };
        // Horizontally blurred source rows (exact, at most 255 * 256), by source row modulo 16.
        const RING: usize = 16;
        let mut horizontal = vec![0u16; RING * w];
        let mut next_source = rows.start.saturating_sub(5);
        let mut padded = vec![0u8; w + 8];
        // Blurred rows y - 1, y, y + 1 (by y modulo 3), scaled by 16.
        let mut blurred = vec![0i16; 3 * w];
        let mut blur_row = |yy: usize, horizontal: &mut Vec<u16>, out: &mut [i16]| {
            let last = (yy + 4).min(h - 1);
            while next_source <= last {
                let r = next_source;
                let row = &gray[r * w..(r + 1) * w];
                padded[..4].fill(row[0]);
                padded[4..w + 4].copy_from_slice(row);
                padded[w + 4..].fill(row[w - 1]);
                let slot = (r % RING) * w;
                blur_horizontal(&padded, &mut horizontal[slot..slot + w]);
                next_source += 1;
            }
            let src = |k: usize| {
                let r = (yy + k).saturating_sub(4).min(h - 1);
                &horizontal[(r % RING) * w..(r % RING + 1) * w]
            };
            let taps: [&[u16]; 9] = std::array::from_fn(src);
            blur_vertical(&taps, out);
        };
        let first = rows.start.saturating_sub(1);
        for yy in first..rows.start + 1 {
            let slot = (yy % 3) * w;
            blur_row(yy, &mut horizontal, &mut blurred[slot..slot + w]);
        }
        let mut gx = vec![0i16; w];
        let mut gy = vec![0i16; w];
        let mut mag = vec![0u16; w];
        let mut dir = vec![0u8; w];
        for y in rows {
            if y + 1 < h {
                let slot = ((y + 1) % 3) * w;
                blur_row(y + 1, &mut horizontal, &mut blurred[slot..slot + w]);
            }
            let row = |yy: usize| &blurred[(yy % 3) * w..(yy % 3 + 1) * w];
            band.blurred.extend_from_slice(row(y));
            if y == 0 || y + 1 == h {
                band.mag.resize(band.mag.len() + w, 0);
                band.dir.resize(band.dir.len() + w, 0);
                band.hist[0] += w as u32;
                continue;
            }
            sobel(row(y - 1), row(y), row(y + 1), &mut gx, &mut gy);
            magnitude(&gx, &gy, &mut mag, &mut dir);
            for (x, &m) in mag.iter().enumerate() {
                let bin = (usize::from(m) >> (FRACTION_BITS - 2)).min(MEDIAN_BINS - 1);
                band.hist[(x % COPIES) * MEDIAN_BINS + bin] += 1;
            }
            band.mag.extend_from_slice(&mag);
            band.dir.extend_from_slice(&dir);
        }
        band
    }
}

/// One row of the horizontal blur; `padded` holds the row with four replicated pixels on
/// each side.
#[inline(always)]
fn blur_horizontal(padded: &[u8], out: &mut [u16]) {
    let w = out.len();
    let p = |k: usize| &padded[k..k + w];
    let (p0, p1, p2, p3, p4, p5, p6, p7, p8) =
        (p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8));
    let k = KERNEL.map(|k| k as u16);
    for x in 0..w {
        let at = |s: &[u8]| u16::from(s[x]);
        out[x] = k[0] * at(p4)
            + k[1] * (at(p3) + at(p5))
            + k[2] * (at(p2) + at(p6))
            + k[3] * (at(p1) + at(p7))
            + (at(p0) + at(p8));
    }
}

/// One row of the vertical blur from the nine horizontally blurred rows around it, rounded to
/// 1/16 grey level.
#[inline(always)]
fn blur_vertical(taps: &[&[u16]; 9], out: &mut [i16]) {
    let [t0, t1, t2, t3, t4, t5, t6, t7, t8] = *taps;
    let w = out.len();
    let (t0, t1, t2, t3, t4, t5, t6, t7, t8) = (
        &t0[..w],
        &t1[..w],
        &t2[..w],
        &t3[..w],
        &t4[..w],
        &t5[..w],
        &t6[..w],
        &t7[..w],
        &t8[..w],
    );
    const SHIFT: u32 = 16 - FRACTION_BITS;
    for x in 0..w {
        let at = |s: &[u16]| u32::from(s[x]);
        let sum = KERNEL[0] * at(t4)
            + KERNEL[1] * (at(t3) + at(t5))
            + KERNEL[2] * (at(t2) + at(t6))
            + KERNEL[3] * (at(t1) + at(t7))
            + (at(t0) + at(t8));
        out[x] = ((sum + (1 << (SHIFT - 1))) >> SHIFT) as i16;
    }
}

/// Sobel derivatives of one row from the blurred rows above, at and below it; the first and
/// last pixels are zero. At most 4 * 4080 in size, so `i16` holds them.
#[inline(always)]
fn sobel(up: &[i16], mid: &[i16], down: &[i16], gx: &mut [i16], gy: &mut [i16]) {
    let w = gx.len();
    let (up, mid, down, gy) = (&up[..w], &mid[..w], &down[..w], &mut gy[..w]);
    for x in 1..w - 1 {
        gx[x] =
            (up[x + 1] - up[x - 1]) + 2 * (mid[x + 1] - mid[x - 1]) + (down[x + 1] - down[x - 1]);
        gy[x] = (down[x - 1] - up[x - 1]) + 2 * (down[x] - up[x]) + (down[x + 1] - up[x + 1]);
    }
    (gx[0], gy[0], gx[w - 1], gy[w - 1]) = (0, 0, 0, 0);
}

/// Offsets `(dx, dy)` of the neighbour across the edge for each direction code.
const ACROSS: [(isize, isize); 4] = [(1, 0), (0, 1), (1, 1), (1, -1)];

/// Rounded magnitude and the quantised direction (an index into [`ACROSS`]) of each gradient.
#[inline(always)]
fn magnitude(gx: &[i16], gy: &[i16], mag: &mut [u16], dir: &mut [u8]) {
    let w = mag.len();
    let (gx, gy, dir) = (&gx[..w], &gy[..w], &mut dir[..w]);
    for x in 0..w {
        let (a, b) = (i32::from(gx[x]), i32::from(gy[x]));
        let m2 = (a * a + b * b) as f32;
        mag[x] = crate::verify::round_small(m2.sqrt()) as u16;
        // tan(22.5°) ≈ 0.4142, in integers.
        let (ax, ay) = (a.abs(), b.abs());
        let horizontal = ay * 10_000 <= ax * 4142;
        let vertical = ax * 10_000 <= ay * 4142;
        let falling = u8::from((a > 0) != (b > 0));
        dir[x] = if horizontal {
            0
        } else if vertical {
            1
        } else {
            2 + falling
        };
    }
}

/// Median gradient magnitude in grey levels, from the two bands' histograms.
fn median(top: &[u32], bottom: &[u32], pixels: usize) -> f32 {
    let half = pixels as u64 / 2;
    let mut seen = 0u64;
    for bin in 0..MEDIAN_BINS {
        for copy in 0..COPIES {
            let i = copy * MEDIAN_BINS + bin;
            seen += u64::from(top[i]) + u64::from(bottom[i]);
        }
        if seen > half {
            return bin as f32 / 4.0;
        }
    }
    0.0
}

/// Non-maximum suppression of one row, pixels 2 to `w - 3` written to `out`: 0 where the
/// magnitude is below `low` or not above the neighbour before it across the edge and at least
/// the one after, else 2 when it reaches `high` and 1 below. Computes every direction's
/// comparison and picks one, so the loop has no branches and vectorises.
#[inline(always)]
fn classify_row(
    up: &[u16],
    mid: &[u16],
    down: &[u16],
    dir: &[u8],
    low: u16,
    high: u16,
    out: &mut [u8],
) {
    let n = out.len();
    let m = &mid[2..n + 2];
    let (left, right) = (&mid[1..n + 1], &mid[3..n + 3]);
    let (above, below) = (&up[2..n + 2], &down[2..n + 2]);
    let (above_left, below_right) = (&up[1..n + 1], &down[3..n + 3]);
    let (below_left, above_right) = (&down[1..n + 1], &up[3..n + 3]);
    let dir = &dir[2..n + 2];
    for x in 0..n {
        let d = u16::from(dir[x]);
        let mask = |k: u16| u16::from(d == k).wrapping_neg();
        let (m0, m1, m2, m3) = (mask(0), mask(1), mask(2), mask(3));
        let pick = |a: u16, b: u16, c: u16, e: u16| (a & m0) | (b & m1) | (c & m2) | (e & m3);
        let before = pick(left[x], above[x], above_left[x], below_left[x]);
        let after = pick(right[x], below[x], below_right[x], above_right[x]);
        let m = m[x];
        let edge = (m >= low) & (m > before) & (m >= after);
        out[x] = u8::from(edge) * (1 + u8::from(m >= high));
    }
}

hot! {
    /// Canny's non-maximum suppression for the rows `rows`: their state (0: not an edge, 1: local
    /// maximum of at least `low`, 2: one of at least `high`) and the indices of the maxima.
    fn local_maxima(
        grad: &Gradients,
        rows: std::ops::Range<usize>,
        low: f32,
        high: f32,
    ) -> (Vec<u8>, Vec<u32>) {
        let (w, h) = (grad.w, grad.h);
        // Magnitudes are whole numbers: m >= t exactly when m >= ceil(t).
        let (low, high) = (
            low.ceil().min(65535.0) as u16,
            high.ceil().min(65535.0) as u16,
        );
        {
            let mut state = Vec::with_capacity(rows.len() * w);
            let mut maxima = Vec::new();
            for y in rows {
                if y < 2 || y + 2 >= h {
                    state.resize(state.len() + w, 0u8);
                    continue;
                }
                let (up, mid, down) = (grad.mag_row(y - 1), grad.mag_row(y), grad.mag_row(y + 1));
                let start = state.len();
                state.resize(start + w, 0u8);
                let row = &mut state[start..];
                classify_row(
                    up,
                    mid,
                    down,
                    grad.dir_row(y),
                    low,
                    high,
                    &mut row[2..w - 2],
                );
                // Most of a row is no edge: a bit mask per 32 pixels, walked by set bit.
                for (k, chunk) in row.chunks(32).enumerate() {
                    let mut bits = nonzero_bits(chunk);
                    while bits != 0 {
                        let j = bits.trailing_zeros() as usize;
                        maxima.push((y * w + k * 32 + j) as u32);
                        bits &= bits - 1;
                    }
                }
            }
            (state, maxima)
        }
    }
}

/// Bit `j` set where `chunk[j]` (at most 32 bytes) is not zero.
#[inline(always)]
pub(crate) fn nonzero_bits(chunk: &[u8]) -> u32 {
    let mut bits = 0u32;
    for (j, &s) in chunk.iter().enumerate() {
        bits |= u32::from(s != 0) << j;
    }
    bits
}

/// Canny's hysteresis: accepts the maxima connected to accepted ones; returns the accepted
/// points, sub-pixel, in raster order.
fn link(grad: &Gradients, mut state: Vec<u8>, maxima: &[u32]) -> Vec<Edge> {
    let w = grad.w;
    let mut stack: Vec<usize> = maxima
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| state[i] == 2)
        .collect();
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
    maxima
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| state[i] == 2)
        .map(|i| subpixel(grad, i % w, i / w))
        .collect()
}

/// Moves the point to the vertex of the parabola through the magnitudes across the edge.
fn subpixel(grad: &Gradients, x: usize, y: usize) -> Edge {
    let (gx, gy) = grad.sobel_at(x, y);
    let dir = grad.dir_row(y)[x];
    let (dx, dy) = ACROSS[usize::from(dir)];
    let at = |s: isize| {
        let m = grad.mag_at(
            (x as isize + s * dx) as usize,
            (y as isize + s * dy) as usize,
        );
        f32::from(m)
    };
    let (before, after, m) = (at(-1), at(1), f32::from(grad.mag_at(x, y)));
    let denom = before - 2.0 * m + after;
    let offset = if denom < 0.0 {
        (0.5 * (before - after) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let (gx, gy) = (f32::from(gx), f32::from(gy));
    let inv = 1.0 / (gx * gx + gy * gy).sqrt();
    Edge {
        x: x as f32 + offset * dx as f32,
        y: y as f32 + offset * dy as f32,
        ux: gx * inv,
        uy: gy * inv,
    }
}
