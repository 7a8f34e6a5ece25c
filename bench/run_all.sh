#!/bin/sh
# Run every benchmark in bench/ and print its figures. Database benchmarks use PostgreSQL,
# each with its own database on the server BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432).
# wrk (Debian) loads the API's case creation over HTTP; it is installed when missing.
set -e
cd "$(dirname "$0")"
command -v wrk >/dev/null 2>&1 || sh ../bin/apt-install bench wrk ||
  echo "bench: without wrk, bench_api.py measures case creation with its Python client only" >&2
PY=../.venv/bin/python
for script in bench_*.py; do
  echo "== $script"
  $PY "$script"
done
