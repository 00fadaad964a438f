# shellcheck shell=bash
# Shared helpers for the bench/ scripts; source it, do not run it.
#
# Background processes started with `bg_start` are stopped by `bench_cleanup`, which the
# caller installs as its EXIT trap together with anything else it has to undo.

BENCH_PIDS=()
BENCH_TMP_DIRS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# apt_install PKG...: installs Debian packages, refreshing the package lists only when they
# are missing or the first attempt fails.
_apt_updated=0
apt_install() {
    have apt-get || die "apt-get not found; install $* by hand"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$_apt_updated" = 0 ] && ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        log "apt-get update"
        apt-get update -qq >/dev/null
        _apt_updated=1
    fi
    log "apt-get install $*"
    if ! apt-get install -y -qq "$@" >/dev/null; then
        [ "$_apt_updated" = 1 ] && die "apt-get install $* failed"
        log "apt-get update (install failed with the current lists)"
        apt-get update -qq >/dev/null
        _apt_updated=1
        apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
    fi
}

# need_cmd CMD [DEBIAN_PACKAGE]: makes sure CMD is on PATH.
need_cmd() {
    have "$1" || apt_install "${2:-$1}"
    have "$1" || die "$1 is still missing after installing ${2:-$1}"
}

# need_py_modules MODULE...: pip-installs the Python packages (named as their modules) that
# python3 cannot import yet.
need_py_modules() {
    local missing=() m
    for m in "$@"; do
        python3 -c "import $m" >/dev/null 2>&1 || missing+=("$m")
    done
    [ "${#missing[@]}" = 0 ] && return 0
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "pip install ${missing[*]}"
    local pip=(env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet)
    # Debian's own python3 refuses plain installs (PEP 668); fall back to overriding that.
    "${pip[@]}" "${missing[@]}" 2>/dev/null ||
        "${pip[@]}" --break-system-packages "${missing[@]}" ||
        die "pip install ${missing[*]} failed"
}

# free_port: prints a TCP port nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_tmp_dir VAR: creates a temporary directory, removed at cleanup, and stores its path
# in VAR (not printed: a $(...) subshell would lose the cleanup registration).
make_tmp_dir() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/assay-bench.XXXXXX")
    BENCH_TMP_DIRS+=("$dir")
    printf -v "$1" '%s' "$dir"
}

# bg_start LOGFILE CMD...: starts CMD in the background in a session of its own (so its
# children can be stopped with it) and sets BG_PID.
bg_start() {
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    BG_PID=$!
    BENCH_PIDS+=("$BG_PID")
}

# bg_stop PID: SIGTERM to the process and its session, SIGKILL after 15 s.
bg_stop() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    # setsid makes the process its own group leader, so -PID names exactly its group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local pid dir
    for pid in "${BENCH_PIDS[@]}"; do
        bg_stop "$pid"
    done
    BENCH_PIDS=()
    for dir in "${BENCH_TMP_DIRS[@]}"; do
        rm -rf -- "$dir"
    done
    BENCH_TMP_DIRS=()
}

# wait_for SECONDS WHAT CMD...: retries CMD every 0.2 s until it succeeds; dies at the limit.
wait_for() {
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what not ready after ${seconds}s"
        sleep 0.2
    done
}

# http_ok URL: true when URL answers 2xx.
http_ok() { curl -fs --max-time 2 -o /dev/null "$1"; }

# redis_up: true when Redis answers on 127.0.0.1:6379.
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

# rss_mb PID: the resident set size of PID in MB (MiB), one decimal.
rss_mb() {
    awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

# run_wrk URL: runs wrk -t2 -c32 for WRK_DURATION (default 10s) and sets WRK_RPS and WRK_P99.
# shellcheck disable=SC2034 # the results are read by the caller
run_wrk() {
    local out
    out=$(timeout 120 wrk -t2 -c32 -d"${WRK_DURATION:-10s}" --latency "$1") ||
        die "wrk on $1 failed: $out"
    printf '%s\n' "$out" >&2
    WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    WRK_P99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    [ -n "$WRK_RPS" ] || die "no Requests/sec in wrk output"
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        die "wrk on $1 got error responses"
    fi
}

# ratio A B: A / B with one decimal and an "x", or "n/a".
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.1fx", a / b; else print "n/a" }'
}

# verdict VALUE OP TARGET: "ok" or "MISS" (OP is ge or lt; a trailing "x" is ignored).
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "n/a" || v == "") { print "n/a"; exit }
        pass = (op == "ge") ? (v + 0 >= t + 0) : (v + 0 < t + 0)
        print pass ? "ok" : "MISS"
    }'
}

# --- Celery + Redis, the peer of the queue benchmarks ---------------------------------------
CELERY_REDIS_DB=15
CELERY_BROKER_URL=redis://127.0.0.1:6379/$CELERY_REDIS_DB
STARTED_REDIS=0

# celery_prereqs CELERY_DIR: checks the harness is there and installs what it needs.
celery_prereqs() {
    [ -f "$1/bench.py" ] || die "no Celery harness at $1 (set ASSAY_SHARED_DIR)"
    need_cmd redis-server
    need_cmd redis-cli redis-tools
    need_py_modules celery redis packaging
}

# stop_started_redis: shuts down the Redis that celery_bench started, if it did.
stop_started_redis() {
    if [ "$STARTED_REDIS" = 1 ]; then
        redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
        STARTED_REDIS=0
    fi
}

# celery_bench CELERY_DIR JOBS LOGDIR: the shared harness's bench.py (add tasks end to end,
# one worker of concurrency 2) on Redis database 15; sets CELERY_E2E and CELERY_ENQ.
# shellcheck disable=SC2034 # the results are read by the caller
celery_bench() {
    local dir=$1 jobs=$2 logdir=$3 out pid here
    if ! redis_up; then
        log "starting redis-server on 127.0.0.1:6379"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        STARTED_REDIS=1
        wait_for 20 "redis" redis_up
    fi
    redis-cli -h 127.0.0.1 -p 6379 -n "$CELERY_REDIS_DB" flushdb >/dev/null
    log "starting the Celery worker (concurrency 2, broker $CELERY_BROKER_URL)"
    here=$PWD
    cd "$dir"
    bg_start "$logdir/celery.log" env BROKER="$CELERY_BROKER_URL" \
        python3 -m celery -A tasks worker --concurrency 2 --loglevel warning
    pid=$BG_PID
    if ! (wait_for 120 "celery worker" env BROKER="$CELERY_BROKER_URL" \
        timeout 30 python3 -m celery -A tasks inspect ping --timeout 2); then
        tail -n 20 "$logdir/celery.log" >&2
        die "the Celery worker did not come up"
    fi
    log "celery bench.py $jobs"
    out=$(BROKER="$CELERY_BROKER_URL" timeout 900 python3 bench.py "$jobs") ||
        die "celery bench.py failed"
    cd "$here"
    printf '%s\n' "$out" >&2
    CELERY_E2E=$(sed -n 's/.*end-to-end \([0-9.]*\) tasks\/s.*/\1/p' <<<"$out")
    CELERY_ENQ=$(sed -n 's/.*enqueue \([0-9.]*\)\/s.*/\1/p' <<<"$out")
    [ -n "$CELERY_E2E" ] || die "no end-to-end tasks/s in the Celery output"
    bg_stop "$pid"
    redis-cli -h 127.0.0.1 -p 6379 -n "$CELERY_REDIS_DB" flushdb >/dev/null
}
