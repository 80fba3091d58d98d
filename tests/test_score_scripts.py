"""The scripts' own arithmetic: score_weights' off-grid column, plot_training's averages."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(angle, mma3):
    return {"group": str(angle), "precision": {str(t): mma3 for t in range(1, 11)},
            "matches": 10, "points0": 10, "points1": 10}


def test_grid_mma3_means_multiples_of_90_apart_from_the_other_angles():
    score_weights = load("score_weights")
    # angle 0 (identity) counts in neither; two pairs at 90 average to 98
    records = [record(0, 100.0), record(90, 97.0), record(90, 99.0), record(180, 100.0),
               record(270, 96.0), record(10, 90.0), record(45, 80.0), record(350, 85.0)]
    assert score_weights.grid_mma3(records) == "98.00 / 85.00"  # (98 + 100 + 96) / 3, (90 + 80 + 85) / 3


def test_moving_average_skips_steps_without_a_value():
    plot_training = load("plot_training")
    out = plot_training.moving_average(np.array([1.0, np.nan, 3.0, 5.0, np.nan]), 2)
    np.testing.assert_allclose(out, [1.0, 1.0, 3.0, 4.0, 5.0])
    assert np.isnan(plot_training.moving_average(np.array([np.nan, np.nan]), 2)).all()
