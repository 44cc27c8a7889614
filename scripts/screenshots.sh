#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png (the hosted pages, shown in the README): builds Doorway,
# starts it on a free loopback port with a branded demo project in a temporary directory, and
# drives Debian's chromium with tests/browser/screenshots.mjs (npm playwright-core).
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "screenshots.sh: install chromium (apt-get install chromium)" >&2; exit 1; }
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --silent --no-audit --no-fund)
cargo build --quiet -p doorway
dir=$(mktemp -d /tmp/doorway-screenshots.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$dir/doorway.toml" <<TOML
listen = "127.0.0.1:$port"
database_url = "sqlite://$dir/doorway.db"

[projects.default]
name = "Acme"

[projects.default.branding]
display_name = "Acme Cloud"
primary_color = "#0b7a75"
support_url = "https://help.example.com/"

# A provider only to show its button (nothing is called while taking screenshots).
[projects.default.providers.gitlab]
client_id = "demo"
TOML
target/debug/doorway serve --config "$dir/doorway.toml" >"$dir/doorway.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
mkdir -p docs/screenshots
node tests/browser/screenshots.mjs "$(command -v chromium)" "http://127.0.0.1:$port" docs/screenshots
echo "screenshots.sh: wrote $(ls docs/screenshots | tr '\n' ' ')"
