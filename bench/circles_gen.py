"""Synthetic circle images with ground truth, shared by both contestants of bench/circles.sh.

Each image is 640x480 grey: a shaded background, 1-8 true circles (filled discs or rings,
radius 8-80, never overlapping each other), distractor ellipses, rectangles and lines, some
shapes drawn over circles to hide part of them, optional blur and Gaussian noise. The
generator is seeded, so a split is the same on every machine.

Usage: circles_gen.py OUT_DIR SPLIT COUNT SEED
Writes OUT_DIR/SPLIT/NNNN.png and OUT_DIR/SPLIT/truth.json ({"NNNN.png": [[x, y, r], ...]}).
"""

import json
import math
import os
import sys

import cv2
import numpy as np

W, H = 640, 480
SHIFT = 4  # cv2 sub-pixel coordinates: values are multiplied by 2**SHIFT
S = 1 << SHIFT


def fix(v):
    return int(round(v * S))


def shade(rng, background, contrast_min=40, contrast_max=120):
    sign = rng.choice([-1, 1])
    c = rng.uniform(contrast_min, contrast_max)
    v = background + sign * c
    if v < 0 or v > 255:
        v = background - sign * c
    return float(np.clip(v, 0, 255))


def place_circles(rng, n):
    circles = []
    for _ in range(n):
        for _ in range(200):
            r = rng.uniform(8, 80)
            x = rng.uniform(r + 3, W - r - 3)
            y = rng.uniform(r + 3, H - r - 3)
            if all(math.hypot(x - cx, y - cy) > r + cr + 6 for cx, cy, cr in circles):
                circles.append((x, y, r))
                break
    return circles


def draw_ellipse(img, rng, colour, x, y, a, b, filled):
    angle = rng.uniform(0, 180)
    thick = -1 if filled else int(rng.integers(1, 5))
    cv2.ellipse(img, (fix(x), fix(y)), (fix(a), fix(b)), angle, 0, 360, colour, thick, cv2.LINE_AA, SHIFT)


def draw_rect(img, rng, colour, x, y, w, h, filled):
    box = cv2.boxPoints(((x, y), (w, h), rng.uniform(0, 90)))
    pts = np.round(box * S).astype(np.int32).reshape(-1, 1, 2)
    if filled:
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, SHIFT)
    else:
        cv2.polylines(img, [pts], True, colour, int(rng.integers(1, 5)), cv2.LINE_AA, SHIFT)


def draw_line(img, rng, colour):
    x, y = rng.uniform(0, W), rng.uniform(0, H)
    length, angle = rng.uniform(60, 300), rng.uniform(0, math.pi)
    x2, y2 = x + length * math.cos(angle), y + length * math.sin(angle)
    cv2.line(img, (fix(x), fix(y)), (fix(x2), fix(y2)), colour, int(rng.integers(1, 5)), cv2.LINE_AA, SHIFT)


def distractor(img, rng, colour, x, y, size):
    kind = rng.integers(0, 3)
    filled = rng.random() < 0.5
    if kind == 0:
        a = size
        draw_ellipse(img, rng, colour, x, y, a, a * rng.uniform(0.45, 0.75), filled)
    elif kind == 1:
        draw_rect(img, rng, colour, x, y, size * 2, size * 2 * rng.uniform(0.3, 1.0), filled)
    else:
        draw_line(img, rng, colour)


def occluded_fraction(mask, x, y, r):
    angles = np.linspace(0, 2 * math.pi, 360, endpoint=False)
    px = np.clip(np.round(x + r * np.cos(angles)).astype(int), 0, W - 1)
    py = np.clip(np.round(y + r * np.sin(angles)).astype(int), 0, H - 1)
    return float((mask[py, px] > 0).mean())


def make(rng):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = rng.uniform(50, 205)
    gx, gy = rng.uniform(-30, 30, size=2)
    img = (base + gx * (xx / W - 0.5) + gy * (yy / H - 0.5)).astype(np.float32)

    for _ in range(rng.integers(0, 4)):
        size = rng.uniform(15, 70)
        distractor(img, rng, shade(rng, base), rng.uniform(0, W), rng.uniform(0, H), size)

    circles = place_circles(rng, int(rng.integers(1, 9)))
    truth = []
    for x, y, r in circles:
        colour = shade(rng, base)
        if rng.random() < 0.6:
            cv2.circle(img, (fix(x), fix(y)), fix(r), colour, -1, cv2.LINE_AA, SHIFT)
        else:
            t = int(rng.integers(2, 6))
            cv2.circle(img, (fix(x), fix(y)), fix(r), colour, t, cv2.LINE_AA, SHIFT)
        truth.append([round(x, 3), round(y, 3), round(r, 3)])

    # Occluders: shapes over a circle that hide at most a third of its rim.
    if circles and rng.random() < 0.4:
        for _ in range(rng.integers(1, 3)):
            x, y, r = circles[rng.integers(0, len(circles))]
            for _ in range(20):
                angle = rng.uniform(0, 2 * math.pi)
                size = rng.uniform(0.3, 0.8) * r + 4
                ox, oy = x + (r + size * 0.3) * math.cos(angle), y + (r + size * 0.3) * math.sin(angle)
                mask = np.zeros((H, W), np.uint8)
                trial_rng = np.random.default_rng(rng.integers(1 << 30))
                state = trial_rng.bit_generator.state
                distractor(mask, trial_rng, 255, ox, oy, size)
                if 0 < occluded_fraction(mask, x, y, r) <= 0.3:
                    trial_rng.bit_generator.state = state
                    distractor(img, trial_rng, shade(rng, base), ox, oy, size)
                    break

    for _ in range(rng.integers(0, 3)):
        draw_line(img, rng, shade(rng, base))

    if rng.random() < 0.5:
        sigma = rng.uniform(0.5, 2.5)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    noise = rng.uniform(0, 20)
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), truth


def main():
    out, split, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    folder = os.path.join(out, split)
    os.makedirs(folder, exist_ok=True)
    truth = {}
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        img, circles = make(rng)
        name = f"{i:04d}.png"
        cv2.imwrite(os.path.join(folder, name), img)
        truth[name] = circles
    with open(os.path.join(folder, "truth.json"), "w") as f:
        json.dump(truth, f)


if __name__ == "__main__":
    main()
