#!/usr/bin/env bash
# What Streamify needs beyond Python: ffmpeg and ffprobe (transcoding), nginx (the media CDN of
# `streamify dev`, with compose's configuration) and Chromium (the browser test), from Debian's
# packages; GraphiQL's page and the web app, bundled from npm into the package
# (streamify/web/static/graphiql, streamify/web/static/app); the bundled Uppy harness (npm,
# tests only); redis-server and redis-cli (tests only: the local Redis Cluster of
# tests/cache/test_cluster.py is made of redis-server processes joined by redis-cli).
#   system-deps.sh                             everything (the tests)
#   system-deps.sh ffmpeg nginx graphiql app   what running the system needs
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(ffmpeg nginx chromium graphiql app uppy redis)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

missing=()
if want chromium && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
if want nginx && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  missing+=(nginx)
fi
if want ffmpeg && ! { command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; }; then
  missing+=(ffmpeg)
fi
if want redis && ! { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }; then
  missing+=(redis-server redis-tools)
fi
if { want graphiql || want app || want uppy; } && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Streamify needs Debian's packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# An npm project, installed from its lockfile when that changed, then built when its sources or
# lockfile changed since the last build (or the output is missing).
npm_build() {
  local project="$1" output="$2"
  local stamp="$project/node_modules/.streamify-installed"
  local lock_hash
  lock_hash="$(sha256sum "$project/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
    npm ci --prefix "$project" --silent --no-audit --no-fund
    echo "$lock_hash" > "$stamp"
  fi
  local built="$project/node_modules/.streamify-built"
  local sources_hash
  sources_hash="$(find "$project" \( -name node_modules -o -name generated -o -name dist \) -prune \
    -o -type f -print | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)"
  if [ ! -e "$output" ] || [ ! -f "$built" ] || [ "$(cat "$built")" != "$sources_hash" ]; then
    npm run --prefix "$project" --silent build
    echo "$sources_hash" > "$built"
  fi
}

if want graphiql; then
  npm_build frontend/graphiql streamify/web/static/graphiql/graphiql.js
fi

if want app; then
  npm_build frontend/app streamify/web/static/app/index.html
fi

if want uppy; then
  npm_build tests/browser/uppy tests/browser/uppy/dist/uppy-harness.js
fi
