#!/usr/bin/env bash
# The one test command: starts a throwaway PostgreSQL (any version >= 15), an SMTP receiver
# and an OpenID Connect provider, runs every test on SQLite and PostgreSQL, and stops what it
# started. A peer that does not come up stops the run at once, with its log.
#   scripts/test.sh            # whole suite
#   scripts/test.sh -E 'test(jwks)'   # extra arguments go to cargo nextest
#   SKIP_CHECKS=1 scripts/test.sh -E …  # skip the format/lint/bench steps while iterating
#   SKIP_FUZZ=1 scripts/test.sh         # skip the API fuzz phase (scripts/fuzz.sh, ~5–7 min)
# Needs: Rust (see rust-version in Cargo.toml), PostgreSQL >= 15 server binaries (initdb,
# pg_ctl), Python 3 with venv, Node.js with npm, curl, Debian's chromium and OpenSSL's headers
# with pkg-config (libssl-dev, pkg-config: webauthn-rs links OpenSSL) (installed when missing, as root); cargo-nextest when present. Without cargo-nextest the tests run under
# `cargo test`, which understands only filters of the form
# -E 'test(a)' or -E 'test(a) | test(b)' (a substring of the test's name, as in nextest).
set -euo pipefail
cd "$(dirname "$0")/.."
# A filtered run is focused: its API phase only validates the document.
filtered=$#

# webauthn-rs (passkeys) links OpenSSL: building needs its headers and pkg-config. Installed
# here when missing and we are root, like chromium below.
if ! pkg-config --exists openssl 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing libssl-dev and pkg-config (OpenSSL for webauthn-rs)"
    apt_log=$(mktemp /tmp/doorway-apt.XXXXXX)
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config; } \
      >"$apt_log" 2>&1 || { echo "test.sh: apt-get install libssl-dev pkg-config failed:" >&2; cat "$apt_log" >&2; exit 1; }
    rm -f "$apt_log"
  else
    echo "test.sh: OpenSSL headers or pkg-config not found; install them (e.g. apt-get install libssl-dev pkg-config)" >&2
    exit 1
  fi
fi

# Habits first, failing fast: formatting, clippy on every target with warnings as errors, and the
# bench/ workspace (its own workspace, so nothing else would notice it rot).
if [ -z "${SKIP_CHECKS:-}" ]; then
  echo "test.sh: cargo fmt --check"
  cargo fmt --all --check
  echo "test.sh: cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  echo "test.sh: building bench/"
  cargo build --quiet --manifest-path bench/Cargo.toml
fi

# Inline snapshots (insta) are compared, never written: a mismatch fails the run. Accept a
# change locally with `cargo insta review` or by editing the `@"…"` literal.
export INSTA_UPDATE=no

run_dir=$(mktemp -d /tmp/doorway-test.XXXXXX)
chmod 755 "$run_dir"
cleanup() {
  [ -n "${smtp_pid:-}" ] && kill "$smtp_pid" 2>/dev/null || true
  [ -n "${oidc_pid:-}" ] && kill "$oidc_pid" 2>/dev/null || true
  if [ -f "$run_dir/pg/postmaster.pid" ]; then
    as_pg pg_ctl -D "$run_dir/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

# initdb refuses to run as root: use the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
export PATH="${pg_bin:+$pg_bin:}$PATH"
command -v initdb >/dev/null || {
  echo "test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL 15 or newer (e.g. apt-get install postgresql-15)" >&2
  exit 1
}
pg_major=$(initdb --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
[ "$pg_major" -ge 15 ] || { echo "test.sh: PostgreSQL $pg_major found; the tests need 15 or newer" >&2; exit 1; }

# Stops the run with a clear message and the peer's log when a peer does not come up.
peer_failed() {
  echo "test.sh: $1 did not come up; its log ($2):" >&2
  cat "$2" >&2 || true
  exit 1
}

# How the tests run: cargo-nextest when installed, else `cargo test` with the same filter.
if cargo nextest --version >/dev/null 2>&1; then
  runner=nextest
else
  runner=cargo-test
  filters=()
  while [ $# -gt 0 ]; do
    case "$1" in
      -E)
        [ $# -ge 2 ] || { echo "test.sh: -E needs an expression" >&2; exit 2; }
        IFS='|' read -ra parts <<<"$2"
        for part in "${parts[@]}"; do
          part=$(echo "$part" | sed -E 's/^ *//; s/ *$//')
          if [[ "$part" =~ ^test\(([^()]+)\)$ ]]; then
            filters+=("${BASH_REMATCH[1]}")
          else
            echo "test.sh: cargo-nextest is not installed, and without it only -E 'test(a) | test(b)' filters work (got: $part)." >&2
            echo "test.sh: install it with: cargo install cargo-nextest --locked" >&2
            exit 2
          fi
        done
        shift 2
        ;;
      *)
        echo "test.sh: cargo-nextest is not installed; without it only -E 'test(…)' filters are understood (got: $1)." >&2
        echo "test.sh: install it with: cargo install cargo-nextest --locked" >&2
        exit 2
        ;;
    esac
  done
  echo "test.sh: cargo-nextest not found (install: cargo install cargo-nextest --locked); running cargo test instead"
fi

command -v curl >/dev/null || { echo "test.sh: curl not found; install curl" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_port=$(free_port)
mkdir -p "$run_dir/pg" "$run_dir/sock"
[ "$(id -u)" = 0 ] && chown postgres "$run_dir/pg" "$run_dir/sock"
as_pg initdb -D "$run_dir/pg" -U postgres -A trust --no-sync >"$run_dir/initdb.log" 2>&1 \
  || { cat "$run_dir/initdb.log" >&2; exit 1; }
as_pg pg_ctl -D "$run_dir/pg" -l "$run_dir/sock/pg.log" -w -t 30 \
  -o "-p $pg_port -k $run_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null || peer_failed "PostgreSQL" "$run_dir/sock/pg.log"
echo "test.sh: PostgreSQL on 127.0.0.1:$pg_port"

export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

# A real SMTP receiver (aiosmtpd) writing every message to a Maildir, from a venv the script
# keeps under target/ so later runs skip the install.
# Every Python package is pinned in tests/peers/requirements.txt; a changed file reinstalls.
venv=target/test-tools/venv
requirements=tests/peers/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  python3 -m venv "$venv" || { echo "test.sh: python3 -m venv failed; install Python 3 with venv (e.g. apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
smtp_port=$(free_port)
mkdir -p "$run_dir/maildir/cur" "$run_dir/maildir/new" "$run_dir/maildir/tmp"
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$run_dir/maildir" \
  >"$run_dir/smtp.log" 2>&1 &
smtp_pid=$!
smtp_up=
for _ in $(seq 100); do
  kill -0 "$smtp_pid" 2>/dev/null || break
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $smtp_port), 1)" 2>/dev/null && { smtp_up=1; break; }
  sleep 0.1
done
[ -n "$smtp_up" ] || peer_failed "the SMTP receiver (aiosmtpd)" "$run_dir/smtp.log"
echo "test.sh: SMTP receiver on 127.0.0.1:$smtp_port, Maildir $run_dir/maildir"
export TEST_SMTP_URL="smtp://127.0.0.1:$smtp_port"

# A real OpenID Connect provider (npm oauth2-mock-server, pinned by tests/peers/package-lock.json).
if [ ! -d tests/peers/node_modules/oauth2-mock-server ]; then
  command -v npm >/dev/null || { echo "test.sh: npm not found; install Node.js with npm" >&2; exit 1; }
  (cd tests/peers && npm ci --silent --no-audit --no-fund)
fi
# Replyke's published client (npm @replyke/core, bundled by esbuild; pinned by
# tests/clients/replyke/package-lock.json), driven by the API test replyke_client. A changed
# lock file reinstalls.
replyke_client=tests/clients/replyke
if ! cmp -s "$replyke_client/package-lock.json" "$replyke_client/node_modules/.doorway-lock" 2>/dev/null; then
  command -v npm >/dev/null || { echo "test.sh: npm not found; install Node.js with npm" >&2; exit 1; }
  (cd "$replyke_client" && npm ci --silent --no-audit --no-fund)
  cp "$replyke_client/package-lock.json" "$replyke_client/node_modules/.doorway-lock"
fi
oidc_port=$(free_port)
node tests/peers/oidc-provider.mjs "$oidc_port" >"$run_dir/oidc.log" 2>&1 &
oidc_pid=$!
oidc_up=
for _ in $(seq 150); do
  kill -0 "$oidc_pid" 2>/dev/null || break
  curl -sf "http://127.0.0.1:$oidc_port/.well-known/openid-configuration" >/dev/null 2>&1 && { oidc_up=1; break; }
  sleep 0.1
done
[ -n "$oidc_up" ] || peer_failed "the OpenID Connect provider (node tests/peers/oidc-provider.mjs)" "$run_dir/oidc.log"
echo "test.sh: OpenID Connect provider on http://localhost:$oidc_port"
export TEST_OIDC_ISSUER="http://localhost:$oidc_port"

# Headless Chromium for the real-browser tests: Debian's package, driven by npm playwright-core
# (pinned by tests/browser/package-lock.json). Installed here when missing and we are root.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing Debian's chromium for the browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      >"$run_dir/apt.log" 2>&1 || peer_failed "apt-get install chromium" "$run_dir/apt.log"
  else
    echo "test.sh: chromium not found; install it (e.g. apt-get install chromium)" >&2
    exit 1
  fi
fi
export TEST_CHROMIUM="$(command -v chromium)"
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ]; then
  command -v npm >/dev/null || { echo "test.sh: npm not found; install Node.js with npm" >&2; exit 1; }
  (cd tests/browser && npm ci --silent --no-audit --no-fund)
fi
echo "test.sh: browser tests use $TEST_CHROMIUM"
export TEST_MAILDIR="$run_dir/maildir"
export RUST_LOG="${RUST_LOG:-warn}"

if [ "$runner" = nextest ]; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast -- "${filters[@]}"
fi

# The API phase (scripts/fuzz.sh): /openapi.json must pass openapi-spec-validator, then
# schemathesis (every check, stateful phase) runs against the real binary on SQLite; any failure
# fails the run. A filtered run (extra arguments) only validates the document; SKIP_FUZZ=1 skips
# the whole phase.
if [ -z "${SKIP_FUZZ:-}" ]; then
  if [ "$filtered" = 0 ]; then
    echo "test.sh: API fuzz phase (scripts/fuzz.sh)"
    scripts/fuzz.sh
  else
    echo "test.sh: OpenAPI document validation (VALIDATE_ONLY=1 scripts/fuzz.sh)"
    VALIDATE_ONLY=1 scripts/fuzz.sh
  fi
fi
