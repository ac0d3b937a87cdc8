#!/usr/bin/env bash
# Rebuilds hub/assets/vendor/yjs.js, the browser's CRDT library for the whiteboard and the shared
# notes, from the npm registry with pinned versions, and puts its licences beside it. The bundle is
# committed: building or running the hub never needs node. Run it only to change the versions
# below; the same versions give the same bytes (checked with --check).
#
#   scripts/bundle-yjs.sh          rebuild the bundle and its licence file
#   scripts/bundle-yjs.sh --check  rebuild into a temporary folder and compare with the committed one
set -euo pipefail

YJS_VERSION=13.6.33
LIB0_VERSION=0.2.120
ESBUILD_VERSION=0.28.2

repo="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="$repo/hub/assets/vendor"
check=false
[[ "${1:-}" == "--check" ]] && check=true

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat >package.json <<EOF
{
  "name": "lectern-yjs-bundle",
  "private": true,
  "dependencies": { "yjs": "$YJS_VERSION", "lib0": "$LIB0_VERSION" },
  "devDependencies": { "esbuild": "$ESBUILD_VERSION" },
  "overrides": { "lib0": "$LIB0_VERSION" }
}
EOF
# The one entry point: everything the pages import from './yjs.js'.
echo "export * from 'yjs';" >entry.mjs
npm install --no-audit --no-fund --loglevel=error >/dev/null
installed="$(node -p "require('yjs/package.json').version")"
[[ "$installed" == "$YJS_VERSION" ]] || { echo "bundle-yjs: got yjs $installed, wanted $YJS_VERSION" >&2; exit 1; }

mkdir -p build
./node_modules/.bin/esbuild entry.mjs --bundle --format=esm --target=es2020 --minify \
  --legal-comments=none --charset=utf8 --outfile=build/yjs.js --log-level=warning
{
  echo "// yjs $YJS_VERSION with lib0 $LIB0_VERSION, bundled by scripts/bundle-yjs.sh (esbuild $ESBUILD_VERSION)."
  echo "// MIT licence: see yjs.LICENSE beside this file."
  cat build/yjs.js
} >build/yjs.bundle.js
{
  echo "hub/assets/vendor/yjs.js bundles these packages from the npm registry, both under the MIT licence."
  echo
  echo "== yjs $YJS_VERSION =="
  cat node_modules/yjs/LICENSE
  echo
  echo "== lib0 $LIB0_VERSION =="
  cat node_modules/lib0/LICENSE
} >build/yjs.LICENSE

if $check; then
  cmp build/yjs.bundle.js "$out_dir/yjs.js" && cmp build/yjs.LICENSE "$out_dir/yjs.LICENSE"
  echo "bundle-yjs: the committed bundle matches yjs $YJS_VERSION"
else
  mkdir -p "$out_dir"
  cp build/yjs.bundle.js "$out_dir/yjs.js"
  cp build/yjs.LICENSE "$out_dir/yjs.LICENSE"
  echo "bundle-yjs: wrote $out_dir/yjs.js ($(wc -c <"$out_dir/yjs.js") bytes) and yjs.LICENSE"
fi
