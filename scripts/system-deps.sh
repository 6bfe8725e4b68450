#!/usr/bin/env bash
# What the tests need beyond Python: ffmpeg and ffprobe (transcoding), Chromium (the browser
# test), both from Debian's packages, and the bundled Uppy harness (npm). Re-running is cheap:
# each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || missing+=(ffmpeg)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need Debian's packages: ${missing[*]}" >&2
    exit 1
  fi
fi

harness=tests/browser/uppy
stamp="$harness/node_modules/.streamify-installed"
want="$(sha256sum "$harness/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --prefix "$harness" --silent --no-audit --no-fund
  echo "$want" > "$stamp"
fi
npm run --prefix "$harness" --silent build
