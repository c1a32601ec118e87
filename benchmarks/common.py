"""Shared timing and reporting for the benchmark scripts (interleaved runs, medians, JSON)."""

import json
import os
import platform
import statistics
import sys
import time

import keras

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def interleaved_medians(fns, repeats=7, warmup=2):
    """Runs each callable of `fns` (name -> fn) in turn, `repeats` rounds; medians in ms."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def sync(x):
    """Waits for a result (JAX dispatches asynchronously)."""
    return keras.ops.convert_to_numpy(x)


def machine():
    import numpy

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "date": time.strftime("%Y-%m-%d"),
    }
    for module in ("tensorflow", "jax", "torch"):
        if module in sys.modules:
            info[module] = sys.modules[module].__version__
    try:
        import jax

        info["device"] = str(jax.devices()[0]) if info["backend"] == "jax" else info.get("device")
    except Exception:
        pass
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def report(name, columns, rows, extra=None):
    """Prints a table and writes results/NAME-BACKEND.json."""
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print(" | ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}-{keras.backend.backend()}.json")
    with open(path, "w") as f:
        json.dump({"machine": machine(), "columns": columns, "rows": rows, **(extra or {})}, f,
                  indent=1)
    print(f"wrote {path}")


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.2f}"
    return "" if v is None else str(v)
