"""The result schema shared by the train and evaluate jobs (the per-sample and per-class part)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

FINAL_METRICS = ("support", "predicted", "tp", "fp", "fn", "accuracy", "precision", "f1")


def _per_class(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray, class_names: Sequence[str]):
    from ..metrics import per_class
    return per_class(y_true, y_pred, labels=labels, class_names=list(class_names))


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy of each class (NaN for a class absent from ``y_true``), fast enough for every epoch."""
    support = np.bincount(y_true, minlength=num_classes)
    hit = np.bincount(y_true[y_true == y_pred], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hit / np.maximum(support, 1), np.nan)


def final_dataset(logits: np.ndarray, target: np.ndarray, class_names: Sequence[str],
                  features: np.ndarray | None = None) -> xr.Dataset:
    """Per-sample predictions and per-class metrics of one classifier on one test set.

    Dims ``sample``, ``label`` (and ``feature``). Variables: ``prediction``, ``target`` (sample),
    ``logits`` (sample × label, float32), ``features`` (sample × feature, optional) and
    :func:`fairnotes.metrics.per_class`'s variables as they are (``support``, ``predicted``,
    ``tp``, ``fp``, ``fn``, ``accuracy``, ``precision``, ``f1`` on ``label``). Coords ``label``
    (0..K-1) and ``class_name``. Attrs ``overall_accuracy``, ``balanced_accuracy``.
    """
    k = len(class_names)
    logits = np.asarray(logits, dtype=np.float32)
    if logits.shape[1] != k:
        raise ValueError(f"model gives {logits.shape[1]} logits but the data set has {k} classes")
    target = np.asarray(target, dtype=np.int64)
    prediction = logits.argmax(1).astype(np.int64)
    labels = np.arange(k)
    data = {
        "prediction": ("sample", prediction, {"long_name": "predicted label (argmax of logits)"}),
        "target": ("sample", target, {"long_name": "true label"}),
        "logits": (("sample", "label"), logits, {"long_name": "pre-softmax scores"}),
    }
    if features is not None:
        data["features"] = (("sample", "feature"), np.asarray(features, dtype=np.float32),
                            {"long_name": "penultimate features (the classifier's input)"})
    ds = xr.Dataset(data, coords={"sample": np.arange(len(target)), "label": labels,
                                  "class_name": ("label", np.asarray(class_names, dtype=str))})
    m = _per_class(target, prediction, labels, class_names)
    for name in FINAL_METRICS:
        ds[name] = ("label", m[name].values, dict(m[name].attrs))
    for key in ("overall_accuracy", "balanced_accuracy"):
        if key in m.attrs:
            ds.attrs[key] = float(m.attrs[key])
    return ds
