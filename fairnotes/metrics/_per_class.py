"""Per-class accuracy, precision and F1 as one ``xr.Dataset`` with a ``label`` dim."""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ._checks import Counts, count_classes

__all__ = ["per_class"]

_DESCRIPTIONS = {
    "support": ("support", "number of samples whose true label is the class"),
    "predicted": ("predicted", "number of samples predicted as the class"),
    "tp": ("true positives", "samples of the class predicted as the class"),
    "fp": ("false positives", "samples of other classes predicted as the class"),
    "fn": ("false negatives", "samples of the class predicted as another class"),
    "accuracy": ("per-class accuracy", "tp / support (per-class recall); NaN when support is 0"),
    "precision": ("precision", "tp / predicted; NaN when nothing is predicted as the class"),
    "f1": ("F1 score", "2 tp / (2 tp + fp + fn); NaN when support and predicted are both 0"),
}


def per_class(y_true: Any, y_pred: Any, *, labels: Any = None, class_names: Any = None) -> xr.Dataset:
    """Per-class counts, accuracy (recall), precision and F1.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (integers, strings, anything sortable).
    labels : array-like, optional
        The classes to report, in this order. Default: the sorted union of ``y_true`` and
        ``y_pred``. A class in ``labels`` that never occurs gets support 0 and NaN accuracy.
        As in scikit-learn's ``labels=``, samples whose *true* label is not in ``labels`` get no
        row of their own and add to no row's support, but if they are *predicted* as a listed
        class they count as its false positives (so they lower its precision). A listed class
        predicted as an unlisted label is a false negative of the listed class.
    class_names : sequence or mapping, optional
        Display names: a sequence aligned with ``labels``, or a dict ``{label: name}``. With
        integer labels and no ``labels=``, a sequence of length K names labels ``0..K-1``
        (torchvision's ``dataset.classes`` convention) so absent classes keep their row.
        Default: ``str(label)``.

    Returns
    -------
    xr.Dataset
        Dim ``label``; coords ``label`` and ``class_name``. Int64 variables ``support``,
        ``predicted``, ``tp``, ``fp``, ``fn``; float variables ``accuracy``, ``precision``,
        ``f1``. Attributes ``n`` (all samples), ``overall_accuracy`` (fraction of all samples
        with ``y_true == y_pred``, as ``sklearn.metrics.accuracy_score``) and
        ``balanced_accuracy`` (mean of the non-NaN per-class accuracies).

    Examples
    --------
    >>> ds = per_class([0, 0, 1, 2], [0, 1, 1, 1], class_names=["cat", "dog", "eel"])
    >>> ds["accuracy"].values.tolist()
    [0.5, 1.0, 0.0]
    >>> ds.attrs["balanced_accuracy"]
    0.5
    """
    return counts_to_dataset(count_classes(y_true, y_pred, labels=labels, class_names=class_names))


def counts_to_dataset(c: Counts) -> xr.Dataset:
    """Build the per-class Dataset from counts (shared with the bootstrap functions)."""
    support = c.support.astype(np.int64)
    predicted = c.predicted.astype(np.int64)
    tp = c.tp.astype(np.int64)
    fp = predicted - tp
    fn = support - tp
    accuracy = _ratio(tp, support)
    precision = _ratio(tp, predicted)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    values = {"support": support, "predicted": predicted, "tp": tp, "fp": fp, "fn": fn,
              "accuracy": accuracy, "precision": precision, "f1": f1}
    data_vars = {
        name: ("label", v, {"long_name": _DESCRIPTIONS[name][0], "description": _DESCRIPTIONS[name][1]})
        for name, v in values.items()
    }
    valid = ~np.isnan(accuracy)
    balanced = float(accuracy[valid].mean()) if valid.any() else float("nan")
    return xr.Dataset(
        data_vars,
        coords={"label": ("label", c.labels), "class_name": ("label", c.class_names)},
        attrs={"n": c.n, "overall_accuracy": c.n_correct / c.n, "balanced_accuracy": balanced},
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float, NaN where den == 0 (undefined, not zero)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out
