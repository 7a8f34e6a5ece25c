#!/bin/sh
# Run every benchmark in bench/ and print its figures. Database benchmarks use PostgreSQL,
# each with its own database on the server BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432).
set -e
cd "$(dirname "$0")"
PY=../.venv/bin/python
for script in bench_*.py; do
  echo "== $script"
  $PY "$script"
done
