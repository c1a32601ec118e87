#!/usr/bin/env bash
# Runs the test suite under each Keras backend (the backend is fixed per process).
#
# TensorFlow runs the whole suite; JAX and PyTorch skip the tests marked
# `backend_independent` (data set, profile and Table 1 counts, signatures, argument
# errors, the library's docstring examples in tests/test_doctests.py: results that
# cannot differ by backend), which the TensorFlow run covers. tests/test_compat.py
# loads the keras_aw 0.2.0 `.keras` files under every backend.
# Extra arguments go to pytest under every backend (a `-m` among them replaces the
# marker filter). Exits non-zero if any backend fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
status=0
for backend in tensorflow jax torch; do
    if [ "$backend" = tensorflow ]; then
        filter=()
    else
        filter=(-m "not backend_independent")
    fi
    echo "=== KERAS_BACKEND=$backend ${filter[*]:-} ==="
    KERAS_BACKEND=$backend "$PYTHON" -m pytest tests "${filter[@]}" "$@"
    code=$?
    if [ "$code" -eq 5 ] && [ "${#filter[@]}" -gt 0 ]; then
        # Only possible when the extra arguments select backend-independent tests alone
        # (e.g. tests/test_registry.py): they ran under TensorFlow.
        echo "(no backend-dependent test selected under $backend)"
    elif [ "$code" -ne 0 ]; then
        echo "=== KERAS_BACKEND=$backend failed (pytest exit code $code) ==="
        status=1
    fi
done
exit $status
