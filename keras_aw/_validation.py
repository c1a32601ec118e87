"""Argument checks shared by the package's layers and builders."""

import numbers


def check_positive_int(name, value, length=None):
    """Checks that `value` is a positive int, or a tuple of `length` of them.

    Args:
        name: the argument's name, used in the error message.
        value: the value to check.
        length: None for a single int; otherwise an int or a tuple/list of
            exactly `length` positive ints is accepted.

    Returns:
        `value`, unchanged.

    Raises:
        TypeError: a value that is not an int (bools are not ints here).
        ValueError: a value <= 0, or a tuple of the wrong length.
    """
    items = [value]
    if length is not None and isinstance(value, (tuple, list)):
        if len(value) != length:
            raise ValueError(
                f"`{name}` must be an int or a tuple of {length} ints; "
                f"received {name}={value!r}"
            )
        items = list(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise TypeError(
                f"`{name}` must be a positive int"
                + (f" or a tuple of {length}" if length else "")
                + f"; received {name}={value!r}"
            )
        if item <= 0:
            raise ValueError(
                f"`{name}` must be strictly positive; received {name}={value!r}"
            )
    return value


def check_choice(name, value, choices):
    """Checks that `value` is one of `choices`; returns it."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {tuple(choices)}; received {name}={value!r}"
        )
    return value


def standardize_data_format(data_format):
    """None -> Keras's configured image data format; otherwise validated."""
    import keras

    if data_format is None:
        return keras.config.image_data_format()
    return check_choice("data_format", data_format, ("channels_last", "channels_first"))
