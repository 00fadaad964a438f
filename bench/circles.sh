#!/usr/bin/env bash
# Circle detection benchmark: assay-circles against OpenCV's HoughCircles on the same
# synthetic images (bench/circles_gen.py), scored with the same match rule
# (bench/circles_eval.py). Run from anywhere; results go to $OUT (default
# target/circles-bench). OpenCV's parameters are grid-searched on the tune split once and
# cached in $OUT/opencv_params.json (delete it to search again); assay runs with defaults.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/target/circles-bench}"
COUNT="${COUNT:-200}"
REPEAT="${REPEAT:-3}"
cd "$ROOT"

if ! python3 -c "import cv2, numpy" 2>/dev/null; then
    python3 -m pip install --quiet opencv-python-headless numpy
fi

mkdir -p "$OUT"
for split in tune:1 test:2; do
    name="${split%%:*}"
    seed="${split##*:}"
    if [ ! -f "$OUT/$name/truth.json" ]; then
        echo "generating $COUNT $name images" >&2
        python3 bench/circles_gen.py "$OUT" "$name" "$COUNT" "$seed"
    fi
done

cargo build --quiet --release -p assay-circles --example detect_dir
DETECT="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/detect_dir"

if [ ! -f "$OUT/opencv_params.json" ]; then
    echo "grid-searching OpenCV parameters on the tune split (several minutes)" >&2
    python3 bench/circles_opencv.py tune "$OUT/tune" "$OUT/opencv_params.json"
fi

methods=$(python3 -c "import json, sys; print(' '.join(json.load(open(sys.argv[1]))))" "$OUT/opencv_params.json")
declare -A runs
for i in $(seq 1 "$REPEAT"); do
    "$DETECT" "$OUT/test" >"$OUT/assay.$i.jsonl"
    runs[assay]+="${runs[assay]:+,}$OUT/assay.$i.jsonl"
    for m in $methods; do
        python3 bench/circles_opencv.py run "$OUT/test" "$OUT/opencv_params.json" "$m" >"$OUT/$m.$i.jsonl"
        runs[$m]+="${runs[$m]:+,}$OUT/$m.$i.jsonl"
    done
done

echo
echo "test split: $COUNT images of 640x480, $(python3 -c "import json, sys; print(sum(map(len, json.load(open(sys.argv[1])).values())))" "$OUT/test/truth.json") true circles"
echo "time: detection only (file decode excluded for both), per-image minimum over $REPEAT runs"
echo "threads: assay 2 (caller and one kept helper thread); OpenCV $(python3 bench/circles_opencv.py threads) (cv2.getNumThreads)"
echo "OpenCV parameters (tuned on the tune split): $(cat "$OUT/opencv_params.json" | python3 -c "import json, sys; print({m: b['params'] for m, b in json.load(sys.stdin).items()})")"
echo
args=("assay=${runs[assay]}")
for m in $methods; do
    args+=("opencv_$m=${runs[$m]}")
done
python3 bench/circles_eval.py "$OUT/test/truth.json" "${args[@]}"
