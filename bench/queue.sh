#!/usr/bin/env bash
# The job-pipeline benchmark: assay against its peers, on this machine, in one run.
#
#   bash bench/queue.sh            (from the repository root, as root on Debian)
#
# - assay: end-to-end add jobs/s over the HTTP API (crates/assay/examples/queue_load.rs),
#   idle RSS of a fresh server and of the same server after the load, and wrk on /healthz;
# - Celery + Redis: the shared harness's `bench.py` (tasks/s end to end);
# - FastAPI under uvicorn: wrk on /healthz.
# Then a summary with the ratios and the targets (>= 10x Celery, >= 20x FastAPI, < 50 MB).
#
# Settings (environment): BENCH_JOBS (5000), BENCH_CONCURRENCY (client requests in flight,
# 64), WRK_DURATION (10s), BENCH_PEERS=0 to skip Celery and FastAPI, ASSAY_SHARED_DIR (the
# shared folder holding bench/celery and bench/fastapi; default ../shared beside the repo),
# ASSAY_WORKER_CONCURRENCY and the other ASSAY_* settings pass through to `assay serve`.
# Installs what is missing: wrk, curl, redis (apt-get), celery redis packaging fastapi
# uvicorn (pip). Needs cargo. Exits non-zero on any error or wrong job result; a missed
# target is reported in the summary, not as a failure.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

JOBS=${BENCH_JOBS:-5000}
CLIENT_CONCURRENCY=${BENCH_CONCURRENCY:-64}
PEERS=${BENCH_PEERS:-1}
SHARED=${ASSAY_SHARED_DIR:-$REPO/../shared}
CELERY_DIR=$SHARED/bench/celery
FASTAPI_DIR=$SHARED/bench/fastapi
FASTAPI_PORT=8701

cleanup() {
    local rc=$?
    bench_cleanup
    stop_started_redis
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# --- prerequisites ---------------------------------------------------------------------
have cargo || die "cargo is needed to build assay"
need_cmd curl
need_cmd wrk
need_cmd setsid util-linux
need_cmd python3
if [ "$PEERS" != 0 ]; then
    celery_prereqs "$CELERY_DIR"
    [ -f "$FASTAPI_DIR/app.py" ] || die "no FastAPI harness at $FASTAPI_DIR (set ASSAY_SHARED_DIR)"
    need_py_modules fastapi uvicorn
fi

# --- build -------------------------------------------------------------------------------
log "building assay and the load client (release)"
(cd "$REPO" && cargo build --release --bin assay --example queue_load)
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ASSAY=$TARGET_DIR/release/assay
LOAD=$TARGET_DIR/release/examples/queue_load
{ [ -x "$ASSAY" ] && [ -x "$LOAD" ]; } || die "built binaries not found under $TARGET_DIR/release"

# --- assay -------------------------------------------------------------------------------
make_tmp_dir WORK
DATA=$WORK/data
"$ASSAY" --data-dir "$DATA" user create bench >/dev/null 2>&1 || die "assay user create failed"
KEY=$("$ASSAY" --data-dir "$DATA" apikey create --user bench 2>/dev/null)
[ -n "$KEY" ] || die "assay apikey create printed no key"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
log "starting assay serve on $URL (worker concurrency ${ASSAY_WORKER_CONCURRENCY:-default})"
bg_start "$WORK/assay.log" "$ASSAY" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT"
ASSAY_PID=$BG_PID
if ! (wait_for 30 "assay /healthz" http_ok "$URL/healthz"); then
    tail -n 20 "$WORK/assay.log" >&2
    die "assay did not come up"
fi
sleep 2
RSS_FRESH=$(rss_mb "$ASSAY_PID")
log "assay idle RSS, fresh: ${RSS_FRESH} MB"

log "queue_load: $JOBS add jobs, $CLIENT_CONCURRENCY requests in flight"
LOAD_OUT=$(timeout 900 "$LOAD" --url "$URL" --key "$KEY" --jobs "$JOBS" \
    --concurrency "$CLIENT_CONCURRENCY") || {
    tail -n 20 "$WORK/assay.log" >&2
    die "queue_load failed"
}
printf '%s\n' "$LOAD_OUT" >&2
ASSAY_E2E=$(sed -n 's/.*end_to_end_per_s=\([0-9.]*\).*/\1/p' <<<"$LOAD_OUT")
ASSAY_ENQ=$(sed -n 's/.*enqueue_per_s=\([0-9.]*\).*/\1/p' <<<"$LOAD_OUT")
[ -n "$ASSAY_E2E" ] || die "no end_to_end_per_s in queue_load output"

sleep 5
RSS_AFTER=$(rss_mb "$ASSAY_PID")
log "assay idle RSS, 5 s after the load: ${RSS_AFTER} MB"

log "wrk on assay /healthz"
run_wrk "$URL/healthz"
ASSAY_RPS=$WRK_RPS
ASSAY_P99=$WRK_P99
kill -0 "$ASSAY_PID" 2>/dev/null || die "assay exited during the benchmark"
bg_stop "$ASSAY_PID"

# --- peers -------------------------------------------------------------------------------
CELERY_E2E=n/a CELERY_ENQ=n/a FASTAPI_RPS=n/a FASTAPI_P99=n/a
if [ "$PEERS" != 0 ]; then
    celery_bench "$CELERY_DIR" "$JOBS" "$WORK"

    if http_ok "http://127.0.0.1:$FASTAPI_PORT/healthz"; then
        die "something already answers on port $FASTAPI_PORT"
    fi
    log "starting FastAPI (uvicorn) on port $FASTAPI_PORT"
    cd "$FASTAPI_DIR"
    bg_start "$WORK/uvicorn.log" python3 -m uvicorn app:app --port "$FASTAPI_PORT" --log-level warning
    FASTAPI_PID=$BG_PID
    if ! (wait_for 60 "uvicorn" http_ok "http://127.0.0.1:$FASTAPI_PORT/healthz"); then
        tail -n 20 "$WORK/uvicorn.log" >&2
        die "uvicorn did not come up"
    fi
    log "wrk on FastAPI /healthz"
    run_wrk "http://127.0.0.1:$FASTAPI_PORT/healthz"
    FASTAPI_RPS=$WRK_RPS
    FASTAPI_P99=$WRK_P99
    bg_stop "$FASTAPI_PID"
    cd "$REPO"
fi

# --- summary -----------------------------------------------------------------------------
JOBS_RATIO=$(ratio "$ASSAY_E2E" "$CELERY_E2E")
RPS_RATIO=$(ratio "$ASSAY_RPS" "$FASTAPI_RPS")
row() { printf '%-30s %12s %16s %8s %8s %7s\n' "$@"; }
echo
echo "== assay job pipeline benchmark: $JOBS jobs, $(nproc) CPUs, worker concurrency ${ASSAY_WORKER_CONCURRENCY:-default}, client concurrency $CLIENT_CONCURRENCY =="
row "metric" "assay" "peer" "ratio" "target" "verdict"
row "jobs/s end to end" "$ASSAY_E2E" "$CELERY_E2E celery" "$JOBS_RATIO" ">=10x" "$(verdict "$JOBS_RATIO" ge 10)"
row "jobs/s enqueue" "$ASSAY_ENQ" "$CELERY_ENQ celery" "$(ratio "$ASSAY_ENQ" "$CELERY_ENQ")" "-" "-"
row "/healthz req/s (wrk -c32)" "$ASSAY_RPS" "$FASTAPI_RPS fastapi" "$RPS_RATIO" ">=20x" "$(verdict "$RPS_RATIO" ge 20)"
row "/healthz p99" "$ASSAY_P99" "$FASTAPI_P99 fastapi" "-" "-" "-"
row "idle RSS MB, after load" "$RSS_AFTER" "-" "-" "<50" "$(verdict "$RSS_AFTER" lt 50)"
row "idle RSS MB, fresh" "$RSS_FRESH" "-" "-" "<50" "$(verdict "$RSS_FRESH" lt 50)"
