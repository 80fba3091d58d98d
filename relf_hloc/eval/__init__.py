"""Metrics against ground truth, used by the benchmarks, training validation, the demo and
the pipelines: homography matching accuracy (homography.py) and camera poses (poses.py)."""
