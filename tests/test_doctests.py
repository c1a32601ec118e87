"""The library's ``>>>`` examples run as doctests (one test per module).

Every module of the `keras_aw` package (the library, `keras_aw.applications`
included; the tooling in `keras_aw_tools` is not part of it) is found on disk and
its docstrings' examples run with `doctest` (ELLIPSIS and NORMALIZE_WHITESPACE),
each docstring in a fresh copy of the module's globals, from a scratch current
directory, after `keras.utils.set_random_seed(0)`. A module without examples is
not a test. Examples show what a call returns, which does not depend on the
backend, so the module is marked `backend_independent` (tests/run_all_backends.sh
runs it under TensorFlow only); run it under another backend with
``KERAS_BACKEND=jax python -m pytest tests/test_doctests.py``.
Examples of `keras_aw.detection` need the `[detection]` extra (keras-hub).
"""

import doctest
import importlib
import io
import os

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "keras_aw"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

pytestmark = pytest.mark.backend_independent


#: Where each part of the package is on disk: `keras_aw.applications` is the folder
#: applications/ (pyproject's package-dir), not a subfolder of keras_aw/.
SOURCES = ((os.path.join(ROOT, "keras_aw"), "keras_aw"),
           (os.path.join(ROOT, "applications"), "keras_aw.applications"))


def library_modules():
    """Module names of the keras_aw package with at least one ``>>>`` line (found on disk)."""
    names = []
    for top, package in SOURCES:
        for dirpath, dirnames, files in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__"
                                 and not os.path.islink(os.path.join(dirpath, d)))
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    if ">>> " not in f.read():
                        continue
                parts = os.path.relpath(path, top)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                names.append(".".join([package] + parts))
    return names


MODULES = library_modules()


def test_modules_with_examples_are_found():
    """Guards the collection itself: the library's documented modules are all here."""
    for module in ("keras_aw.layers.aw_conv2d", "keras_aw.applications.resnet",
                   "keras_aw.ops.per_sample_conv", "keras_aw.utils.profile",
                   "keras_aw.distribute.config"):
        assert module in MODULES, module
    assert not any(m.startswith("keras_aw_tools") for m in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    if name.startswith(f"{PACKAGE}.detection"):
        pytest.importorskip("keras_hub")
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name)
             if t.examples and t.name.startswith(name)]  # not examples of imported objects
    assert tests, f"{name} has '>>> ' lines but no doctest was found"
    monkeypatch.chdir(tmp_path)
    failures = []
    for test in sorted(tests, key=lambda t: t.name):
        keras.utils.set_random_seed(0)
        out = io.StringIO()
        result = doctest.DocTestRunner(optionflags=FLAGS).run(test, out=out.write)
        keras.config.set_dtype_policy("float32")
        if result.failed:
            failures.append(out.getvalue())
    assert not failures, "\n".join(failures)
