//! From candidate centres to circles: a radius histogram per centre, a least-squares fit to
//! the supporting edge points, the circumference coverage that becomes the score, and the
//! checks that turn away ellipses, polygons and lines.

use crate::edges::Edge;
use crate::hough::{Candidate, NEAR_RADIUS};

/// Edge points sorted into square buckets, so a candidate reads only the points near it, in
/// contiguous runs. Coordinates and gradients are kept in separate arrays (structure of
/// arrays) so the radius histogram's inner loop runs over plain `f32` slices and vectorises.
pub(crate) struct Grid {
    cols: usize,
    rows: usize,
    /// Points `start[c]..start[c + 1]` are the edges in bucket `c`.
    start: Vec<u32>,
    x: Vec<f32>,
    y: Vec<f32>,
    ux: Vec<f32>,
    uy: Vec<f32>,
}

const BUCKET: f32 = 16.0;
/// The widest ring whose two rims are reported as one circle.
const RING_WIDTH: f32 = 12.0;

impl Grid {
    pub(crate) fn new(edges: &[Edge], width: usize, height: usize) -> Self {
        let cols = (width as f32 / BUCKET) as usize + 1;
        let rows = (height as f32 / BUCKET) as usize + 1;
        let bucket = |e: &Edge| {
            let c = ((e.x / BUCKET) as usize).min(cols - 1);
            let r = ((e.y / BUCKET) as usize).min(rows - 1);
            r * cols + c
        };
        let mut start = vec![0u32; cols * rows + 1];
        for e in edges {
            start[bucket(e) + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let n = edges.len();
        let (mut x, mut y, mut ux, mut uy) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for e in edges {
            let b = bucket(e);
            let i = fill[b] as usize;
            (x[i], y[i], ux[i], uy[i]) = (e.x, e.y, e.ux, e.uy);
            fill[b] += 1;
        }
        Grid {
            cols,
            rows,
            start,
            x,
            y,
            ux,
            uy,
        }
    }

    /// Calls `f` with each run of point indices in the buckets touching the disc of radius
    /// `reach` around `(x, y)`: per row of buckets, those the disc's chord spans.
    #[inline(always)]
    fn runs(&self, x: f32, y: f32, reach: f32, mut f: impl FnMut(std::ops::Range<usize>)) {
        let span = |v: f32, half: f32, n: usize| {
            let lo = ((v - half) / BUCKET).floor().max(0.0) as usize;
            let hi = (((v + half) / BUCKET).floor().max(0.0) as usize).min(n - 1);
            (lo, hi)
        };
        let (r0, r1) = span(y, reach, self.rows);
        for r in r0..=r1 {
            let top = r as f32 * BUCKET;
            let dy = (top - y).max(y - (top + BUCKET)).max(0.0);
            if dy > reach {
                continue;
            }
            let (c0, c1) = span(x, (reach * reach - dy * dy).sqrt(), self.cols);
            if c0 > c1 {
                continue;
            }
            let a = self.start[r * self.cols + c0] as usize;
            let b = self.start[r * self.cols + c1 + 1] as usize;
            f(a..b);
        }
    }

    /// Calls `f` with every edge in the buckets touching the disc of radius `reach`.
    fn near(&self, x: f32, y: f32, reach: f32, mut f: impl FnMut(&Edge)) {
        self.runs(x, y, reach, |run| {
            for i in run {
                f(&Edge {
                    x: self.x[i],
                    y: self.y[i],
                    ux: self.ux[i],
                    uy: self.uy[i],
                });
            }
        });
    }
}

/// Rounds `v` (from 0 to 2²³) to the nearest whole number, ties to even, by adding 2²³: the
/// sum's mantissa is the result. Unlike `as`, which checks for NaN and overflow lane by lane,
/// this vectorises.
#[inline(always)]
pub(crate) fn round_small(v: f32) -> u32 {
    const TWO_23: f32 = 8_388_608.0;
    (v + TWO_23).to_bits().wrapping_sub(TWO_23.to_bits())
}

/// A verified circle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Circle {
    pub x: f32,
    pub y: f32,
    pub r: f32,
    pub score: f32,
    pub polarity: Polarity,
}

impl Circle {
    /// True when `guess` would most likely be fitted to this circle again: close centre and
    /// nearly equal radius (closer than the two rims of a thin ring).
    fn fitted(&self, guess: &Circle) -> bool {
        let dist = ((self.x - guess.x).powi(2) + (self.y - guess.y).powi(2)).sqrt();
        dist <= (3.0f32).max(0.1 * self.r)
            && (self.r - guess.r).abs() <= (1.5f32).max(0.05 * self.r)
    }

    /// True when `other` has about the same centre and radius: the two describe one circle.
    fn repeats(&self, other: &Circle) -> bool {
        let small = self.r.min(other.r);
        let dist = ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt();
        dist <= (4.0f32).max(0.2 * small) && (self.r - other.r).abs() <= (5.0f32).max(0.2 * small)
    }
}

/// Which way the gradient points across the rim. The two rims of a drawn ring have opposite
/// polarities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Polarity {
    /// Gradient points outwards: the inside is darker.
    DarkInside,
    /// Gradient points inwards: the inside is lighter.
    LightInside,
}

/// Thresholds derived from the options.
pub(crate) struct Rules {
    pub min_r: f32,
    pub max_r: f32,
    pub min_score: f32,
}

/// Gradient within about 25° of the radius.
const RADIAL_LOOSE: f32 = 0.9;
/// Gradient within about 18° of the radius: what counts as support.
const RADIAL_TIGHT: f32 = 0.95;
/// Share of a circle's expected far votes that must stand out (some spread into the cells
/// around the centre and count as background).
const FAR_MARGIN: f32 = 0.75;
/// Edge pixels per pixel of circumference for a thin digital circle: 2√2/π.
const PIXELS_PER_LENGTH: f32 = 0.9;

/// The largest radius worth searching around `c`.
pub(crate) fn search_radius(c: &Candidate, rules: &Rules) -> f32 {
    // A circle of radius r with enough coverage casts at least this share of its edge pixels
    // into the candidate's cells, so few votes rule out large radii: the search stays local.
    const CAPTURED: f32 = 0.4;
    let per_radius = 2.0 * std::f32::consts::PI * PIXELS_PER_LENGTH * rules.min_score * CAPTURED;
    let max_r = rules.max_r.min(c.votes as f32 / per_radius);
    // A circle larger than NEAR_RADIUS would stand out among the far votes around it.
    if c.far_excess < FAR_MARGIN * per_radius * NEAR_RADIUS {
        max_r.min(NEAR_RADIUS + 4.0)
    } else {
        max_r
    }
}

hot! {
    /// The circles around one candidate centre (several when rings are concentric).
    ///
    /// Radii that repeat a circle already in `out` are not fitted again.
    pub(crate) fn circles_at(grid: &Grid, c: &Candidate, rules: &Rules, out: &mut Vec<Circle>) {
        let max_r = search_radius(c, rules);
        if max_r < rules.min_r {
            return;
        }
        let max_bin = max_r.ceil() as usize + 3;
        // Bins past `max_bin + 1` take the points that do not count, in turn, so that counting
        // them never waits on the previous increment of the same bin.
        const DISCARD: usize = 8;
        let mut hist = vec![0u32; max_bin + 2 + DISCARD];
        let lo2 = (rules.min_r - 3.0).max(1.0).powi(2);
        let hi2 = (max_r + 3.0).powi(2);
        // Two branch-free passes per block of points: one that vectorises and gives each point
        // its bin, then the counting. About three points in four fail the tests, at random, so
        // branching on them would mispredict often.
        const BLOCK: usize = 64;
        let mut bins = [0u32; BLOCK];
        let discard: [u32; BLOCK] = std::array::from_fn(|j| (max_bin + 2 + j % DISCARD) as u32);
        grid.runs(c.x, c.y, max_r + 3.0, |run| {
            for start in run.clone().step_by(BLOCK) {
                let end = (start + BLOCK).min(run.end);
                let n = end - start;
                let (xs, ys) = (&grid.x[start..end], &grid.y[start..end]);
                let (uxs, uys) = (&grid.ux[start..end], &grid.uy[start..end]);
                let (bins, discard) = (&mut bins[..n], &discard[..n]);
                for j in 0..n {
                    let (dx, dy) = (xs[j] - c.x, ys[j] - c.y);
                    let d2 = dx * dx + dy * dy;
                    let dot = dx * uxs[j] + dy * uys[j];
                    // |cos| >= RADIAL_LOOSE, written without a division.
                    let counts =
                        (d2 >= lo2) & (d2 <= hi2) & (dot * dot >= RADIAL_LOOSE * RADIAL_LOOSE * d2);
                    let r = round_small(d2.sqrt());
                    let keep = u32::from(counts).wrapping_neg();
                    bins[j] = (r & keep) | (discard[j] & !keep);
                }
                for &bin in bins.iter() {
                    hist[bin as usize] += 1;
                }
            }
        });
        // Support of radius r as a fraction of a full circle's edge pixels.
        let support = |r: usize| {
            let s = hist[r.saturating_sub(1)] + hist[r] + hist[(r + 1).min(max_bin + 1)];
            s as f32 / (2.0 * std::f32::consts::PI * PIXELS_PER_LENGTH * r as f32)
        };
        let lo = (rules.min_r.floor() as usize).max(2);
        let hi = (max_r.ceil() as usize).min(max_bin);
        let mut peaks: Vec<(usize, f32)> = Vec::new();
        for r in lo..=hi {
            let s = support(r);
            if s < rules.min_score * 0.6 {
                continue;
            }
            if s >= support(r - 1) && s > support(r + 1) {
                peaks.push((r, s));
            }
        }
        peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
        for &(r, _) in peaks.iter().take(3) {
            let guess = Circle {
                x: c.x,
                y: c.y,
                r: r as f32,
                score: 0.0,
                polarity: Polarity::DarkInside,
            };
            if out.iter().any(|known| known.fitted(&guess)) {
                continue;
            }
            if let Some(circle) = refine(grid, c.x, c.y, r as f32, rules) {
                out.push(circle);
            }
        }
    }
}

/// Fits a circle to the edge points near radius `r` around `(x, y)`, twice with a narrowing
/// band, then scores it; `None` when it is no circle.
fn refine(grid: &Grid, x: f32, y: f32, r: f32, rules: &Rules) -> Option<Circle> {
    let mut fit = (x, y, r);
    for band in [(2.0f32).max(0.08 * r), 0.0] {
        let band = if band > 0.0 {
            band
        } else {
            (1.5f32).max(0.04 * fit.2)
        };
        let mut sums = FitSums::default();
        let (fx, fy, fr) = fit;
        grid.near(fx, fy, fr + band + 1.0, |e| {
            let (dx, dy) = (e.x - fx, e.y - fy);
            let d = (dx * dx + dy * dy).sqrt();
            if (d - fr).abs() <= band
                && d > 0.5
                && ((dx * e.ux + dy * e.uy) / d).abs() >= RADIAL_LOOSE
            {
                sums.add(dx, dy);
            }
        });
        let (cx, cy, cr) = sums.solve()?;
        fit = (fx + cx, fy + cy, cr);
    }
    let (fx, fy, fr) = fit;
    if !(fr >= rules.min_r - 0.5 && fr <= rules.max_r + 0.5) {
        return None;
    }
    let (score, polarity) = coverage(grid, fx, fy, fr);
    if score < rules.min_score || eccentric(grid, fx, fy, fr) {
        return None;
    }
    Some(Circle {
        x: fx,
        y: fy,
        r: fr,
        score,
        polarity,
    })
}

/// Coverage of the circle: the fraction of arcs of about 3 px that hold an edge point within
/// the band whose gradient points along the radius, counting one polarity at a time (a disc
/// is brighter or darker than its surroundings all the way round), and that polarity.
fn coverage(grid: &Grid, x: f32, y: f32, r: f32) -> (f32, Polarity) {
    const MAX_SECTORS: usize = 256;
    let sectors = ((2.0 * std::f32::consts::PI * r / 3.0).round() as usize).clamp(8, MAX_SECTORS);
    let band = (1.5f32).max(0.04 * r);
    let mut hit = [[false; MAX_SECTORS]; 2];
    let per_radian = sectors as f32 / (2.0 * std::f32::consts::PI);
    grid.near(x, y, r + band + 1.0, |e| {
        let (dx, dy) = (e.x - x, e.y - y);
        let d = (dx * dx + dy * dy).sqrt();
        if (d - r).abs() > band || d < 0.5 {
            return;
        }
        let cos = (dx * e.ux + dy * e.uy) / d;
        if cos.abs() < RADIAL_TIGHT {
            return;
        }
        let a = dy.atan2(dx) + std::f32::consts::PI;
        hit[usize::from(cos > 0.0)][((a * per_radian) as usize).min(sectors - 1)] = true;
    });
    let count = |h: &[bool; MAX_SECTORS]| h[..sectors].iter().filter(|&&h| h).count();
    let (dark, light) = (count(&hit[0]), count(&hit[1]));
    let polarity = if light >= dark {
        Polarity::DarkInside
    } else {
        Polarity::LightInside
    };
    (dark.max(light) as f32 / sectors as f32, polarity)
}

/// True when the edge points around the circle trace an ellipse: their distance from the
/// centre swings with twice the angle by more than a few percent of the radius.
fn eccentric(grid: &Grid, x: f32, y: f32, r: f32) -> bool {
    let band = (3.0f32).max(0.25 * r);
    // Normal equations for d - r = a + b cos 2θ + c sin 2θ.
    let mut m = [[0f64; 3]; 3];
    let mut v = [0f64; 3];
    grid.near(x, y, r + band + 1.0, |e| {
        let (dx, dy) = (e.x - x, e.y - y);
        let d = (dx * dx + dy * dy).sqrt();
        if (d - r).abs() > band || d < 0.5 || ((dx * e.ux + dy * e.uy) / d).abs() < RADIAL_LOOSE {
            return;
        }
        let (c, s) = ((dx * dx - dy * dy) / (d * d), 2.0 * dx * dy / (d * d));
        let basis = [1.0, f64::from(c), f64::from(s)];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += basis[i] * basis[j];
            }
            v[i] += basis[i] * f64::from(d - r);
        }
    });
    match solve3(m, v) {
        Some([_, b, c]) => ((b * b + c * c).sqrt() as f32) > (0.75f32).max(0.05 * r),
        None => false,
    }
}

/// Running sums for the algebraic (Kåsa) circle fit, in coordinates relative to the guess.
#[derive(Default)]
struct FitSums {
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
    xy: f64,
    xz: f64,
    yz: f64,
    z: f64,
}

impl FitSums {
    fn add(&mut self, x: f32, y: f32) {
        let (x, y) = (f64::from(x), f64::from(y));
        let z = x * x + y * y;
        self.n += 1.0;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
        self.xz += x * z;
        self.yz += y * z;
        self.z += z;
    }

    /// Solves x² + y² + D x + E y + F = 0 in the least-squares sense; returns centre and radius.
    fn solve(&self) -> Option<(f32, f32, f32)> {
        if self.n < 8.0 {
            return None;
        }
        let m = [
            [self.xx, self.xy, self.x],
            [self.xy, self.yy, self.y],
            [self.x, self.y, self.n],
        ];
        let [d, e, f] = solve3(m, [-self.xz, -self.yz, -self.z])?;
        let (cx, cy) = (-d / 2.0, -e / 2.0);
        let r2 = cx * cx + cy * cy - f;
        (r2 > 0.0).then(|| (cx as f32, cy as f32, r2.sqrt() as f32))
    }
}

/// Solves a 3x3 linear system by Cramer's rule; `None` when it is singular.
fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, slot) in out.iter_mut().enumerate() {
        let mut a = m;
        for i in 0..3 {
            a[i][k] = v[i];
        }
        *slot = det(a) / d;
    }
    Some(out)
}

/// Drops circles that repeat a better one (same centre and radius within a few pixels) and
/// folds the inner and outer rims of a ring (concentric, close radii, opposite polarities)
/// into one circle on the ring's centre line. Concentric circles whose radii differ clearly
/// are both kept.
pub(crate) fn suppress(mut circles: Vec<Circle>, max: usize) -> Vec<Circle> {
    circles.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.r.total_cmp(&a.r)));
    let mut kept: Vec<(Circle, bool)> = Vec::new();
    for c in circles {
        let mut absorbed = false;
        for (k, merged) in kept.iter_mut() {
            let small = c.r.min(k.r);
            let dist = ((c.x - k.x).powi(2) + (c.y - k.y).powi(2)).sqrt();
            let rims = dist <= (4.0f32).max(0.2 * small)
                && (c.r - k.r).abs() <= RING_WIDTH.max(0.3 * small)
                && c.polarity != k.polarity;
            if !rims && !k.repeats(&c) {
                continue;
            }
            absorbed = true;
            if c.polarity != k.polarity && !*merged && c.score >= 0.8 * k.score {
                k.x = (k.x + c.x) / 2.0;
                k.y = (k.y + c.y) / 2.0;
                k.r = (k.r + c.r) / 2.0;
                *merged = true;
            }
            break;
        }
        if !absorbed {
            kept.push((c, false));
            if kept.len() == max {
                break;
            }
        }
    }
    kept.into_iter().map(|(c, _)| c).collect()
}
