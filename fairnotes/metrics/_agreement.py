"""Do the same classes come out hard for every seed (or model)? Rank agreement of per-class accuracy.

Each rater (a seed, a model, ...) ranks the classes by its per-class accuracy. Pairwise
agreement is Spearman's rank correlation; agreement of all raters at once is Kendall's
coefficient of concordance W, tested with Friedman's chi-square. scipy has Spearman and the
Friedman test but not W, so W is written here from its definition (with the tie correction
that makes ``chi2 = m (n - 1) W`` hold for scipy's tie-corrected Friedman statistic).
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

__all__ = ["rank_agreement"]


def rank_agreement(accuracy: xr.DataArray, *, over: str) -> xr.Dataset:
    """Agreement between raters on which classes are hard, from per-class accuracy.

    Parameters
    ----------
    accuracy : xr.DataArray
        Per-class accuracy with exactly two dims: ``label`` and ``over``, e.g. the
        ``accuracy_by_seed`` variable of :func:`per_class_over_seeds`, or per-class accuracy
        of several models concatenated along ``model``. Labels with a NaN for any rater (a
        class with no support, say) are dropped before ranking, so every rater ranks the
        same classes; their number is the ``n_dropped`` attribute.
    over : str
        The dim whose entries are the raters (``"seed"``, ``"model"``, ...).

    Returns
    -------
    xr.Dataset
        With ``m`` raters and ``n`` classes (after dropping):

        - ``spearman`` (``over`` × ``<over>_other``): Spearman rank correlation of per-class
          accuracy between each pair of raters (1 on the diagonal; NaN for a rater that
          gives every class the same accuracy);
        - ``mean_spearman``: mean of the off-diagonal entries (NaN if any is NaN);
        - ``kendall_w``: Kendall's W in [0, 1], from average ranks with the tie correction
          ``W = 12 S / (m^2 (n^3 - n) - m sum_j sum_g (t_g^3 - t_g))``;
        - ``chi2``, ``df``, ``p_value``: Friedman's test of W = 0 (no agreement),
          ``chi2 = m (n - 1) W`` on ``df = n - 1``. The chi-square approximation wants
          ``n`` and ``m`` not tiny (say n > 7).

        Attributes ``over``, ``n_raters`` (m), ``n_classes`` (n), ``n_dropped``.

    Examples
    --------
    >>> acc = xr.DataArray([[0.9, 0.5, 0.7], [0.8, 0.4, 0.6]], dims=("seed", "label"))
    >>> float(rank_agreement(acc, over="seed")["kendall_w"])
    1.0
    """
    da = _check_raters(accuracy, over)
    values = np.asarray(da.transpose(over, "label").values, dtype=float)
    keep = ~np.isnan(values).any(axis=0)
    values = values[:, keep]
    m, n = values.shape
    if n < 2:
        raise ValueError(f"need at least 2 labels without NaN to compare rankings; got {n} "
                         f"({int((~keep).sum())} dropped for NaN)")

    ranks = stats.rankdata(values, axis=1)  # average ranks within each rater
    with np.errstate(invalid="ignore", divide="ignore"):
        spearman = np.corrcoef(ranks)
    np.fill_diagonal(spearman, 1.0)
    off = spearman[~np.eye(m, dtype=bool)]
    w = _kendall_w(ranks, values)
    df = n - 1
    chi2 = m * df * w
    p_value = float(stats.chi2.sf(chi2, df)) if np.isfinite(chi2) else float("nan")

    rater = da[over].values
    other = f"{over}_other"

    def var(dims, v, long_name, desc):
        return dims, v, {"long_name": long_name, "description": desc}

    return xr.Dataset(
        {
            "spearman": var((over, other), spearman, "Spearman rank correlation",
                            f"rank correlation of per-class accuracy between two {over} entries"),
            "mean_spearman": var((), float(off.mean()), "mean pairwise Spearman",
                                 f"mean Spearman correlation over pairs of distinct {over} entries"),
            "kendall_w": var((), w, "Kendall's W",
                             "coefficient of concordance of the class rankings (tie-corrected): "
                             "1 = every rater ranks the classes the same, 0 = no agreement"),
            "chi2": var((), chi2, "Friedman chi-square", "m (n - 1) W, m raters and n classes"),
            "df": var((), np.int64(df), "degrees of freedom", "n - 1, n classes"),
            "p_value": var((), p_value, "p-value",
                           "chi-square survival function of chi2 on df: Friedman test of W = 0"),
        },
        coords={over: (over, rater), other: (other, rater)},
        attrs={"over": over, "n_raters": int(m), "n_classes": int(n), "n_dropped": int((~keep).sum())},
    )


def _check_raters(accuracy, over: str) -> xr.DataArray:
    if not isinstance(accuracy, xr.DataArray):
        raise ValueError(f"accuracy must be an xr.DataArray with dims ('label', {over!r}); "
                         f"got {type(accuracy).__name__}")
    if over == "label":
        raise ValueError("over must name the raters' dim, not 'label'")
    dims = set(accuracy.dims)
    missing = {"label", over} - dims
    if missing:
        raise ValueError(f"accuracy has dims {accuracy.dims}, missing {sorted(missing)}")
    extra = [d for d in accuracy.dims if d not in ("label", over)]
    if extra:
        raise ValueError(f"accuracy has extra dims {extra}; select or average them first, e.g. "
                         f"accuracy.sel({extra[0]}=...) or accuracy.mean({extra[0]!r}), so only "
                         f"'label' and {over!r} remain")
    if accuracy.sizes[over] < 2:
        raise ValueError(f"need at least 2 raters along {over!r}; got {accuracy.sizes[over]}")
    return accuracy


def _kendall_w(ranks: np.ndarray, values: np.ndarray) -> float:
    """Kendall's W from (m, n) average ranks; NaN when every rater ties every class."""
    m, n = ranks.shape
    totals = ranks.sum(axis=0)
    s = float(((totals - m * (n + 1) / 2) ** 2).sum())
    ties = 0.0
    for row in values:  # one np.unique per rater: m is small (seeds, models)
        t = np.unique(row, return_counts=True)[1].astype(float)
        ties += float((t**3 - t).sum())
    denom = m**2 * (n**3 - n) - m * ties
    return 12 * s / denom if denom > 0 else float("nan")
