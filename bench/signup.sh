#!/usr/bin/env bash
# Password sign-up load benchmark. See BENCHMARKS.md.
#
#   bench/signup.sh                 # 3 runs, 16 clients, 20 s each
#   RUNS=5 bench/signup.sh
#
# Environment (all optional):
#   RUNS=3              load runs; each gets a fresh server and a fresh SQLite file; medians reported
#   CLIENTS=16          concurrent clients
#   DURATION=20         measured seconds per run (at least 15)
#   WARMUP=2            warm-up seconds per run, not counted
#   HASH_SECONDS=8      seconds of each raw argon2id hash-rate probe (one before, one after each load)
#   BENCH_SERVER_ENV    extra KEY=VALUE pairs (space separated) for the server's environment.
#                       Default: DOORWAY_PROJECTS__DEFAULT__RATE_LIMITS__ENABLED=false (the per-IP
#                       sign-up limit would otherwise answer 429 after 5 sign-ups from 127.0.0.1);
#                       set it to "" to run the server with nothing configured.
#   BENCH_OUT=FILE      where to keep the JSON lines (default target/bench/signup-<time>.jsonl)
#   SKIP_BUILD=1        use the binaries already built
#   BENCH_COMMIT        label for the "commit" row (default: git rev-parse --short HEAD, noting
#                       uncommitted changes under crates/)
#   BENCH_SERVER_BIN    server binary to run (default target/release/doorway; skips its build)
#
# Exits non-zero if a server fails to start or a run has errors above 1% of its requests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${RUNS:-3}"
CLIENTS="${CLIENTS:-16}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
HASH_SECONDS="${HASH_SECONDS:-8}"
BENCH_TARGET="$ROOT/target/bench"
SERVER="${BENCH_SERVER_BIN:-$ROOT/target/release/doorway}"
TOOL="$BENCH_TARGET/release/doorway-bench"
mkdir -p "$BENCH_TARGET"
if (( DURATION < 15 )); then echo "warning: DURATION=$DURATION is below the 15 s the goal asks for" >&2; fi
OUT="${BENCH_OUT:-$BENCH_TARGET/signup-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

log() { printf '\n== %s\n' "$*" >&2; }

read -r -a SERVER_ENV <<<"${BENCH_SERVER_ENV-DOORWAY_PROJECTS__DEFAULT__RATE_LIMITS__ENABLED=false}"
# Start from a clean server configuration: drop any DOORWAY_* inherited from the caller.
UNSET_ENV=()
while IFS= read -r name; do UNSET_ENV+=(-u "$name"); done < <(compgen -e | grep '^DOORWAY_' || true)

SERVER_PID=""
RUN_DIR=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [[ -n "$RUN_DIR" ]]; then rm -rf "$RUN_DIR"; fi
  RUN_DIR=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  if [[ -z "${BENCH_SERVER_BIN:-}" ]]; then
    log "building the server (release)"
    nice -n 10 cargo build --release -p doorway
  fi
  log "building the load generator (release, target/bench)"
  nice -n 10 cargo build --release --manifest-path bench/Cargo.toml --target-dir "$BENCH_TARGET"
fi
[[ -x "$SERVER" ]] || { echo "missing $SERVER" >&2; exit 1; }
[[ -x "$TOOL" ]] || { echo "missing $TOOL" >&2; exit 1; }

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
  COMMIT="$COMMIT + uncommitted changes"
fi
COMMIT="${BENCH_COMMIT:-$COMMIT}"
CPU_MODEL="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) × ${CPU_MODEL:-unknown CPU}, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"

: >"$OUT"
for run in $(seq "$RUNS"); do
  # Raw hash rate before and after the load, while no server runs; the report uses the mean, which
  # brackets the load when the machine's speed drifts.
  log "run $run/$RUNS: raw argon2id hash rate, $(nproc) threads, ${HASH_SECONDS} s"
  "$TOOL" hashrate --seconds "$HASH_SECONDS" --run "$run" --phase before | tee -a "$OUT"

  RUN_DIR="$(mktemp -d -t doorway-bench.XXXXXX)"
  PORT="$("$TOOL" free-port)"
  BASE="http://127.0.0.1:$PORT"
  log "run $run/$RUNS: server on $BASE in $RUN_DIR"
  (
    cd "$RUN_DIR"
    exec env "${UNSET_ENV[@]}" RUST_LOG=warn "${SERVER_ENV[@]}" \
      "$SERVER" serve --listen "127.0.0.1:$PORT" >"$RUN_DIR/server.log" 2>&1
  ) &
  SERVER_PID=$!
  if ! "$TOOL" wait --url "$BASE/healthz" --timeout 60 --pid "$SERVER_PID"; then
    echo "server failed to start; its log:" >&2
    cat "$RUN_DIR/server.log" >&2 || true
    exit 1
  fi

  log "run $run/$RUNS: load, $CLIENTS clients, ${WARMUP} s warm-up + ${DURATION} s"
  "$TOOL" load --url "$BASE" --clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP" \
    --server-pid "$SERVER_PID" --run "$run" | tee -a "$OUT"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "server exited during the load; its log:" >&2
    tail -n 50 "$RUN_DIR/server.log" >&2 || true
  elif [[ -s "$RUN_DIR/server.log" ]]; then
    echo "server log (warnings), last lines:" >&2
    tail -n 5 "$RUN_DIR/server.log" >&2
  fi
  cleanup

  log "run $run/$RUNS: raw argon2id hash rate again, after the load"
  "$TOOL" hashrate --seconds "$HASH_SECONDS" --run "$run" --phase after | tee -a "$OUT"
done

log "report ($OUT)"
echo
echo "## Sign-up benchmark: $CLIENTS clients, ${DURATION} s × $RUNS runs"
echo
"$TOOL" report "$OUT" --commit "$COMMIT" --machine "$MACHINE"
