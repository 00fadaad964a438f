//! The picture a person checks: the image with every circle and its centre drawn on it.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

use crate::{CircleObject, CirclesError, DecodedImage};

const OUTLINE: Rgb<u8> = Rgb([255, 40, 40]);
const CENTRE: Rgb<u8> = Rgb([40, 255, 40]);

/// Returns PNG bytes of `img` with each circle outlined and its centre marked by a cross.
pub fn annotate(img: &DecodedImage, objects: &[CircleObject]) -> Result<Vec<u8>, CirclesError> {
    let mut canvas = img.rgb().clone();
    let thick = (canvas.width().min(canvas.height()) as f32 / 400.0).clamp(1.0, 4.0);
    for o in objects {
        ring(&mut canvas, o.centre.x, o.centre.y, o.radius, thick);
        let arm = (o.radius * 0.15).clamp(2.0, 12.0) as i64;
        let (cx, cy) = (o.centre.x.round() as i64, o.centre.y.round() as i64);
        for d in -arm..=arm {
            put(&mut canvas, cx + d, cy, CENTRE);
            put(&mut canvas, cx, cy + d, CENTRE);
        }
    }
    let mut out = Vec::new();
    canvas
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| CirclesError::Encode {
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// Paints the pixels whose centres lie within `thick / 2` of the circle, row by row, touching
/// only the two runs of each row that the ring crosses.
fn ring(canvas: &mut RgbImage, x: f32, y: f32, r: f32, thick: f32) {
    let outer = r + thick / 2.0;
    let inner = (r - thick / 2.0).max(0.0);
    let h = i64::from(canvas.height());
    let half_width = |radius: f32, dy: f32| (radius * radius - dy * dy).max(0.0).sqrt();
    for py in ((y - outer).floor() as i64).max(0)..=((y + outer).ceil() as i64).min(h - 1) {
        let dy = py as f32 - y;
        if dy.abs() > outer {
            continue;
        }
        let (o, i) = (
            half_width(outer, dy),
            if dy.abs() < inner {
                half_width(inner, dy)
            } else {
                0.0
            },
        );
        for (from, to) in [(x - o, x - i), (x + i, x + o)] {
            for px in from.ceil() as i64..=to.floor() as i64 {
                put(canvas, px, py, OUTLINE);
            }
        }
    }
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < i64::from(canvas.width()) && y < i64::from(canvas.height()) {
        canvas.put_pixel(x as u32, y as u32, colour);
    }
}
