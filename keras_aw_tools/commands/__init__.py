"""What each ``keras-aw`` subcommand does: one module per command.

`keras_aw_tools.cli` parses the command line (one parser function per
subcommand) and calls ``cmd_NAME(args)`` of these modules with the parsed
arguments; each returns the exit status (0, or None for 0) and raises
`ValueError`/`TypeError`/`OSError` for bad input, which `keras_aw_tools.cli.main`
prints as one line. The modules import only the standard library at the top:
Keras, a backend and keras_aw are imported when a command runs.

- `profile`: ``keras-aw profile`` (Table 1 classifiers, Table 2 backbones).
- `train`: ``keras-aw train`` and ``keras-aw evaluate``.
- `recipes`: ``keras-aw recipes`` (the training recipes and their values).
- `export`: ``keras-aw export``.
- `visualize`: ``keras-aw visualize`` (attention maps, detections).
"""
