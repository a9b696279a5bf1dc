"""Percentile-bootstrap confidence intervals for per-class accuracy and its disparity.

Resampling scheme: stratified by true class. The test set's class sizes are part of the
design (most benchmarks fix them), so each replicate redraws, for every class ``c``, its
``n_c`` samples with replacement from the ``n_c`` samples of that class, keeping ``n_c``.

Shortcut, exact rather than approximate: when ``n_c`` samples are drawn with replacement from
``n_c`` samples of which ``k_c`` are correct, the number of correct draws is
``Binomial(n_c, k_c / n_c)``. Per-class accuracy and every disparity statistic depend on the
resample only through these counts, so we draw the counts directly — one ``(n_boot, K)``
binomial array per chunk — instead of ``n_boot * n`` indices. Same distribution, O(K) work per
replicate instead of O(n), and no Python loop over replicates. (A test checks it against an
explicit index resampler.)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ._checks import check_fraction, check_positive_int, count_classes
from ._disparity import STATS, disparity, disparity_stats
from ._per_class import counts_to_dataset

__all__ = ["per_class_ci", "disparity_ci"]

_CHUNK_CELLS = 1 << 22  # draws per chunk (~32 MB of int64), bounds memory for big K * n_boot
_CI_METHOD = "percentile bootstrap, resampling within each true class (class sizes fixed)"


def per_class_ci(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Any = None,
    class_names: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> xr.Dataset:
    """:func:`per_class` plus bootstrap confidence bounds on each class's accuracy.

    Parameters
    ----------
    y_true, y_pred, labels, class_names
        As in :func:`per_class`.
    n_boot : int
        Bootstrap replicates.
    confidence : float in (0, 1)
        Coverage of the two-sided percentile interval.
    seed : int
        Seed of the ``numpy.random.Generator``; the same seed gives the same output.

    Returns
    -------
    xr.Dataset
        The :func:`per_class` Dataset with ``accuracy_lower`` and ``accuracy_upper`` (NaN for
        classes with no support), and attributes ``n_boot``, ``confidence``, ``seed``,
        ``ci_method``. Resampling is stratified by true class (see the module docstring),
        so the interval reflects the test-set size of each class only.
    """
    n_boot = check_positive_int("n_boot", n_boot)
    confidence = check_fraction("confidence", confidence, closed_right=False)
    c = count_classes(y_true, y_pred, labels=labels, class_names=class_names)
    ds = counts_to_dataset(c)
    rng = np.random.default_rng(seed)
    k = c.labels.size
    q = _quantiles(confidence)
    lower = np.full(k, np.nan)
    upper = np.full(k, np.nan)
    # Chunk over classes: every class needs all its replicates for its own quantiles.
    step = max(1, _CHUNK_CELLS // n_boot)
    for start in range(0, k, step):
        sl = slice(start, start + step)
        acc = _draw_accuracy(rng, c.support[sl], c.tp[sl], n_boot)
        ok = c.support[sl] > 0
        if ok.any():
            lo, hi = np.quantile(acc[:, ok], q, axis=0)
            lower[sl][ok], upper[sl][ok] = lo, hi
    for name, v, side in (("accuracy_lower", lower, "lower"), ("accuracy_upper", upper, "upper")):
        ds[name] = ("label", v, {"long_name": f"accuracy, {side} {confidence:.0%} bound",
                                 "description": f"{side} bound of the {_CI_METHOD} interval"})
    ds.attrs.update(n_boot=n_boot, confidence=confidence, seed=int(seed), ci_method=_CI_METHOD)
    return ds


def disparity_ci(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Any = None,
    class_names: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    worst_fraction: float = 0.1,
) -> xr.Dataset:
    """:func:`disparity` of the per-class accuracy, with bootstrap bounds on each statistic.

    Parameters
    ----------
    y_true, y_pred, labels, class_names
        As in :func:`per_class`.
    n_boot, confidence, seed
        As in :func:`per_class_ci`.
    worst_fraction
        As in :func:`disparity`.

    Returns
    -------
    xr.Dataset
        The :func:`disparity` Dataset plus ``<stat>_lower`` / ``<stat>_upper`` for each
        numeric statistic (all but ``n_classes`` and the class names).

    Notes
    -----
    The percentile bootstrap of extreme order statistics (``best``, ``worst``, ``gap``,
    ``std``) is biased toward more spread: each replicate adds sampling noise on top of the
    observed spread, so ``gap_lower`` can sit above the true gap. Use :func:`noise_floor` to
    ask whether the spread exceeds sampling noise at all.
    """
    n_boot = check_positive_int("n_boot", n_boot)
    confidence = check_fraction("confidence", confidence, closed_right=False)
    worst_fraction = check_fraction("worst_fraction", worst_fraction, closed_right=True)
    c = count_classes(y_true, y_pred, labels=labels, class_names=class_names)
    out = disparity(counts_to_dataset(c), worst_fraction=worst_fraction)
    numeric = [s for s in STATS if s != "n_classes"]
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // max(c.labels.size, 1))
    reps: dict[str, list[np.ndarray]] = {s: [] for s in numeric}
    for start in range(0, n_boot, step):
        acc = _draw_accuracy(rng, c.support, c.tp, min(step, n_boot - start))
        stats, _, _ = disparity_stats(acc, worst_fraction)
        for s in numeric:
            reps[s].append(stats[s])
    q = _quantiles(confidence)
    for s in numeric:
        values = np.concatenate(reps[s])
        lo, hi = np.nanquantile(values, q) if np.isfinite(values).any() else (np.nan, np.nan)
        long_name = STATS[s][0]
        for side, v in (("lower", lo), ("upper", hi)):
            out[f"{s}_{side}"] = ((), float(v), {
                "long_name": f"{long_name}, {side} {confidence:.0%} bound",
                "description": f"{side} bound of the {_CI_METHOD} interval",
            })
    out.attrs.update(n_boot=n_boot, confidence=confidence, seed=int(seed), ci_method=_CI_METHOD)
    return out


def _draw_accuracy(rng: np.random.Generator, support: np.ndarray, tp: np.ndarray, n_rep: int) -> np.ndarray:
    """(n_rep, K) bootstrap per-class accuracies, NaN for classes with no support."""
    has = support > 0
    p = np.where(has, tp / np.where(has, support, 1), 0.0)
    hits = rng.binomial(support, p, size=(n_rep, support.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(has, hits / support, np.nan)


def _quantiles(confidence: float) -> list[float]:
    alpha = 1.0 - confidence
    return [alpha / 2, 1 - alpha / 2]

