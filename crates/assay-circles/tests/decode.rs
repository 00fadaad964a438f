//! Decoding: every supported format, the limits, and broken or foreign files.

mod common;

use assay_circles::{decode, CirclesError, Limits};
use common::{encode, png_header_only};
use image::{ImageFormat, Rgb, RgbImage};

fn sample(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 5) as u8, (y * 7) as u8, 90])
    })
}

fn code(result: Result<assay_circles::DecodedImage, CirclesError>) -> &'static str {
    result.expect_err("decode should fail").code()
}

#[test]
fn every_supported_format_decodes() {
    let img = sample(40, 30);
    for (format, name) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpeg"),
        (ImageFormat::WebP, "webp"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Gif, "gif"),
    ] {
        let decoded = decode(&encode(&img, format), &Limits::default()).expect(name);
        assert_eq!(
            (decoded.width(), decoded.height(), decoded.format()),
            (40, 30, name)
        );
        assert_eq!(decoded.gray().dimensions(), (40, 30));
        assert_eq!(decoded.rgb().dimensions(), (40, 30));
    }
}

#[test]
fn a_header_claiming_huge_dimensions_is_refused() {
    let err = decode(&png_header_only(100_000, 100_000), &Limits::default()).expect_err("refused");
    assert_eq!(err.code(), "image_dimensions_exceeded");
    assert_eq!(err.http_status(), 422);
    let message = err.to_string();
    assert!(
        message.contains("100000x100000") && message.contains("10000x10000"),
        "{message}"
    );
}

#[test]
fn width_height_and_pixel_limits_apply() {
    let png = encode(&sample(50, 40), ImageFormat::Png);
    let narrow = Limits {
        max_width: 49,
        ..Limits::default()
    };
    let short = Limits {
        max_height: 39,
        ..Limits::default()
    };
    let few = Limits {
        max_pixels: 1999,
        ..Limits::default()
    };
    for limits in [narrow, short, few] {
        assert_eq!(code(decode(&png, &limits)), "image_dimensions_exceeded");
    }
    let exact = Limits {
        max_width: 50,
        max_height: 40,
        max_pixels: 2000,
        ..Limits::default()
    };
    assert!(decode(&png, &exact).is_ok());
}

#[test]
fn files_over_max_bytes_are_refused_before_decoding() {
    let png = encode(&sample(50, 40), ImageFormat::Png);
    let limits = Limits {
        max_bytes: png.len() as u64 - 1,
        ..Limits::default()
    };
    let err = decode(&png, &limits).expect_err("refused");
    assert_eq!((err.code(), err.http_status()), ("image_too_large", 413));
    assert!(err.to_string().contains(&png.len().to_string()));
}

#[test]
fn truncated_and_damaged_files_are_corrupt() {
    for format in [
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
        ImageFormat::Bmp,
    ] {
        let bytes = encode(&sample(64, 48), format);
        let err = decode(&bytes[..bytes.len() / 2], &Limits::default()).expect_err("truncated");
        assert_eq!(
            (err.code(), err.http_status()),
            ("corrupt_image", 422),
            "{format:?}: {err}"
        );
    }
    let mut png = encode(&sample(64, 48), ImageFormat::Png);
    let n = png.len();
    png[n - 40..n - 12].fill(0xAB);
    assert_eq!(code(decode(&png, &Limits::default())), "corrupt_image");
    assert_eq!(
        code(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 2], &Limits::default())),
        "corrupt_image"
    );
}

#[test]
fn unknown_and_empty_files_are_refused() {
    let err = decode(b"%PDF-1.7 not an image", &Limits::default()).expect_err("refused");
    assert_eq!(
        (err.code(), err.http_status()),
        ("unsupported_image_format", 422)
    );
    assert!(err.to_string().contains("PNG, JPEG, WebP, BMP or GIF"));
    assert_eq!(code(decode(b"", &Limits::default())), "empty_image");
}

/// An APP1 segment holding an EXIF block with one tag: Orientation.
fn exif_segment(orientation: u16) -> Vec<u8> {
    let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    payload.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    payload.extend_from_slice(&orientation.to_be_bytes());
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

#[test]
fn jpeg_exif_orientation_is_applied() {
    // 40x20, bright only in the top-left 10x10 block.
    let img = RgbImage::from_fn(40, 20, |x, y| {
        if x < 10 && y < 10 {
            Rgb([250; 3])
        } else {
            Rgb([10; 3])
        }
    });
    let jpeg = encode(&img, ImageFormat::Jpeg);
    let mut rotated = jpeg[..2].to_vec();
    rotated.extend_from_slice(&exif_segment(6));
    rotated.extend_from_slice(&jpeg[2..]);

    let plain = decode(&jpeg, &Limits::default()).expect("plain");
    assert_eq!((plain.width(), plain.height()), (40, 20));

    // Orientation 6: turn 90° clockwise to view, so the bright block lands top right.
    let upright = decode(&rotated, &Limits::default()).expect("rotated");
    assert_eq!((upright.width(), upright.height()), (20, 40));
    assert!(upright.gray().get_pixel(15, 4)[0] > 200);
    assert!(upright.gray().get_pixel(4, 4)[0] < 60);
}
