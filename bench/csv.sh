#!/usr/bin/env bash
# Times `assay run csv FILE --json` against polars' read_csv + describe on the same generated file,
# reporting wall time, CPU time (user + system) and peak RSS for each run, the ratios of the
# medians and the load average, since other work on the machine shows in the wall times.
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

# Runs a command once; prints "wall-seconds cpu-seconds kilobytes".
measure() {
    local log
    log="$(mktemp)"
    /usr/bin/time -f "%e %U %S %M" -o "$log" "$@" > /dev/null
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$log"
    rm -f "$log"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "file: $data ($(stat -c %s "$data") bytes), $runs runs each, $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
assay_times=(); polars_times=(); assay_cpu=(); polars_cpu=(); assay_rss=0; polars_rss=0
for i in $(seq "$runs"); do
    read -r t c m < <(measure "$assay" run csv "$data" --json)
    echo "run $i assay : ${t} s wall, ${c} s CPU, peak RSS $((m / 1024)) MiB"
    assay_times+=("$t"); assay_cpu+=("$c"); (( m > assay_rss )) && assay_rss=$m
    read -r t c m < <(measure python3 "$peer/polars_describe.py" "$data")
    echo "run $i polars: ${t} s wall, ${c} s CPU, peak RSS $((m / 1024)) MiB"
    polars_times+=("$t"); polars_cpu+=("$c"); (( m > polars_rss )) && polars_rss=$m
done

a=$(printf '%s\n' "${assay_times[@]}" | median)
p=$(printf '%s\n' "${polars_times[@]}" | median)
ac=$(printf '%s\n' "${assay_cpu[@]}" | median)
pc=$(printf '%s\n' "${polars_cpu[@]}" | median)
echo "median assay  ${a} s wall, ${ac} s CPU (peak RSS $((assay_rss / 1024)) MiB)"
echo "median polars ${p} s wall, ${pc} s CPU (peak RSS $((polars_rss / 1024)) MiB)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$a" -v p="$p" -v ac="$ac" -v pc="$pc" 'BEGIN {
    printf "assay is %.2fx faster than polars read_csv+describe (wall); %.2fx less CPU\n", p / a, pc / ac
}'
