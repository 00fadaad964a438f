//! Centre candidates: every edge point votes along its gradient line, both ways, for centres
//! between the smallest and largest radius; peaks of the smoothed votes are candidates.
//!
//! Votes cast from farther than [`NEAR_RADIUS`] are also kept apart. Nearly every cell
//! collects many of them from unrelated edges, so a candidate's total says little about
//! whether a large circle is centred there; the far votes it holds above those of the cells
//! around it do, and spare the search for large radii around most candidates.

use crate::edges::{nonzero_bits, Edge};
use crate::par;

/// Accumulator cells are this many pixels wide: the radius fit refines the centre later, and
/// coarse cells halve the votes to cast.
pub(crate) const CELL: f32 = 2.0;

/// Votes cast from at most this far (in pixels) count as near.
pub(crate) const NEAR_RADIUS: f32 = 32.0;

/// A candidate centre in pixel coordinates with its smoothed vote count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub x: f32,
    pub y: f32,
    pub votes: u32,
    /// Far votes in the candidate's 3 x 3 cells above the level of the 9 x 9 cells around.
    pub far_excess: f32,
}

/// Returns local maxima of the vote map with at least `min_votes`, most votes first, at most
/// `limit` of them.
pub(crate) fn candidates(
    edges: &[Edge],
    width: usize,
    height: usize,
    min_r: f32,
    max_r: f32,
    min_votes: u32,
    limit: usize,
) -> Vec<Candidate> {
    let aw = (width as f32 / CELL) as usize + 2;
    let ah = (height as f32 / CELL) as usize + 2;
    let ((mut all, mut far), (near_b, far_b)) =
        par::halves(edges, |part| vote(part, aw, ah, min_r, max_r));
    for ((a, f), (n, g)) in all.iter_mut().zip(&mut far).zip(near_b.iter().zip(&far_b)) {
        *f += g;
        *a += n + *f;
    }
    let smooth = box3(&all, aw, ah);
    let mut found = peaks(&smooth, aw, ah, min_votes);
    found.sort_by_key(|c| std::cmp::Reverse(c.votes));
    found.truncate(limit);
    for c in &mut found {
        let (x, y) = ((c.x / CELL) as usize, (c.y / CELL) as usize);
        c.far_excess = excess(&far, aw, ah, x, y);
    }
    found
}

hot! {
    /// The local maxima of the smoothed votes with at least `min_votes`, in raster order.
    fn peaks(smooth: &[u32], aw: usize, ah: usize, min_votes: u32) -> Vec<Candidate> {
        let mut found = Vec::new();
        let mut peak = vec![0u8; aw];
        for y in 1..ah - 1 {
            let row = |dy: usize| &smooth[(y + dy - 1) * aw..(y + dy) * aw];
            peaks_in_row(row(0), row(1), row(2), min_votes, &mut peak[1..aw - 1]);
            // Peaks are rare: a bit mask per 32 cells, walked by set bit.
            for (k, chunk) in peak.chunks(32).enumerate() {
                let mut bits = nonzero_bits(chunk);
                while bits != 0 {
                    let x = k * 32 + bits.trailing_zeros() as usize;
                    found.push(Candidate {
                        x: x as f32 * CELL,
                        y: y as f32 * CELL,
                        votes: row(1)[x],
                        far_excess: 0.0,
                    });
                    bits &= bits - 1;
                }
            }
        }
        found
    }
}

/// Marks the local maxima with at least `min_votes` among cells 1 to `aw - 2` of the middle
/// row. Strict on one side, lenient on the other, so a flat top yields one peak. Branch-free,
/// so it vectorises.
#[inline(always)]
fn peaks_in_row(up: &[u32], mid: &[u32], down: &[u32], min_votes: u32, out: &mut [u8]) {
    let n = out.len();
    let v = &mid[1..n + 1];
    let (left, right) = (&mid[..n], &mid[2..n + 2]);
    let (ul, u, ur) = (&up[..n], &up[1..n + 1], &up[2..n + 2]);
    let (dl, d, dr) = (&down[..n], &down[1..n + 1], &down[2..n + 2]);
    for x in 0..n {
        let c = v[x];
        out[x] = u8::from(
            (c >= min_votes)
                & (c > ul[x])
                & (c > u[x])
                & (c > ur[x])
                & (c > left[x])
                & (c >= right[x])
                & (c >= dl[x])
                & (c >= d[x])
                & (c >= dr[x]),
        );
    }
}

/// Far votes in the 3 x 3 cells around `(x, y)` less the number expected from the mean of
/// the other cells of the 9 x 9 block around it (clipped to the map).
fn excess(far: &[u32], aw: usize, ah: usize, x: usize, y: usize) -> f32 {
    let (mut inner, mut outer, mut cells) = (0u32, 0u32, 0u32);
    for yy in y.saturating_sub(4)..(y + 5).min(ah) {
        for xx in x.saturating_sub(4)..(x + 5).min(aw) {
            let v = far[yy * aw + xx];
            if xx.abs_diff(x) <= 1 && yy.abs_diff(y) <= 1 {
                inner += v;
            } else {
                outer += v;
                cells += 1;
            }
        }
    }
    inner as f32 - 9.0 * outer as f32 / cells.max(1) as f32
}

hot! {
    /// Casts the votes of `edges`; returns the near and the far accumulators.
    fn vote(edges: &[Edge], aw: usize, ah: usize, min_r: f32, max_r: f32) -> (Vec<u32>, Vec<u32>) {
        // Fixed point with 16 fractional bits: the inner loop is integer adds and one store.
        const ONE: f32 = 65536.0;
        let mut near = vec![0u32; aw * ah];
        let mut far = vec![0u32; aw * ah];
        let steps = ((max_r - min_r) / CELL).max(0.0) as i64 + 1;
        // Steps up to this one cast near votes.
        let near_steps = ((NEAR_RADIUS - min_r) / CELL).max(-1.0) as i64 + 1;
        let (lim_x, lim_y) = (
            ((aw - 1) as f32 * ONE) as i64,
            ((ah - 1) as f32 * ONE) as i64,
        );
        // Steps a ray starting at `p` (fixed point) with increment `s` stays within [0, lim).
        let room = |p: i64, s: i64, lim: i64| -> i64 {
            if p < 0 || p >= lim {
                0
            } else if s > 0 {
                (lim - 1 - p) / s + 1
            } else if s < 0 {
                p / -s + 1
            } else {
                i64::MAX
            }
        };
        for (k, e) in edges.iter().enumerate() {
            let (cx, cy) = (e.x / CELL + 0.5, e.y / CELL + 0.5);
            for sign in [1.0f32, -1.0] {
                let (ux, uy) = (sign * e.ux, sign * e.uy);
                let mut px = ((cx + ux * (min_r / CELL)) * ONE) as i64;
                let mut py = ((cy + uy * (min_r / CELL)) * ONE) as i64;
                let (sx, sy) = ((ux * ONE) as i64, (uy * ONE) as i64);
                let n = steps.min(room(px, sx, lim_x)).min(room(py, sy, lim_y));
                let near_n = n.min(near_steps);
                for _ in 0..near_n {
                    near[(py >> 16) as usize * aw + (px >> 16) as usize] += 1;
                    px += sx;
                    py += sy;
                }
                // Far votes at every other step, counted twice; odd and even edge points take
                // alternate steps.
                let mut left = n - near_n;
                if k % 2 == 1 && left > 0 {
                    px += sx;
                    py += sy;
                    left -= 1;
                }
                for _ in 0..(left + 1) / 2 {
                    far[(py >> 16) as usize * aw + (px >> 16) as usize] += 2;
                    px += 2 * sx;
                    py += 2 * sy;
                }
            }
        }
        (near, far)
    }
}

hot! {
    /// 3x3 box sum; the border stays zero.
    fn box3(acc: &[u32], aw: usize, ah: usize) -> Vec<u32> {
        let mut rows = vec![0u32; aw * ah];
        for y in 0..ah {
            for x in 1..aw - 1 {
                let i = y * aw + x;
                rows[i] = acc[i - 1] + acc[i] + acc[i + 1];
            }
        }
        let mut out = vec![0u32; aw * ah];
        for y in 1..ah - 1 {
            for x in 0..aw {
                let i = y * aw + x;
                out[i] = rows[i - aw] + rows[i] + rows[i + aw];
            }
        }
        out
    }
}
