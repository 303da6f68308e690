"""Confidence calibration: temperature scaling, its expected calibration error, out-of-fold fitting.

A bundle's ``temperature`` T rescales the model's clip probabilities as ``softmax(log p / T)``
(:func:`apply_temperature`; T > 1 softens over-confident outputs). Training fits T by minimising
the negative log-likelihood of held-out clips (:func:`fit_temperature`) and reports the expected
calibration error before and after (:func:`expected_calibration_error`):

* held-out split: T from the validation speakers, ECE on the test speakers (:func:`calibrate_held_out`);
* K-fold: T from all out-of-fold predictions, ECE cross-validated over the folds
  (:func:`calibrate_out_of_fold`).

:func:`apply_temperature` is defined in :mod:`ser.predict` (the prediction path applies it to every
clip) and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .predict import apply_temperature

__all__ = [
    "apply_temperature",
    "calibrate_held_out",
    "calibrate_out_of_fold",
    "expected_calibration_error",
    "fit_temperature",
]


def expected_calibration_error(y_true: Sequence[int], probs: np.ndarray, *, bins: int = 10) -> float:
    """ECE: confidence-vs-accuracy gap averaged over ``bins`` equal-width confidence bins.

    ``y_true [shape=(n,)]`` label indices, ``probs [shape=(n, k)]``; returns a fraction in [0, 1].
    """
    y_true = np.asarray(y_true)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def fit_temperature(y_true: Sequence[int], probs: np.ndarray) -> float:
    """Temperature T in [0.25, 10] minimising the NLL of ``softmax(log p / T)`` on held-out clips.

    ``y_true [shape=(n,)]`` label indices, ``probs [shape=(n, k)]`` uncalibrated probabilities.
    """
    from scipy.optimize import minimize_scalar

    y_true = np.asarray(y_true)

    def nll(t: float) -> float:
        q = apply_temperature(probs, t)
        return float(-np.log(np.clip(q[np.arange(len(y_true)), y_true], 1e-12, 1)).mean())

    res = minimize_scalar(nll, bounds=(0.25, 10.0), method="bounded")
    return float(res.x)


def calibrate_held_out(val_y: np.ndarray, val_p: np.ndarray, test_y: np.ndarray,
                       test_p: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Temperature fitted on the validation speakers, ECE measured on the test speakers.

    ``*_y [shape=(n,)]`` label indices, ``*_p [shape=(n, k)]`` clip probabilities. Returns
    ``(temperature, report)``; without validation clips ``(1.0, {})`` (no calibration).
    """
    if not len(val_y):
        return 1.0, {}
    t = fit_temperature(val_y, val_p)
    return t, {
        "temperature": t,
        "ece_before": expected_calibration_error(test_y, test_p),
        "ece_after": expected_calibration_error(test_y, apply_temperature(test_p, t)),
        "fitted_on": "validation speakers",
        "measured_on": "test speakers",
    }


def calibrate_out_of_fold(y: np.ndarray, probs: np.ndarray, fold: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Temperature for K-fold training, from out-of-fold clip probabilities ``[shape=(n, k)]``.

    ``y [shape=(n,)]`` label indices, ``fold [shape=(n,)]`` each clip's fold. The shipped temperature
    is fitted on all ``n`` clips. The before/after ECE is itself cross-validated: each fold's clips
    are rescaled by a temperature fitted on the other folds only, so the "after" figure is not
    measured on the clips it was fitted to.
    """
    t = fit_temperature(y, probs)
    rescaled = np.empty_like(probs)
    per_fold = []
    for f in np.unique(fold):
        m = fold == f
        t_f = fit_temperature(y[~m], probs[~m])
        rescaled[m] = apply_temperature(probs[m], t_f)
        per_fold.append(t_f)
    return t, {
        "temperature": t,
        "ece_before": expected_calibration_error(y, probs),
        "ece_after": expected_calibration_error(y, rescaled),
        "fold_temperatures": [float(v) for v in per_fold],
        "fitted_on": f"out-of-fold predictions of {len(per_fold)} folds ({len(y)} clips)",
        "measured_on": "each fold, with the temperature fitted on the other folds",
    }
