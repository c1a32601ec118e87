"""Does AW help? A multi-seed ablation of the Table 1 variants and of warm starting.

Trains plain, SE, CBAM, AW, AW-SE and AW-CBAM variants of one network with
one recipe on one data set over K seeds, and a warm-start study (a plain
network trained E epochs, then (a) `keras_aw.convert_to_aw` + F fine-tuning
epochs vs (b) F more plain epochs with the same optimizer). Every run is
appended to a JSON file as soon as it finishes (``--resume`` skips finished
runs); ACCURACY.md (or ``--markdown``) is regenerated from that JSON by
`accuracy_report.py` after every run.

    KERAS_BACKEND=tensorflow python benchmarks/accuracy.py          # the full protocol
    python benchmarks/accuracy.py --fast           # tiny settings, seconds: runs/accuracy-fast/
    python benchmarks/accuracy.py --network resnet --resume         # continue the full run
    python benchmarks/accuracy.py --network resnet --seeds 10       # runs/accuracy-custom/
    python benchmarks/accuracy.py --dataset tfds:cifar10 --model ResNet50 AWResNet50 \\
        --image-size 64 --epochs 30 --output cifar.json            # a bigger machine

Only a run of a pre-registered protocol as it stands (no ``--fast``, no setting,
model or seed changed; a part of its studies only with ``--resume``) writes the
committed results (benchmarks/results/accuracy*.json and ACCURACY.md). Any other
run writes by default to ``runs/accuracy-fast/`` (``--fast``) or
``runs/accuracy-custom/`` under the current directory, and refuses an
``--output`` or ``--markdown`` that names a committed file. ``--plan`` refuses to
replace a result file that already holds runs.

Protocol (fixed before the full run; see ACCURACY.md): one seed ``s`` fixes
the data (the Shapes training and test sets are generated with seed ``s``;
tfds sets are the same for every seed, only their shuffling changes), the
initial weights and the batch order (``keras.utils.set_random_seed(s)``
before building and before fitting each model); every variant of one seed
sees the same data. Recipe: Adam, cosine decay of the learning rate to 0 over
the run, sparse categorical cross-entropy, no augmentation on Shapes (tfds
pipelines use `keras_aw.datasets`' random crop and flip), pixels rescaled to
[-1, 1] by the model's first layer.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_report  # noqa: E402
from common import machine  # noqa: E402

import keras_aw  # noqa: E402
from keras_aw.applications.mobilenet import BLOCKS, MobileNetV1  # noqa: E402
from keras_aw.applications.resnet import ResNet  # noqa: E402
from keras_aw.datasets import load_data  # noqa: E402
from keras_aw_tools import recipe  # noqa: E402

#: The Table 1 variants as builder arguments. CBAM is the original, full CBAM
#: (channel gate with average- and max-pooled descriptors, then spatial gate).
VARIANTS = {
    "plain": dict(attention=None, aw=False),
    "se": dict(attention="se", aw=False),
    "cbam": dict(attention="cbam", aw=False, cbam="full"),
    "aw": dict(attention=None, aw=True),
    "aw-se": dict(attention="se", aw=True),
    "aw-cbam": dict(attention="cbam", aw=True, cbam="full"),
}
#: AW's effect inside each attention family, reported besides "vs plain".
COMPARISONS = [("aw-se", "se"), ("aw-cbam", "cbam")]

#: The full protocol (pre-registered in ACCURACY.md before the run) and the --fast one.
FULL = {
    "dataset": "shapes",
    "image_size": 32,
    "num_train": 2000,
    "num_test": 2000,
    "batch_size": 32,
    "epochs": 5,
    "learning_rate": 3e-3,
    "seeds": 5,
    "resnet_stack_blocks": (1, 1),
    "mobilenet_alpha": 0.25,
    "mobilenet_blocks": 13,
    "warm_epochs": 5,
    "finetune_epochs": 2,
    "finetune_learning_rate": 1e-3,
}
#: --fast: tiny data and networks, run eagerly (tracing or compiling each tiny model would take
#: longer than training it).
FAST = dict(FULL, num_train=16, num_test=16, batch_size=16, epochs=1, seeds=2,
            resnet_stack_blocks=(1,), mobilenet_blocks=1, warm_epochs=1, finetune_epochs=1,
            run_eagerly=True)

#: Protocol 2 (pre-registered in ACCURACY.md before its run): the MobileNet comparison, sized
#: on the plain MobileNet alone after protocol 1 left it at the floor. Five times the data, a
#: width of 0.5 and the first 7 blocks (stride 16: a 2x2 final map at 32x32 instead of 1x1).
MOBILENET_2 = dict(FULL, num_train=10000, mobilenet_alpha=0.5, mobilenet_blocks=7)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results", "accuracy.json")
#: --protocol -> (settings, networks, warm-start study, default output).
PROTOCOLS = {
    "1": (FULL, "all", True, DEFAULT_OUTPUT),
    "2": (MOBILENET_2, "mobilenet", False,
          os.path.join(HERE, "results", "accuracy-mobilenet.json")),
}


# --------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------


def _with_rescaling(build, image_size, classes):
    """A model taking raw 0-255 pixels: Rescaling to [-1, 1], then ``build(input_tensor=...)``."""
    inputs = keras.layers.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    model = build(input_tensor=x, input_shape=(image_size, image_size, 3), classes=classes)
    return keras.Model(inputs, model.outputs[0], name=model.name)


def network_builders(network, protocol, model_names=None):
    """Variant name -> (model label, ``build(image_size, classes)``) for one study."""
    if network == "models":
        out = {}
        for spec in model_names:
            canonical = keras_aw.registry.parse_spec(spec).name

            def build(image_size, classes, spec=spec):
                return _with_rescaling(
                    lambda **kw: keras_aw.create_model(spec, **kw), image_size, classes)

            out[spec] = (canonical, build)
        return out
    out = {}
    for variant, kwargs in VARIANTS.items():
        if network == "resnet":
            blocks = tuple(protocol["resnet_stack_blocks"])
            label = f"ResNet(stack_blocks={blocks})"

            def build(image_size, classes, kwargs=kwargs, blocks=blocks):
                return _with_rescaling(lambda **kw: ResNet(blocks, **kwargs, **kw),
                                       image_size, classes)
        elif network == "mobilenet":
            alpha = protocol["mobilenet_alpha"]
            blocks = BLOCKS[:protocol["mobilenet_blocks"]]
            label = f"MobileNetV1(alpha={alpha}, {len(blocks)} blocks)"

            def build(image_size, classes, kwargs=kwargs, alpha=alpha, blocks=blocks):
                return _with_rescaling(
                    lambda **kw: MobileNetV1(alpha=alpha, blocks=blocks, **kwargs, **kw),
                    image_size, classes)
        else:
            raise ValueError(f"unknown network {network!r}")
        out[variant] = (label, build)
    return out


def warm_start_select(network, model_names=None):
    """Which Conv2D layers `convert_to_aw` converts: those the AW variant has as AWConv2D.

    MobileNet: every pointwise convolution (``conv_pw_*``); otherwise None,
    the paper's choice (every plain 3x3 `Conv2D`).
    """
    if network == "mobilenet" or (
            network == "models"
            and keras_aw.registry.parse_spec(model_names[0]).info.family == "mobilenet"):
        return lambda layer: layer.name.startswith("conv_pw_")
    return None


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch (the first includes compilation)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._start, 3))


def compile_model(model, learning_rate, total_steps, epsilon=1e-7, run_eagerly=False):
    """The protocol's recipe: `keras_aw_tools.recipe` with a per-step cosine decay to 0 over
    `total_steps` (``decay_steps``, as pre-registered in ACCURACY.md)."""
    recipe.compile_classifier(model, learning_rate, decay_steps=total_steps, epsilon=epsilon,
                              run_eagerly=run_eagerly)


def fit(model, data, epochs, batch_size, seed):
    """Fits with the batch order fixed by `seed`; returns (epoch seconds, history dict)."""
    keras.utils.set_random_seed(seed)
    timer = EpochTimer()
    if isinstance(data["train"], tuple):
        x, y = data["train"]
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True,
                            callbacks=[timer], verbose=0)
    else:
        history = model.fit(data["train"], epochs=epochs, callbacks=[timer], verbose=0)
    return timer.seconds, history.history


def evaluate(model, data, batch_size):
    if data["test"] is None:
        raise ValueError("the data set has no test or validation split to evaluate on")
    if isinstance(data["test"], tuple):
        x, y = data["test"]
        loss, acc = model.evaluate(x, y, batch_size=256, verbose=0)
    else:
        loss, acc = model.evaluate(data["test"], verbose=0)
    return float(acc), float(loss)


def steps_per_epoch(data, batch_size):
    if isinstance(data["train"], tuple):
        return int(np.ceil(len(data["train"][0]) / batch_size))
    cardinality = int(data["train"].cardinality())
    if cardinality < 0:
        raise ValueError("the tfds training pipeline has an unknown length")
    return cardinality


def trainable_params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def run_record(study, variant, label, seed, model, seconds, history, data, batch_size, **extra):
    acc, loss = evaluate(model, data, batch_size)
    record = {
        "study": study, "variant": variant, "model": label, "seed": seed,
        "test_accuracy": acc, "test_loss": loss,
        "train_accuracy": float(history["accuracy"][-1]),
        "train_loss": float(history["loss"][-1]),
        "params": trainable_params(model), "epoch_seconds": seconds,
    }
    record.update(extra)
    print(f"[{time.strftime('%H:%M:%S')}] {study:<9} {variant:<18} seed {seed}: "
          f"test acc {acc:.4f}, {sum(seconds):.0f} s", flush=True)
    return record


def train_variant(study, variant, label, build, data, protocol, seed, num_classes):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build(protocol["image_size"], num_classes)
    compile_model(model, protocol["learning_rate"],
                  protocol["epochs"] * steps_per_epoch(data, protocol["batch_size"]),
                  run_eagerly=protocol.get("run_eagerly", False))
    seconds, history = fit(model, data, protocol["epochs"], protocol["batch_size"], seed)
    return [run_record(study, variant, label, seed, model, seconds, history, data,
                       protocol["batch_size"])]


def warm_start(label, build, select, data, protocol, seed, num_classes):
    """Plain network, E epochs; then (a) convert_to_aw + F epochs, (b) F more plain epochs.

    Both arms use the same fine-tuning optimizer: a fresh Adam (epsilon 1e-10,
    as docs/deploy.md recommends for converted models) with a cosine decay
    from ``finetune_learning_rate`` to 0 over F epochs, and the same batch
    order (seed).
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    steps = steps_per_epoch(data, protocol["batch_size"])
    base = build(protocol["image_size"], num_classes)
    eager = protocol.get("run_eagerly", False)
    compile_model(base, protocol["learning_rate"], protocol["warm_epochs"] * steps,
                  run_eagerly=eager)
    base_seconds, _ = fit(base, data, protocol["warm_epochs"], protocol["batch_size"], seed)
    base_acc, _ = evaluate(base, data, protocol["batch_size"])

    aw = keras_aw.convert_to_aw(base, select=select)
    converted_acc, _ = evaluate(aw, data, protocol["batch_size"])
    records = []
    for arm, model in (("convert_to_aw + F", aw), ("plain + F", base)):
        compile_model(model, protocol["finetune_learning_rate"],
                      protocol["finetune_epochs"] * steps, epsilon=1e-10, run_eagerly=eager)
        seconds, history = fit(model, data, protocol["finetune_epochs"],
                               protocol["batch_size"], seed)
        records.append(run_record(
            "warmstart", arm, label, seed, model, seconds, history, data,
            protocol["batch_size"], base_test_accuracy=base_acc,
            base_epoch_seconds=base_seconds,
            converted_test_accuracy=converted_acc if model is aw else None))
    return records


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def enable_jax_compilation_cache():
    """On JAX, a persistent XLA compilation cache: the seeds of one variant compile once.

    Every seed rebuilds the same architecture, whose training step lowers to the
    same XLA program (weights are arguments), so later seeds skip most of the
    compilation. Respects a cache directory the user configured already.
    """
    if keras.backend.backend() != "jax":
        return
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir",
                          os.path.join(tempfile.gettempdir(), "keras_aw_accuracy_jax_cache"))


def study_specs(args, protocol):
    """Study key -> (description, variants, reference, comparisons, builders)."""
    specs = {}
    networks = ["models"] if args.model else (
        ["resnet", "mobilenet"] if args.network == "all" else [args.network])
    for network in networks:
        builders = network_builders(network, protocol, args.model)
        variants = list(builders)
        label = next(iter(builders.values()))[0]
        if network == "models":
            description = "registered builders " + ", ".join(variants)
            comparisons = []
        else:
            description = f"{label}, the six Table 1 variants"
            comparisons = COMPARISONS
        specs[network] = dict(description=description, variants=variants,
                              reference=variants[0], comparisons=comparisons,
                              builders=builders)
    if not args.no_warm_start:
        network = networks[0]
        builders = network_builders(network, protocol, args.model)
        variant = variants_plain(builders, network)
        if variant is not None:
            label, build = builders[variant]
            specs["warmstart"] = dict(
                description=(f"{label} trained {protocol['warm_epochs']} epochs, then "
                             f"{protocol['finetune_epochs']} fine-tuning epochs"),
                variants=["plain + F", "convert_to_aw + F"], reference="plain + F",
                comparisons=[], builders={"plain + F": (label, build)},
                select=warm_start_select(network, args.model))
    return specs


def variants_plain(builders, network):
    """The plain variant of a study (warm start starts from it), or None."""
    if network != "models":
        return "plain"
    first = next(iter(builders))
    if keras_aw.registry.parse_spec(first).info.variant == "plain":
        return first
    print(f"no warm-start study: the first model {first!r} is not a plain network")
    return None


#: The committed result files (data: only a registered protocol's run writes them).
COMMITTED = {os.path.abspath(p) for p in
             [o for _, _, _, o in PROTOCOLS.values()] + accuracy_report.DEFAULT_JSONS
             + [accuracy_report.DEFAULT_MARKDOWN]}


def is_registered_run(args, network):
    """Whether the command line runs a pre-registered protocol unchanged.

    Its settings unchanged, and all of its studies, or a part of them with
    ``--resume`` (which keeps the other studies' runs in the file).
    """
    overrides = ("dataset", "seeds", "epochs", "image_size", "num_train", "num_test", "model")
    unchanged = (not args.fast and all(getattr(args, key) is None for key in overrides)
                 and args.first_seed == 0)
    whole = args.network in (None, network) and not args.no_warm_start
    return unchanged and (whole or args.resume)


def output_paths(args, default_output, registered):
    """(result JSON, report path or None) of a run; committed files only for `registered`.

    Raises:
        SystemExit: an explicit --output / --markdown names a committed file although
            the run is not a pre-registered protocol's.
    """
    if not registered:
        for flag, path in (("--output", args.output), ("--markdown", args.markdown)):
            if path is not None and os.path.abspath(path) in COMMITTED:
                raise SystemExit(
                    f"{flag} {path}: a committed result file; only the pre-registered protocol "
                    "(no --fast, no changed setting) writes it. Choose another path.")
    if args.output is not None:
        output = args.output
    elif registered:
        output = default_output
    else:
        folder = "accuracy-fast" if args.fast else "accuracy-custom"
        output = os.path.join("runs", folder, os.path.basename(default_output))
    return os.path.abspath(output), args.markdown


def _holds_runs(path):
    if not os.path.exists(path):
        return False
    with open(path) as f:
        return bool(json.load(f).get("runs"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="1",
                        help="1: ResNet, MobileNet and warm start (default); 2: the MobileNet "
                             "comparison (its own JSON; see ACCURACY.md)")
    parser.add_argument("--network", choices=["resnet", "mobilenet", "all"], default=None,
                        help="default: the protocol's (1: all; 2: mobilenet)")
    parser.add_argument("--model", nargs="+", default=None,
                        help="registered model names (keras_aw.list_models()) to compare "
                             "instead of the six variants; the first is the reference")
    parser.add_argument("--dataset", default=None, help="'shapes' or 'tfds:NAME[:SPLIT]'")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds K")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are first-seed, first-seed+1, ...")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--num-train", type=int, default=None, help="Shapes only")
    parser.add_argument("--num-test", type=int, default=None, help="Shapes only")
    parser.add_argument("--no-warm-start", action="store_true", help="skip the warm-start study")
    parser.add_argument("--output", default=None,
                        help="result JSON (default: results/accuracy.json for protocol 1, "
                             "results/accuracy-mobilenet.json for protocol 2, unchanged; "
                             "runs/accuracy-fast/ for --fast, runs/accuracy-custom/ for any "
                             "other change)")
    parser.add_argument("--markdown", default=None,
                        help="report path (default: ACCURACY.md for the default output, "
                             "else the output's path with .md)")
    parser.add_argument("--fast", action="store_true",
                        help="tiny settings, seconds per run (writes runs/accuracy-fast/)")
    parser.add_argument("--plan", action="store_true",
                        help="write the JSON (no runs) and the report with the protocol, then exit")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --output (same protocol) and skip them")
    args = parser.parse_args(argv)
    enable_jax_compilation_cache()

    settings, network, warm, output = PROTOCOLS[args.protocol]
    registered = is_registered_run(args, network)
    args.network = args.network or network
    args.no_warm_start = args.no_warm_start or not warm
    args.output, args.markdown = output_paths(args, output, registered)
    protocol = dict(FAST if args.fast else settings)
    for key in ("dataset", "seeds", "epochs", "image_size", "num_train", "num_test"):
        value = getattr(args, key)
        if value is not None:
            protocol[key] = value
    if args.epochs is not None:
        protocol["warm_epochs"] = args.epochs
        protocol["finetune_epochs"] = max(args.epochs // 2, 1)
    protocol["resnet_stack_blocks"] = list(protocol["resnet_stack_blocks"])
    protocol["backend"] = keras.backend.backend()
    seeds = list(range(args.first_seed, args.first_seed + protocol["seeds"]))
    protocol["seed_list"] = seeds
    specs = study_specs(args, protocol)

    data_out = {"protocol": protocol, "machine": machine(), "runs": [], "wall_seconds": 0.0,
                "complete": False,
                "command": ("python benchmarks/accuracy.py "
                            + " ".join(map(shlex.quote, argv or sys.argv[1:]))).strip(),
                "json_name": os.path.relpath(args.output, os.path.join(HERE, "..")),
                "studies": {k: {f: v[f] for f in ("description", "variants", "reference",
                                                  "comparisons")}
                            for k, v in specs.items()}}
    if args.resume and os.path.exists(args.output):
        with open(args.output) as f:
            previous = json.load(f)
        if previous["protocol"] != json.loads(json.dumps(protocol)):
            raise SystemExit(f"--resume: {args.output} was written with another protocol")
        data_out["runs"] = previous["runs"]
        data_out["wall_seconds"] = previous.get("wall_seconds", 0.0)
        # Studies of the earlier invocation(s) that this one does not run stay in the file
        # (and in the report): every run made is reported.
        for study, spec in previous["studies"].items():
            data_out["studies"].setdefault(study, spec)
        data_out["command"] = previous["command"] + "; then " + data_out["command"]
    done = {(r["study"], r["variant"], r["seed"]) for r in data_out["runs"]}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)

    if args.plan:
        if args.output in COMMITTED and _holds_runs(args.output):
            raise SystemExit(f"--plan: {args.output} holds finished runs (committed results); "
                             "remove it first or pass another --output")
        with open(args.output, "w") as f:
            json.dump(data_out, f, indent=1)
        accuracy_report.write_report(args.output, args.markdown)
        return

    start = time.time()
    wall_before = data_out["wall_seconds"]

    def save():
        data_out["wall_seconds"] = wall_before + time.time() - start
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data_out, f, indent=1)
        os.replace(tmp, args.output)
        accuracy_report.write_report(args.output, args.markdown)

    for seed in seeds:
        data = load_data(protocol["dataset"], image_size=protocol["image_size"],
                         batch_size=protocol["batch_size"], num_train=protocol["num_train"],
                         num_test=protocol["num_test"], seed=seed)
        for study, spec in specs.items():
            if study == "warmstart":
                if all((study, v, seed) in done for v in spec["variants"]):
                    continue
                label, build = spec["builders"]["plain + F"]
                records = warm_start(label, build, spec["select"], data, protocol, seed,
                                     data["num_classes"])
                data_out["runs"] += records
                save()
                continue
            for variant in spec["variants"]:
                if (study, variant, seed) in done:
                    continue
                label, build = spec["builders"][variant]
                data_out["runs"] += train_variant(study, variant, label, build, data, protocol,
                                                  seed, data["num_classes"])
                save()
    data_out["complete"] = True
    save()
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
