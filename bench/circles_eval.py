"""Scores detections against ground truth with the assay match rule.

A detection matches a true circle that no earlier detection matched when its centre is within
max(3 px, 0.1 r) and its radius within max(3 px, 0.15 r), r being the true radius. Detections
are taken best first; each takes the nearest eligible true circle.

Usage as a script: circles_eval.py TRUTH_JSON DETECTIONS_JSONL  (lines {"file", "ms", "circles"})
"""

import json
import math
import sys


def match_image(truth, found):
    used = [False] * len(truth)
    hits = 0
    for x, y, r, *_ in found:
        best, best_d = None, None
        for i, (tx, ty, tr) in enumerate(truth):
            if used[i]:
                continue
            d = math.hypot(x - tx, y - ty)
            if d <= max(3.0, 0.1 * tr) and abs(r - tr) <= max(3.0, 0.15 * tr):
                if best is None or d < best_d:
                    best, best_d = i, d
        if best is not None:
            used[best] = True
            hits += 1
    return hits


def score(truth, detections):
    """truth: {file: [[x, y, r]]}; detections: {file: [[x, y, r, ...]]} best first."""
    hits = found = expected = 0
    for name, circles in truth.items():
        got = detections.get(name, [])
        hits += match_image(circles, got)
        found += len(got)
        expected += len(circles)
    p = hits / found if found else 0.0
    r = hits / expected if expected else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": hits, "detections": found, "truths": expected}


def main():
    truth = json.load(open(sys.argv[1]))
    lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    dets = {l["file"]: l["circles"] for l in lines}
    s = score(truth, dets)
    s["ms_per_image"] = sum(l["ms"] for l in lines) / max(1, len(lines))
    print(json.dumps(s))


if __name__ == "__main__":
    main()
