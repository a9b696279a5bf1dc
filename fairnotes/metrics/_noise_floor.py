"""Is the spread of per-class accuracy more than binomial sampling noise?"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

from ._checks import check_choice, check_positive_int, count_classes

__all__ = ["noise_floor"]

_STATISTICS = ("std", "gap")
_CHUNK_CELLS = 1 << 22


def noise_floor(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Any = None,
    n_sim: int = 2000,
    seed: int = 0,
    statistic: Literal["std", "gap"] = "std",
) -> xr.Dataset:
    """Compare the observed spread of per-class accuracy with what sampling noise alone gives.

    Null hypothesis: every class has the same accuracy ``p``, the pooled accuracy
    ``sum(tp) / sum(support)`` over the classes with support (equal to the overall accuracy
    when every true label is in ``labels``). Under it the correct count of class ``c`` is
    ``Binomial(support_c, p)``; we simulate ``n_sim`` such test sets (a parametric bootstrap)
    and compute the statistic on each. Classes with no support are left out.

    Parameters
    ----------
    y_true, y_pred, labels
        As in :func:`per_class`.
    n_sim : int
        Simulated test sets under the null.
    seed : int
        Seed of the ``numpy.random.Generator``; the same seed gives the same output.
    statistic : {"std", "gap"}
        Spread of per-class accuracy: population std (``ddof=0``) or best − worst.

    Returns
    -------
    xr.Dataset
        Scalars ``observed``, ``null_mean``, ``null_upper`` (95th percentile of the null),
        ``p_value`` = ``(1 + #{null >= observed}) / (1 + n_sim)`` (never 0), ``n_sim``;
        and ``null`` (dim ``sim``), the simulated statistics, for plotting. Attributes
        ``statistic``, ``p_null`` (the pooled accuracy), ``seed``.

    Examples
    --------
    >>> y = np.repeat(np.arange(4), 250)
    >>> ds = noise_floor(y, np.where(y == 3, 0, y), n_sim=200)
    >>> float(ds["p_value"]) < 0.01
    True
    """
    check_choice("statistic", statistic, _STATISTICS)
    n_sim = check_positive_int("n_sim", n_sim)
    c = count_classes(y_true, y_pred, labels=labels)
    has = c.support > 0
    if not has.any():
        raise ValueError("no class in labels occurs in y_true; nothing to compare")
    support, tp = c.support[has], c.tp[has]
    p = tp.sum() / support.sum()
    observed = float(_spread(tp / support, statistic))

    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // support.size)
    null = np.concatenate([
        _spread(rng.binomial(support, p, size=(min(step, n_sim - s), support.size)) / support, statistic)
        for s in range(0, n_sim, step)
    ])
    p_value = (1 + np.count_nonzero(null >= observed)) / (1 + n_sim)

    def var(v, long_name, desc):
        return (), v, {"long_name": long_name, "description": desc}

    return xr.Dataset(
        {
            "observed": var(observed, f"observed {statistic}", f"{statistic} of per-class accuracy"),
            "null_mean": var(float(null.mean()), f"null mean {statistic}",
                             f"mean {statistic} when every class has accuracy p_null"),
            "null_upper": var(float(np.quantile(null, 0.95)), f"null 95th percentile of {statistic}",
                              "95th percentile of the simulated null statistic"),
            "p_value": var(float(p_value), "p-value", "(1 + #{null >= observed}) / (1 + n_sim)"),
            "n_sim": var(np.int64(n_sim), "simulations", "test sets simulated under the null"),
            "null": ("sim", null, {"long_name": f"null {statistic}",
                                   "description": "statistic of each simulated test set"}),
        },
        attrs={"statistic": statistic, "p_null": float(p), "seed": int(seed), "n_classes": int(has.sum())},
    )


def _spread(acc: np.ndarray, statistic: str) -> np.ndarray:
    """Spread over the last axis (no NaN here: classes without support were dropped)."""
    if statistic == "std":
        return acc.std(axis=-1)
    return acc.max(axis=-1) - acc.min(axis=-1)
