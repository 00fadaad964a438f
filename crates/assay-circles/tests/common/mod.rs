//! Shared test helpers: a seeded RNG, synthetic scenes with known circles, encoders, and the
//! match rule.

#![allow(dead_code)]

use std::io::Cursor;

use image::{ImageFormat, RgbImage};

/// xorshift64*: small, seeded, the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_f32() * n as f32) as usize).min(n - 1)
    }

    pub fn gaussian(&mut self) -> f32 {
        let u = self.next_f32().max(1e-7);
        let v = self.next_f32();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

/// A grey canvas that shapes are painted onto with 4x4 supersampled anti-aliasing.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, level: f32) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![level; width * height],
        }
    }

    /// Paints `level` where `inside(x, y)` holds, within the box `[x0, x1] x [y0, y1]`.
    pub fn paint(&mut self, bounds: [f32; 4], level: f32, inside: impl Fn(f32, f32) -> bool) {
        let [x0, y0, x1, y1] = bounds;
        let xs =
            (x0.floor().max(0.0) as usize)..((x1.ceil() + 1.0).min(self.width as f32) as usize);
        let ys =
            (y0.floor().max(0.0) as usize)..((y1.ceil() + 1.0).min(self.height as f32) as usize);
        for y in ys {
            for x in xs.clone() {
                let mut hits = 0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let px = x as f32 - 0.375 + 0.25 * sx as f32;
                        let py = y as f32 - 0.375 + 0.25 * sy as f32;
                        hits += usize::from(inside(px, py));
                    }
                }
                if hits > 0 {
                    let a = hits as f32 / 16.0;
                    let p = &mut self.pixels[y * self.width + x];
                    *p = *p * (1.0 - a) + level * a;
                }
            }
        }
    }

    pub fn disc(&mut self, cx: f32, cy: f32, r: f32, level: f32) {
        self.paint([cx - r, cy - r, cx + r, cy + r], level, |x, y| {
            (x - cx).powi(2) + (y - cy).powi(2) <= r * r
        });
    }

    /// A ring whose centre line has radius `r`.
    pub fn ring(&mut self, cx: f32, cy: f32, r: f32, thickness: f32, level: f32) {
        let (lo, hi) = (r - thickness / 2.0, r + thickness / 2.0);
        self.paint([cx - hi, cy - hi, cx + hi, cy + hi], level, |x, y| {
            let d2 = (x - cx).powi(2) + (y - cy).powi(2);
            d2 >= lo * lo && d2 <= hi * hi
        });
    }

    /// A filled ellipse with semi-axes `a`, `b`, turned by `angle` radians.
    pub fn ellipse(&mut self, cx: f32, cy: f32, a: f32, b: f32, angle: f32, level: f32) {
        let (c, s) = (angle.cos(), angle.sin());
        self.paint([cx - a, cy - a, cx + a, cy + a], level, |x, y| {
            let (dx, dy) = (x - cx, y - cy);
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            (u / a).powi(2) + (v / b).powi(2) <= 1.0
        });
    }

    /// A filled rectangle of half-sides `a`, `b`, turned by `angle` radians.
    pub fn rect(&mut self, cx: f32, cy: f32, a: f32, b: f32, angle: f32, level: f32) {
        let (c, s) = (angle.cos(), angle.sin());
        let reach = (a * a + b * b).sqrt();
        self.paint(
            [cx - reach, cy - reach, cx + reach, cy + reach],
            level,
            |x, y| {
                let (dx, dy) = (x - cx, y - cy);
                (dx * c + dy * s).abs() <= a && (-dx * s + dy * c).abs() <= b
            },
        );
    }

    /// A straight stroke from `(x0, y0)` to `(x1, y1)`.
    pub fn line(&mut self, p0: (f32, f32), p1: (f32, f32), thickness: f32, level: f32) {
        let ((x0, y0), (x1, y1)) = (p0, p1);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = dx * dx + dy * dy;
        let t = thickness / 2.0;
        let bounds = [
            x0.min(x1) - t,
            y0.min(y1) - t,
            x0.max(x1) + t,
            y0.max(y1) + t,
        ];
        self.paint(bounds, level, |x, y| {
            let k = (((x - x0) * dx + (y - y0) * dy) / len2).clamp(0.0, 1.0);
            (x - x0 - k * dx).powi(2) + (y - y0 - k * dy).powi(2) <= t * t
        });
    }

    /// Separable Gaussian blur.
    pub fn blur(&mut self, sigma: f32) {
        let radius = (3.0 * sigma).ceil() as isize;
        let kernel: Vec<f32> = (-radius..=radius)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let total: f32 = kernel.iter().sum();
        let (w, h) = (self.width as isize, self.height as isize);
        let pass = |src: &[f32], horizontal: bool| {
            let mut out = vec![0f32; src.len()];
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    for (k, kv) in kernel.iter().enumerate() {
                        let o = k as isize - radius;
                        let (sx, sy) = if horizontal {
                            ((x + o).clamp(0, w - 1), y)
                        } else {
                            (x, (y + o).clamp(0, h - 1))
                        };
                        s += kv * src[(sy * w + sx) as usize];
                    }
                    out[(y * w + x) as usize] = s / total;
                }
            }
            out
        };
        let once = pass(&self.pixels, true);
        self.pixels = pass(&once, false);
    }

    pub fn noise(&mut self, rng: &mut Rng, sigma: f32) {
        for p in &mut self.pixels {
            *p += sigma * rng.gaussian();
        }
    }

    pub fn to_rgb(&self) -> RgbImage {
        RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let v = self.pixels[y as usize * self.width + x as usize]
                .round()
                .clamp(0.0, 255.0) as u8;
            image::Rgb([v, v, v])
        })
    }
}

/// A true circle: centre and radius (the centre line for rings).
#[derive(Debug, Clone, Copy)]
pub struct Truth {
    pub x: f32,
    pub y: f32,
    pub r: f32,
}

/// A level that differs from `background` by 50 to 120 grey levels.
fn contrast(rng: &mut Rng, background: f32) -> f32 {
    let c = rng.range(50.0, 120.0);
    if (rng.next_f32() < 0.5 && background - c >= 0.0) || background + c > 255.0 {
        background - c
    } else {
        background + c
    }
}

/// A scene of 1 to `max_circles` non-overlapping circles (discs and rings) among distractor
/// ellipses (axis ratio 0.45–0.75), rectangles and lines, some drawn over circles, with blur
/// and Gaussian noise.
pub fn scene(
    rng: &mut Rng,
    width: usize,
    height: usize,
    max_circles: usize,
    max_r: f32,
) -> (RgbImage, Vec<Truth>) {
    let background = rng.range(60.0, 195.0);
    let mut canvas = Canvas::new(width, height, background);
    let (w, h) = (width as f32, height as f32);
    for _ in 0..1 + rng.below(3) {
        distractor(&mut canvas, rng, background, w, h);
    }
    let mut truths: Vec<Truth> = Vec::new();
    let wanted = 1 + rng.below(max_circles);
    for _ in 0..200 {
        if truths.len() == wanted {
            break;
        }
        let r = rng.range(8.0, max_r);
        let x = rng.range(r + 3.0, w - r - 3.0);
        let y = rng.range(r + 3.0, h - r - 3.0);
        if truths
            .iter()
            .all(|t| ((t.x - x).powi(2) + (t.y - y).powi(2)).sqrt() > t.r + r + 6.0)
        {
            let level = contrast(rng, background);
            if rng.next_f32() < 0.6 {
                canvas.disc(x, y, r, level);
            } else {
                canvas.ring(x, y, r, rng.range(2.0, 5.0), level);
            }
            truths.push(Truth { x, y, r });
        }
    }
    // A line across one circle hides a little of its rim.
    if rng.next_f32() < 0.5 {
        let t = truths[rng.below(truths.len())];
        let a = rng.range(0.0, std::f32::consts::PI);
        let (dx, dy) = (a.cos() * t.r * 1.6, a.sin() * t.r * 1.6);
        let level = contrast(rng, background);
        canvas.line(
            (t.x - dx, t.y - dy),
            (t.x + dx, t.y + dy),
            rng.range(1.0, 3.0),
            level,
        );
    }
    if rng.next_f32() < 0.5 {
        canvas.blur(rng.range(0.5, 2.0));
    }
    let sigma = rng.range(0.0, 15.0);
    canvas.noise(rng, sigma);
    (canvas.to_rgb(), truths)
}

fn distractor(canvas: &mut Canvas, rng: &mut Rng, background: f32, w: f32, h: f32) {
    let level = contrast(rng, background);
    let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
    let a = rng.range(12.0, 45.0);
    let angle = rng.range(0.0, std::f32::consts::PI);
    match rng.below(3) {
        0 => canvas.ellipse(x, y, a, a * rng.range(0.45, 0.75), angle, level),
        1 => canvas.rect(x, y, a, a * rng.range(0.3, 1.0), angle, level),
        _ => {
            let len = rng.range(40.0, 200.0);
            canvas.line(
                (x, y),
                (x + len * angle.cos(), y + len * angle.sin()),
                rng.range(1.0, 4.0),
                level,
            );
        }
    }
}

/// Counts detections that match a true circle: centre within max(3, 0.1 r) and radius within
/// max(3, 0.15 r) of a true circle no earlier detection took, nearest first.
pub fn matches(truths: &[Truth], found: &[assay_circles::CircleObject]) -> usize {
    let mut used = vec![false; truths.len()];
    let mut hits = 0;
    for o in found {
        let best = truths
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                !used[*i]
                    && ((o.centre.x - t.x).powi(2) + (o.centre.y - t.y).powi(2)).sqrt()
                        <= (3.0f32).max(0.1 * t.r)
                    && (o.radius - t.r).abs() <= (3.0f32).max(0.15 * t.r)
            })
            .min_by(|a, b| {
                let d = |t: &Truth| (o.centre.x - t.x).powi(2) + (o.centre.y - t.y).powi(2);
                d(a.1).total_cmp(&d(b.1))
            })
            .map(|(i, _)| i);
        if let Some(i) = best {
            used[i] = true;
            hits += 1;
        }
    }
    hits
}

pub fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format)
        .expect("encode test image");
    out
}

/// A 68-byte PNG whose header claims `width` x `height` pixels, followed by one empty
/// compressed data chunk.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let idat = b"IDAT\x78\x01\x01\x00\x00\xff\xff\x00\x00\x00\x01".to_vec();
    for chunk in [ihdr, idat, b"IEND".to_vec()] {
        png.extend_from_slice(&((chunk.len() - 4) as u32).to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
