"""Warm start: turn a plain (pretrained) Keras CNN into an AW-convolution one.

No AW ImageNet weights exist, so the practical start is a network trained
without attention whose selected `Conv2D` layers become `AWConv2D` layers
carrying the same kernel and bias. `convert_to_aw` does that on a copy of the
model and, by default, initialises every new attention branch so that the new
model computes the same function as the old one (see `identity_start`).
"""

import numbers

import keras
import numpy as np
from keras_aw._graph import flatten_layers, is_graph_model
from keras_aw.layers.aw_conv2d import AWConv2D
from keras_aw.layers.identity import identity_init, identity_value
from keras_aw.layers.identity import DEFAULT_IDENTITY_ATTENTION  # noqa: F401  (public here too)

#: The AWConv2D arguments `convert_to_aw` passes through; the rest of the
#: configuration (filters, kernel size, strides, ...) comes from the source Conv2D.
AW_ARGUMENTS = ("attention_reduction", "reduction_c1", "reduction_c2", "residual")


def default_select(layer):
    """The paper's choice: every plain 3x3, non-grouped `Conv2D`."""
    return (
        type(layer) is keras.layers.Conv2D
        and tuple(layer.kernel_size) == (3, 3)
        and layer.groups == 1
    )


def _is_candidate(layer):
    return isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, AWConv2D)


def convert_to_aw(model, select=None, identity_start=True, **awconv_kwargs):
    """Returns a copy of `model` whose selected `Conv2D` layers are `AWConv2D`.

    The copy is built with `keras.models.clone_model` (nested Functional and
    Sequential models included); every layer keeps its name, configuration and
    weights; each selected `Conv2D` becomes an `AWConv2D` with the same
    configuration, kernel and bias, plus a new attention branch. The source
    model is not modified.

    Args:
        model: a Functional or Sequential `keras.Model` (for instance
            `keras.applications.ResNet50(weights="imagenet")`).
        select: None or a callable ``select(layer) -> bool``. It is called on
            every `keras.layers.Conv2D` of the model graph (nested Functional
            and Sequential models included; layers that are already `AWConv2D`
            are left out) and returns True for the layers to convert. None
            selects every plain 3x3 `Conv2D` with ``groups=1``, the paper's
            choice (`default_select`). Layers inside custom (subclassed)
            layers or models are not visited: they are copied unchanged.
        identity_start: True (default), False, or a float ``a0`` in (0, 0.5).
            True/``a0``: every new attention branch starts at the constant
            ``A = a0`` (True means ``a0 = 1e-6``): the last attention
            BatchNorm gets ``gamma = 0`` and ``beta = logit(a0)``
            (``logit(1 - a0)`` when ``residual=False``, so that ``A ≈ 1``).
            Each converted layer then computes ``(1 + a0)`` times its source
            output (``(1 - a0)`` without residual), so the new model matches
            the old one up to that scale as the network propagates it (a
            ResNet50 with realistic BatchNorm statistics: <= 2e-4 relative at
            the logits for the default a0). The kernel is the source's bit for
            bit. Training moves the branch off this start through the
            gradients of ``gamma`` and ``beta``, which the saturated sigmoid
            scales by about ``a0``: use an Adam-type optimizer with a small
            ``epsilon`` (1e-10), or a larger ``a0`` (see docs/deploy.md for
            the trade-off). False: the attention
            branch keeps `AWConv2D`'s own initialisation (the paper's,
            ``A ≈ 0.5`` varying per sample), so the outputs change at once.
        **awconv_kwargs: passed to every new `AWConv2D`; only
            ``attention_reduction``, ``reduction_c1``, ``reduction_c2`` and
            ``residual`` are accepted (the rest of the configuration is the
            source layer's).

    Returns:
        A new `keras.Model` of the same kind (Functional or Sequential). A
        keras-hub `FeaturePyramidBackbone` (e.g. ``keras_hub.models.ResNetBackbone``)
        becomes a `keras_aw.detection.GraphBackbone` with the same
        ``pyramid_outputs``, usable wherever the source was (keras-hub's
        `ImageClassifier`, `RetinaNetBackbone`, keras_aw's detectors).

    Raises:
        TypeError: `model` is not a `keras.Model`, `select` is not callable,
            or an unexpected keyword argument is given.
        ValueError: `model` is a subclassed model (its layer graph cannot be
            cloned) or is not built, `select` matches no layer, `select` picks a grouped
            `Conv2D`, or `identity_start` is out of range.

    Example:

    >>> import keras, keras_aw, numpy as np
    >>> inputs = keras.Input((32, 32, 3))
    >>> x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    >>> x = keras.layers.Conv2D(8, 1, name="pointwise")(x)
    >>> x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    >>> base = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    >>> aw = keras_aw.convert_to_aw(base)  # the 3x3 convolutions become AWConv2D
    >>> [type(layer).__name__ for layer in aw.layers[1:4]]
    ['AWConv2D', 'Conv2D', 'AWConv2D']
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> bool(np.allclose(aw(images), base(images), rtol=1e-4, atol=1e-6))  # identity start
    True

    (On `keras.applications.ResNet50` it converts the 16 bottleneck 3x3
    convolutions.)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "convert_to_aw expects a keras.Model (Functional or Sequential); "
            f"received an object of type {type(model).__name__}"
        )
    if not is_graph_model(model):
        raise ValueError(
            f"convert_to_aw cannot convert {type(model).__name__!r}: it is a "
            "subclassed keras.Model, whose layer graph cannot be cloned. Build the "
            "model with the Functional or Sequential API, or swap its layers by "
            "hand: `AWConv2D.from_config(conv.get_config())`, then copy the "
            "kernel and bias."
        )
    if not model.built:
        raise ValueError(
            f"convert_to_aw needs a built model (its weights are carried over); "
            f"model {model.name!r} is not built: give it an Input or call "
            "`model.build(input_shape)` first"
        )
    if select is None:
        select = default_select
    elif not callable(select):
        raise TypeError(
            "`select` must be None or a callable taking a layer and returning a "
            f"bool; received select={select!r}"
        )
    unexpected = sorted(set(awconv_kwargs) - set(AW_ARGUMENTS))
    if unexpected:
        raise TypeError(
            f"convert_to_aw got unexpected keyword argument(s) {unexpected}; "
            f"accepted AWConv2D arguments are {list(AW_ARGUMENTS)} (the rest of "
            "the configuration comes from each source Conv2D)"
        )
    a0 = identity_value(identity_start)
    residual = awconv_kwargs.get("residual", True)

    pairs = []  # (source layer, new layer, converted?)

    def clone_layer(layer):
        convert = _is_candidate(layer) and bool(select(layer))
        if convert:
            if layer.groups != 1:
                raise ValueError(
                    f"`select` picked layer {layer.name!r}, a grouped Conv2D "
                    f"(groups={layer.groups}); AWConv2D supports groups=1 only"
                )
            config = layer.get_config()
            config.update(awconv_kwargs)
            new = AWConv2D.from_config(config)
        else:
            try:
                new = layer.__class__.from_config(layer.get_config())
            except Exception as error:  # noqa: BLE001 - re-raised with context
                raise ValueError(
                    f"convert_to_aw cannot copy layer {layer.name!r} of type "
                    f"{type(layer).__name__}: its get_config/from_config round trip "
                    f"failed ({type(error).__name__}: {error}). Custom layers and "
                    "subclassed models nested in the model must implement get_config."
                ) from error
        pairs.append((layer, new, convert))
        return new

    new_model = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)

    converted = [new for _, new, convert in pairs if convert]
    if not converted:
        raise ValueError(
            "convert_to_aw: `select` matched no Conv2D layer of model "
            f"{model.name!r}, so there is nothing to convert (the default selects "
            "plain 3x3 Conv2D layers with groups=1; Conv2D layers inside custom "
            "(subclassed) layers are not visited)"
        )
    for source, new, convert in pairs:
        if convert:
            # numpy copies: on JAX, assigning the variable itself would share its buffer,
            # which the new model's compiled functions may donate (delete).
            new.kernel.assign(_copy(source.kernel))
            if source.use_bias:
                new.bias.assign(_copy(source.bias))
            if a0 is not None:
                identity_init(new, a0, residual)
        elif isinstance(source, keras.layers.Layer) and source.weights:
            # (plain operations of the graph, e.g. `x + 3.0` or `ops.pad`, hold no weights)
            new.set_weights(source.get_weights())
    if isinstance(getattr(model, "pyramid_outputs", None), dict) and model.pyramid_outputs:
        # A keras-hub FeaturePyramidBackbone: keep it one (pyramid_outputs, saving).
        from keras_aw.detection.hub import as_pyramid_backbone

        return as_pyramid_backbone(model, new_model)
    return new_model


def constant_attention_start(model, value=0.5, rescale_kernel=False):
    """Starts every `AWConv2D` attention of `model` at the constant `value`; returns `model`.

    The last BatchNorm of each attention branch gets ``gamma = 0`` and
    ``beta = logit(value)``, so ``A = value`` for every sample at the start
    and the per-sample attention grows from there as training moves
    ``gamma`` (at ``value = 0.5`` the sigmoid's slope is largest). The
    paper's initialisation (the default of `AWConv2D`) starts instead at a
    per-sample ``A`` around 0.5 that is the batch-normalised response of a
    random branch.

    With ``rescale_kernel=True`` each kernel is also divided by its starting
    modulation (``1 + value`` in the residual form, ``value`` otherwise), so
    that every AW convolution starts computing exactly its plain
    convolution: the kernel initialiser's variance-preserving scale is kept
    (the paper's start multiplies every kernel by about 1.5, the features of
    two AW convolutions in a row by about 2.25). On the detection example
    this made AW-FPN train like FPN (docs/table2.md).

    Args:
        model: a `keras.Model` or layer holding `AWConv2D` layers (untrained:
            with ``rescale_kernel`` it changes the kernels).
        value: the starting attention, a float in (0, 1).
        rescale_kernel: bool, divide each kernel by its starting modulation.

    Returns:
        `model`, changed in place.

    Raises:
        ValueError: `value` is not in (0, 1), or `model` holds no `AWConv2D`.

    Example:

    >>> import keras, keras_aw
    >>> model = keras.Sequential([keras.Input((8, 8, 4)), keras_aw.AWConv2D(4, 3)])
    >>> model = keras_aw.convert.constant_attention_start(model)
    >>> a = model.layers[0].attention_maps(keras.random.normal((2, 8, 8, 4)))
    >>> round(float(keras.ops.min(a)), 3), round(float(keras.ops.max(a)), 3)
    (0.5, 0.5)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"`value` must be a float in (0, 1); received value={value!r}")
    if not isinstance(rescale_kernel, bool):
        raise TypeError(f"`rescale_kernel` must be a bool; received rescale_kernel={rescale_kernel!r}")
    layers = [layer for layer in flatten_layers(model) if isinstance(layer, AWConv2D)]
    if not layers:
        raise ValueError(f"{getattr(model, 'name', model)!r} holds no AWConv2D layer")
    for layer in layers:
        identity_init(layer, float(value), True)
        if rescale_kernel:
            modulation = 1.0 + value if layer.residual else value
            layer.kernel.assign(_copy(layer.kernel) / modulation)
    return model


def _copy(variable):
    return np.array(keras.ops.convert_to_numpy(variable), copy=True)

