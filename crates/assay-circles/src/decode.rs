//! Size-limited decoding: refuse before allocating, then decode under memory limits.

use std::io::Cursor;

use image::{
    DynamicImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage,
};

use crate::CirclesError;

/// Bounds on what an upload may cost before any pixel is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted; default 50 MiB.
    pub max_bytes: u64,
    /// Widest image accepted, in pixels; default 10 000.
    pub max_width: u32,
    /// Tallest image accepted, in pixels; default 10 000.
    pub max_height: u32,
    /// Most pixels accepted; default 40 million.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 50 * 1024 * 1024,
            max_width: 10_000,
            max_height: 10_000,
            max_pixels: 40_000_000,
        }
    }
}

/// A decoded image, upright (EXIF orientation applied), as grey levels for detection and RGB
/// for drawing.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    format: &'static str,
    gray: GrayImage,
    rgb: RgbImage,
}

impl DecodedImage {
    /// Wraps pixels that were never encoded (tests, generators); the format is `raw`.
    pub fn from_rgb(rgb: RgbImage) -> Self {
        let gray = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
        DecodedImage {
            format: "raw",
            gray,
            rgb,
        }
    }

    pub fn width(&self) -> u32 {
        self.gray.width()
    }

    pub fn height(&self) -> u32 {
        self.gray.height()
    }

    /// `png`, `jpeg`, `webp`, `bmp`, `gif`, or `raw` for [`DecodedImage::from_rgb`].
    pub fn format(&self) -> &'static str {
        self.format
    }

    pub fn gray(&self) -> &GrayImage {
        &self.gray
    }

    pub fn rgb(&self) -> &RgbImage {
        &self.rgb
    }
}

/// Decodes `bytes` as PNG, JPEG, WebP, BMP or GIF (first frame), within `limits`.
///
/// The format comes from the magic bytes, never from a file name. Width and height are read
/// from the header and checked before any pixel buffer is allocated, so a small file that
/// claims to be enormous costs nothing.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DecodedImage, CirclesError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(CirclesError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    if bytes.is_empty() {
        return Err(CirclesError::Empty);
    }
    let (format, name) = sniff(bytes).ok_or_else(|| CirclesError::UnsupportedFormat {
        found: describe_magic(bytes),
    })?;
    let fail = |e: ImageError| map_image_error(e, name);

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits(limits));
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits, name)?;
    let orientation = decoder.orientation().map_err(fail)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(fail)?;
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        format: name,
        gray: image.to_luma8(),
        rgb: image.to_rgb8(),
    })
}

fn sniff(bytes: &[u8]) -> Option<(ImageFormat, &'static str)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some((ImageFormat::Png, "png"))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some((ImageFormat::Jpeg, "jpeg"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some((ImageFormat::WebP, "webp"))
    } else if bytes.starts_with(b"BM") {
        Some((ImageFormat::Bmp, "bmp"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some((ImageFormat::Gif, "gif"))
    } else {
        None
    }
}

fn describe_magic(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("it starts with the bytes {}", head.join(" "))
}

/// The decoder may hold the output plus a few working buffers of the same size, at up to
/// 8 bytes per pixel (16-bit RGBA).
fn decoder_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(8)
            .saturating_add(64 * 1024 * 1024),
    );
    l
}

fn check_dimensions(
    width: u32,
    height: u32,
    limits: &Limits,
    format: &'static str,
) -> Result<(), CirclesError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(CirclesError::DimensionsExceeded {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
            max_pixels: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(CirclesError::Corrupt {
            format,
            reason: format!("its header gives a size of {width}x{height} pixels"),
        });
    }
    Ok(())
}

fn map_image_error(e: ImageError, format: &'static str) -> CirclesError {
    match e {
        ImageError::Limits(l) => CirclesError::MemoryExceeded {
            format,
            reason: l.to_string(),
        },
        ImageError::Unsupported(u) => CirclesError::UnsupportedFormat {
            found: format!("a {format} variant that is not supported: {u}"),
        },
        other => CirclesError::Corrupt {
            format,
            reason: other.to_string(),
        },
    }
}
