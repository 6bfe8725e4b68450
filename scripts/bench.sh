#!/usr/bin/env bash
# Installs what the benchmark needs (wrk from Debian's packages, the project) and runs it:
# every row of every scenario side by side, against the local PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "The benchmark needs wrk: install Debian's 'wrk' package." >&2
    exit 1
  fi
fi
exec .venv/bin/python -m bench.run "$@"
