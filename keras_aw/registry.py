"""The model registry: every builder of keras_aw, registered once, found by name.

The timm pattern with Keras naming. A builder is registered where it is
defined, with the network family it belongs to, its attention variant and, if
the paper reports it, the paper's figures::

    @register_model("resnet50", "aw", paper=[table1("AW-ResNet50", 23.38, 6.79, 3.87, 25.72)])
    def AWResNet50(include_top=True, ...):
        return ResNet(STACKS[50], aw=True, **locals())

`list_models()` lists the registered names, `model_info(name)` says what a name
is, `create_model(name, **kwargs)` calls its builder. Names are matched ignoring
case, ``-`` and ``_`` (``"aw-se-resnet50"`` is ``"AWSEResNet50"``). A model
*spec* is a name optionally followed by ``:MODE`` for the CBAM form
(``"AWCBAMResNet50:spatial"``): `parse_spec` splits it into the name and the
builder's keyword arguments.

This module sits at the bottom of the package (it imports nothing from
keras_aw): the builders import it to register themselves, and importing
`keras_aw` imports every builder, so the registry is full once `keras_aw` is
imported.

Example:

>>> import keras_aw
>>> keras_aw.list_models(family="mobilenet")
['MobileNet', 'AWMobileNet', 'SEMobileNet', 'AWSEMobileNet', 'CBAMMobileNet', 'AWCBAMMobileNet']
>>> keras_aw.model_info("aw-se-resnet50").variant
'aw-se'
"""

from typing import Callable, NamedTuple

#: The attention variants of the paper's tables, in the order they are listed.
VARIANTS = ("plain", "aw", "se", "aw-se", "cbam", "aw-cbam")
#: Forms of CBAM a spec may name after a colon (see `keras_aw.layers.CBAM`).
CBAM_MODES = ("full", "maxpool", "spatial")
TASKS = ("classification", "detection")


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


class ModelInfo(NamedTuple):
    """What the registry knows of a model name.

    Attributes:
        name: the canonical name (the builder's function name).
        builder: the function that builds it.
        family: the network, e.g. "resnet50", "mobilenet", "small_cnn".
        variant: one of `VARIANTS`.
        task: "classification" or "detection".
        paper: the paper's rows for this builder (`PaperResult`s), may be empty.
    """

    name: str
    builder: Callable
    family: str
    variant: str
    task: str
    paper: tuple

    @property
    def takes_cbam(self):
        """Whether the builder takes a ``cbam=`` form."""
        return "cbam" in self.variant


_REGISTRY = {}
_FAMILY_ORDER = []


def _key(name):
    return str(name).replace("-", "").replace("_", "").lower()


def register_model(family, variant, task="classification", paper=()):
    """Decorator registering a builder under its function name.

    Args:
        family: the network the builder makes, e.g. "resnet50".
        variant: one of `VARIANTS`.
        task: one of `TASKS`.
        paper: iterable of `PaperResult` rows the paper prints for this builder.

    Returns:
        The decorator; it returns the builder unchanged.
    """
    if variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}; received variant={variant!r}")
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}; received task={task!r}")
    paper = tuple(paper)

    def decorator(builder):
        name = builder.__name__
        key = _key(name)
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"a model named {name!r} is already registered")
        _REGISTRY[key] = ModelInfo(name, builder, family, variant, task, paper)
        if family not in _FAMILY_ORDER:
            _FAMILY_ORDER.append(family)
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
    """A parsed model spec such as "AWCBAMResNet50:spatial".

    Attributes:
        name: the canonical registered name, e.g. "AWCBAMResNet50".
        kwargs: the builder keyword arguments the spec selects, e.g. {"cbam": "spatial"}.
        info: the registry entry (`ModelInfo`).
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
        """Builds the model with the spec's keyword arguments and `kwargs`."""
        return self.info.builder(**self.kwargs, **kwargs)


def parse_spec(spec):
    """Parses ``"NAME[:CBAM_MODE]"`` (or returns a `ModelSpec` unchanged) into a `ModelSpec`.

    Raises:
        ValueError: unknown name, a mode for a builder without CBAM, or an unknown mode.
    """
    if isinstance(spec, ModelSpec):
        return spec
    name, _, mode = str(spec).partition(":")
    info = model_info(name)
    if not mode:
        return ModelSpec(info.name, {}, info)
    if not info.takes_cbam:
        raise ValueError(f"{info.name} takes no CBAM form; received spec={spec!r}")
    if mode not in CBAM_MODES:
        raise ValueError(f"unknown CBAM form {mode!r} in spec={spec!r}; use one of {CBAM_MODES}")
    return ModelSpec(info.name, {"cbam": mode}, info)


def canonical_spec(spec):
    """The canonical spelling of a spec: ``"aw-cbam-resnet50:spatial"`` -> ``"AWCBAMResNet50:spatial"``."""
    return str(parse_spec(spec))


def create_model(name, **kwargs):
    """Builds a registered model: ``create_model("AWSEResNet50", classes=10)``.

    Args:
        name: a registered name or spec (``"AWCBAMMobileNet:spatial"``), or a `ModelSpec`.
        **kwargs: passed to the builder.

    Returns:
        The built `keras.Model`.
    """
    return parse_spec(name).build(**kwargs)


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
