"""Explicit bootstrap resamples of test images within each true class, for paired comparisons.

The binomial shortcut of :mod:`._bootstrap` draws each class's correct count directly, which is
exact for one classifier but cannot keep two classifiers paired. Paired deltas (the same test
images drawn for both, as in :func:`fairnotes.summary.paired_deltas` and
:mod:`fairnotes.jobs.diversity`) need the draws themselves: here, as counts per image.
"""
from __future__ import annotations

import numpy as np

_CHUNK_CELLS = 1 << 22


def within_class_counts(y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) counts of each test image in a resample drawn within each true class."""
    order = np.argsort(y, kind="stable")
    _, starts, sizes = np.unique(y[order], return_index=True, return_counts=True)
    offset, size = np.repeat(starts, sizes), np.repeat(sizes, sizes)
    n = y.size
    rng = np.random.default_rng([seed, 0])
    w = np.zeros((n_boot, n))
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for b in range(0, n_boot, step):
        m = min(step, n_boot - b)
        idx = order[offset + rng.integers(0, size, size=(m, n))]  # positions in the original order
        w[b:b + m] = np.bincount((np.arange(m)[:, None] * n + idx).ravel(), minlength=m * n).reshape(m, n)
    return w
