#!/usr/bin/env bash
# The queue on each backend, side by side, with Celery + Redis in the same run.
#
#   bash bench/backends.sh            (from the repository root, as root on Debian)
#
# For every entry of BACKENDS, a fresh database and `assay serve` (crates/assay/examples/
# queue_load.rs as the client): end-to-end jobs/s for BENCH_JOBS no-op `add` jobs over HTTP,
# then the enqueue-to-start latency on the idle queue (BENCH_LATENCY_JOBS jobs submitted one
# at a time; from the POST's answer to the job's started_at), p50 and p99. Then Celery + Redis
# (the shared harness's bench.py) and a table with the ratios.
#
# BACKENDS (default "sqlite postgres postgres-split"):
#   sqlite          the default: SQLite file, workers inside `assay serve`
#   postgres        a fresh PostgreSQL database, workers inside `assay serve`
#   postgres-split  the same, but `serve --no-workers` + one `assay worker` process: jobs
#                   cross processes, so the latency is LISTEN/NOTIFY's
#   nats, redis, amqp
#                   PostgreSQL with that broker (ASSAY_BROKER): jobs are announced from the
#                   outbox and claimed from deliveries; workers inside `assay serve`
# e.g. BACKENDS="sqlite postgres nats redis amqp" bash bench/backends.sh
#
# Settings (environment): BENCH_JOBS (5000), BENCH_CONCURRENCY (64), BENCH_LATENCY_JOBS
# (200), BENCH_PEERS=0 to skip Celery, BENCH_POSTGRES_URL (a server's admin URL; default
# postgres://postgres@127.0.0.1:5432/postgres), ASSAY_SHARED_DIR (holding bench/celery;
# default ../shared beside the repo); other ASSAY_* settings pass through to assay.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

JOBS=${BENCH_JOBS:-5000}
CLIENT_CONCURRENCY=${BENCH_CONCURRENCY:-64}
LATENCY_JOBS=${BENCH_LATENCY_JOBS:-200}
PEERS=${BENCH_PEERS:-1}
read -r -a BACKEND_LIST <<<"${BACKENDS:-sqlite postgres postgres-split}"
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SHARED=${ASSAY_SHARED_DIR:-$REPO/../shared}
CELERY_DIR=$SHARED/bench/celery

PG_DATABASES=()
BROKER_PREFIXES=()
cleanup() {
    local rc=$? db entry
    bench_cleanup
    # What the broker runs left behind (NATS keeps its empty streams: no CLI here).
    for entry in "${BROKER_PREFIXES[@]}"; do
        case ${entry%%:*} in
            redis) redis-cli --scan --pattern "${entry#*:}:*" | xargs -r redis-cli del >/dev/null 2>&1 || true ;;
            amqp) rabbitmqctl -q list_queues name 2>/dev/null | grep "^${entry#*:}\." |
                xargs -r -n1 rabbitmqctl -q delete_queue >/dev/null 2>&1 || true ;;
        esac
    done
    for db in "${PG_DATABASES[@]}"; do
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    stop_started_redis
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# --- prerequisites -----------------------------------------------------------------------
have cargo || die "cargo is needed to build assay"
need_cmd curl
need_cmd setsid util-linux
need_cmd python3
for backend in "${BACKEND_LIST[@]}"; do
    case $backend in postgres* | nats | redis | amqp) need_cmd psql postgresql-client ;; esac
done
[ "$PEERS" != 0 ] && celery_prereqs "$CELERY_DIR"

# --- build -------------------------------------------------------------------------------
log "building assay and the load client (release)"
(cd "$REPO" && cargo build --release --bin assay --example queue_load)
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ASSAY=$TARGET_DIR/release/assay
LOAD=$TARGET_DIR/release/examples/queue_load
{ [ -x "$ASSAY" ] && [ -x "$LOAD" ]; } || die "built binaries not found under $TARGET_DIR/release"
make_tmp_dir WORK

# start_backend NAME DIR: a fresh database for NAME, a user and key, and `assay serve` (plus
# worker processes where the backend wants them); sets URL, KEY and BACKEND_PIDS.
start_backend() {
    local name=$1 dir=$2 serve_args=() workers=0 db port
    mkdir -p "$dir"
    case $name in
        sqlite)
            export ASSAY_DATABASE_URL=sqlite://$dir/assay.db
            ;;
        postgres | postgres-split)
            db=assay_bench_$(date +%s)_$RANDOM
            psql -q "$PG_ADMIN" -c "CREATE DATABASE $db" >/dev/null || die "CREATE DATABASE $db failed"
            PG_DATABASES+=("$db")
            export ASSAY_DATABASE_URL=${PG_ADMIN%/*}/$db
            if [ "$name" = postgres-split ]; then
                serve_args=(--no-workers)
                workers=1
            fi
            ;;
        nats | redis | amqp)
            db=assay_bench_$(date +%s)_$RANDOM
            psql -q "$PG_ADMIN" -c "CREATE DATABASE $db" >/dev/null || die "CREATE DATABASE $db failed"
            PG_DATABASES+=("$db")
            export ASSAY_DATABASE_URL=${PG_ADMIN%/*}/$db
            export ASSAY_BROKER_PREFIX=$db
            BROKER_PREFIXES+=("$name:$db")
            case $name in
                nats) export ASSAY_BROKER=nats://127.0.0.1:4222 ;;
                redis) export ASSAY_BROKER=redis://127.0.0.1:6379 ;;
                amqp) export ASSAY_BROKER=amqp://guest:guest@127.0.0.1:5672/%2f ;;
            esac
            ;;
        *) die "unknown backend $name; add a case to start_backend" ;;
    esac
    "$ASSAY" --data-dir "$dir" user create bench >/dev/null 2>&1 || die "$name: assay user create failed"
    KEY=$("$ASSAY" --data-dir "$dir" apikey create --user bench 2>/dev/null)
    [ -n "$KEY" ] || die "$name: assay apikey create printed no key"
    port=$(free_port)
    URL=http://127.0.0.1:$port
    BACKEND_PIDS=()
    bg_start "$dir/serve.log" "$ASSAY" --data-dir "$dir" serve --listen "127.0.0.1:$port" "${serve_args[@]}"
    BACKEND_PIDS+=("$BG_PID")
    for ((i = 0; i < workers; i++)); do
        bg_start "$dir/worker$i.log" "$ASSAY" --data-dir "$dir" worker
        BACKEND_PIDS+=("$BG_PID")
    done
    if ! (wait_for 30 "$name /healthz" http_ok "$URL/healthz"); then
        tail -n 20 "$dir/serve.log" >&2
        die "$name: assay did not come up"
    fi
    unset ASSAY_DATABASE_URL ASSAY_BROKER ASSAY_BROKER_PREFIX
}

declare -A E2E ENQ P50 P99
for backend in "${BACKEND_LIST[@]}"; do
    log "$backend: starting"
    start_backend "$backend" "$WORK/$backend"
    log "$backend: queue_load, $JOBS add jobs with $CLIENT_CONCURRENCY in flight, then $LATENCY_JOBS one at a time"
    out=$(timeout 900 "$LOAD" --url "$URL" --key "$KEY" --jobs "$JOBS" \
        --concurrency "$CLIENT_CONCURRENCY" --latency "$LATENCY_JOBS") || {
        tail -n 20 "$WORK/$backend/serve.log" >&2
        die "$backend: queue_load failed"
    }
    printf '%s\n' "$out" >&2
    E2E[$backend]=$(sed -n 's/.*end_to_end_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
    ENQ[$backend]=$(sed -n 's/.*enqueue_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
    P50[$backend]=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    P99[$backend]=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    [ -n "${E2E[$backend]}" ] && [ -n "${P99[$backend]}" ] || die "$backend: no figures in queue_load output"
    for pid in "${BACKEND_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "$backend: an assay process exited during the benchmark"
        bg_stop "$pid"
    done
done

CELERY_E2E=n/a CELERY_ENQ=n/a
[ "$PEERS" != 0 ] && celery_bench "$CELERY_DIR" "$JOBS" "$WORK"

# --- summary -----------------------------------------------------------------------------
row() { printf '%-16s %12s %12s %10s %12s %12s\n' "$@"; }
echo
echo "== assay queue backends: $JOBS add jobs, $(nproc) CPUs, client concurrency $CLIENT_CONCURRENCY, load $(cut -d' ' -f1-3 /proc/loadavg) =="
row "backend" "jobs/s e2e" "enqueue/s" "vs celery" "start p50 ms" "start p99 ms"
for backend in "${BACKEND_LIST[@]}"; do
    row "$backend" "${E2E[$backend]}" "${ENQ[$backend]}" "$(ratio "${E2E[$backend]}" "$CELERY_E2E")" \
        "${P50[$backend]}" "${P99[$backend]}"
done
row "celery+redis" "$CELERY_E2E" "$CELERY_ENQ" "1.0x" "-" "-"
echo "targets: >= 3000 jobs/s end to end and >= 10x Celery on every backend"
