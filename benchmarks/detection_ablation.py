"""FPN vs AW-FPN as evidence: a multi-seed ablation of five Table 2 variants on Shapes-Detect.

The protocol (written and committed before any of its runs; docs/table2.md restates it):

- Variants: FPN, AW-FPN, SE-FPN, AW-SE-FPN (`build_retinanet` with aw / attention; AW in the
  paper's form: `AWConv2D`'s own initialisation, residual, reduction 16).
- Seeds 0, 1, 2. For each seed s: the SmallCNN encoder is pretrained once with seed s
  (examples/detection.py's `PRETRAIN`), then the four detectors are trained with seed s on
  the same data and in the same order of batches (examples/detection.py's `RECIPE`,
  `DETECTOR`, `DATA`: 3,000 Shapes-Detect images of 64x64 from seed s, 6 epochs); the
  variants of one seed share everything but the pyramid (a paired design).
- Evaluation: COCO AP, AP50, AP75 (pycocotools, `evaluate_detector`) on 500 test images of
  data seed 1000's test stream, a split used by nothing else (neither the example nor any
  tuning run looked at it).
- Analysis: for each comparison (AW-FPN - FPN, AW-SE-FPN - SE-FPN, SE-FPN - FPN,
  AW-SE-FPN - FPN), the mean of the per-seed paired differences of AP and AP50 with its
  95 % Student-t interval (K - 1 degrees of freedom); "better" / "worse" if the interval
  lies above / below 0, else "no difference detectable". No multiplicity correction; every
  run is reported.
- Backend: TensorFlow (the fastest on CPU for these detectors). Runs that crash are
  reported, not dropped or rerun silently.

Protocol addition (2026-12-07, written and committed before any of its runs): the
``--aw-start plain`` remedy (docs/table2.md, "Why AW-FPN trails here, and a remedy"; measured
there on one seed and the example's own test split only) joins the study under the protocol
above, unchanged:

- Fifth variant "AW-FPN-plain": AW-FPN built exactly as above, then
  `keras_aw.convert.constant_attention_start(model, 0.5, rescale_kernel=True)` before
  `compile` (examples/detection.py's ``--aw-start plain``): every AW convolution starts as its
  plain convolution. Same seeds 0, 1, 2, same pretrained encoder per seed, same data and order of
  batches, same test split (500 images of data seed 1000), same recipe.
- Two more comparisons: AW-FPN-plain - FPN and AW-FPN-plain - AW-FPN, analysed as above
  (paired differences of AP and AP50 over the three seeds, 95 % t interval, same verdicts).
- Compute: the 12 runs of the four original variants are not rerun; they are carried over
  from ``benchmarks/results/detection_ablation.json`` (commit 7b41010, 2026-12-02; the same
  protocol) into the progress file and marked ``carried_over`` in the new results. Only the 3
  AW-FPN-plain runs are new (each seed pretrains its encoder once, deterministic by seed).
- Reproducibility check: one committed run (FPN, seed 0) is rerun with today's code and its AP
  / AP50 / AP75 and encoder accuracy are reported next to the committed ones
  (``reproducibility`` in the results). It does not replace the carried-over run. If its AP50
  differs by more than 0.5 point, the carried-over FPN and AW-FPN runs are not comparable with
  the new ones; then FPN and AW-FPN are rerun for every seed if time allows, else the
  difference is reported as a caveat next to the table.
- Results go to a new file, ``benchmarks/results/detection_ablation_plain.json`` (the committed
  ``detection_ablation.json`` is data and stays as it is); the table in docs/table2.md is
  regenerated from the new file.

Every finished run is appended to a progress file (``--work``, resumable: finished runs are
skipped); only when all 15 runs (and the reproducibility check) are done is
``benchmarks/results/detection_ablation_plain.json`` written and the table in docs/table2.md
regenerated (between the ``<!-- detection-ablation -->`` markers).

    KERAS_BACKEND=tensorflow python benchmarks/detection_ablation.py            # full, resumable
    KERAS_BACKEND=tensorflow python benchmarks/detection_ablation.py --fast     # smoke, /tmp only
    python benchmarks/detection_ablation.py --report                            # table from JSON
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "examples")]

from accuracy_report import paired_ci, verdict  # noqa: E402

#: build_retinanet's arguments per variant; "aw_start": "plain" is examples/detection.py's
#: ``--aw-start plain`` (constant_attention_start(model, 0.5, rescale_kernel=True)).
VARIANTS = {"FPN": {}, "AW-FPN": {"aw": True}, "SE-FPN": {"attention": "se"},
            "AW-SE-FPN": {"aw": True, "attention": "se"},
            "AW-FPN-plain": {"aw": True, "aw_start": "plain"}}
COMPARISONS = (("AW-FPN", "FPN"), ("AW-SE-FPN", "SE-FPN"), ("SE-FPN", "FPN"),
               ("AW-SE-FPN", "FPN"), ("AW-FPN-plain", "FPN"), ("AW-FPN-plain", "AW-FPN"))
SEEDS = (0, 1, 2)
TEST = dict(seed=1000, num_test=500)
RESULTS = os.path.join(HERE, "results", "detection_ablation_plain.json")
#: The committed four-variant study (same protocol) whose runs are carried over, not rerun.
CARRIED = dict(results="benchmarks/results/detection_ablation.json", commit="7b41010",
               date="2026-12-02")
#: Committed runs rerun as a reproducibility check (variant, seed).
RECHECK = (("FPN", 0),)
DOC = os.path.join(ROOT, "docs", "table2.md")
MARK = "<!-- detection-ablation -->"


def run_one(variant, seed, classifier, fast):
    import keras
    import numpy as np

    import detection as ex
    from keras_aw.convert import constant_attention_start
    from keras_aw.datasets import shapes
    from keras_aw.detection import build_retinanet, encoder_from_classifier, evaluate_detector

    recipe = dict(ex.FAST if fast else ex.RECIPE)
    size = recipe["image_size"]
    (x, y), _ = shapes.load_detection_data(recipe["num_train"], 1, image_size=size, seed=seed,
                                           **ex.DATA)
    _, (xt, yt) = shapes.load_detection_data(1, 32 if fast else TEST["num_test"],
                                             image_size=size, seed=TEST["seed"], **ex.DATA)
    x = x.astype("float32") * ex.DETECTOR_INPUT_SCALE
    xt = xt.astype("float32") * ex.DETECTOR_INPUT_SCALE
    keras.utils.set_random_seed(seed)
    encoder = encoder_from_classifier(classifier, image_shape=(size, size, 3),
                                      input_scale=1.0 / ex.DETECTOR_INPUT_SCALE)
    options = dict(VARIANTS[variant])
    aw_start = options.pop("aw_start", "paper")
    model = build_retinanet(encoder, shapes.NUM_CLASSES, (size, size, 3), **options,
                            **ex.DETECTOR)
    if aw_start == "plain":
        constant_attention_start(model, 0.5, rescale_kernel=True)
    steps = recipe["epochs"] * int(np.ceil(len(x) / recipe["batch_size"]))
    ex.training_recipe.compile_detector(model, recipe["learning_rate"], decay_steps=steps,
                                        warmup_steps=max(steps // 20, 1))
    start = time.time()
    history = model.fit(ex.training_batches(x, y, recipe["batch_size"], seed),
                        epochs=recipe["epochs"], verbose=2)
    seconds = time.time() - start
    metrics = evaluate_detector(model, xt, yt["boxes"], yt["labels"], batch_size=32)
    return dict(variant=variant, seed=seed, train_seconds=seconds,
                loss=[float(v) for v in history.history["loss"]],
                **{k: float(metrics[k]) for k in ("AP", "AP50", "AP75")})


def variants_of(runs):
    """The variants that `runs` holds, in VARIANTS' order (the four-variant JSON has four)."""
    return [v for v in VARIANTS if any(r["variant"] == v for r in runs)]


def summarize(runs):
    rows = {}
    for v in variants_of(runs):
        mine = [r for r in runs if r["variant"] == v and "AP" in r]
        rows[v] = {m: sum(r[m] for r in mine) / len(mine) if mine else None
                   for m in ("AP", "AP50", "AP75")}
        rows[v]["n"] = len(mine)
    pairs = []
    for a, b in COMPARISONS:
        by_seed = {r["seed"]: r for r in runs if r["variant"] == b and "AP" in r}
        for metric in ("AP", "AP50"):
            d = [r[metric] - by_seed[r["seed"]][metric] for r in runs
                 if r["variant"] == a and "AP" in r and r["seed"] in by_seed]
            if not d:
                continue
            mean, half = paired_ci(d)
            pair = dict(a=a, b=b, metric=metric, k=len(d), mean=mean, differences=d,
                        ci95=None if half is None else [mean - half, mean + half],
                        wins=sum(x > 0 for x in d))
            pair["verdict"] = verdict(pair)
            pairs.append(pair)
    return rows, pairs


def render(data):
    runs = data["runs"]
    variants = variants_of(runs)
    rows, pairs = summarize(runs)
    carried = [r for r in runs if "carried_over" in r]
    if carried:
        c = carried[0]["carried_over"]
        when = (f"{len(runs) - len(carried)} new runs, {data['wall_seconds'] / 60:.0f} min of "
                f"wall time; {len(carried)} runs carried over from {c['results']} (commit "
                f"{c['commit']}, {c['date']}, {data['carried_over_wall_seconds'] / 60:.0f} min)")
    else:
        when = f"{data['wall_seconds'] / 60:.0f} min of wall time"
    out = [MARK, "",
           f"Measured: {len(runs)} runs ({data['backend']}, seeds {list(data['seeds'])}; "
           f"{when}), test split of data seed "
           f"{data['test']['seed']} ({data['test']['num_test']} images). Mean over seeds, in percent:", "",
           "| FPN variant | AP | AP50 | AP75 | runs |", "|---|---|---|---|---|"]
    for v, r in rows.items():
        out.append(f"| {v} | {100 * r['AP']:.2f} | {100 * r['AP50']:.2f} | "
                   f"{100 * r['AP75']:.2f} | {r['n']} |")
    out += ["", "Paired differences (points; 95 % t interval over seeds):", "",
            "| comparison | metric | mean | 95 % interval | wins | reading |",
            "|---|---|---|---|---|---|"]
    for p in pairs:
        ci = "—" if p["ci95"] is None else \
            f"[{100 * p['ci95'][0]:+.2f}, {100 * p['ci95'][1]:+.2f}]"
        out.append(f"| {p['a']} − {p['b']} | {p['metric']} | {100 * p['mean']:+.2f} | {ci} | "
                   f"{p['wins']}/{p['k']} | {p['verdict']} |")
    out += ["", "Every run (AP50, percent):", "", "| seed | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants)]
    for s in data["seeds"]:
        cells = []
        for v in variants:
            r = [x for x in runs if x["seed"] == s and x["variant"] == v]
            cells.append(f"{100 * r[0]['AP50']:.2f}" if r and "AP50" in r[0] else
                         (r[0].get("error", "missing") if r else "missing"))
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    checks = data.get("reproducibility", [])
    if checks:
        out += ["", "Reproducibility check (a committed run rerun with this code; percent):", "",
                "| run | metric | committed | rerun | difference |", "|---|---|---|---|---|"]
        for c in checks:
            for m in ("AP", "AP50", "AP75", "encoder_accuracy"):
                if m in c["rerun"]:
                    out.append(f"| {c['variant']}, seed {c['seed']} | {m} | "
                               f"{100 * c['committed'][m]:.2f} | {100 * c['rerun'][m]:.2f} | "
                               f"{100 * (c['rerun'][m] - c['committed'][m]):+.2f} |")
                elif "error" in c["rerun"]:
                    out.append(f"| {c['variant']}, seed {c['seed']} | {m} | "
                               f"{100 * c['committed'][m]:.2f} | {c['rerun']['error']} | — |")
                    break
    out += ["", MARK]
    return "\n".join(out)


def write_doc(data, path=None):
    path = path or DOC
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(replace_table(text, render(data), path))


def replace_table(text, table, path="the text"):
    """`text` with the part between its two markers replaced by `table`."""
    if text.count(MARK) != 2:
        raise ValueError(f"{path} must hold the two {MARK} markers")
    head, _, rest = text.partition(MARK)
    _, _, tail = rest.partition(MARK)
    return head + table + tail


def committed_table(path=None):
    """The table between the markers of `path` (docs/table2.md), markers included."""
    with open(path or DOC) as f:
        text = f.read()
    head, _, rest = text.partition(MARK)
    body, _, _ = rest.partition(MARK)
    return MARK + body + MARK


def results_file():
    """The study's results: the five-variant file once written, else the committed four."""
    return RESULTS if os.path.exists(RESULTS) else os.path.join(ROOT, CARRIED["results"])


def carry_over(path=CARRIED["results"]):
    """A progress record holding the committed runs of `path`, each marked ``carried_over``."""
    with open(os.path.join(ROOT, path)) as f:
        old = json.load(f)
    runs = [dict(r, carried_over=dict(CARRIED)) for r in old["runs"]]
    return {"runs": runs, "rechecks": [], "started": time.time(),
            "carried_over_wall_seconds": old["wall_seconds"]}


def rerun_record(variant, seed, runs, rerun):
    """The reproducibility record of `rerun` against the committed run of `runs`."""
    committed = [r for r in runs if r["variant"] == variant and r["seed"] == seed][0]
    keys = ("AP", "AP50", "AP75", "encoder_accuracy")
    return dict(variant=variant, seed=seed,
                committed={k: committed[k] for k in keys if k in committed},
                rerun={k: rerun[k] for k in keys + ("error", "train_seconds") if k in rerun})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, writes nothing "
                        "to the repository")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "detection_ablation",
                                                       "progress.json"))
    parser.add_argument("--report", action="store_true",
                        help="regenerate docs/table2.md from the results JSON")
    parser.add_argument("--recheck", action="append", metavar="VARIANT:SEED",
                        help="rerun this committed run as a reproducibility check (repeatable; "
                        "default: " + ", ".join(f"{v}:{s}" for v, s in RECHECK) + ")")
    args = parser.parse_args(argv)
    if args.report:
        with open(results_file()) as f:
            write_doc(json.load(f))
        return 0
    rechecks = () if args.fast else RECHECK
    if args.recheck and not args.fast:
        rechecks = [(v, s) for v, _, s in (x.rpartition(":") for x in args.recheck)]
        committed = [v for v in VARIANTS if v != "AW-FPN-plain"]
        unknown = [x for x in rechecks if x[0] not in committed or x[1] not in map(str, SEEDS)]
        if unknown:
            raise ValueError(f"`--recheck` must name VARIANT:SEED of {committed} and "
                             f"{list(SEEDS)}; received {unknown}")
        rechecks = [(v, int(s)) for v, s in rechecks]
    import keras

    import detection as ex

    work = "/tmp/detection_ablation_fast.json" if args.fast else args.work
    seeds = (0,) if args.fast else SEEDS
    os.makedirs(os.path.dirname(work), exist_ok=True)
    progress = {"runs": [], "rechecks": [], "started": time.time()}
    if os.path.exists(work):
        with open(work) as f:
            progress = json.load(f)
        progress.setdefault("rechecks", [])
    elif not args.fast:
        progress = carry_over()  # the protocol addition of 2026-12-07: not rerun
    done = {(r["variant"], r["seed"]) for r in progress["runs"]}
    checked = {(r["variant"], r["seed"]) for r in progress["rechecks"]}

    def save():
        with open(work + ".tmp", "w") as f:
            json.dump(progress, f, indent=1)
        os.replace(work + ".tmp", work)

    for seed in seeds:
        todo = [(v, False) for v in VARIANTS if (v, seed) not in done]
        todo += [(v, True) for v, s in rechecks if s == seed and (v, s) not in checked]
        if not todo:
            continue
        classifier, accuracy = ex.pretrain_classifier(
            dict(ex.FAST_PRETRAIN if args.fast else ex.PRETRAIN), seed)
        for variant, recheck in todo:
            print(f"--- {variant}, seed {seed}{' (reproducibility check)' if recheck else ''}",
                  flush=True)
            try:
                run = run_one(variant, seed, classifier, args.fast)
                run["encoder_accuracy"] = float(accuracy)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                run = dict(variant=variant, seed=seed, error=f"{type(e).__name__}: {e}")
            if recheck:
                progress["rechecks"].append(rerun_record(variant, seed, progress["runs"], run))
            else:
                progress["runs"].append(run)
            save()
            print(json.dumps(run), flush=True)
    data = dict(protocol="\n\n".join(__doc__.split("\n\n")[1:4]),
                backend=keras.backend.backend(), keras=keras.__version__, platform=platform.platform(), seeds=list(seeds),
                test=dict(TEST, num_test=32) if args.fast else TEST, wall_seconds=time.time() - progress["started"],
                runs=progress["runs"])
    if "carried_over_wall_seconds" in progress:
        data["carried_over_wall_seconds"] = progress["carried_over_wall_seconds"]
    if progress["rechecks"]:
        data["reproducibility"] = progress["rechecks"]
    if args.fast:
        print(render(data))
        return 0
    if os.path.exists(RESULTS):
        raise SystemExit(f"{RESULTS} exists: committed results are never overwritten")
    with open(RESULTS, "w") as f:
        json.dump(data, f, indent=1)
    write_doc(data)
    print(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
