#!/usr/bin/env bash
# Runs the test suite once per Keras backend (the backend is fixed per process).
# Extra arguments go to pytest. Fails if any backend fails.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for backend in tensorflow jax torch; do
    echo "=== KERAS_BACKEND=$backend ==="
    KERAS_BACKEND=$backend python -m pytest tests "$@" || status=1
done
exit $status
