"""Display-ready tables from result Datasets."""
from __future__ import annotations

import math

import pandas as pd
import xarray as xr

# Disparity statistics in reading order, with the column title each gets.
DISPARITY_COLUMNS: dict[str, str] = {
    "mean": "Mean accuracy",
    "best": "Best-class accuracy",
    "worst": "Worst-class accuracy",
    "best_class": "Best class",
    "worst_class": "Worst class",
    "gap": "Gap (best − worst)",
    "std": "Std. dev.",
    "cv": "Coeff. of variation",
    "gini": "Gini",
    "worst_k_mean": "Worst-k mean",
    "min_max_ratio": "Worst/best ratio",
}


def _fmt(value: float, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _worst_k_title(ds: xr.Dataset) -> str:
    k = ds["worst_k_mean"].attrs.get("k", ds.attrs.get("k", ds.attrs.get("worst_k")))
    return f"Worst-{int(k)} mean" if k is not None else DISPARITY_COLUMNS["worst_k_mean"]


def disparity_table(ds: xr.Dataset, *, digits: int = 3) -> pd.DataFrame:
    """One row per value of the Dataset's extra dims (e.g. per ``model``), one column per statistic.

    Parameters
    ----------
    ds
        A disparity Dataset: variables among ``mean``, ``best``, ``worst``, ``best_class``,
        ``worst_class``, ``gap``, ``std``, ``cv``, ``gini``, ``worst_k_mean``, ``min_max_ratio``
        (scalars, or over dims such as ``model``), and optionally ``<stat>_lower``/``<stat>_upper``.
        Other variables follow the known ones, with their names as titles.
    digits
        Decimals shown.

    Returns
    -------
    pandas.DataFrame
        Numbers rounded to ``digits``; a statistic with both CI bounds becomes a string
        ``"0.123 [0.100, 0.140]"``. The index holds the extra dims' values (a MultiIndex for several
        dims), or a single row ``"all"`` for a scalar Dataset.
    """
    bounds = {n for n in ds.data_vars if n.endswith(("_lower", "_upper"))}
    stats = [n for n in DISPARITY_COLUMNS if n in ds.data_vars]
    stats += [n for n in ds.data_vars if n not in DISPARITY_COLUMNS and n not in bounds]
    if not stats:
        raise ValueError("disparity_table: the Dataset holds none of the disparity statistics "
                         f"{list(DISPARITY_COLUMNS)}")
    wanted = stats + sorted(n for n in bounds if n.rsplit("_", 1)[0] in stats)
    sub = ds[wanted]
    dims = list(sub.dims)
    if dims:
        frame = sub.to_dataframe()
        if len(dims) == 1:
            frame.index.name = dims[0]
    else:
        frame = pd.DataFrame({n: [sub[n].item()] for n in wanted}, index=pd.Index(["all"]))

    out = pd.DataFrame(index=frame.index)
    for name in stats:
        title = (_worst_k_title(ds) if name == "worst_k_mean"
                 else DISPARITY_COLUMNS.get(name, name.replace("_", " ").capitalize()))
        col = frame[name]
        lo, hi = f"{name}_lower", f"{name}_upper"
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            out[title] = col.astype(str)
        elif pd.api.types.is_integer_dtype(col.dtype):
            out[title] = col  # e.g. best_class stored as a label id
        elif lo in frame and hi in frame:
            out[title] = [f"{_fmt(v, digits)} [{_fmt(a, digits)}, {_fmt(b, digits)}]"
                          for v, a, b in zip(col, frame[lo], frame[hi], strict=True)]
        else:
            out[title] = col.astype(float).round(digits)
    return out
