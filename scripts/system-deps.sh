#!/usr/bin/env bash
# What Streamify needs beyond Python: ffmpeg and ffprobe (transcoding) and Chromium (the
# browser test), both from Debian's packages, and the bundled Uppy harness (npm).
#   system-deps.sh            everything (the tests)
#   system-deps.sh ffmpeg     ffmpeg only (running the system)
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(ffmpeg chromium uppy)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

missing=()
if want chromium && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
if want ffmpeg && ! { command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; }; then
  missing+=(ffmpeg)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Streamify needs Debian's packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

if want uppy; then
  harness=tests/browser/uppy
  stamp="$harness/node_modules/.streamify-installed"
  want_hash="$(sha256sum "$harness/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_hash" ]; then
    npm ci --prefix "$harness" --silent --no-audit --no-fund
    echo "$want_hash" > "$stamp"
  fi
  npm run --prefix "$harness" --silent build
fi
