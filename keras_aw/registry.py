"""The model registry: every builder of keras_aw, registered once, found by name.

The timm pattern with Keras naming. Each family module declares its named
networks as data, a table ``name -> (family, variant, generic builder arguments,
paper rows)``, has one public function per name (written out, or generated from
the table as the detectors' are) and registers the table with `register_models`::

    MODELS = {"AWResNet50": ("resnet50", "aw", {"stack_blocks": (3, 4, 6, 3)},
                             [table1("AW-ResNet50", 23.38, 6.79, 3.87, 25.72)]), ...}
    register_models(MODELS, ResNet, [ResNet50, AWResNet50, ...])

`list_models()` lists the registered names, `model_info(name)` says what a name
is, `create_model(spec, **kwargs)` calls its builder. Names are matched ignoring
case, ``-`` and ``_`` (``"aw-se-resnet50"`` is ``"AWSEResNet50"``). A model
*spec* is a name optionally followed by ``:MODE`` for the CBAM form
(``"AWCBAMResNet50:spatial"``): `parse_spec` turns it into a `ModelSpec`.

Importing `keras_aw` registers every model, the 18 detectors included (their
module does not import keras-hub; building one does), so the registry is
complete once `keras_aw` is imported and importing anything else never changes
it. This module imports nothing from keras_aw but its vocabulary.

Example:

>>> import keras_aw
>>> keras_aw.list_models(family="mobilenet")
['MobileNet', 'AWMobileNet', 'SEMobileNet', 'AWSEMobileNet', 'CBAMMobileNet', 'AWCBAMMobileNet']
>>> keras_aw.model_info("aw-se-resnet50").variant
'aw-se'
>>> spec = keras_aw.registry.parse_spec("aw-cbam-resnet50:spatial")
>>> spec.name, spec.kwargs, spec.task, str(spec)
('AWCBAMResNet50', {'cbam': 'spatial'}, 'classification', 'AWCBAMResNet50:spatial')
"""

from typing import Callable, NamedTuple

from keras_aw.vocabulary import CBAM_MODES, TASKS, VARIANTS


class PaperResult(NamedTuple):
    """One row of a table of the paper (Zhu et al., ICANN 2021), as printed there.

    Attributes:
        label: the model as the paper names it, e.g. "AW-CBAM-ResNet50 (MaxPool)".
        metrics: the row's figures by column. Table 1 (ImageNet, 224x224):
            "top1_err" and "top5_err" (percent; None where the paper prints none),
            "gflops" (multiply-accumulates) and "params_m" (trainable parameters,
            millions). Table 2 (COCO val2017): "AP", "AP50", "AP75".
        kwargs: builder keyword arguments that select this row (e.g. the CBAM form).
        table: "Table 1" or "Table 2".
    """

    label: str
    metrics: dict
    kwargs: dict = {}
    table: str = "Table 1"


def table1(label, top1_err, top5_err, gflops, params_m, **kwargs):
    """A `PaperResult` of Table 1; `kwargs` are the builder arguments selecting the row."""
    return PaperResult(label, {"top1_err": top1_err, "top5_err": top5_err, "gflops": gflops,
                               "params_m": params_m}, kwargs)


def table2(label, ap, ap50, ap75):
    """A `PaperResult` of the paper's Table 2 (COCO val2017, ResNet101, Faster R-CNN)."""
    return PaperResult(label, {"AP": ap, "AP50": ap50, "AP75": ap75}, table="Table 2")


class ModelInfo(NamedTuple):
    """What the registry knows of a model name.

    Attributes:
        name: the canonical name (the builder's function name).
        builder: the function that builds it.
        family: the network, e.g. "resnet50", "mobilenet", "small_cnn", "resnet101_fpn".
        variant: one of `keras_aw.vocabulary.VARIANTS`.
        task: one of `keras_aw.vocabulary.TASKS`.
        paper: the paper's rows for this builder (`PaperResult`s), may be empty.
        arguments: the family's generic builder's arguments this name fixes besides
            the variant's (e.g. ``{"stack_blocks": (3, 4, 6, 3)}``).
        generic: the family's generic builder (e.g. `keras_aw.applications.resnet.ResNet`).
    """

    name: str
    builder: Callable
    family: str
    variant: str
    task: str
    paper: tuple
    arguments: dict = {}
    generic: Callable = None

    @property
    def takes_cbam(self):
        """Whether the builder takes a ``cbam=`` form."""
        return "cbam" in self.variant


_REGISTRY = {}
_FAMILY_ORDER = []


def _key(name):
    return str(name).replace("-", "").replace("_", "").lower()


def register_models(models, generic, builders, task="classification"):
    """Registers a family table: one entry per name, built by its written function.

    Args:
        models: dict ``name -> (family, variant, arguments, paper)``: the network
            family (e.g. "resnet50"), one of `VARIANTS`, the arguments of `generic`
            the name fixes besides its variant's, and the paper's rows
            (`PaperResult`s, may be empty).
        generic: the family's generic builder.
        builders: the public functions, one per name of `models` (matched by
            ``__name__``).
        task: one of `TASKS`.

    Raises:
        ValueError: an unknown variant or task, a name without its function (or a
            function without its name), or a name registered twice.
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}; received task={task!r}")
    by_name = {builder.__name__: builder for builder in builders}
    if set(by_name) != set(models):
        raise ValueError(
            "every model needs exactly one builder function; names without one: "
            f"{sorted(set(models) - set(by_name))}, functions without a name: "
            f"{sorted(set(by_name) - set(models))}"
        )
    for name, (family, variant, arguments, paper) in models.items():
        if variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {VARIANTS}; received variant={variant!r}")
        key = _key(name)
        if key in _REGISTRY and _REGISTRY[key].builder is not by_name[name]:
            raise ValueError(f"a model named {name!r} is already registered")
        _REGISTRY[key] = ModelInfo(name, by_name[name], family, variant, task, tuple(paper),
                                   dict(arguments), generic)
        if family not in _FAMILY_ORDER:
            _FAMILY_ORDER.append(family)


def register_model(family, variant, task="classification", paper=()):
    """Decorator registering one builder under its function name (for models of your own).

    The package's families are tables registered with `register_models`; this is
    the same registration for a single function.

    Args:
        family: the network the builder makes, e.g. "my_resnet".
        variant: one of `VARIANTS`.
        task: one of `TASKS`.
        paper: iterable of `PaperResult` rows, usually empty.

    Returns:
        The decorator; it returns the builder unchanged.
    """
    def decorator(builder):
        register_models({builder.__name__: (family, variant, {}, paper)}, builder, [builder],
                        task=task)
        return builder

    return decorator


def _sort_key(info):
    return (_FAMILY_ORDER.index(info.family), VARIANTS.index(info.variant), info.name)


def list_models(family=None, variant=None, task=None):
    """Registered model names, by family (in registration order), then variant.

    Args:
        family: keep only this family (e.g. "resnet50"); None keeps all.
        variant: keep only this variant (one of `VARIANTS`); None keeps all.
        task: keep only this task ("classification" or "detection"); None keeps all.

    Returns:
        A list of canonical names.
    """
    infos = [i for i in _REGISTRY.values()
             if (family is None or i.family == family)
             and (variant is None or i.variant == variant)
             and (task is None or i.task == task)]
    return [i.name for i in sorted(infos, key=_sort_key)]


def model_info(name):
    """The `ModelInfo` of a registered name (case, '-' and '_' ignored).

    Raises:
        ValueError: the name is not registered; the message lists the names.
    """
    info = _REGISTRY.get(_key(name))
    if info is None:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return info


class ModelSpec(NamedTuple):
    """A parsed model spec such as ``"AWCBAMResNet50:spatial"``.

    Attributes:
        name: the canonical registered name, e.g. "AWCBAMResNet50".
        kwargs: the builder keyword arguments the spec selects, e.g. ``{"cbam": "spatial"}``.
        info: the registry entry (`ModelInfo`: family, variant, task, paper rows, builder).
    """

    name: str
    kwargs: dict
    info: ModelInfo

    @property
    def task(self):
        """The model's task, "classification" or "detection"."""
        return self.info.task

    def __str__(self):
        return f"{self.name}:{self.kwargs['cbam']}" if self.kwargs else self.name

    def build(self, **kwargs):
        """Builds the model with the spec's keyword arguments and `kwargs`.

        Raises:
            ValueError: `kwargs` gives a spec argument (``cbam``) another value.
        """
        for key, value in self.kwargs.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(
                    f"the spec {str(self)!r} selects {key}={value!r}; "
                    f"received {key}={kwargs[key]!r}"
                )
        return self.info.builder(**{**self.kwargs, **kwargs})


def parse_spec(spec):
    """Parses ``"NAME[:CBAM_MODE]"`` into a `ModelSpec` (a `ModelSpec` is returned as is).

    Raises:
        TypeError: `spec` is neither a string nor a `ModelSpec`.
        ValueError: unknown name, a mode for a builder without CBAM, or an unknown mode.
    """
    if isinstance(spec, ModelSpec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a model spec must be a string; received spec={spec!r}")
    name, _, mode = spec.partition(":")
    info = model_info(name)
    if not mode:
        return ModelSpec(info.name, {}, info)
    if not info.takes_cbam:
        raise ValueError(f"{info.name} takes no CBAM form; received spec={spec!r}")
    if mode not in CBAM_MODES:
        raise ValueError(f"unknown CBAM form {mode!r} in spec={spec!r}; use one of {CBAM_MODES}")
    return ModelSpec(info.name, {"cbam": mode}, info)


def canonical_spec(spec):
    """The canonical spelling of a spec, ``str(parse_spec(spec))``.

    ``"aw-cbam-resnet50:spatial"`` -> ``"AWCBAMResNet50:spatial"``.
    """
    return str(parse_spec(spec))


def create_model(spec, **kwargs):
    """Builds a registered model: ``create_model("AWSEResNet50", classes=10)``.

    Args:
        spec: a registered name, a spec (``"AWCBAMMobileNet:spatial"``) or a `ModelSpec`.
        **kwargs: passed to the builder.

    Returns:
        The built model (a `keras.Model`; detectors need the ``[detection]`` extra).
    """
    return parse_spec(spec).build(**kwargs)


def paper_rows(table="Table 1"):
    """The paper's rows of `table`, each as (spec, `ModelInfo`, `PaperResult`), in table order.

    The spec builds the row's network with `create_model`.
    """
    rows = []
    for name in list_models():
        info = model_info(name)
        for row in info.paper:
            if row.table == table:
                mode = row.kwargs.get("cbam")
                rows.append((f"{name}:{mode}" if mode else name, info, row))
    return rows
