//! Finding circular objects in images.
//!
//! Users upload photos and scans of round things (cells, coins, wells, bubbles, holes) and
//! want each one located: centre, radius, bounding box and how sure we are. This crate does
//! that with no HTTP or database in sight: bytes plus [`Limits`] go into [`decode`], a
//! [`DecodedImage`] plus [`DetectOptions`] go into [`detect`], and a typed [`Detection`]
//! (schema version [`SCHEMA_VERSION`]) comes out, or a [`CirclesError`] with a stable code.
//!
//! Why it is built this way:
//!
//! - **Untrusted bytes are bounded before they are decoded.** The format is sniffed from the
//!   magic bytes and the header's width and height are checked against the limits before a
//!   pixel buffer exists, and the decoders run under memory limits, so a 100-byte file that
//!   claims to be 100 000 x 100 000 pixels costs nothing. Nothing here panics on bad input.
//! - **A classical detector, not a model.** Gradient Hough voting finds centre candidates
//!   cheaply; every candidate is then checked against the edge points themselves: a
//!   least-squares circle fit, the fraction of the circumference backed by edge points whose
//!   gradient points along the radius (this is the score), and a test for ellipse-shaped
//!   support. Polygons, lines and ellipses produce Hough peaks too, but not full, round,
//!   radially consistent support, so they are turned away. It needs no weights, runs in
//!   milliseconds, and its thresholds follow the image's own noise level, so the defaults
//!   work without per-image tuning.
//! - **Deterministic.** The same image and options give the same circles, in the same order;
//!   [`dummy_detection`] gives fixed fake circles for wiring tests without detection.
//!
//! ```
//! let png = {
//!     let mut img = image::RgbImage::from_pixel(64, 64, image::Rgb([0, 0, 0]));
//!     for (x, y, p) in img.enumerate_pixels_mut() {
//!         let (dx, dy) = (x as f32 - 32.0, y as f32 - 30.0);
//!         if dx * dx + dy * dy <= 15.0 * 15.0 {
//!             *p = image::Rgb([255, 255, 255]);
//!         }
//!     }
//!     let mut bytes = Vec::new();
//!     img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
//!     bytes
//! };
//! let img = assay_circles::decode(&png, &Default::default())?;
//! let found = assay_circles::detect(&img, &Default::default())?;
//! assert_eq!(found.objects.len(), 1);
//! assert!((found.objects[0].radius - 15.0).abs() < 1.0);
//! # Ok::<(), assay_circles::CirclesError>(())
//! ```

mod annotate;
mod decode;
#[macro_use]
mod dispatch;
mod dummy;
mod edges;
mod error;
mod hough;
mod options;
mod par;
mod report;
mod verify;

use std::time::Instant;

pub use annotate::annotate;
pub use decode::{decode, DecodedImage, Limits};
pub use dummy::dummy_detection;
pub use error::CirclesError;
pub use options::{DetectOptions, DEFAULT_MIN_RADIUS, MAX_CIRCLES_LIMIT};
pub use report::{BBox, CircleObject, DetectParams, Detection, Point, SCHEMA_VERSION};

/// Candidate centres checked per image at most: enough for a crowded image, bounded so a
/// pathological one stays fast.
const MAX_CANDIDATES: usize = 250;

/// Tells the C allocator to keep freed memory for reuse rather than hand it back to the
/// kernel after every image. Detection allocates a few image-sized buffers per call; with
/// glibc's defaults they are returned and faulted in again each time, which costs about a
/// quarter of the detection time on 640x480 images. Programs that detect circles repeatedly
/// call this once at start; it keeps at most 64 MiB of freed memory per arena. Elsewhere than
/// Linux with glibc it does nothing.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator thresholds; it is called before any image work.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// Finds the circles in `img`.
pub fn detect(img: &DecodedImage, opts: &DetectOptions) -> Result<Detection, CirclesError> {
    opts.validate()?;
    let started = Instant::now();
    let (width, height) = (img.width(), img.height());
    let min_r = opts.min_radius.unwrap_or(DEFAULT_MIN_RADIUS);
    let max_r = opts
        .max_radius
        .unwrap_or(width.min(height) / 2)
        .min(width.max(height));
    let sensitivity = opts.sensitivity;
    let min_score = 0.9 - 0.4 * sensitivity;

    let edges = edges::find(
        img.gray().as_raw(),
        width as usize,
        height as usize,
        sensitivity,
    );
    let mut circles = Vec::new();
    if min_r <= max_r && !edges.points.is_empty() {
        let rules = verify::Rules {
            min_r: min_r as f32,
            max_r: max_r as f32,
            min_score,
        };
        // Votes a circle of the smallest radius with just enough coverage would cast.
        let expected = 2.0 * std::f32::consts::PI * 0.9 * min_r as f32 * min_score * 0.6;
        let candidates = hough::candidates(
            &edges.points,
            width as usize,
            height as usize,
            rules.min_r,
            rules.max_r,
            (expected as u32).max(8),
            MAX_CANDIDATES,
        );
        let grid = verify::Grid::new(&edges.points, width as usize, height as usize);
        // Each candidate goes to the thread with less work so far, the work measured by the
        // area searched; a few candidates whose large radii are searched cost most.
        let mut load = [0f32; 2];
        let side: Vec<usize> = candidates
            .iter()
            .map(|c| {
                let reach = verify::search_radius(c, &rules) + 4.0;
                let side = usize::from(load[1] < load[0]);
                load[side] += reach * reach;
                side
            })
            .collect();
        let verify_side = |s: usize| {
            let mut found = Vec::new();
            for (c, _) in candidates.iter().zip(&side).filter(|(_, &t)| t == s) {
                verify::circles_at(&grid, c, &rules, &mut found);
            }
            found
        };
        let (a, b) = par::join(|| verify_side(0), || verify_side(1));
        circles.extend(a);
        circles.extend(b);
    }
    let circles = verify::suppress(circles, opts.max_circles);
    let objects = circles
        .iter()
        .enumerate()
        .map(|(i, c)| CircleObject::new(i as u32 + 1, c.x, c.y, c.r, c.score, width, height))
        .collect();
    Ok(Detection {
        schema_version: SCHEMA_VERSION,
        width,
        height,
        objects,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        params: DetectParams {
            method: "hough_gradient".into(),
            min_radius: min_r,
            max_radius: max_r,
            sensitivity,
            max_circles: opts.max_circles,
            edge_threshold: edges.threshold,
            min_score,
        },
    })
}
