"""Per-class accuracy of several training seeds on one test set, with a seed-aware bootstrap.

Given S models (one per training seed) evaluated on the same N test images, each image ``i``
has ``c_i``, the fraction of the S models that got it right. The seed-averaged accuracy of a
class is the mean of ``c_i`` over its images, so its sampling uncertainty comes from the test
images alone: resample images within each true class (class sizes fixed, as in
:func:`per_class_ci`), keeping each image's S predictions together through ``c_i``. Treating
the S × N predictions as independent would understate the interval, since the seeds share
the images they fail on.

The replicates are index arrays drawn a chunk at a time, and summed per class with
``np.add.reduceat`` over images laid out class by class — no Python loop per replicate.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import check_fraction, check_positive_int, count_classes

__all__ = ["per_class_over_seeds"]

_CHUNK_CELLS = 1 << 22  # resampled indices per chunk (~32 MB of int64)
_CI_METHOD = ("percentile bootstrap over test images, resampling within each true class "
              "(class sizes fixed) and keeping each image's predictions from all seeds together")


def per_class_over_seeds(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Any = None,
    class_names: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    keep_replicates: bool = False,
) -> xr.Dataset:
    """Per-class accuracy averaged over training seeds, with a test-image bootstrap CI.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels of the test set shared by every model.
    y_pred : array-like of shape (s, n)
        Predictions of ``s`` models trained with different seeds, one row per model.
    labels, class_names
        As in :func:`per_class`; the default class list is the sorted union of ``y_true``
        and the predictions of every seed.
    n_boot : int
        Bootstrap replicates.
    confidence : float in (0, 1)
        Coverage of the two-sided percentile interval.
    seed : int
        Seed of the ``numpy.random.Generator``; the same seed gives the same output. (Not to
        be confused with the ``seed`` dim, which indexes the rows of ``y_pred``.)
    keep_replicates : bool
        Also return the bootstrap replicates as ``accuracy_replicates`` (``replicate`` ×
        ``label``), e.g. to bootstrap any statistic of them such as :func:`disparity`.

    Returns
    -------
    xr.Dataset
        Dim ``label`` with coords ``label`` and ``class_name`` as in :func:`per_class`, and
        dim ``seed`` (coord ``0..s-1``, the rows of ``y_pred``). Variables:

        - ``accuracy``: per-class accuracy averaged over the seeds (equivalently, the mean
          over the class's images of the fraction of seeds right on each);
        - ``accuracy_lower`` / ``accuracy_upper``: percentile-bootstrap bounds over test
          images (see the module docstring). They describe test-set sampling for *these*
          ``s`` models; spread between training runs is ``accuracy_seed_std``;
        - ``accuracy_seed_std``: std over seeds of per-class accuracy (``ddof=1``; NaN when
          ``s == 1``);
        - ``accuracy_by_seed`` (``seed`` × ``label``): per-class accuracy of each model;
        - ``support``: test images of the class.

        Classes with no support get NaN in every accuracy variable. Attributes ``n``,
        ``n_seeds``, ``n_boot``, ``confidence``, ``seed``, ``ci_method``.

    Examples
    --------
    >>> ds = per_class_over_seeds([0, 0, 1, 1], [[0, 0, 1, 0], [0, 1, 1, 0]], n_boot=50)
    >>> ds["accuracy"].values.tolist(), ds["accuracy_by_seed"].values.tolist()
    ([0.75, 0.5], [[1.0, 0.5], [0.5, 0.5]])
    """
    n_boot = check_positive_int("n_boot", n_boot)
    confidence = check_fraction("confidence", confidence, closed_right=False)
    yt, yp = _check_seed_arrays(y_true, y_pred)
    s, n = yp.shape
    # Counting the S stacked copies fixes labels and names exactly as per_class would on all
    # predictions; tp summed over seeds / (S * support) is then the seed-averaged accuracy.
    c = count_classes(np.tile(yt, s), yp.reshape(-1), labels=labels, class_names=class_names)
    k = c.labels.size
    support = c.support // s
    cls = pd.Index(c.labels).get_indexer(yt)  # class index of each image, -1 when not listed
    listed = cls >= 0
    hit = yp == yt[None, :]

    tp_by_seed = np.bincount((np.arange(s)[:, None] * k + cls[None, listed]).reshape(-1),
                             weights=hit[:, listed].reshape(-1), minlength=s * k).reshape(s, k)
    has = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        by_seed = np.where(has, tp_by_seed / support, np.nan)
    accuracy = by_seed.mean(axis=0)
    seed_std = by_seed.std(axis=0, ddof=1) if s > 1 else np.full(k, np.nan)

    frac_right = hit.mean(axis=0)  # c_i
    lower, upper, reps = _bootstrap_bounds(frac_right[listed], cls[listed], k, n_boot, confidence, seed)

    def var(dims, v, long_name, desc):
        return dims, v, {"long_name": long_name, "description": desc}

    pct = f"{confidence:.0%}"
    out = xr.Dataset(
        {
            "accuracy": var("label", accuracy, "per-class accuracy, mean over seeds",
                            "mean over seeds of tp / support; NaN when support is 0"),
            "accuracy_lower": var("label", lower, f"accuracy, lower {pct} bound",
                                  f"lower bound of the {_CI_METHOD} interval"),
            "accuracy_upper": var("label", upper, f"accuracy, upper {pct} bound",
                                  f"upper bound of the {_CI_METHOD} interval"),
            "accuracy_seed_std": var("label", seed_std, "std of per-class accuracy over seeds",
                                     "sample std (ddof=1) over seeds; NaN with one seed"),
            "accuracy_by_seed": var(("seed", "label"), by_seed, "per-class accuracy by seed",
                                    "tp / support of each seed's model; NaN when support is 0"),
            "support": var("label", support.astype(np.int64), "support",
                           "number of test images whose true label is the class"),
        },
        coords={"label": ("label", c.labels), "class_name": ("label", c.class_names),
                "seed": ("seed", np.arange(s))},
        attrs={"n": int(n), "n_seeds": int(s), "n_boot": n_boot, "confidence": confidence,
               "seed": int(seed), "ci_method": _CI_METHOD},
    )
    if keep_replicates:
        out["accuracy_replicates"] = var(("replicate", "label"), reps, "bootstrap replicates of accuracy",
                                         f"per-class accuracy in each replicate of the {_CI_METHOD}")
    return out


def _check_seed_arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim != 1:
        raise ValueError(f"y_true must be 1-D (one label per test image); got shape {yt.shape}")
    if yp.ndim != 2:
        raise ValueError(f"y_pred must be 2-D (seeds, images): one row per trained model; got shape "
                         f"{yp.shape}. For a single model pass y_pred[None, :]")
    if yp.shape[1] != yt.shape[0]:
        raise ValueError(f"y_pred has {yp.shape[1]} columns but y_true has {yt.shape[0]} images; "
                         "every seed must predict the same test set")
    if yt.shape[0] == 0 or yp.shape[0] == 0:
        raise ValueError(f"need at least one image and one seed; got y_pred of shape {yp.shape}")
    return yt, yp


def _bootstrap_bounds(frac_right, cls, k, n_boot, confidence, seed):
    """Percentile bounds of the class means of ``frac_right`` under within-class resampling.

    Images are laid out class by class; replicate ``b`` draws, for each position, an image of
    the same class uniformly, and ``np.add.reduceat`` sums each class's block. One
    ``rng.integers`` call per chunk of replicates, shape (chunk, images).
    """
    lower = np.full(k, np.nan)
    upper = np.full(k, np.nan)
    reps = np.full((n_boot, k), np.nan)
    if cls.size == 0:
        return lower, upper, reps
    order = np.argsort(cls, kind="stable")
    values = frac_right[order]
    present, starts, sizes = np.unique(cls[order], return_index=True, return_counts=True)
    offset = np.repeat(starts, sizes)  # first position of each image's class block
    size = np.repeat(sizes, sizes)     # its class size
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // values.size)
    means = np.empty((n_boot, present.size))
    for b in range(0, n_boot, step):
        m = min(step, n_boot - b)
        idx = offset + rng.integers(0, size, size=(m, values.size))
        means[b:b + m] = np.add.reduceat(values[idx], starts, axis=1) / sizes
    alpha = 1.0 - confidence
    lower[present], upper[present] = np.quantile(means, [alpha / 2, 1 - alpha / 2], axis=0)
    reps[:, present] = means
    return lower, upper, reps
