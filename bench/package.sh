#!/usr/bin/env bash
# Scans the same package artifacts with `assay run package` and GuardDog in the same run:
# prints the time per package for both, the ratio, and assay's verdict and worst finding.
#
#   bench/package.sh [RUNS]        (default: 3 runs of each scanner per artifact)
#
# Artifacts are fetched once with the ecosystems' own clients (npm pack, pip download) into
# bench/out/packages. PACKAGES overrides the list ("npm:NAME@VER pypi:NAME==VER ...").
set -euo pipefail

runs="${1:-3}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
out="$repo/bench/out/packages"
target="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$out"

packages="${PACKAGES:-npm:lodash@4.17.21 npm:express@4.19.2 npm:react@18.3.1 pypi:requests==2.31.0 pypi:numpy==1.26.4 pypi:django==5.0.6}"

need_cmd npm
have guarddog || need_py_modules guarddog
have guarddog || die "guarddog is not on PATH after pip install guarddog"
need_cmd jq

# fetch ECOSYSTEM SPEC: prints the artifact files for one package, downloading them once.
fetch() {
    local eco=$1 spec=$2 dir="$out/${2//[^A-Za-z0-9._-]/_}"
    if [[ ! -d "$dir" ]]; then
        mkdir -p "$dir.tmp"
        if [[ $eco == npm ]]; then
            (cd "$dir.tmp" && npm pack --silent --ignore-scripts "$spec" >/dev/null)
        else
            # Wheels only: downloading an sdist with pip runs its build backend.
            python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dir.tmp" "$spec"
        fi
        mv "$dir.tmp" "$dir"
    fi
    find "$dir" -maxdepth 1 -type f | sort
}

# Seconds (to the millisecond) for one run of a command, its output discarded.
seconds() {
    local start end
    start="$(date +%s.%N)"
    "$@" >/dev/null 2>&1 || true
    end="$(date +%s.%N)"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet --release --bin assay)
assay="$target/release/assay"

printf '%-34s %10s %12s %8s  %-10s %s\n' artifact assay_s guarddog_s ratio verdict worst_finding
ratios=()
for item in $packages; do
    eco="${item%%:*}"
    spec="${item#*:}"
    for file in $(fetch "$eco" "$spec"); do
        report="$("$assay" run package "$file" --ecosystem "$eco" --json)"
        verdict="$(jq -r .verdict <<<"$report")"
        worst="$(jq -r '[.findings[] | select(.severity == "high" or .severity == "critical") | .rule] | unique | join(",") | if . == "" then "none high+" else . end' <<<"$report")"
        # GuardDog refuses wheels ("multiple End-Of-Central-Directory records") and would look
        # a .whl path up on the registry instead: it gets the unpacked wheel, assay the file.
        target="$file"
        if [[ $file == *.whl ]]; then
            target="$out/unpacked/$(basename "$file" .whl)"
            [[ -d $target ]] || python3 -m zipfile -e "$file" "$target"
        fi
        if guarddog "$eco" scan "$target" 2>&1 | grep -q 'Error occurred while scanning'; then
            die "guarddog could not scan $target"
        fi
        a=(); g=()
        for _ in $(seq "$runs"); do
            a+=("$(seconds "$assay" run package "$file" --ecosystem "$eco" --json)")
            g+=("$(seconds guarddog "$eco" scan "$target")")
        done
        am="$(printf '%s\n' "${a[@]}" | median)"
        gm="$(printf '%s\n' "${g[@]}" | median)"
        ratio="$(awk -v a="$am" -v g="$gm" 'BEGIN { if (a < 0.01) a = 0.01; printf "%.1f", g / a }')"
        ratios+=("$ratio")
        printf '%-34s %10s %12s %7sx  %-10s %s\n' "$(basename "$file")" "$am" "$gm" "$ratio" "$verdict" "$worst"
    done
done
printf 'median ratio (GuardDog time / assay time): %sx over %d artifacts, %d runs each, %d cores\n' \
    "$(printf '%s\n' "${ratios[@]}" | median)" "${#ratios[@]}" "$runs" "$(nproc)"
