"""Group metrics (accuracy, selection rate, TPR, FPR by sensitive group) via fairlearn's MetricFrame.

fairlearn does the grouping and the between-group aggregations; this module only picks the
metrics, binarises multiclass labels for the one-vs-rest rates, and returns an ``xr.Dataset``
whatever the input (fairlearn returns a Series or a DataFrame depending on it).
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import check_pair

__all__ = ["by_group"]

_RATES = {
    "accuracy": ("accuracy", "fraction of the group's samples with y_pred == y_true"),
    "selection_rate": ("selection rate", "fraction of the group predicted as pos_label"),
    "tpr": ("true positive rate", "recall of pos_label within the group (0 when it has no positives, "
            "fairlearn's convention)"),
    "fpr": ("false positive rate", "fraction of the group's negatives predicted as pos_label (0 when "
            "it has no negatives, fairlearn's convention)"),
}


def by_group(y_true: Any, y_pred: Any, *, sensitive_features: Any, pos_label: Any = None) -> xr.Dataset:
    """Accuracy (and one-vs-rest rates) per sensitive group, with between-group summaries.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (binary or multiclass).
    sensitive_features : array-like, Series, DataFrame or dict of arrays
        Group membership of each sample, as fairlearn's ``MetricFrame`` takes it.
    pos_label : optional
        When given, also compute ``selection_rate``, ``tpr`` and ``fpr`` for this label
        against all others (one-vs-rest), with fairlearn's metric functions.

    Returns
    -------
    xr.Dataset
        One sensitive feature (array, Series, one-column DataFrame): dim ``group``, whose
        coord holds the group values; the feature's name is the ``sensitive_feature`` attr.
        Several features: one dim per feature, named after it, over every combination
        (a dense grid: empty combinations have ``count`` 0 and NaN rates). The grid stays
        netCDF-friendly, which a MultiIndex would not.

        Per-group variables: ``count`` (int64), ``accuracy`` and, with ``pos_label``,
        ``selection_rate``, ``tpr``, ``fpr``. For each rate ``m``, scalars
        ``m_overall``, ``m_group_min``, ``m_group_max``, ``m_difference`` (max − min
        between groups) and ``m_ratio`` (min / max), all from ``MetricFrame``. Also
        ``accuracy_worst_group`` (the lowest-accuracy group, as a string; several features
        are joined with ``", "``) and, with ``pos_label``, ``demographic_parity_difference``
        (= ``selection_rate_difference``) and ``equalized_odds_difference``
        (max of the TPR and FPR differences). For ``fpr``, higher is worse: read
        ``fpr_group_max``.

    Examples
    --------
    >>> ds = by_group([1, 1, 0, 0], [1, 0, 0, 0], sensitive_features=["a", "a", "b", "b"])
    >>> ds["accuracy"].values.tolist(), str(ds["accuracy_worst_group"].values)
    ([0.5, 1.0], 'a')
    """
    from fairlearn.metrics import (
        MetricFrame, count, false_positive_rate, selection_rate, true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    yt, yp = check_pair(y_true, y_pred)
    sf = _check_features(sensitive_features, yt.shape[0])
    metrics: dict[str, Any] = {"count": count, "accuracy": accuracy_score}
    if pos_label is not None:
        for name, fn in (("selection_rate", selection_rate), ("tpr", true_positive_rate),
                         ("fpr", false_positive_rate)):
            metrics[name] = functools.partial(_one_vs_rest, fn, pos_label)
    mf = MetricFrame(metrics=metrics, y_true=yt, y_pred=yp, sensitive_features=sf)

    table = mf.by_group
    names = list(table.index.names)
    if len(names) == 1:
        table = table.rename_axis("group")
    ds = table.to_xarray()
    ds["count"] = ds["count"].fillna(0).astype(np.int64)
    ds["count"].attrs = {"long_name": "count", "description": "number of samples in the group"}
    rates = [m for m in metrics if m != "count"]
    overall, lo, hi = mf.overall, mf.group_min(), mf.group_max()
    diff, ratio = mf.difference(method="between_groups"), mf.ratio(method="between_groups")
    for m in rates:
        long_name, desc = _RATES[m]
        ds[m].attrs = {"long_name": long_name, "description": desc}
        for suffix, value, what in (("overall", overall[m], "over all samples"),
                                    ("group_min", lo[m], "lowest group value"),
                                    ("group_max", hi[m], "highest group value"),
                                    ("difference", diff[m], "max - min between groups"),
                                    ("ratio", ratio[m], "min / max between groups")):
            ds[f"{m}_{suffix}"] = ((), float(value), {"long_name": f"{long_name}, {suffix}",
                                                      "description": what})
    worst = table["accuracy"].idxmin() if table["accuracy"].notna().any() else ""
    worst = ", ".join(map(str, worst)) if isinstance(worst, tuple) else str(worst)
    ds["accuracy_worst_group"] = ((), worst, {"long_name": "worst group",
                                             "description": "group with the lowest accuracy"})
    if pos_label is not None:
        ds["demographic_parity_difference"] = ((), float(diff["selection_rate"]), {
            "long_name": "demographic parity difference", "description": "selection_rate_difference"})
        ds["equalized_odds_difference"] = ((), float(max(diff["tpr"], diff["fpr"])), {
            "long_name": "equalized odds difference", "description": "max(tpr_difference, fpr_difference)"})
    ds.attrs = {"n": int(yt.shape[0]), "sensitive_feature": ", ".join(map(str, names))}
    if pos_label is not None:
        ds.attrs["pos_label"] = str(pos_label)
    return ds


def _one_vs_rest(fn, pos_label, y_true, y_pred):
    """Binarise around ``pos_label`` so fairlearn's binary metrics accept multiclass labels."""
    return fn(np.asarray(y_true) == pos_label, np.asarray(y_pred) == pos_label, pos_label=True)


def _check_features(sf: Any, n: int) -> Any:
    if isinstance(sf, dict):
        sf = pd.DataFrame(sf)
    if isinstance(sf, pd.DataFrame):
        if sf.shape[1] == 0:
            raise ValueError("sensitive_features has no columns")
        if sf.shape[1] == 1:
            sf = sf.iloc[:, 0]
        length = sf.shape[0]
    elif isinstance(sf, pd.Series):
        length = sf.shape[0]
    else:
        arr = np.asarray(sf)
        if arr.ndim != 1:
            raise ValueError(f"sensitive_features must be 1-D, a Series or a DataFrame; got shape {arr.shape}")
        sf, length = arr, arr.shape[0]
    if length != n:
        raise ValueError(f"sensitive_features has {length} rows but y_true has {n}")
    return sf
