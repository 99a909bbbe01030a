#!/usr/bin/env bash
# Fetch onnxruntime-web (pinned in deps/npm/phone.txt) from the npm registry and unpack the three
# browser files the phone page needs into src/brushwork/fast/phone/vendor/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
target=src/brushwork/fast/phone/vendor/onnxruntime-web
files="ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm"
spec=$(sed 's/#.*//' deps/npm/phone.txt | grep onnxruntime-web | tr -d ' ')
if [ -f "$target/VERSION" ] && [ "$(cat "$target/VERSION")" = "$spec" ]; then exit 0; fi
if ! command -v npm >/dev/null; then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  echo "deps: installing npm (to fetch $spec for the phone page)" >&2
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
mkdir -p "$target"
for f in $files; do cp "$work/package/dist/$f" "$target/$f"; done
cp "$work/package/LICENSE" "$target/LICENSE" 2>/dev/null || true
echo "$spec" > "$target/VERSION"
