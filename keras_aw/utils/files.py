"""Files the library reads and writes: writable paths, `.keras` models, atomic saving.

- `ensure_writable_dir(path)` / `ensure_writable_file(path)`: check (and create)
  an output location before any work, raising `ValueError` naming the path.
- `load_model_file(path)`: loads a `.keras` file with a one-line `ValueError`
  for a missing or unreadable one. A keras-hub detector loads because
  ``import keras_aw`` registers its classes (`keras_aw.detection`, which
  imports keras-hub only when such a file is loaded).
- `atomic_write_text(path, text)` / `atomic_save_model(model, path)`: write
  beside, then rename, so that an interrupted write never leaves half a file.

Example:

>>> import os, tempfile
>>> import keras_aw
>>> from keras_aw.utils.files import atomic_save_model, load_model_file
>>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
>>> atomic_save_model(keras_aw.create_model("AWSmallCNN", input_shape=(16, 16, 3)), path)
>>> load_model_file(path).name
'aw_small_cnn'
"""

import os
import tempfile

import keras


def ensure_writable_dir(path):
    """Creates directory `path` if needed and checks that files can be written in it.

    Args:
        path: a directory path (str or path-like).

    Returns:
        `path` as a string.

    Raises:
        ValueError: the directory cannot be created or written to.
    """
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
            pass
    except OSError as e:
        raise ValueError(f"directory {path!r} is not writable: {e.strerror or e}") from e
    return path


def ensure_writable_file(path):
    """Checks that file `path` can be written (its directory exists or is created).

    Args:
        path: a file path (str or path-like).

    Returns:
        `path`, unchanged.

    Raises:
        ValueError: its directory is not writable, or `path` is a directory.
    """
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    ensure_writable_dir(parent)
    if os.path.isdir(path):
        raise ValueError(f"{os.fspath(path)!r} is a directory; give a file name")
    return path


def load_model_file(path):
    """Loads a `.keras` file, raising `ValueError` for a missing or unreadable one.

    Args:
        path: the `.keras` file.

    Returns:
        The loaded `keras.Model` (compiled if it was saved compiled).

    Raises:
        ValueError: no such file, not a `.keras` file, or Keras cannot load it
            (the message is Keras's first line).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"no such file: {path!r}")
    if os.path.isdir(path) or not path.endswith(".keras"):
        raise ValueError(f"{path!r} is not a .keras model file")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # noqa: BLE001 - Keras raises many types; report one line
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot load model {path!r}: {message}") from e


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and a rename.

    Args:
        path: the file to (re)place.
        text: its new content.
    """
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def atomic_save_model(model, path):
    """Saves `model` to the `.keras` file `path` through a temporary file and a rename.

    Args:
        model: a `keras.Model`.
        path: a path ending in ``.keras``.

    Raises:
        ValueError: `path` does not end in ``.keras``.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"`path` must end in .keras; received path={path!r}")
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)

