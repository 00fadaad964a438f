//! What a caller may tune, and the checks that keep it sane.

use serde::{Deserialize, Serialize};

use crate::CirclesError;

/// The smallest radius searched when the caller gives none: smaller circles are a handful of
/// pixels and indistinguishable from noise specks.
pub const DEFAULT_MIN_RADIUS: u32 = 5;
/// The most circles one detection may return.
pub const MAX_CIRCLES_LIMIT: usize = 10_000;

/// Detection options. Every field has a default that works without per-image tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectOptions {
    /// Smallest radius in pixels; default [`DEFAULT_MIN_RADIUS`].
    pub min_radius: Option<u32>,
    /// Largest radius in pixels; default half the shorter image side.
    pub max_radius: Option<u32>,
    /// 0 (only clear, complete circles) to 1 (also faint or half-hidden ones); default 0.5.
    pub sensitivity: f32,
    /// At most this many circles are returned, best first; default 100.
    pub max_circles: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            min_radius: None,
            max_radius: None,
            sensitivity: 0.5,
            max_circles: 100,
        }
    }
}

impl DetectOptions {
    /// Refuses options no detection could honour.
    pub fn validate(&self) -> Result<(), CirclesError> {
        let invalid = |option, value: String, expected: String| {
            Err(CirclesError::InvalidOption {
                option,
                value,
                expected,
            })
        };
        if !(0.0..=1.0).contains(&self.sensitivity) {
            return invalid(
                "sensitivity",
                self.sensitivity.to_string(),
                "it must be a number from 0 to 1".into(),
            );
        }
        if self.max_circles == 0 || self.max_circles > MAX_CIRCLES_LIMIT {
            return invalid(
                "max_circles",
                self.max_circles.to_string(),
                format!("it must be from 1 to {MAX_CIRCLES_LIMIT}"),
            );
        }
        if self.min_radius == Some(0) {
            return invalid(
                "min_radius",
                "0".into(),
                "it must be at least 1 pixel".into(),
            );
        }
        if self.max_radius == Some(0) {
            return invalid(
                "max_radius",
                "0".into(),
                "it must be at least 1 pixel".into(),
            );
        }
        if let (Some(min), Some(max)) = (self.min_radius, self.max_radius) {
            if max < min {
                return invalid(
                    "max_radius",
                    max.to_string(),
                    format!("it must be at least min_radius ({min})"),
                );
            }
        }
        Ok(())
    }
}
