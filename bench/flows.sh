#!/usr/bin/env bash
# Every flow under load, beside its limit measured in the same run. See BENCHMARKS.md.
#
#   bench/flows.sh                      # SQLite: every flow, 3 runs, 16 clients, 20 s each
#   ENGINE=postgres bench/flows.sh      # the same on a throwaway PostgreSQL it starts and stops
#   FLOWS="me refresh" RUNS=1 DURATION=5 bench/flows.sh     # a quick look while iterating
#   SCENARIO=scale ENGINE=postgres bench/flows.sh           # two instances on one database
#   SCENARIO=overload bench/flows.sh                        # 4x the sustainable rate, 64 clients
#   SCENARIO=pool ENGINE=postgres bench/flows.sh            # the flows at each pool size
#
# Per run and flow: a fresh database and a fresh server (release build, RUST_LOG=warn, rate
# limits off, the fake OpenID provider `doorway-bench provider` configured as provider `bench`,
# which issues oauth-signup's codes before the window so its RSA signing is not measured),
# setup (sessions for me/refresh/sign-out, not measured), WARMUP s not counted, DURATION s
# measured; then, with no server running, the flow's LIMIT on a fresh database made by
# `doorway migrate` + `doorway project add`: the flow's SQL statements back to back from a bare
# client with the server's drivers (bench/src/statements.rs), or for `me` an access-token verification plus the
# session read, or for password-signup the raw argon2id hash rate. Medians over RUNS.
#
# Environment (all optional):
#   ENGINE=sqlite        or postgres: initdb + pg_ctl of the newest /usr/lib/postgresql/*/bin
#                        (as the postgres user when root), a free port, fsync ON and
#                        synchronous_commit ON (durable, like production), pg_stat_statements
#                        loaded to count statements per request; one database per flow and run.
#   FLOWS="jwks me email-signup oauth-signup refresh sign-out password-signup"
#   RUNS=3 CLIENTS=16 DURATION=20 WARMUP=2
#   PREP=6*DURATION      seconds of setup making sign-out's sessions (one per sign-out; the sign-ups
#                        that make them run ~5x slower than sign-outs, and the warm-up uses some;
#                        the limit's bare client writes its sessions in batches, for DURATION s)
#   LIMITS=1             0 skips the limits
#   HASH_SECONDS=8       raw hash-rate probe, the password-signup limit
#   SCENARIO=flows       flows (default) | scale (ENGINE=postgres: each flow on 1, then 2
#                        instances on one database, CLIENTS split between them, every event
#                        sent to the provider's webhook receiver and counted; with SPLIT_CORES=1,
#                        the default, each instance gets cores/instances runtime and hashing
#                        threads) | overload
#                        (each flow at RATE_FACTOR x its rate measured just before, open loop,
#                        plus 64 closed-loop clients on a restarted server for VmHWM; a webhook to the fake provider
#                        counts deliveries; rows and deliveries are checked after the run)
#                        | pool (ENGINE=postgres: each flow once per POOL_SIZES connections,
#                        database.max_connections, to size the pool by measurement)
#   RATE_FACTOR=4 OVERLOAD_CLIENTS=64 OVERLOAD_TIMEOUT=10 (s, the client's per-request timeout)
#   POOL_SIZES="2 4 8 16 32"
#   BENCH_SERVER_ENV     extra KEY=VALUE pairs (space separated) for the servers
#   BENCH_SERVER_BIN     server binary (default target/release/doorway; skips its build)
#   BENCH_TOOL           doorway-bench binary (default target/bench/release/doorway-bench)
#   BENCH_OUT=FILE       JSON lines (default target/bench/flows-<engine>-<time>.jsonl)
#   SKIP_BUILD=1         use the binaries already built
#   KEEP=1               keep the run directory (logs, SQLite files) for a look afterwards
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ENGINE="${ENGINE:-sqlite}"
SCENARIO="${SCENARIO:-flows}"
FLOWS="${FLOWS:-jwks me email-signup oauth-signup refresh sign-out password-signup}"
RUNS="${RUNS:-3}"
CLIENTS="${CLIENTS:-16}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
PREP="${PREP:-$((DURATION * 6))}"
LIMITS="${LIMITS:-1}"
HASH_SECONDS="${HASH_SECONDS:-8}"
RATE_FACTOR="${RATE_FACTOR:-4}"
SPLIT_CORES="${SPLIT_CORES:-1}"
OVERLOAD_CLIENTS="${OVERLOAD_CLIENTS:-64}"
OVERLOAD_TIMEOUT="${OVERLOAD_TIMEOUT:-10}"
BENCH_TARGET="$ROOT/target/bench"
SERVER="${BENCH_SERVER_BIN:-$ROOT/target/release/doorway}"
TOOL="${BENCH_TOOL:-$BENCH_TARGET/release/doorway-bench}"
case "$ENGINE" in sqlite | postgres) ;; *) echo "ENGINE must be sqlite or postgres" >&2; exit 2 ;; esac
case "$SCENARIO" in flows | overload) ;; scale | pool)
  [[ "$ENGINE" == postgres ]] || { echo "SCENARIO=$SCENARIO needs ENGINE=postgres" >&2; exit 2; } ;;
  *) echo "SCENARIO must be flows, scale, overload or pool" >&2; exit 2 ;;
esac
POOL_SIZES="${POOL_SIZES:-2 4 8 16 32}"
mkdir -p "$BENCH_TARGET"
OUT="${BENCH_OUT:-$BENCH_TARGET/flows-$ENGINE-$SCENARIO-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

log() { printf '\n== %s\n' "$*" >&2; }

read -r -a EXTRA_ENV <<<"${BENCH_SERVER_ENV:-}"
UNSET_ENV=()
while IFS= read -r name; do UNSET_ENV+=(-u "$name"); done < <(compgen -e | grep '^DOORWAY_' || true)

WORK="$(mktemp -d -t doorway-flows.XXXXXX)"
chmod 755 "$WORK"
SERVER_PIDS=()
PROVIDER_PID=""
PG_DIR=""
as_pg() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}
cleanup() {
  stop_servers
  if [[ -n "$PROVIDER_PID" ]]; then kill "$PROVIDER_PID" 2>/dev/null || true; wait "$PROVIDER_PID" 2>/dev/null || true; fi
  if [[ -n "$PG_DIR" && -f "$PG_DIR/data/postmaster.pid" ]]; then
    as_pg pg_ctl -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  if [[ -z "${BENCH_SERVER_BIN:-}" ]]; then
    log "building the server (release)"
    nice -n 10 cargo build --release -p doorway
  fi
  log "building doorway-bench (release, target/bench)"
  nice -n 10 cargo build --release --manifest-path bench/Cargo.toml --target-dir "$BENCH_TARGET"
fi
[[ -x "$SERVER" ]] || { echo "missing $SERVER" >&2; exit 1; }
[[ -x "$TOOL" ]] || { echo "missing $TOOL" >&2; exit 1; }
SERVER="$(realpath "$SERVER")"
TOOL="$(realpath "$TOOL")"

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]]; then COMMIT="$COMMIT + uncommitted changes"; fi
COMMIT="${BENCH_COMMIT:-$COMMIT}"
CPU_MODEL="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) × ${CPU_MODEL:-unknown CPU}, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"

# --- the fake OpenID provider (and webhook receiver), one for the whole run
PROVIDER_PORT="$("$TOOL" free-port)"
PROVIDER_URL="http://127.0.0.1:$PROVIDER_PORT"
"$TOOL" provider --port "$PROVIDER_PORT" >"$WORK/provider.log" 2>&1 &
PROVIDER_PID=$!
"$TOOL" wait --url "$PROVIDER_URL/healthz" --timeout 30 --pid "$PROVIDER_PID" || { cat "$WORK/provider.log" >&2; exit 1; }

# --- PostgreSQL, when asked
PG_ADMIN=""
if [[ "$ENGINE" == postgres ]]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  export PATH="${pg_bin:+$pg_bin:}$PATH"
  command -v initdb >/dev/null || { echo "PostgreSQL server binaries (initdb, pg_ctl) not found" >&2; exit 1; }
  PG_DIR="$WORK/pg"
  PG_PORT="$("$TOOL" free-port)"
  mkdir -p "$PG_DIR/data" "$PG_DIR/sock"
  [[ "$(id -u)" == 0 ]] && chown -R postgres "$PG_DIR"
  as_pg initdb -D "$PG_DIR/data" -U postgres -A trust >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
  # Durable settings (fsync, synchronous_commit and full_page_writes on, the defaults); a pool
  # of 16 per server, so 200 connections leave room for two servers and the tools.
  as_pg pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/sock/pg.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top -c shared_buffers=256MB" \
    start >/dev/null || { cat "$PG_DIR/sock/pg.log" >&2; exit 1; }
  PG_ADMIN="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  log "PostgreSQL $(postgres --version | awk '{print $NF}') on 127.0.0.1:$PG_PORT (fsync on, synchronous_commit on)"
fi

# A fresh database for NAME: prints its URL.
new_db() {
  local name="bench_$1"
  if [[ "$ENGINE" == postgres ]]; then
    "$TOOL" sql --database-url "$PG_ADMIN" "DROP DATABASE IF EXISTS $name" "CREATE DATABASE $name" >/dev/null
    "$TOOL" sql --database-url "postgres://postgres@127.0.0.1:$PG_PORT/$name" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    echo "postgres://postgres@127.0.0.1:$PG_PORT/$name"
  else
    mkdir -p "$WORK/$name"
    echo "sqlite://$WORK/$name/doorway.db"
  fi
}

# Every instance is one service to its clients: the issuer of its tokens (and the base of its
# links) is this URL, whatever port it listens on, as behind a load balancer.
PUBLIC_URL="http://doorway.bench.test"

# start_server DB_URL DIR [extra env...]: starts one server, appends its pid to SERVER_PIDS and
# sets STARTED_URL to its base URL (no subshell, so the pid list survives).
start_server() {
  local db="$1" dir="$2"
  shift 2
  local port
  port="$("$TOOL" free-port)"
  mkdir -p "$dir"
  (
    cd "$dir"
    exec env "${UNSET_ENV[@]}" RUST_LOG=warn \
      DOORWAY_DATABASE_URL="$db" \
      DOORWAY_PUBLIC_URL="$PUBLIC_URL" \
      DOORWAY_PROJECTS__DEFAULT__RATE_LIMITS__ENABLED=false \
      DOORWAY_PROJECTS__DEFAULT__PROVIDERS__BENCH__CLIENT_ID=doorway-bench \
      DOORWAY_PROJECTS__DEFAULT__PROVIDERS__BENCH__CLIENT_SECRET=bench-secret \
      DOORWAY_PROJECTS__DEFAULT__PROVIDERS__BENCH__ISSUER="$PROVIDER_URL" \
      DOORWAY_PROJECTS__DEFAULT__PROVIDERS__BENCH__REDIRECT_URI=http://127.0.0.1:9/callback \
      "$@" "${EXTRA_ENV[@]}" \
      "$SERVER" serve --listen "127.0.0.1:$port" >>"$dir/server.log" 2>&1
  ) &
  local pid=$!
  SERVER_PIDS+=("$pid")
  if ! "$TOOL" wait --url "http://127.0.0.1:$port/healthz" --timeout 60 --pid "$pid" >&2; then
    echo "server failed to start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
  STARTED_URL="http://127.0.0.1:$port"
}

server_log_tail() {
  local dir="$1"
  if [[ -s "$dir/server.log" ]]; then
    echo "server log, last lines:" >&2
    tail -n 5 "$dir/server.log" >&2
  fi
}

# Every event to the fake provider's receiver, for a server started in DIR (a list of tables,
# so a file: the server reads ./doorway.toml); zeroes the receiver's counts.
webhook_config() {
  mkdir -p "$1"
  printf '[[projects.default.webhooks]]\nurl = "%s/webhooks"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\nevents = []\n' \
    "$PROVIDER_URL" >"$1/doorway.toml"
  curl -fsS -X POST "$PROVIDER_URL/reset" >/dev/null
}

# pids joined by commas
pids() { local IFS=,; echo "${SERVER_PIDS[*]}"; }

run_limit() {
  local flow="$1" run="$2" name="$3"
  [[ "$LIMITS" == 1 ]] || return 0
  case "$flow" in
    jwks) return 0 ;;
    password-signup)
      log "run $run: $flow limit: raw argon2id hash rate, ${HASH_SECONDS} s"
      "$TOOL" hashrate --seconds "$HASH_SECONDS" --run "$run" --phase "limit-$ENGINE" | tee -a "$OUT"
      return 0 ;;
  esac
  local db
  db="$(new_db "${name}_limit")"
  env "${UNSET_ENV[@]}" RUST_LOG=warn "$SERVER" migrate --database-url "$db" >/dev/null
  env "${UNSET_ENV[@]}" RUST_LOG=warn "$SERVER" project add bench --database-url "$db" >/dev/null
  local lf
  # me: the issue's limit (token check + session read), and the three reads me does on a session-cache miss.
  for lf in $flow $([[ "$flow" == me ]] && echo me-reads); do
    log "run $run: $lf limit: bare database client, $CLIENTS tasks, ${WARMUP} s + ${DURATION} s"
    "$TOOL" limit --flow "$lf" --database-url "$db" --clients "$CLIENTS" --seconds "$DURATION" \
      --warmup "$WARMUP" --prep-seconds "$DURATION" --run "$run" --label "$ENGINE" | tee -a "$OUT"
  done
}

: >"$OUT"
log "$SCENARIO on $ENGINE: flows [$FLOWS], $RUNS runs; JSON lines in $OUT"

# A quick check first: every flow's limit statements still run on a freshly migrated database.
if [[ "$LIMITS" == 1 ]]; then
  db="$(new_db check)"
  env "${UNSET_ENV[@]}" RUST_LOG=warn "$SERVER" migrate --database-url "$db" >/dev/null
  env "${UNSET_ENV[@]}" RUST_LOG=warn "$SERVER" project add bench --database-url "$db" >/dev/null
  "$TOOL" limit --check --database-url "$db" >>"$OUT" || { echo "the limit statements no longer match the schema (bench/src/statements.rs)" >&2; exit 1; }
fi

for run in $(seq "$RUNS"); do
  for flow in $FLOWS; do
    name="r${run}_${flow//-/_}"
    case "$SCENARIO" in
      flows)
        db="$(new_db "$name")"
        start_server "$db" "$WORK/$name/s1"
        base="$STARTED_URL"
        log "run $run/$RUNS: $flow on $ENGINE, $CLIENTS clients, ${WARMUP} s + ${DURATION} s"
        "$TOOL" flow --flow "$flow" --url "$base" --clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP" \
          --prep-seconds "$PREP" --server-pid "$(pids)" --provider-pid "$PROVIDER_PID" --provider-url "$PROVIDER_URL" --run "$run" \
          --label "$ENGINE" $([[ "$ENGINE" == postgres ]] && echo "--pg-stats-url=$db") | tee -a "$OUT"
        server_log_tail "$WORK/$name/s1"
        stop_servers
        run_limit "$flow" "$run" "$name"
        ;;
      scale)
        for n in 1 2; do
          db="$(new_db "${name}_x$n")"
          urls=()
          # Each instance sized to its share of the cores, as instances on machines of their own
          # would be (SPLIT_CORES=0: every instance uses every core).
          share="$(( $(nproc) / n > 0 ? $(nproc) / n : 1 ))"
          sized=()
          [[ "$SPLIT_CORES" == 1 ]] && sized=(TOKIO_WORKER_THREADS="$share" DOORWAY_PASSWORD_HASHING__THREADS="$share")
          for i in $(seq "$n"); do
            webhook_config "$WORK/$name/x$n-s$i"
            start_server "$db" "$WORK/$name/x$n-s$i" "${sized[@]}"
            urls+=(--url "$STARTED_URL")
          done
          log "run $run/$RUNS: $flow on $n instance(s), one PostgreSQL, $CLIENTS clients"
          "$TOOL" flow --flow "$flow" "${urls[@]}" --clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP" \
            --prep-seconds "$PREP" --server-pid "$(pids)" --provider-pid "$PROVIDER_PID" --provider-url "$PROVIDER_URL" --run "$run" \
            --label "postgres-x$n" "--pg-stats-url=$db" | tee -a "$OUT"
          # Both instances deliver: wait for the outbox to drain, then count receipts.
          "$TOOL" count --database-url "$db" --wait-deliveries 120 --provider "$PROVIDER_URL" --run "$run" \
            --flow "$flow" --label "postgres-x$n" | tee -a "$OUT"
          stop_servers
        done
        ;;
      pool)
        for size in $POOL_SIZES; do
          db="$(new_db "${name}_p$size")"
          start_server "$db" "$WORK/$name/p$size" DOORWAY_DATABASE_MAX_CONNECTIONS="$size"
          log "run $run/$RUNS: $flow on $ENGINE, pool of $size connections, $CLIENTS clients"
          "$TOOL" flow --flow "$flow" --url "$STARTED_URL" --clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP" \
            --prep-seconds "$PREP" --server-pid "$(pids)" --provider-pid "$PROVIDER_PID" --provider-url "$PROVIDER_URL" --run "$run" \
            --label "$ENGINE-pool$size" "--pg-stats-url=$db" | tee -a "$OUT"
          stop_servers
        done
        ;;
      overload)
        db="$(new_db "$name")"
        webhook_config "$WORK/$name/s1"
        start_server "$db" "$WORK/$name/s1"
        base="$STARTED_URL"
        log "run $run/$RUNS: $flow sustainable rate ($CLIENTS clients, ${DURATION} s)"
        line="$("$TOOL" flow --flow "$flow" --url "$base" --clients "$CLIENTS" --seconds "$DURATION" --warmup "$WARMUP" \
          --prep-seconds "$PREP" --server-pid "$(pids)" --run "$run" --label "$ENGINE-sustained")"
        echo "$line" | tee -a "$OUT"
        rate="$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_sec"])')"
        over="$(python3 -c "print(round(max(1.0, $rate) * $RATE_FACTOR, 1))")"
        log "run $run/$RUNS: $flow open loop at $over/s (${RATE_FACTOR}x), timeout ${OVERLOAD_TIMEOUT} s"
        "$TOOL" flow --flow "$flow" --url "$base" --rate "$over" --seconds "$DURATION" --warmup 0 \
          --prep-seconds "$PREP" --timeout "$OVERLOAD_TIMEOUT" --server-pid "$(pids)" --run "$run" \
          --label "$ENGINE-open-${RATE_FACTOR}x" | tee -a "$OUT"
        # The 64-client phase on a restarted server (same database, its outbox still
        # draining): its peak RSS is its own, not the flood's, which the line above reports.
        stop_servers
        start_server "$db" "$WORK/$name/s1"
        base="$STARTED_URL"
        log "run $run/$RUNS: $flow, $OVERLOAD_CLIENTS closed-loop clients (server restarted)"
        "$TOOL" flow --flow "$flow" --url "$base" --clients "$OVERLOAD_CLIENTS" --seconds "$DURATION" --warmup 0 \
          --prep-seconds "$PREP" --timeout "$OVERLOAD_TIMEOUT" --server-pid "$(pids)" --run "$run" \
          --label "$ENGINE-$OVERLOAD_CLIENTS-clients" | tee -a "$OUT"
        server_log_tail "$WORK/$name/s1"
        # Let the outbox drain, then stop and count what was kept and delivered.
        "$TOOL" count --database-url "$db" --wait-deliveries 120 --provider "$PROVIDER_URL" --run "$run" \
          --flow "$flow" --label "$ENGINE-overload" | tee -a "$OUT"
        stop_servers
        ;;
    esac
  done
done

log "report ($OUT)"
echo
"$TOOL" flow-report "$OUT" --commit "$COMMIT" --machine "$MACHINE"
