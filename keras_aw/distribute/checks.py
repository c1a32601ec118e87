"""The one check of what the processes of a cluster must agree on: counts, ids, batch sizes.

Cluster discovery (`find_cluster`), input sharding (`keras_aw.datasets.sharding`)
and the `Cluster` itself all check through these functions, so a mistake gets
the same exception and the same words wherever it is made:

- `TypeError`: a value of the wrong type (a float, a string, a bool where an int
  is needed);
- `ValueError`: a value of the right type that is out of range or inconsistent
  (a process id not below the process count, a batch that does not divide).

(Failing to join a cluster is a `ConnectionError` and a peer that does not
arrive a `TimeoutError`: see `keras_aw.distribute.cluster`.)

Nothing here imports a backend.

Example:

>>> check_processes(2, 1)
(2, 1)
>>> check_processes(2, 2)
Traceback (most recent call last):
...
ValueError: `process_id` must be in [0, 1] for num_processes=2; received process_id=2
>>> check_global_batch(16, 2, "num_processes=2")
8
"""

import numbers


def _where(source):
    return f" ({source})" if source else ""


def check_int(name, value, source=None):
    """Returns `value` if it is an int (not a bool); raises `TypeError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; received {name}={value!r}{_where(source)}")
    return int(value)


def parse_int(name, value, source=None):
    """An int from an int or its text (an environment variable, a flag).

    Raises:
        TypeError: a bool, or a value that is neither an int nor text.
        ValueError: text that is not an int.
    """
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"`{name}` must be an int; received {name}={value!r}"
                             f"{_where(source)}") from None
    return check_int(name, value, source)


def check_processes(num_processes, process_id, source=None):
    """Checks a process count and this process's index in it.

    Args:
        num_processes: the number of processes, at least 1.
        process_id: this process's index, 0 to ``num_processes - 1``.
        source: where the values came from, named in the message (optional).

    Returns:
        ``(num_processes, process_id)`` as ints.

    Raises:
        TypeError: either is not an int.
        ValueError: ``num_processes < 1`` or `process_id` out of range.
    """
    num_processes = check_int("num_processes", num_processes, source)
    process_id = check_int("process_id", process_id, source)
    if num_processes < 1:
        raise ValueError(f"`num_processes` must be at least 1; received num_processes="
                         f"{num_processes}{_where(source)}")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"`process_id` must be in [0, {num_processes - 1}] for num_processes="
                         f"{num_processes}; received process_id={process_id}{_where(source)}")
    return num_processes, process_id


def check_global_batch(batch_size, parts, among, name="batch_size"):
    """Checks that a global batch size splits evenly into `parts` (devices or processes).

    Args:
        batch_size: the global batch size, a positive int.
        parts: what it is split among, e.g. the number of devices.
        among: the parts in words, for the message, e.g. "the 4 devices of the cluster".
        name: the argument's name in the message.

    Returns:
        The batch size of one part, ``batch_size // parts``.

    Raises:
        TypeError: `batch_size` is not an int.
        ValueError: `batch_size` < 1, or not a multiple of `parts`.
    """
    batch_size = check_int(name, batch_size)
    if batch_size < 1:
        raise ValueError(f"`{name}` must be a positive int; received {name}={batch_size}")
    if batch_size % parts:
        raise ValueError(f"the global `{name}` must be a multiple of {among}; received "
                         f"{name}={batch_size}")
    return batch_size // parts
