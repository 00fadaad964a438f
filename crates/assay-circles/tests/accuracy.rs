//! Accuracy on synthetic scenes with known circles: discs and rings among distractor
//! ellipses, rectangles and lines, with blur, noise and partial occlusion.

mod common;

use assay_circles::{detect, DecodedImage, DetectOptions};
use common::{matches, scene, Rng, Truth};

/// Runs the detector with default options on `count` seeded scenes; returns (precision, recall).
fn measure(
    seed: u64,
    count: usize,
    width: usize,
    height: usize,
    max_circles: usize,
    max_r: f32,
) -> (f32, f32) {
    let mut rng = Rng::new(seed);
    let (mut hits, mut found, mut expected) = (0, 0, 0);
    for i in 0..count {
        let (img, truths): (_, Vec<Truth>) = scene(&mut rng, width, height, max_circles, max_r);
        let detection =
            detect(&DecodedImage::from_rgb(img), &DetectOptions::default()).expect("detect");
        let h = matches(&truths, &detection.objects);
        if h != truths.len() || h != detection.objects.len() {
            eprintln!(
                "scene {i}: {} true, {} found, {h} matched",
                truths.len(),
                detection.objects.len()
            );
        }
        hits += h;
        found += detection.objects.len();
        expected += truths.len();
    }
    let precision = hits as f32 / found.max(1) as f32;
    let recall = hits as f32 / expected.max(1) as f32;
    eprintln!(
        "precision {precision:.3}, recall {recall:.3} ({hits} of {expected} true, {found} found)"
    );
    (precision, recall)
}

#[test]
fn small_scenes_meet_the_accuracy_bar() {
    let (precision, recall) = measure(7, 24, 256, 192, 4, 40.0);
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.95, "recall {recall}");
}

/// The full-size version; slow in debug builds, so run with
/// `cargo test --release -p assay-circles -- --ignored`.
#[test]
#[ignore]
fn full_size_scenes_meet_the_accuracy_bar() {
    let (precision, recall) = measure(11, 150, 640, 480, 8, 80.0);
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn centre_and_radius_are_sub_pixel() {
    let mut canvas = common::Canvas::new(160, 120, 40.0);
    canvas.disc(70.3, 55.7, 23.4, 200.0);
    canvas.ring(125.6, 80.2, 14.2, 3.0, 220.0);
    let found = detect(
        &DecodedImage::from_rgb(canvas.to_rgb()),
        &DetectOptions::default(),
    )
    .expect("detect");
    assert_eq!(found.objects.len(), 2, "{:?}", found.objects);
    let disc = found
        .objects
        .iter()
        .find(|o| o.radius > 20.0)
        .expect("the disc");
    assert!(
        (disc.centre.x - 70.3).abs() < 0.3 && (disc.centre.y - 55.7).abs() < 0.3,
        "{disc:?}"
    );
    assert!((disc.radius - 23.4).abs() < 0.4, "{disc:?}");
    let ring = found
        .objects
        .iter()
        .find(|o| o.radius < 20.0)
        .expect("the ring");
    assert!(
        (ring.centre.x - 125.6).abs() < 0.4 && (ring.centre.y - 80.2).abs() < 0.4,
        "{ring:?}"
    );
    assert!((ring.radius - 14.2).abs() < 1.0, "{ring:?}");
}

#[test]
fn ellipses_rectangles_and_lines_are_not_circles() {
    let mut canvas = common::Canvas::new(320, 240, 120.0);
    canvas.ellipse(60.0, 60.0, 40.0, 26.0, 0.3, 220.0);
    canvas.ellipse(200.0, 70.0, 30.0, 22.0, 1.1, 20.0);
    canvas.rect(80.0, 170.0, 30.0, 30.0, 0.2, 230.0);
    canvas.rect(240.0, 170.0, 40.0, 18.0, 0.7, 10.0);
    canvas.line((10.0, 230.0), (310.0, 120.0), 3.0, 250.0);
    let found = detect(
        &DecodedImage::from_rgb(canvas.to_rgb()),
        &DetectOptions::default(),
    )
    .expect("detect");
    assert!(found.objects.is_empty(), "{:?}", found.objects);
}

#[test]
fn concentric_rings_with_clearly_different_radii_are_both_kept() {
    let mut canvas = common::Canvas::new(200, 200, 30.0);
    canvas.ring(100.0, 100.0, 60.0, 3.0, 220.0);
    canvas.ring(100.0, 100.0, 30.0, 3.0, 220.0);
    let found = detect(
        &DecodedImage::from_rgb(canvas.to_rgb()),
        &DetectOptions::default(),
    )
    .expect("detect");
    let truths = [
        Truth {
            x: 100.0,
            y: 100.0,
            r: 60.0,
        },
        Truth {
            x: 100.0,
            y: 100.0,
            r: 30.0,
        },
    ];
    assert_eq!(found.objects.len(), 2, "{:?}", found.objects);
    assert_eq!(matches(&truths, &found.objects), 2, "{:?}", found.objects);
}
