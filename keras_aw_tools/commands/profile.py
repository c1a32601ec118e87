"""``keras-aw profile``: parameters and GFLOPs of the networks, beside the paper's figures.

`cmd_profile` runs the command (Table 1 classifiers, or with ``--table 2`` the
detection backbones); `profile_rows` says which specs ``--models`` names.
Keras and keras_aw are imported when the command runs (the command line's lazy
start: ``keras-aw --help`` imports neither).
"""


def profile_rows(models):
    """The specs to profile: Table 1's rows then every other builder, or the named ones."""
    from keras_aw import registry

    if models.strip().lower() == "all":
        rows = [spec for spec, _, _ in registry.paper_rows()]
        covered = {registry.parse_spec(spec).name for spec in rows}
        return rows + [n for n in registry.list_models(task="classification")
                       if n not in covered and registry.model_info(n).family != "small_cnn"]
    rows = [registry.canonical_spec(m.strip()) for m in models.split(",") if m.strip()]
    if not rows:
        raise ValueError("`models` is empty")
    return rows


def paper_row(spec):
    """The Table 1 row of a spec (a CBAM builder without a form is the default, "full")."""
    from keras_aw import registry

    spec = registry.parse_spec(spec)
    info, kwargs = spec.info, spec.kwargs
    if info.takes_cbam and not kwargs:
        kwargs = {"cbam": "full"}
    for row in info.paper:
        if row.table == "Table 1" and row.kwargs == kwargs:
            return row.metrics
    return None


def _gflops(value):
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _profile_table2(args):
    from keras_aw import detection, registry

    size = args.input_size or 512
    print(f"Table 2 backbones (ResNet101 encoder + FPN P3-P7, RetinaNet heads excluded), "
          f"input {size}x{size}; paper AP columns: COCO val2017, Faster R-CNN")
    header = (f"{'FPN variant':<12} {'params (M)':>10} {'GFLOPs':>8} {'FPN params (M)':>14} "
              f"{'FPN GFLOPs':>10}   {'paper AP':>8} {'AP50':>6} {'AP75':>6}")
    print(header)
    print("-" * len(header))
    paper = {row.label: row.metrics for _, _, row in registry.paper_rows("Table 2")}
    for row in detection.profile_table2(image_size=size):
        p = paper.get(row["variant"], {})
        print(f"{row['variant']:<12} {row['params'] / 1e6:>10.2f} {row['gflops']:>8.2f} "
              f"{row['fpn_params'] / 1e6:>14.3f} {row['fpn_gflops']:>10.3f}   "
              f"{p.get('AP', float('nan')):>8.2f} {p.get('AP50', float('nan')):>6.2f} "
              f"{p.get('AP75', float('nan')):>6.2f}", flush=True)
    return 0


def cmd_profile(args):
    if args.table == 2:
        return _profile_table2(args)
    import keras

    from keras_aw import registry
    from keras_aw.utils import profile

    args.input_size = args.input_size or 224
    rows = profile_rows(args.models)
    header = (f"{'model':<26} {'params (M)':>10} {'GFLOPs':>8}   {'paper params':>12} "
              f"{'paper GFLOPs':>12} {'paper top-1 err':>15}")
    print(f"input {args.input_size}x{args.input_size}, {args.classes} classes; "
          "paper figures are for 224x224 ImageNet")
    print(header)
    print("-" * len(header))
    for spec in rows:
        try:
            model = registry.create_model(spec, input_shape=(args.input_size, args.input_size, 3),
                                          classes=args.classes)
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot build {spec} at {args.input_size}x{args.input_size}: "
                             f"{str(e).splitlines()[0]}") from e
        result = profile(model)
        paper = paper_row(spec)
        paper_cols = (f"{paper['params_m']:>12.2f} {_gflops(paper['gflops']):>12} "
                      f"{paper['top1_err']:>14.2f}%" if paper
                      else f"{'-':>12} {'-':>12} {'-':>15}")
        print(f"{spec:<26} {result.trainable_params / 1e6:>10.2f} {result.gflops:>8.3f}   "
              f"{paper_cols}", flush=True)
        del model
        keras.backend.clear_session()
    return 0
