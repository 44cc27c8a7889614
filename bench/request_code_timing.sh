#!/usr/bin/env bash
# Does asking for a sign-in code take the same time for an address with an account as for one
# without (security review, finding 5)? Starts a server, signs one user up, then times
# POST /api/auth/sign-in/email-code for that address and for an unknown one, interleaved in a
# random order on one keep-alive connection, and prints medians and percentiles per path.
#
#   bench/request_code_timing.sh                   # debug server on SQLite, 1000 rounds
#   ROUNDS=3000 bench/request_code_timing.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench bench/request_code_timing.sh
#
# Environment (all optional):
#   BENCH_SERVER_BIN    server binary (default target/debug/doorway, built with `cargo build -p doorway`)
#   ROUNDS=1000         timed requests per path (after 100 warm-up requests per path)
#   BENCH_DATABASE_URL  database to use (default: a fresh SQLite file in a temp directory)
#   SKIP_BUILD=1        use the binary already built
# No mail leaves the machine: no SMTP is configured, so code mails stay in the outbox.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER="${BENCH_SERVER_BIN:-$ROOT/target/debug/doorway}"
ROUNDS="${ROUNDS:-1000}"
if [[ -z "${SKIP_BUILD:-}" && -z "${BENCH_SERVER_BIN:-}" ]]; then
  (cd "$ROOT" && nice -n 10 cargo build -p doorway)
fi

RUN_DIR="$(mktemp -d /tmp/doorway-timing.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
UNSET_ENV=()
while IFS= read -r name; do UNSET_ENV+=(-u "$name"); done < <(compgen -e | grep '^DOORWAY_' || true)
(
  cd "$RUN_DIR"
  exec env "${UNSET_ENV[@]}" DOORWAY_PROJECTS__DEFAULT__RATE_LIMITS__ENABLED=false \
    ${BENCH_DATABASE_URL:+DOORWAY_DATABASE_URL="$BENCH_DATABASE_URL"} DOORWAY_LOG_FORMAT=json RUST_LOG=warn \
    "$SERVER" serve --listen "127.0.0.1:$PORT" >"$RUN_DIR/server.log" 2>&1
) &
SERVER_PID=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$RUN_DIR/server.log" >&2; exit 1; }
  sleep 0.1
done

python3 - "$PORT" "$ROUNDS" <<'PY'
import http.client, json, random, statistics, sys, time, uuid

port, rounds = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)

def post(path, body):
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()

tag = uuid.uuid4().hex[:8]
known, unknown = f"known-{tag}@example.com", f"unknown-{tag}@example.com"
status, body = post("/api/auth/sign-up", {"email": known, "password": "Bench#Pass1-long", "name": "Bench Known"})
assert status == 201, (status, body)

def timed(email):
    start = time.perf_counter()
    status, body = post("/api/auth/sign-in/email-code", {"email": email})
    elapsed = time.perf_counter() - start
    assert status == 200, (status, body)
    return elapsed, body

order = [known, unknown]
for _ in range(100):
    for email in order:
        timed(email)
samples = {known: [], unknown: []}
bodies = {known: set(), unknown: set()}
for _ in range(rounds):
    random.shuffle(order)
    for email in order:
        elapsed, body = timed(email)
        samples[email].append(elapsed * 1000)
        bodies[email].add(body)

def row(name, xs):
    q = statistics.quantiles(xs, n=20)
    return f"{name:<10} n={len(xs):<6} median={statistics.median(xs):.3f} ms  p10={q[1]:.3f}  p90={q[17]:.3f}  mean={statistics.fmean(xs):.3f}"

print(row("known", samples[known]))
print(row("unknown", samples[unknown]))
diff = statistics.median(samples[known]) - statistics.median(samples[unknown])
print(f"median difference (known - unknown): {diff * 1000:+.0f} µs")
print("answers identical:", bodies[known] == bodies[unknown] and len(bodies[known]) == 1)
PY
