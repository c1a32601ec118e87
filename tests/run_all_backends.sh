#!/usr/bin/env bash
# Runs the test suite under each Keras backend (the backend is fixed per process).
#
# Which backend runs what is said by markers (registered in pyproject.toml), never by
# case lists trimmed per file:
#   backend_independent  results that cannot differ by backend (data set, profile and
#                        Table 1 counts, signatures, argument errors, the library's
#                        docstring examples): TensorFlow runs them, this script
#                        deselects them under JAX and PyTorch (the filter below).
#   single_backend       heavy cases whose backend-dependent parts are tested under
#                        every backend elsewhere (every registered model, some
#                        examples): run under one backend, SINGLE_BACKEND in
#                        tests/conftest.py (PyTorch), skipped with their reason under
#                        the others; pytest --every-backend runs them anyway.
#   multiprocess         starts real processes on loopback (a few minutes per backend).
#   slow                 end-to-end runs (the examples, other Python processes, every
#                        multiprocess test): run here; -m "not slow" for a quick loop.
#   extended             cases past CI's time budget (the largest keras.applications
#                        families of the convert_to_aw zoo, AWResNet50 at 224 through
#                        the imagenet recipe): deselected here unless KERAS_AW_EXTENDED=1;
#                        CONTRIBUTING.md records when they last ran and what they showed.
# Everything else runs under every backend.
# Test files run in KERAS_AW_TEST_WORKERS parallel pytest processes (pytest-xdist, default 2;
# one file stays in one process, so module fixtures are built once; 0 runs them in this one). tests/test_compat.py loads the keras_aw
# 0.2.0 `.keras` files under every backend.
# Extra arguments go to pytest under every backend (a `-m` among them replaces the
# marker filter). Exits non-zero if any backend fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
status=0
workers=(-n "${KERAS_AW_TEST_WORKERS:-2}" --dist loadfile)
for backend in tensorflow jax torch; do
    if [ "${KERAS_AW_EXTENDED:-0}" = 1 ]; then
        extended=""
    else
        extended="not extended"
    fi
    if [ "$backend" = tensorflow ]; then
        filter=(${extended:+-m "$extended"})
    else
        filter=(-m "not backend_independent${extended:+ and $extended}")
    fi
    echo "=== KERAS_BACKEND=$backend ${filter[*]:-} ==="
    KERAS_BACKEND=$backend "$PYTHON" -m pytest tests "${workers[@]}" "${filter[@]}" "$@"
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
