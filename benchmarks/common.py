"""Shared timing, memory and reporting for the benchmark scripts (interleaved runs, medians, JSON)."""

import ctypes
import json
import os
import platform
import resource
import statistics
import subprocess
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


def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024


def training_memory(train_step, steps=3):
    """Resident memory of training in this process, in MB (Linux), after one warm-up step.

    Call it in a fresh process (high-water marks are per process). Returns
    ``peak_mb``: the process's peak resident memory (ru_maxrss), compilation
    included; ``train_peak_mb``: the peak during `steps` calls of `train_step`
    after the warm-up call, once the memory the allocator kept from compiling
    is given back (``malloc_trim``) and the high-water mark reset
    (/proc/self/clear_refs): what training holds once compiled (weights,
    optimizer state, compiled programs, activations, workspace); ``step_mb``:
    ``train_peak_mb`` minus the resident memory before those steps, i.e. what
    one step allocates and frees.
    """
    train_step()  # compiles
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    warm = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    for _ in range(steps):
        train_step()
    train_peak = _status_mb("VmHWM")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(peak_mb=peak, train_peak_mb=train_peak, step_mb=train_peak - warm)


def run_child(script, *args):
    """Runs ``python script --child ARGS`` in a fresh process; its last stdout line as JSON."""
    out = subprocess.run([sys.executable, os.path.abspath(script), "--child", *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_ratios(plain, aw):
    """``{key}_ratio`` = aw / plain for the three `training_memory` figures, with both values."""
    row = {}
    for key in ("peak", "train_peak", "step"):
        row[f"plain_{key}_mb"] = plain[f"{key}_mb"]
        row[f"aw_{key}_mb"] = aw[f"{key}_mb"]
        row[f"{key}_ratio"] = aw[f"{key}_mb"] / plain[f"{key}_mb"]
    return row


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


#: Where a ``--quick`` run writes (relative to the current directory): never results/, whose
#: JSON files are the committed measurements BENCHMARKS.md is generated from.
QUICK_RESULTS = os.path.join("runs", "benchmarks-quick")


def report(name, columns, rows, extra=None, quick=False):
    """Prints a table and writes results/NAME-BACKEND.json (`QUICK_RESULTS` if `quick`)."""
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print(" | ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))
    folder = QUICK_RESULTS if quick else RESULTS
    os.makedirs(folder, exist_ok=True)
    path = os.path.abspath(os.path.join(folder, f"{name}-{keras.backend.backend()}.json"))
    with open(path, "w") as f:
        json.dump({"machine": machine(), "columns": columns, "rows": rows, **(extra or {})}, f,
                  indent=1)
    print(f"wrote {path}")


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.2f}"
    return "" if v is None else str(v)
