//! The typed report: what the service stores and answers, schema version 1.

use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The outcome of one detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub schema_version: u32,
    /// Image width in pixels, after EXIF orientation.
    pub width: u32,
    /// Image height in pixels, after EXIF orientation.
    pub height: u32,
    /// Circles found, best score first, ids 1, 2, 3, …
    pub objects: Vec<CircleObject>,
    /// Wall time of the detection itself, decoding excluded.
    pub elapsed_ms: f64,
    /// The parameters actually used, defaults filled in.
    pub params: DetectParams,
}

/// One circle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircleObject {
    /// 1-based rank by score.
    pub id: u32,
    /// Centre in pixel coordinates: (0, 0) is the centre of the top-left pixel.
    pub centre: Point,
    /// Radius in pixels, sub-pixel.
    pub radius: f32,
    /// The circle's bounding box in whole pixels, clamped to the image.
    pub bbox: BBox,
    /// Fraction of the circumference backed by edge points whose gradient points along the
    /// radius, from 0 to 1.
    pub score: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The parameters a detection ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectParams {
    /// `hough_gradient` for the real detector, `dummy` for [`crate::dummy_detection`].
    pub method: String,
    pub min_radius: u32,
    pub max_radius: u32,
    pub sensitivity: f32,
    pub max_circles: usize,
    /// Gradient magnitude an edge point needed, derived from the image's noise level.
    pub edge_threshold: f32,
    /// Score a circle needed to be reported.
    pub min_score: f32,
}

impl CircleObject {
    /// Builds a circle whose bounding box is clamped to a `width` x `height` image.
    pub(crate) fn new(
        id: u32,
        x: f32,
        y: f32,
        radius: f32,
        score: f32,
        width: u32,
        height: u32,
    ) -> Self {
        let clamp = |v: f32, hi: u32| v.floor().clamp(0.0, hi as f32) as u32;
        let (x0, y0) = (clamp(x - radius, width), clamp(y - radius, height));
        let (x1, y1) = (
            clamp(x + radius + 1.0, width),
            clamp(y + radius + 1.0, height),
        );
        CircleObject {
            id,
            centre: Point { x, y },
            radius,
            bbox: BBox {
                x: x0,
                y: y0,
                width: x1.saturating_sub(x0),
                height: y1.saturating_sub(y0),
            },
            score,
        }
    }
}
