"""How unequal per-class accuracy is: gap, spread, Gini, worst-k mean, ...

Computed with array operations over the ``label`` axis, so any extra dims (``model``,
``seed``, bootstrap replicates) come along for free. Classes with NaN accuracy (support 0)
are left out of every statistic.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ._checks import check_fraction

__all__ = ["disparity"]

# name -> (long_name, description). Order is the order of the output variables.
STATS: dict[str, tuple[str, str]] = {
    "mean": ("mean per-class accuracy", "unweighted mean over classes (balanced accuracy)"),
    "best": ("best-class accuracy", "highest per-class accuracy"),
    "worst": ("worst-class accuracy", "lowest per-class accuracy"),
    "gap": ("best-worst gap", "best - worst"),
    "std": ("std of per-class accuracy", "population standard deviation over classes (ddof=0)"),
    "cv": ("coefficient of variation", "std / mean (NaN when mean is 0)"),
    "gini": ("Gini coefficient", "sum_ij |a_i - a_j| / (2 K^2 mean): 0 when all classes are equal, "
             "(K-1)/K when one class has all the accuracy; 0 when every class is at 0"),
    "worst_k_mean": ("mean of the worst classes",
                     "mean accuracy of the ceil(worst_fraction * K) lowest classes (at least worst_min)"),
    "min_max_ratio": ("worst/best ratio", "worst / best (NaN when best is 0)"),
    "n_classes": ("number of classes", "classes with defined accuracy (support > 0), K"),
}
CLASS_STATS: dict[str, tuple[str, str]] = {
    "best_class": ("best class", "name of the class with the highest accuracy (first on ties)"),
    "worst_class": ("worst class", "name of the class with the lowest accuracy (first on ties)"),
}


def disparity(accuracy: xr.Dataset | xr.DataArray | Any, *, worst_fraction: float = 0.1,
              worst_min: int = 1) -> xr.Dataset:
    """Summaries of how unequal per-class accuracy is.

    Parameters
    ----------
    accuracy : xr.Dataset, xr.DataArray or 1-D array-like
        A :func:`per_class` Dataset (its ``accuracy`` variable is used), or a DataArray with a
        ``label`` dim and any other dims (``model``, ``seed``, ...), which are kept: every
        statistic is computed per position along them. A plain 1-D array is read as accuracy
        per class. NaN entries (classes with no support) are skipped.
    worst_fraction : float in (0, 1]
        ``worst_k_mean`` averages the ``ceil(worst_fraction * K)`` lowest classes (at least
        ``worst_min``, and at most K), K being the number of non-NaN classes.
    worst_min : int
        The fewest classes ``worst_k_mean`` averages (the book uses 3, so that "the worst 10 %" of
        10 classes is not a single class).

    Returns
    -------
    xr.Dataset
        Variables ``mean``, ``best``, ``worst``, ``gap``, ``std`` (population, ``ddof=0``:
        the classes are the whole population of interest, not a sample), ``cv``, ``gini``,
        ``worst_k_mean``, ``min_max_ratio``, ``n_classes``, and ``best_class`` /
        ``worst_class`` (names from the ``class_name`` coord if present, else the label).
        Each has ``long_name`` and ``description`` attributes. All have the extra dims of
        the input and no ``label`` dim. Where every class is NaN the statistics are NaN and
        the class names empty.

    Examples
    --------
    >>> ds = disparity(np.array([0.0, 0.0, 1.0]))
    >>> round(float(ds["gini"]), 4), str(ds["worst_class"].values)
    (0.6667, '0')
    """
    worst_fraction = check_fraction("worst_fraction", worst_fraction, closed_right=True)
    da = _as_label_array(accuracy)
    names = _names(da)
    da = da.transpose(..., "label")
    stats, worst_idx, best_idx = disparity_stats(np.asarray(da.values, dtype=float), worst_fraction, worst_min)
    other_dims = [d for d in da.dims if d != "label"]
    coords = {k: v for k, v in da.coords.items() if "label" not in v.dims}
    out = xr.Dataset(coords=coords, attrs={"worst_fraction": worst_fraction, "worst_min": worst_min, "std_ddof": 0})
    for name, (long_name, desc) in STATS.items():
        out[name] = (other_dims, stats[name], {"long_name": long_name, "description": desc})
    n_valid = stats["n_classes"]
    for name, idx in (("best_class", best_idx), ("worst_class", worst_idx)):
        picked = np.where(n_valid > 0, names[idx], "")
        long_name, desc = CLASS_STATS[name]
        out[name] = (other_dims, picked.astype(str), {"long_name": long_name, "description": desc})
    return out[list(STATS)[:3] + list(CLASS_STATS) + list(STATS)[3:]]


def disparity_stats(acc: np.ndarray, worst_fraction: float,
                    worst_min: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """All numeric statistics over the last axis of ``acc`` (NaN = absent class).

    Returns the statistics (arrays of shape ``acc.shape[:-1]``) and the indices of the worst
    and best class along the last axis. No Python loop over rows: bootstrap replicates are
    passed as one (n_boot, K) array.
    """
    acc = np.asarray(acc, dtype=float)
    valid = ~np.isnan(acc)
    n = valid.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nf = np.where(n > 0, n, np.nan)
        zeroed = np.where(valid, acc, 0.0)
        mean = zeroed.sum(axis=-1) / nf
        dev = np.where(valid, acc - mean[..., None], 0.0)
        std = np.sqrt((dev**2).sum(axis=-1) / nf)

        s = np.sort(acc, axis=-1)  # NaN sorts last, so valid values are s[..., :n]
        s0 = np.where(np.isnan(s), 0.0, s)
        last = np.maximum(n - 1, 0)[..., None]
        worst = np.where(n > 0, s[..., 0], np.nan)
        best = np.where(n > 0, np.take_along_axis(s, last, axis=-1)[..., 0], np.nan)

        # Gini of sorted values: sum_i (2i - n - 1) x_(i) / (n * sum x), i = 1..n.
        rank = np.arange(1, acc.shape[-1] + 1)
        weights = 2 * rank - n[..., None] - 1
        total = s0.sum(axis=-1)
        gini = (weights * s0).sum(axis=-1) / (nf * total)
        gini = np.where((total == 0) & (n > 0), 0.0, gini)

        # Round before ceil so that 0.1 * 30 = 3.0000000000000004 gives 3, not 4.
        k = np.maximum(np.ceil(np.round(worst_fraction * n, 9)).astype(int), np.minimum(max(worst_min, 1), n))
        k = np.maximum(k, 1)
        csum = np.cumsum(s0, axis=-1)
        worst_k = np.take_along_axis(csum, (k - 1)[..., None], axis=-1)[..., 0] / k
        worst_k = np.where(n > 0, worst_k, np.nan)

        stats = {
            "mean": mean, "best": best, "worst": worst, "gap": best - worst, "std": std,
            "cv": np.where(mean > 0, std / mean, np.nan), "gini": gini, "worst_k_mean": worst_k,
            "min_max_ratio": np.where(best > 0, worst / best, np.nan), "n_classes": n.astype(np.int64),
        }
    worst_idx = np.where(valid, acc, np.inf).argmin(axis=-1)
    best_idx = np.where(valid, acc, -np.inf).argmax(axis=-1)
    return stats, worst_idx, best_idx


def _as_label_array(accuracy: Any) -> xr.DataArray:
    if isinstance(accuracy, xr.Dataset):
        if "accuracy" not in accuracy:
            raise ValueError("the Dataset has no 'accuracy' variable; pass per_class(...) output")
        accuracy = accuracy["accuracy"]
    if not isinstance(accuracy, xr.DataArray):
        arr = np.asarray(accuracy, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"a plain array must be 1-D and non-empty (one accuracy per class); got shape {arr.shape}")
        accuracy = xr.DataArray(arr, dims="label", coords={"label": np.arange(arr.size)})
    if "label" not in accuracy.dims:
        raise ValueError(f"accuracy must have a 'label' dim; it has dims {accuracy.dims}")
    if accuracy.sizes["label"] == 0:
        raise ValueError("accuracy has no classes (label dim of size 0)")
    return accuracy


def _names(da: xr.DataArray) -> np.ndarray:
    for key in ("class_name", "label"):
        if key in da.coords and da.coords[key].dims == ("label",):
            return np.array([str(x) for x in da.coords[key].values.tolist()], dtype=str)
    return np.array([str(i) for i in range(da.sizes["label"])], dtype=str)
