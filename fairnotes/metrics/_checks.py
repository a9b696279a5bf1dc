"""Input checks and label encoding shared by the metrics.

Everything here is private. The one public promise it keeps: bad input raises one
``ValueError`` that says what was wrong, before any work is done.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Integer labels whose range is at most this many times the sample count (or this floor)
# are counted with a direct bincount, skipping the O(n log n) sort of np.unique.
_DENSE_SPAN_FACTOR = 4
_DENSE_SPAN_FLOOR = 1 << 16


def check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y_true, y_pred`` as 1-D arrays of equal, non-zero length, or raise ValueError."""
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    for name, y in (("y_true", yt), ("y_pred", yp)):
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per sample); got shape {y.shape}")
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths: {yt.shape[0]} != {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; need at least one sample")
    return yt, yp


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}")
    return value


def check_fraction(name: str, value: float, *, closed_right: bool) -> float:
    ok = 0 < value <= 1 if closed_right else 0 < value < 1
    if not ok:
        interval = "(0, 1]" if closed_right else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return float(value)


def check_positive_int(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Counts:
    """Per-class counts, in ``labels`` order."""

    labels: np.ndarray
    class_names: np.ndarray
    support: np.ndarray    # samples whose true label is the class
    predicted: np.ndarray  # samples predicted as the class
    tp: np.ndarray         # samples of the class predicted as the class
    n: int                 # all samples, including those whose labels are not in ``labels``
    n_correct: int         # all correct samples (y_true == y_pred), same scope as ``n``


def count_classes(y_true: Any, y_pred: Any, *, labels: Any = None, class_names: Any = None) -> Counts:
    """Check the inputs and count support, predictions and hits per class.

    Three bincounts (true, predicted, correct) rather than one K×K confusion matrix, so memory
    is O(K) and 20k-class label spaces cost nothing extra.
    """
    yt, yp = check_pair(y_true, y_pred)
    user_labels = labels is not None
    if user_labels:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D sequence; got shape {labels.shape}")
        if np.unique(labels).size != labels.size:
            raise ValueError("labels contains duplicates")
    hit = yt == yp
    dense = _dense_counts(yt, yp, hit, labels)
    if dense is None:
        labels, support, predicted, tp = _sorted_counts(yt, yp, hit, labels)
    else:
        labels, support, predicted, tp = dense
    if class_names is not None and not user_labels and len(class_names) != labels.size:
        labels, support, predicted, tp = _widen_to_names(labels, support, predicted, tp, class_names)
    names = _class_names(labels, class_names)
    return Counts(labels, names, support, predicted, tp, n=int(yt.shape[0]), n_correct=int(hit.sum()))


def _dense_counts(yt, yp, hit, labels):
    """Integer labels in a compact range: count with bincount directly (no sort)."""
    if yt.dtype.kind not in "iu" or yp.dtype.kind not in "iu":
        return None
    if labels is not None and labels.dtype.kind not in "iu":
        return None
    lo = min(int(yt.min()), int(yp.min()))
    hi = max(int(yt.max()), int(yp.max()))
    span = hi - lo + 1
    if span > max(_DENSE_SPAN_FACTOR * yt.shape[0], _DENSE_SPAN_FLOOR):
        return None
    t = yt.astype(np.int64, copy=False) - lo
    p = yp.astype(np.int64, copy=False) - lo
    support = np.bincount(t, minlength=span)
    predicted = np.bincount(p, minlength=span)
    tp = np.bincount(t[hit], minlength=span)
    if labels is None:
        idx = np.flatnonzero((support > 0) | (predicted > 0))
        return idx + lo, support[idx], predicted[idx], tp[idx]
    idx = labels.astype(np.int64) - lo
    inside = (idx >= 0) & (idx < span)
    safe = np.where(inside, idx, 0)
    pick = lambda a: np.where(inside, a[safe], 0).astype(np.int64)  # noqa: E731
    return labels, pick(support), pick(predicted), pick(tp)


def _sorted_counts(yt, yp, hit, labels):
    """Any hashable, sortable labels: factorise (hash, O(n)), map the few uniques to classes."""
    (ct, ut), (cp, up) = (pd.factorize(y, use_na_sentinel=False) for y in (yt, yp))
    ut, up = np.asarray(ut), np.asarray(up)
    if labels is None:
        labels = np.unique(np.concatenate([ut, up]))
    k = labels.size
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]

    def class_index(uniques: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(ordered, uniques), k - 1)
        return np.where(ordered[pos] == uniques, order[pos], -1)

    t = class_index(ut)[ct]
    p = class_index(up)[cp]
    support = np.bincount(t[t >= 0], minlength=k)
    predicted = np.bincount(p[p >= 0], minlength=k)
    tp = np.bincount(t[hit & (t >= 0)], minlength=k)
    return labels, support, predicted, tp


def _widen_to_names(labels, support, predicted, tp, class_names):
    """``class_names`` of length K with integer labels in [0, K): use labels 0..K-1.

    This is the torchvision convention (``dataset.classes[i]`` names label ``i``), and keeps
    classes that never occur in either array instead of failing on a length mismatch.
    """
    k = len(class_names)
    if isinstance(class_names, Mapping) or labels.dtype.kind not in "iu":
        return labels, support, predicted, tp
    if labels.min() < 0 or labels.max() >= k:
        return labels, support, predicted, tp
    out = [np.zeros(k, dtype=np.int64) for _ in range(3)]
    for full, part in zip(out, (support, predicted, tp)):
        full[labels] = part
    return np.arange(k, dtype=labels.dtype), *out


def _class_names(labels: np.ndarray, class_names: Any) -> np.ndarray:
    if class_names is None:
        return np.array([str(x) for x in labels.tolist()], dtype=str)
    if isinstance(class_names, Mapping):
        missing = [x for x in labels.tolist() if x not in class_names]
        if missing:
            raise ValueError(f"class_names has no name for labels {missing[:5]}")
        return np.array([str(class_names[x]) for x in labels.tolist()], dtype=str)
    names = [str(x) for x in class_names]
    if len(names) != labels.size:
        raise ValueError(
            f"class_names has {len(names)} names but there are {labels.size} labels; pass labels= "
            "to fix the class order, or a dict {label: name}"
        )
    return np.array(names, dtype=str)
