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
    print(f"trained {result['epochs_done']} epoch(s) in {time.time() - start:.0f} s"
          + (f": {_summary(result)}" if _summary(result) else ""))
    print(f"model (last epoch): {result['model']}")
    if "best_checkpoint" in result:
        best = result.get("best")
        print(f"best validation top-1: {result['best_checkpoint']}"
              + (f" (epoch {best['epoch']}: {_summary(best)})" if best else ""))
    print(f"history: {result['history']}, curve: {result['curve']}, recipe: {result['recipe']}")
    return 0


#: The metrics a summary line shows, in order: the paper's top-1/top-5 errors among them.
SUMMARY_KEYS = ("loss", "accuracy", "top5_accuracy", "val_loss", "val_accuracy",
                "val_top5_accuracy", "top1_error", "top5_error", "val_top1_error",
                "val_top5_error")


def _summary(metrics):
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in SUMMARY_KEYS if k in metrics)


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

    from keras_aw_tools import recipe

    result = training.evaluate(args.model, dataset=args.dataset, batch_size=args.batch_size,
                               num_test=args.num_test, seed=args.seed, verbose=args.verbose,
                               recipe_name=args.recipe)
    # loss/accuracy(/top5_accuracy) and the paper's errors, or COCO AP/AP50/AP75
    for key, value in {**result, **recipe.errors(result)}.items():
        print(f"{key}: {value:.4f}")
    return 0
