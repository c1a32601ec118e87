"""The version of keras_aw (a leaf module: the package and the command line read it)."""

__version__ = "0.3.0"
