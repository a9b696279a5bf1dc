"""A bootstrap interval for Kendall's W between raters that classify the same test images."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr
from scipy import stats

from ._agreement import _kendall_w


def rank_agreement_ci(y_true: Any, y_pred: Any, *, raters: Sequence[str] | None = None, over: str = "rater",
                      n_boot: int = 500, confidence: float = 0.95, seed: int = 0) -> xr.Dataset:
    """Kendall's W of per-class accuracy across raters, with a test-image bootstrap interval.

    ``y_pred`` has one row of predictions per rater (heads, models...) on the same test images
    ``y_true``. Each replicate resamples images within each true class (class sizes fixed),
    recomputes every rater's per-class accuracy and W — so the interval covers test-set
    sampling for these raters. Returns ``kendall_w``, ``kendall_w_lower``, ``kendall_w_upper``
    and ``mean_spearman`` (with its bounds) as scalars, and the rater names on dim ``over``.

    Examples
    --------
    >>> y = [0, 0, 1, 1, 2, 2]
    >>> float(rank_agreement_ci(y, [[0, 0, 1, 0, 2, 0], [0, 0, 1, 0, 2, 1]], n_boot=20)["kendall_w"])
    1.0
    """
    yt = np.asarray(y_true)
    yp = np.atleast_2d(np.asarray(y_pred))
    if yt.ndim != 1 or yp.shape[1] != yt.size or yp.shape[0] < 2:
        raise ValueError(f"need y_true (n,) and y_pred (raters >= 2, n); got {yt.shape} and {yp.shape}")
    if not 0 < confidence < 1 or n_boot < 1:
        raise ValueError("need 0 < confidence < 1 and n_boot >= 1")
    classes, cls = np.unique(yt, return_inverse=True)
    k, r = classes.size, yp.shape[0]
    hit = (yp == yt[None, :]).astype(float)
    order = np.argsort(cls, kind="stable")
    sizes = np.bincount(cls, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def w_and_rho(h: np.ndarray) -> tuple[float, float]:  # h: raters × images, laid out class by class
        acc = np.add.reduceat(h, starts, axis=1) / sizes  # raters × classes
        ranks = stats.rankdata(acc, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.corrcoef(ranks)
        return _kendall_w(ranks, acc), float(np.nanmean(rho[~np.eye(r, dtype=bool)]))

    w, rho = w_and_rho(hit[:, order])
    rng = np.random.default_rng(seed)
    offset, size = np.repeat(starts, sizes), np.repeat(sizes, sizes)
    reps = np.empty((n_boot, 2))
    for b in range(n_boot):
        idx = order[offset + rng.integers(0, size)]  # for each position, an image of the same class
        reps[b] = w_and_rho(hit[:, idx])
    a = (1 - confidence) / 2
    (w_lo, rho_lo), (w_hi, rho_hi) = np.nanquantile(reps, [a, 1 - a], axis=0)
    names = list(raters) if raters is not None else [str(i) for i in range(r)]
    return xr.Dataset(
        {"kendall_w": w, "kendall_w_lower": w_lo, "kendall_w_upper": w_hi,
         "mean_spearman": rho, "mean_spearman_lower": rho_lo, "mean_spearman_upper": rho_hi},
        coords={over: names},
        attrs={"n_boot": n_boot, "confidence": confidence, "seed": seed, "n_classes": int(k),
               "ci_method": "percentile bootstrap over test images, resampled within each true class"})
