"""FPN vs AW-FPN as evidence: a multi-seed ablation of four Table 2 variants on Shapes-Detect.

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

Every finished run is appended to a progress file (``--work``, resumable: finished runs are
skipped); only when all 12 runs are done is ``benchmarks/results/detection_ablation.json``
written and the table in docs/table2.md regenerated (between the
``<!-- detection-ablation -->`` markers).

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

VARIANTS = {"FPN": {}, "AW-FPN": {"aw": True}, "SE-FPN": {"attention": "se"},
            "AW-SE-FPN": {"aw": True, "attention": "se"}}
COMPARISONS = (("AW-FPN", "FPN"), ("AW-SE-FPN", "SE-FPN"), ("SE-FPN", "FPN"),
               ("AW-SE-FPN", "FPN"))
SEEDS = (0, 1, 2)
TEST = dict(seed=1000, num_test=500)
RESULTS = os.path.join(HERE, "results", "detection_ablation.json")
DOC = os.path.join(ROOT, "docs", "table2.md")
MARK = "<!-- detection-ablation -->"


def run_one(variant, seed, classifier, fast):
    import keras
    import numpy as np

    import detection as ex
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
    model = build_retinanet(encoder, shapes.NUM_CLASSES, (size, size, 3), **VARIANTS[variant],
                         **ex.DETECTOR)
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


def summarize(runs):
    rows = {}
    for v in VARIANTS:
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
    rows, pairs = summarize(runs)
    out = [MARK, "",
           f"Measured: {len(runs)} runs ({data['backend']}, seeds {list(data['seeds'])}; "
           f"{data['wall_seconds'] / 60:.0f} min of wall time), test split of data seed "
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
    out += ["", "Every run (AP50, percent):", "", "| seed | " + " | ".join(VARIANTS) + " |",
            "|---|" + "---|" * len(VARIANTS)]
    for s in data["seeds"]:
        cells = []
        for v in VARIANTS:
            r = [x for x in runs if x["seed"] == s and x["variant"] == v]
            cells.append(f"{100 * r[0]['AP50']:.2f}" if r and "AP50" in r[0] else
                         (r[0].get("error", "missing") if r else "missing"))
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out += ["", MARK]
    return "\n".join(out)


def write_doc(data, path=DOC):
    with open(path) as f:
        text = f.read()
    if text.count(MARK) != 2:
        raise ValueError(f"{path} must hold the two {MARK} markers")
    head, _, rest = text.partition(MARK)
    _, _, tail = rest.partition(MARK)
    with open(path, "w") as f:
        f.write(head + render(data) + tail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, writes nothing "
                        "to the repository")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "detection_ablation",
                                                       "progress.json"))
    parser.add_argument("--report", action="store_true",
                        help="regenerate docs/table2.md from the results JSON")
    args = parser.parse_args(argv)
    if args.report:
        with open(RESULTS) as f:
            write_doc(json.load(f))
        return 0
    import keras

    import detection as ex

    work = "/tmp/detection_ablation_fast.json" if args.fast else args.work
    seeds = (0,) if args.fast else SEEDS
    os.makedirs(os.path.dirname(work), exist_ok=True)
    progress = {"runs": [], "started": time.time()}
    if os.path.exists(work):
        with open(work) as f:
            progress = json.load(f)
    done = {(r["variant"], r["seed"]) for r in progress["runs"]}
    for seed in seeds:
        todo = [v for v in VARIANTS if (v, seed) not in done]
        if not todo:
            continue
        classifier, accuracy = ex.pretrain_classifier(
            dict(ex.FAST_PRETRAIN if args.fast else ex.PRETRAIN), seed)
        for variant in todo:
            print(f"--- {variant}, seed {seed}", flush=True)
            try:
                run = run_one(variant, seed, classifier, args.fast)
                run["encoder_accuracy"] = float(accuracy)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                run = dict(variant=variant, seed=seed, error=f"{type(e).__name__}: {e}")
            progress["runs"].append(run)
            with open(work + ".tmp", "w") as f:
                json.dump(progress, f, indent=1)
            os.replace(work + ".tmp", work)
            print(json.dumps(run), flush=True)
    data = dict(protocol="\n\n".join(__doc__.split("\n\n")[1:3]),
                backend=keras.backend.backend(), keras=keras.__version__, platform=platform.platform(), seeds=list(seeds),
                test=dict(TEST, num_test=32) if args.fast else TEST, wall_seconds=time.time() - progress["started"],
                runs=progress["runs"])
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
