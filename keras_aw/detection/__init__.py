"""Object detection with AW-FPN (filled in by the detection work)."""
