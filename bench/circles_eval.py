"""Scores detections against ground truth with the assay match rule.

A detection matches a true circle that no earlier detection matched when its centre is within
max(3 px, 0.1 r) and its radius within max(3 px, 0.15 r), r being the true radius. Detections
are taken best first; each takes the nearest eligible true circle.

Usage: circles_eval.py TRUTH_JSON NAME=RUN.jsonl[,RUN2.jsonl...] ...
Run files hold one line per image: {"file", "ms", "circles": [[x, y, r, score], ...]}.
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


def load_runs(paths):
    """Detections from the first run; per-image time is the minimum over all runs, which
    filters out pauses caused by other work on the machine."""
    runs = [[json.loads(l) for l in open(p) if l.strip()] for p in paths]
    dets = {l["file"]: l["circles"] for l in runs[0]}
    ms = {}
    for run in runs:
        for l in run:
            ms[l["file"]] = min(ms.get(l["file"], float("inf")), l["ms"])
    return dets, sum(ms.values()) / max(1, len(ms))


def main():
    """circles_eval.py TRUTH_JSON NAME=RUN.jsonl[,RUN2.jsonl...] ...: one table row per name,
    then each row's difference from the first."""
    truth = json.load(open(sys.argv[1]))
    rows = []
    for arg in sys.argv[2:]:
        name, paths = arg.split("=", 1)
        dets, ms = load_runs(paths.split(","))
        rows.append((name, score(truth, dets), ms))
    print(f"{'detector':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'ms/image':>9}")
    for name, s, ms in rows:
        print(f"{name:<28} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>6.3f} {ms:>9.2f}")
    first, s0, ms0 = rows[0]
    for name, s, ms in rows[1:]:
        print(f"{first} vs {name}: F1 {s0['f1'] - s['f1']:+.3f}, ms/image {ms0 - ms:+.2f} ({ms0 / ms:.2f}x)")


if __name__ == "__main__":
    main()
