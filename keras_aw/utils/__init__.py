"""Utilities: argument validation, profiling."""
