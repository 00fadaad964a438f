"""OpenCV's cv2.HoughCircles on the bench images: grid search on one split, timed run on another.

Usage:
  circles_opencv.py tune TUNE_DIR OUT_PARAMS_JSON   grid search per method, best F1 wins
  circles_opencv.py run DIR PARAMS_JSON METHOD      one JSON line per image, like detect_dir

Time per image covers the blur (if any) and HoughCircles, not reading the file. The grid runs
in two single-threaded worker processes and skips settings slower than SLOW_MS per image; the timed run uses OpenCV's default thread count.
"""

import itertools
import json
import multiprocessing
import os
import sys
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from circles_eval import score  # noqa: E402

MIN_RADIUS, MAX_RADIUS = 5, 100

# A small grid that runs in minutes on two cores. A wider one (no blur, dp 1, param1 down to
# 50, param2 down to 12) did not finish in half an hour: low thresholds on noisy images make
# HoughCircles take seconds per image. param2 ranges reach past the best values found.
GRIDS = {
    "HOUGH_GRADIENT": {
        "blur": ["gauss", "median"],
        "dp": [1.5, 2.0],
        "min_dist": [10],
        "param1": [100, 150, 200],
        "param2": [40, 60, 80, 100, 130, 160],
    },
    "HOUGH_GRADIENT_ALT": {
        "blur": ["gauss", "median"],
        "dp": [1.5],
        "min_dist": [10],
        "param1": [150, 300],
        "param2": [0.85, 0.9, 0.95, 0.98],
    },
}

# A setting slower than this on the first images is dropped: it finds thousands of edge
# points in the noisy images and would take hours over the grid, and is no contender.
SLOW_MS = 200.0

def preprocess(img, blur):
    if blur == "gauss":
        return cv2.GaussianBlur(img, (0, 0), 1.5)
    if blur == "median":
        return cv2.medianBlur(img, 5)
    return img


def detect(img, method, p):
    src = preprocess(img, p["blur"])
    found = cv2.HoughCircles(
        src,
        getattr(cv2, method),
        dp=p["dp"],
        minDist=p["min_dist"],
        param1=p["param1"],
        param2=p["param2"],
        minRadius=MIN_RADIUS,
        maxRadius=MAX_RADIUS,
    )
    if found is None:
        return []
    return [[float(x), float(y), float(r), 1.0] for x, y, r in found[0]]


def load(folder):
    truth = json.load(open(os.path.join(folder, "truth.json")))
    images = {n: cv2.imread(os.path.join(folder, n), cv2.IMREAD_GRAYSCALE) for n in sorted(truth)}
    return truth, images


_STATE = {}


def _init(folder):
    cv2.setNumThreads(1)
    _STATE["truth"], _STATE["images"] = load(folder)


def _evaluate(job):
    method, p = job
    dets = {}
    started = time.perf_counter()
    for i, (name, img) in enumerate(_STATE["images"].items()):
        dets[name] = detect(img, method, p)
        if i == 4 and (time.perf_counter() - started) * 1000.0 / 5 > SLOW_MS:
            return method, p, None
    return method, p, score(_STATE["truth"], dets)


def tune(folder, out):
    jobs = []
    for method, grid in GRIDS.items():
        if not hasattr(cv2, method):
            continue
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            jobs.append((method, dict(zip(keys, values))))
    best = {}
    with multiprocessing.Pool(2, _init, (folder,)) as pool:
        for method, p, s in pool.imap_unordered(_evaluate, jobs, chunksize=2):
            if s is None:
                continue
            if method not in best or s["f1"] > best[method]["score"]["f1"]:
                best[method] = {"params": p, "score": s}
    json.dump(best, open(out, "w"), indent=1)
    for method, b in best.items():
        print(f"{method}: tune F1 {b['score']['f1']:.3f} with {b['params']}", file=sys.stderr)


def run(folder, params_file, method):
    p = json.load(open(params_file))[method]["params"]
    truth, images = load(folder)
    for name, img in images.items():
        started = time.perf_counter()
        circles = detect(img, method, p)
        ms = (time.perf_counter() - started) * 1000.0
        print(json.dumps({"file": name, "ms": ms, "circles": circles}))


def main():
    if sys.argv[1] == "tune":
        tune(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "threads":
        print(cv2.getNumThreads())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
