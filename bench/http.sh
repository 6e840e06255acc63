#!/usr/bin/env bash
# HTTP benchmark of the shipped stack's app server (bench/bench_http.py): wrk for the GET
# endpoints when Debian's wrk is installed (apt-get install wrk), a Python client otherwise.
#   bench/http.sh [--seconds 5] [--connections 8] [--workers 2] [--rounds 3]
# With DATABASE_URL set to PostgreSQL it uses a throwaway `bench_http` database next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
make --quiet venv
command -v wrk >/dev/null 2>&1 || echo "wrk not found: the GET endpoints are measured with Python." >&2
exec .venv/bin/python bench/bench_http.py "$@"
