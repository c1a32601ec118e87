"""Joining a cluster without hanging: the coordinator check, the watchdog, the join error.

Shared by the engines (`jax_engine`, `tensorflow_engine`, `torch_engine`) and
`keras_aw.distribute.cluster`. A process that cannot join raises
`ConnectionError`; one whose engine would wait without a deadline is ended by
the watchdog.
"""

import contextlib
import faulthandler
import socket
import time


def first_line(error):
    """The first line of an exception's message (engines raise pages of C++ context)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def join_error(spec, seconds, error):
    """The `ConnectionError` for a process that could not join `spec`'s cluster."""
    return ConnectionError(
        f"process {spec.process_id} of {spec.num_processes} could not join the cluster at "
        f"{spec.addresses[0]} within {seconds} s (from {spec.source}; every process must start "
        f"with the same num_processes and its own process_id): {first_line(error)}")


def wait_for_coordinator(spec, seconds):
    """Non-chief processes: waits until the coordinator's port accepts connections.

    Engines report an unreachable coordinator late or badly (JAX aborts the
    process with a C++ stack trace): fail first, with a clear message.
    Returns the seconds left of `seconds`.

    Raises:
        ConnectionError: the coordinator did not answer within `seconds`.
    """
    start = time.monotonic()
    if spec.process_id == 0:
        return seconds
    host, _, port = spec.addresses[0].rpartition(":")
    host = host.strip("[]")
    error = None
    while time.monotonic() - start < seconds:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return max(1, int(seconds - (time.monotonic() - start)))
        except OSError as e:
            error = e
            time.sleep(0.5)
    raise ConnectionError(
        f"process {spec.process_id} of {spec.num_processes} cannot reach the cluster's "
        f"coordinator {spec.addresses[0]} (from {spec.source}) within {seconds} s: {error}")


@contextlib.contextmanager
def watchdog(seconds):
    """Ends the process if the block outlasts `seconds` (it may hold the GIL: no Python timer).

    `faulthandler` fires from a C thread: it prints where each thread waits
    (under the line announcing the deadline) and exits with status 1.
    """
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
