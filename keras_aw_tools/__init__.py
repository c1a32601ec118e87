"""keras_aw's tooling: the `keras-aw` command line, the training loop, run files, pictures.

The library is `keras_aw` (layers, applications, detection, data sets,
registry, export); this package is built on it and kept apart so that the
command line starts without importing Keras or a backend:

- `keras_aw_tools.cli`: the `keras-aw` command (standard library only until a
  command runs);
- `keras_aw_tools.training`: `train`, `evaluate`, `build_model`;
- `keras_aw_tools.recipe`: the named training recipes as data (``demo``: Adam
  and a cosine schedule, shared by the command line, the examples and the
  benchmarks; ``imagenet``: the paper's Table 1 protocol, with
  `keras_aw.optimizers.TorchSGD`), resolved per run;
- `keras_aw_tools.runs`: run directories, checkpoints, resume, history;
- `keras_aw_tools.plots`: training curves, attention maps, detection boxes.

Importing this package imports nothing else; import the modules you use.
"""
