//! The service-facing surface: options, errors, the JSON shape, dummy mode and annotation.

mod common;

use assay_circles::{
    annotate, decode, detect, dummy_detection, DecodedImage, DetectOptions, Limits,
};
use image::{Rgb, RgbImage};

fn one_disc() -> DecodedImage {
    let mut canvas = common::Canvas::new(120, 90, 30.0);
    canvas.disc(60.0, 45.0, 20.0, 210.0);
    DecodedImage::from_rgb(canvas.to_rgb())
}

#[test]
fn bad_options_are_refused_with_their_name() {
    let cases = [
        (
            DetectOptions {
                sensitivity: 1.5,
                ..Default::default()
            },
            "sensitivity",
        ),
        (
            DetectOptions {
                sensitivity: f32::NAN,
                ..Default::default()
            },
            "sensitivity",
        ),
        (
            DetectOptions {
                max_circles: 0,
                ..Default::default()
            },
            "max_circles",
        ),
        (
            DetectOptions {
                min_radius: Some(0),
                ..Default::default()
            },
            "min_radius",
        ),
        (
            DetectOptions {
                min_radius: Some(30),
                max_radius: Some(10),
                ..Default::default()
            },
            "max_radius",
        ),
    ];
    for (opts, name) in cases {
        let err = opts.validate().expect_err(name);
        assert_eq!((err.code(), err.http_status()), ("invalid_option", 422));
        assert!(err.to_string().contains(name), "{err}");
        assert_eq!(
            detect(&one_disc(), &opts).expect_err(name).code(),
            "invalid_option"
        );
    }
    assert!(DetectOptions::default().validate().is_ok());
}

#[test]
fn the_report_has_the_documented_json_shape() {
    let found = detect(&one_disc(), &DetectOptions::default()).expect("detect");
    let json = serde_json::to_value(&found).expect("json");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(120), Some(90))
    );
    let object = &json["objects"][0];
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bbox", "centre", "id", "radius", "score"]);
    assert_eq!(object["id"], 1);
    assert!(object["centre"]["x"].is_f64() && object["centre"]["y"].is_f64());
    for key in ["x", "y", "width", "height"] {
        assert!(object["bbox"][key].is_u64(), "bbox.{key}");
    }
    assert_eq!(object["bbox"]["x"], 40);
    assert_eq!(json["params"]["min_radius"], 5);
    assert_eq!(json["params"]["max_radius"], 45);
}

#[test]
fn ids_follow_score_and_respect_max_circles() {
    let mut canvas = common::Canvas::new(200, 100, 200.0);
    for (i, x) in [30.0, 80.0, 130.0, 175.0].iter().enumerate() {
        canvas.disc(*x, 50.0, 12.0 + i as f32, 20.0);
    }
    let img = DecodedImage::from_rgb(canvas.to_rgb());
    let all = detect(&img, &DetectOptions::default()).expect("detect");
    assert_eq!(all.objects.len(), 4);
    for (i, pair) in all.objects.windows(2).enumerate() {
        assert_eq!(pair[0].id, i as u32 + 1);
        assert!(pair[0].score >= pair[1].score);
    }
    let two = detect(
        &img,
        &DetectOptions {
            max_circles: 2,
            ..Default::default()
        },
    )
    .expect("detect");
    assert_eq!(two.objects.len(), 2);
}

#[test]
fn degenerate_images_give_no_circles_and_no_panic() {
    for (w, h) in [(1, 1), (3, 2), (7, 7), (300, 4)] {
        let img = DecodedImage::from_rgb(RgbImage::from_pixel(w, h, Rgb([128, 128, 128])));
        assert!(detect(&img, &DetectOptions::default())
            .expect("detect")
            .objects
            .is_empty());
    }
    let flat = DecodedImage::from_rgb(RgbImage::from_pixel(64, 64, Rgb([0, 0, 0])));
    let opts = DetectOptions {
        min_radius: Some(50),
        max_radius: Some(400),
        ..Default::default()
    };
    assert!(detect(&flat, &opts).expect("detect").objects.is_empty());
}

#[test]
fn dummy_detections_are_deterministic() {
    let a = dummy_detection(640, 480, b"same bytes");
    let b = dummy_detection(640, 480, b"same bytes");
    let c = dummy_detection(640, 480, b"other bytes");
    assert_eq!(a, b);
    assert_ne!(a.objects, c.objects);
    assert_eq!(a.params.method, "dummy");
    assert!(!a.objects.is_empty() && a.objects.len() <= 5);
    for (i, o) in a.objects.iter().enumerate() {
        assert_eq!(o.id, i as u32 + 1);
        assert!((0.5..=1.0).contains(&o.score));
        assert!(o.bbox.x + o.bbox.width <= 640 && o.bbox.y + o.bbox.height <= 480);
    }
    assert!(dummy_detection(2, 2, b"tiny").objects.is_empty());
}

#[test]
fn annotate_returns_a_png_of_the_same_size() {
    let img = one_disc();
    let found = detect(&img, &DetectOptions::default()).expect("detect");
    let png = annotate(&img, &found.objects).expect("annotate");
    let back = decode(&png, &Limits::default()).expect("valid png");
    assert_eq!(
        (back.format(), back.width(), back.height()),
        ("png", 120, 90)
    );
    // The outline is drawn in red on the rim, where the source is grey.
    let rim = back.rgb().get_pixel(80, 45);
    assert!(rim[0] > 200 && rim[1] < 100, "{rim:?}");
}
