#!/usr/bin/env bash
# Install the Debian packages listed in deps/apt/*.txt that are not installed yet.
set -euo pipefail
cd "$(dirname "$0")"
wanted=$(cat apt/*.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sort -u | grep -v '^$' || true)
[ -n "$wanted" ] || exit 0
missing=$(for p in $wanted; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "deps: please install these Debian packages: $missing" >&2; exit 1
fi
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
echo "deps: installing $missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
