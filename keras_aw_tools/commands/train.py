"""``keras-aw train`` and ``keras-aw evaluate``.

`cmd_train` makes the run's `keras_aw_tools.settings.RunSettings` from the
parsed options (`settings_from_args`: every option whose name is a field) and
calls `keras_aw_tools.training.train`; `cmd_evaluate` calls
`keras_aw_tools.training.evaluate`. Keras and keras_aw are imported when the
command runs (the command line's lazy start).
"""

import time


def cmd_train(args):
    """Trains the model the options describe; prints a summary (process 0 only)."""
    from keras_aw import distribute

    cluster = distribute.find_cluster(args.job_addresses, args.num_processes, args.process_id)
    if (args.distribute and cluster is None) or args.cpu_devices:
        distribute.check_distribution_backend()
    if args.cpu_devices:
        distribute.configure_cpu_devices(args.cpu_devices)
    from keras_aw_tools import training

    start = time.time()
    result = training.train(settings_from_args(args))
    cluster = distribute.current_cluster()
    if cluster is not None:
        cluster.shutdown()
        if not cluster.is_chief:
            return 0
    summary = ", ".join(f"{k} {result[k]:.4f}" for k in
                        ("loss", "accuracy", "val_loss", "val_accuracy") if k in result)
    print(f"trained {result['epochs_done']} epoch(s) in {time.time() - start:.0f} s"
          + (f": {summary}" if summary else ""))
    print(f"model: {result['model']}")
    print(f"history: {result['history']}, curve: {result['curve']}")
    return 0


def settings_from_args(args):
    """The `RunSettings` of ``keras-aw train``'s parsed options.

    Every option whose destination is a field of `RunSettings` (``--batch-size``:
    ``batch_size``) sets that field; the others (``--cpu-devices``) act before the
    run. A new field gets its option by the same name.
    """
    from keras_aw_tools.settings import RunSettings

    options = vars(args)
    return RunSettings(**{name: options[name] for name in RunSettings.field_names()
                          if name in options})


def cmd_evaluate(args):
    """Evaluates a saved model; prints one metric per line."""
    from keras_aw_tools import training

    result = training.evaluate(args.model, dataset=args.dataset, batch_size=args.batch_size,
                               num_test=args.num_test, seed=args.seed, verbose=args.verbose)
    for key, value in result.items():  # loss/accuracy, or COCO AP/AP50/AP75
        print(f"{key}: {value:.4f}")
    return 0
