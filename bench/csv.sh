#!/usr/bin/env bash
# Times `assay run csv FILE --json` against polars' read_csv + describe on the same generated file,
# reporting wall time and peak RSS for each run and the ratio of the medians.
#
#   bench/csv.sh [ROWS] [RUNS]        (defaults: 5000000 rows, 3 runs each)
#
# ASSAY_SHARED_DIR overrides where the peer scripts live (default: ../shared beside the repo).
set -euo pipefail

rows="${1:-5000000}"
runs="${2:-3}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${ASSAY_SHARED_DIR:-$repo/../shared}"
peer="$shared/bench/csv"
out="$repo/bench/out"
target="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$out"

[[ -f "$peer/gen.py" ]] || { echo "no $peer/gen.py; set ASSAY_SHARED_DIR" >&2; exit 1; }
if ! python3 -c "import numpy, polars" 2>/dev/null; then
    pip install --quiet numpy polars
fi
if [[ ! -x /usr/bin/time ]]; then
    apt-get update -qq && apt-get install -y -qq time
fi

data="$out/csv_${rows}.csv"
if [[ ! -s "$data" ]]; then
    echo "generating $rows rows into $data"
    python3 "$peer/gen.py" "$rows" "$data"
fi

(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet --release --bin assay)
assay="$target/release/assay"

# Runs a command once; prints "seconds kilobytes".
measure() {
    local log
    log="$(mktemp)"
    /usr/bin/time -f "%e %M" -o "$log" "$@" > /dev/null
    cat "$log"
    rm -f "$log"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "file: $data ($(stat -c %s "$data") bytes), $runs runs each, $(nproc) cores"
assay_times=(); polars_times=(); assay_rss=0; polars_rss=0
for i in $(seq "$runs"); do
    read -r t m < <(measure "$assay" run csv "$data" --json)
    echo "run $i assay : ${t} s, peak RSS $((m / 1024)) MiB"
    assay_times+=("$t"); (( m > assay_rss )) && assay_rss=$m
    read -r t m < <(measure python3 "$peer/polars_describe.py" "$data")
    echo "run $i polars: ${t} s, peak RSS $((m / 1024)) MiB"
    polars_times+=("$t"); (( m > polars_rss )) && polars_rss=$m
done

a=$(printf '%s\n' "${assay_times[@]}" | median)
p=$(printf '%s\n' "${polars_times[@]}" | median)
echo "median assay  ${a} s (peak RSS $((assay_rss / 1024)) MiB)"
echo "median polars ${p} s (peak RSS $((polars_rss / 1024)) MiB)"
awk -v a="$a" -v p="$p" 'BEGIN { printf "assay is %.2fx faster than polars read_csv+describe\n", p / a }'
