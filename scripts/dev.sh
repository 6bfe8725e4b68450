#!/usr/bin/env bash
# Installs and runs the whole system on this machine: PostgreSQL and Redis at the default
# local URLs when they answer (embedded ones otherwise), the local S3 and its CDN (nginx),
# migrations, demo data, the API and the web app it serves at /.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/system-deps.sh ffmpeg nginx graphiql app
exec .venv/bin/streamify dev --seed "$@"
