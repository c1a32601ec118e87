"""The static picture of the package: imports, private framework APIs, module sizes.

Reads every module of keras_aw/, applications/ (installed as
``keras_aw.applications``) and keras_aw_tools/ with `ast`; imports none of
them. What it holds the code to:

(a) no import cycle among the package's modules (imports run at import time);
(b) no upward import: each module imports only its own layer and the layers
    below it, in the order `LAYERS` declares;
(c) no import of a package module inside a function, except the few in
    `LATE_IMPORTS` (the optional keras-hub extra, the command line's lazy start);
(d) private framework APIs (``keras.src``, ``jax._src``, ``tensorflow.python``,
    ``torch._*``, the private attributes in `PRIVATE_ATTRIBUTES`) only in the
    adapter modules, whose file names match `ADAPTERS` (each says why and
    which upstream issue);
(e) no module over `MAX_LINES` lines but the written builders of applications/.
"""

import ast
import fnmatch
import os
import re

import pytest

pytestmark = pytest.mark.backend_independent  # a static read of the source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Source folder -> the package it is installed as.
SOURCES = {"keras_aw": "keras_aw", "applications": "keras_aw.applications",
           "keras_aw_tools": "keras_aw_tools"}

#: The layers, lowest first. A module belongs to the layer of the longest prefix
#: that names it ("keras_aw" alone is the package's __init__); it may import
#: modules of its own layer and of the layers below.
LAYERS = (
    ("foundation", ("keras_aw.version", "keras_aw.vocabulary", "keras_aw._validation",
                    "keras_aw._graph", "keras_aw._upstream_optimizer")),
    ("ops", ("keras_aw.ops",)),
    ("layers", ("keras_aw.layers",)),
    # Services that take any keras.Model: files, the model registry, export.
    ("model services", ("keras_aw.utils", "keras_aw.registry", "keras_aw.deploy",
                        "keras_aw.optimizers")),
    ("applications", ("keras_aw.applications",)),
    ("detection", ("keras_aw.detection",)),
    ("conversion and attention arrays", ("keras_aw.convert", "keras_aw.attention")),
    ("distribution", ("keras_aw.distribute", "keras_aw.devices")),
    ("data", ("keras_aw.datasets",)),
    ("the package", ("keras_aw",)),
    ("tooling", ("keras_aw_tools",)),
)

#: Imports of package modules inside functions that are allowed:
#: (importing module or package, imported module or package) -> why.
LATE_IMPORTS = {
    ("keras_aw.convert", "keras_aw.detection.hub"):
        "keras-hub extra: a keras-hub backbone becomes a GraphBackbone",
    ("keras_aw.detection", "keras_aw.detection"):
        "keras-hub extra: the package's names that need keras-hub or pycocotools",
    ("keras_aw.detection.detectors", "keras_aw.detection.backbone"):
        "keras-hub extra: the registered builders import keras-hub when called",
    ("keras_aw.detection.detectors", "keras_aw.detection.tasks"):
        "keras-hub extra: the registered builders import keras-hub when called",
    ("keras_aw.detection.detectors", "keras_aw.detection.upstream"):
        "keras-hub extra: the registered builders import keras-hub when called",
    ("keras_aw.detection.evaluation", "keras_aw.detection.upstream"):
        "keras-hub extra: swapping a detector's NMS (the detector holds keras-hub)",
    ("keras_aw_tools.detection_task", "keras_aw.detection"):
        "keras-hub extra: the detectors' encoders and their COCO / Shapes evaluation",
    ("keras_aw_tools.detection_recipe", "keras_aw.detection.upstream"):
        "keras-hub extra: Detectron2's loss for the coco-1x detectors",
    ("keras_aw_tools.distributed_fit", "keras_aw.detection"):
        "keras-hub extra: evaluating a detector under a cluster",
    ("keras_aw_tools.cli", "keras_aw"): "the command line's lazy start (its --version)",
    ("keras_aw_tools.commands", "keras_aw"):
        "the command line's lazy start (--help without Keras)",
    ("keras_aw_tools.commands", "keras_aw_tools"): "the command line's lazy start",
}

PRIVATE_MODULES = ("keras.src", "jax._src", "tensorflow.python", "torch._")
PRIVATE_ATTRIBUTES = {"_keras_history", "_inbound_nodes", "_outbound_nodes", "_flatten_layers",
                      "_compute_loss", "_loss_tracker", "_get_variable_index", "_nodes_by_depth",
                      "_functional"}
#: File names of the adapter modules, the only ones that may use private APIs.
ADAPTERS = ("_graph.py", "_upstream*.py")

MAX_LINES = 600
#: Written-out builders of applications/ (one function per network, as keras.applications).
LONG_MODULES = {"applications/resnet.py", "applications/mobilenet.py"}


class Module:
    def __init__(self, name, path, is_package):
        self.name, self.path, self.is_package = name, path, is_package
        self.source = open(os.path.join(ROOT, path), encoding="utf-8").read()
        self.tree = ast.parse(self.source, path)


def _modules():
    found = {}
    for folder, package in SOURCES.items():
        base = os.path.join(ROOT, folder)
        for directory, subdirs, files in os.walk(base):
            rel_dir = os.path.relpath(directory, base)
            # keras_aw/applications is a development symlink to applications/
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__" and not (
                folder == "keras_aw" and rel_dir == "." and d == "applications"))
            for file in sorted(f for f in files if f.endswith(".py")):
                parts = [] if rel_dir == "." else rel_dir.split(os.sep)
                if file != "__init__.py":
                    parts.append(file[:-3])
                name = ".".join([package] + parts)
                path = os.path.relpath(os.path.join(directory, file), ROOT)
                found[name] = Module(name, path, file == "__init__.py")
    return found


MODULES = _modules()


def _imports(module):
    """Yields (imported package module, line, inside a function) for every import."""
    parents = {}
    for node in ast.walk(module.tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def in_function(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return True
        return False

    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.name.split(".")
                parts = parts if module.is_package else parts[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES:
                yield target, node.lineno, in_function(node)


def _within(name, prefix):
    """Whether module `name` is `prefix` or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def _layer(name):
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or (prefix != "keras_aw" and name.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def test_the_modules_are_found():
    assert {"keras_aw", "keras_aw.layers.aw_conv2d", "keras_aw.applications.resnet",
            "keras_aw_tools.cli"} <= set(MODULES)


def test_every_module_has_a_layer():
    assert [name for name in MODULES if _layer(name) is None] == []


def test_no_import_cycle():
    graph = {name: sorted({t for t, _, late in _imports(m) if not late and t != name})
             for name, m in MODULES.items()}
    cycles, state, stack = [], {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in graph[name]:
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_upward_import():
    upward = [f"{m.path}:{line} imports {target} ({LAYERS[_layer(target)][0]} is above "
              f"{LAYERS[_layer(name)][0]})"
              for name, m in MODULES.items() for target, line, _ in _imports(m)
              if None not in (_layer(target), _layer(name)) and _layer(target) > _layer(name)]
    assert upward == [], "\n".join(upward)


def test_no_late_import_of_the_package_outside_the_allow_list():
    def allowed(name, target):
        return any(_within(name, importer) and _within(target, prefix)
                   for importer, prefix in LATE_IMPORTS)

    late = [f"{m.path}:{line} imports {target} inside a function"
            for name, m in MODULES.items() for target, line, inside in _imports(m)
            if inside and not allowed(name, target)]
    assert late == [], "\n".join(late)


def test_the_late_import_allow_list_is_still_needed():
    used = {(importer, prefix) for name, m in MODULES.items() for target, _, inside in _imports(m)
            if inside for importer, prefix in LATE_IMPORTS
            if _within(name, importer) and _within(target, prefix)}
    assert set(LATE_IMPORTS) - used == set()


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def _private_uses(module):
    for node in ast.walk(module.tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute):
            names = [_dotted(node) or ""]
            if node.attr in PRIVATE_ATTRIBUTES:
                yield node.lineno, node.attr
        elif isinstance(node, ast.Constant) and node.value in PRIVATE_ATTRIBUTES:
            yield node.lineno, node.value  # getattr(x, "_functional")
        for name in names:
            if any(name == p or name.startswith(p if p.endswith("_") else p + ".")
                   for p in PRIVATE_MODULES):
                yield node.lineno, name


def test_private_framework_apis_only_in_adapters():
    found = sorted({f"{m.path}:{line} uses {what}" for m in MODULES.values()
                    if not any(fnmatch.fnmatch(os.path.basename(m.path), pattern)
                                for pattern in ADAPTERS)
                    for line, what in _private_uses(m)})
    assert found == [], "\n".join(found)


def test_the_adapters_say_why_and_name_the_upstream_issue():
    for m in MODULES.values():
        if any(fnmatch.fnmatch(os.path.basename(m.path), p) for p in ADAPTERS):
            doc = ast.get_docstring(m.tree) or ""
            assert re.search(r"[\w.-]+/[\w.-]+#\d+", doc), \
                f"{m.path} names no upstream issue (owner/repo#number)"


def test_the_private_api_check_can_fail():
    sample = Module.__new__(Module)
    sample.tree = ast.parse("import keras.src.backend as b\nfrom jax._src import core\n"
                            "x = t._keras_history\ny = getattr(m, '_functional', None)\n"
                            "import torch._dynamo\nz = keras.src.utils\n")
    assert {line for line, _ in _private_uses(sample)} == {1, 2, 3, 4, 5, 6}


def test_modules_are_small():
    long = [f"{m.path}: {len(m.source.splitlines())} lines" for m in MODULES.values()
            if len(m.source.splitlines()) > MAX_LINES and m.path not in LONG_MODULES]
    assert long == [], "\n".join(long)
