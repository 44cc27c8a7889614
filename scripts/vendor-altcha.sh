#!/usr/bin/env bash
# Refreshes the vendored ALTCHA widget (npm `altcha`) served by the hosted pages: the
# CSP-friendly "external" build (no injected <style>, no blob: workers), its stylesheet, the
# SHA worker it runs the proof of work in, and the licence. Doorway serves these from the
# binary (ui/assets.rs), never from a CDN.
#
#   scripts/vendor-altcha.sh            # the pinned version
#   ALTCHA_VERSION=3.2.3 scripts/vendor-altcha.sh
#
# Then rebuild, run tests/browser, and commit crates/doorway-server/assets/altcha/.
set -euo pipefail
VERSION="${ALTCHA_VERSION:-3.2.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/crates/doorway-server/assets/altcha"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "altcha@$VERSION" >/dev/null && tar -xzf "altcha-$VERSION.tgz")
PKG="$WORK/package"
mkdir -p "$DEST"
cp "$PKG/dist/external/altcha.min.js" "$DEST/altcha.min.js"
cp "$PKG/dist/external/altcha.css" "$DEST/altcha.css"
cp "$PKG/dist/workers/sha.js" "$DEST/sha-worker.js"
cp "$PKG/LICENSE.txt" "$DEST/LICENSE.txt"
echo "$VERSION" > "$DEST/VERSION"
echo "vendored altcha@$VERSION into $DEST"
