"""Data sets that ship with keras_aw (no download)."""
