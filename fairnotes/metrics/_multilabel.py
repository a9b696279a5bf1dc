"""Multi-label metrics: per-label average precision, operating points, per-label and per-group rates.

Inputs are matrices with one row per image and one column per label: ``y_true`` and ``y_pred``
multi-hot (0/1), ``scores`` real. Average precision is scikit-learn's, one column at a time.

Operating points turn scores into predictions. They are chosen on *validation* data
(:func:`topk_operating_point`, :func:`threshold_operating_point`) and then applied, unchanged,
to test data (:func:`predict_multilabel`), so that no test label leaks into the predictions.
Which kind suits which loss:

- softmax scores (the multi-label softmax loss) *compete* across labels: each row sums to 1,
  so one label's score falls when another's rises and a fixed threshold means something
  different for an image with one label than for an image with three. The natural operating
  point is a fixed count ``k`` of top-scoring labels per image;
- sigmoid scores (per-label binary cross-entropy) are *independent* per label, each an
  estimate of that label's probability, so each label gets its own threshold.

No torch here.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["OperatingPoint", "average_precision", "topk_operating_point", "threshold_operating_point",
           "predict_multilabel", "multilabel_rates", "multilabel_by_group"]

_KINDS = ("topk", "threshold")


@dataclass(frozen=True, eq=False)
class OperatingPoint:
    """How to turn ``N×L`` scores into 0/1 predictions.

    Attributes
    ----------
    kind : {"topk", "threshold"}
        ``"topk"``: the ``k`` highest-scoring labels of each image. ``"threshold"``: label ``j``
        wherever ``score[:, j] >= thresholds[j]``.
    k : int, optional
        For ``"topk"``.
    thresholds : np.ndarray, optional
        For ``"threshold"``: one per label (``+inf``: never predicted).
    val_f1 : dict or np.ndarray, optional
        What the choice saw on validation data: ``{k: micro-F1}`` for every candidate ``k``
        (``"topk"``), or each label's F1 at its chosen threshold (``"threshold"``; NaN for a
        label without validation positives).
    no_positive : tuple of int
        Labels (column indices) without a validation positive: threshold ``+inf``.
    """

    kind: str
    k: int | None = None
    thresholds: np.ndarray | None = None
    val_f1: Any = None
    no_positive: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind={self.kind!r} is not valid; choose one of {', '.join(map(repr, _KINDS))}")
        if self.kind == "topk" and (self.k is None or int(self.k) != self.k or self.k < 1):
            raise ValueError(f"a 'topk' operating point needs an integer k >= 1; got k={self.k!r}")
        if self.kind == "threshold":
            t = None if self.thresholds is None else np.asarray(self.thresholds, dtype=np.float64)
            if t is None or t.ndim != 1 or t.size == 0 or np.isnan(t).any():
                raise ValueError("a 'threshold' operating point needs a 1-D array of thresholds, one per label "
                                 "(no NaN)")
            object.__setattr__(self, "thresholds", t)


# ---------------------------------------------------------------------------------------------- AP


def average_precision(y_true: Any, scores: Any, *, labels: Any = None) -> xr.Dataset:
    """Per-label average precision (scikit-learn's ``average_precision_score``) and their mean.

    Parameters
    ----------
    y_true : array-like of shape (n, L)
        Multi-hot truth (0/1).
    scores : array-like of shape (n, L)
        Finite scores, higher meaning more likely.
    labels : sequence of length L, optional
        Names of the columns (the ``label`` coordinate); default ``0..L-1``.

    Returns
    -------
    xr.Dataset
        Dim ``label``: ``ap`` (NaN for a label without positives: AP is undefined there) and
        ``positives`` (int64). Scalar ``map``: the mean AP over the labels with at least one
        positive (NaN when none has). Attrs ``n`` and ``labels_with_positives``.

    Examples
    --------
    >>> ds = average_precision([[1, 0], [0, 1], [1, 0]], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    >>> ds["ap"].values.tolist(), float(ds["map"])
    ([1.0, 1.0], 1.0)
    """
    from sklearn.metrics import average_precision_score

    yt = _check_multihot("y_true", y_true)
    s = _check_scores("scores", scores, yt.shape)
    names = _label_names(labels, yt.shape[1])
    positives = yt.sum(0).astype(np.int64)
    ap = np.full(yt.shape[1], np.nan)
    for j in np.flatnonzero(positives):
        ap[j] = average_precision_score(yt[:, j], s[:, j])
    has = positives > 0
    mean = float(ap[has].mean()) if has.any() else float("nan")
    return xr.Dataset(
        {"ap": ("label", ap, {"long_name": "average precision",
                              "description": "sklearn average_precision_score of the label's column; NaN "
                                             "without positives"}),
         "positives": ("label", positives, {"long_name": "positives", "description": "images with the label"}),
         "map": ((), mean, {"long_name": "mean average precision",
                            "description": "mean AP over the labels with at least one positive"})},
        coords={"label": names},
        attrs={"n": int(yt.shape[0]), "labels_with_positives": int(has.sum())},
    )


# ---------------------------------------------------------------------------------------------- operating points


def topk_operating_point(val_scores: Any, val_true: Any, ks: Sequence[int] = (1, 2, 3, 4, 5)) -> OperatingPoint:
    """The ``k`` (labels predicted per image) that maximises micro-F1 on validation data.

    Suits softmax scores, which compete across labels (each row sums to 1); see the module doc.
    Micro-F1 pools every (image, label) cell: ``2 TP / (2 TP + FP + FN)``, as scikit-learn's
    ``f1_score(average="micro")``. Ties go to the smaller ``k``. The top ``k`` of a row are
    those of :func:`predict_multilabel`: among equal scores, the lower label index first.

    Parameters
    ----------
    val_scores, val_true : array-like of shape (n, L)
        Validation scores and multi-hot truth.
    ks : sequence of int
        Candidate counts, each in ``1..L``.

    Returns
    -------
    OperatingPoint
        ``kind="topk"``, the chosen ``k``, and ``val_f1`` = ``{k: micro-F1}`` for every candidate.
    """
    yt = _check_multihot("val_true", val_true)
    s = _check_scores("val_scores", val_scores, yt.shape)
    n_labels = yt.shape[1]
    ks = list(ks) if not isinstance(ks, (int, np.integer)) else [ks]
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_labels]
    if not ks or bad:
        raise ValueError(f"ks must be a non-empty list of integers in 1..{n_labels} (the number of labels); "
                         f"got {ks!r}")
    ks = sorted({int(k) for k in ks})
    order = _ranking(s)
    truth = yt.astype(bool)
    n_pos = int(truth.sum())
    f1 = {}
    for k in ks:
        pred = _topk(order, k, s.shape)
        tp = int((pred & truth).sum())
        f1[k] = _f1(tp, int(pred.sum()), n_pos)
    best = max(ks, key=lambda k: (f1[k], -k))  # ties: the smaller k
    return OperatingPoint("topk", k=best, val_f1=f1)


def threshold_operating_point(val_scores: Any, val_true: Any, grid: Any = None) -> OperatingPoint:
    """One threshold per label, each maximising that label's F1 on validation data.

    Suits sigmoid scores, which are independent per label; see the module doc. Label ``j`` is
    predicted where ``score >= threshold`` (ties in score go to the positive side). Candidates:
    ``grid`` (one 1-D set shared by all labels) or, by default, the unique validation scores of
    the label's column, i.e. every distinct way to cut that column. Ties in F1 go to the
    *highest* threshold, which predicts the label least often. A label without a validation
    positive cannot be tuned (its F1 is 0 or undefined everywhere): it gets ``+inf``, is never
    predicted, is listed in ``no_positive`` and triggers a ``UserWarning``.

    Parameters
    ----------
    val_scores, val_true : array-like of shape (n, L)
        Validation scores and multi-hot truth.
    grid : array-like, optional
        Candidate thresholds (finite), used for every label.

    Returns
    -------
    OperatingPoint
        ``kind="threshold"``, ``thresholds`` (``L``), ``val_f1`` (``L``; each label's F1 at its
        threshold, NaN without positives) and ``no_positive``.
    """
    yt = _check_multihot("val_true", val_true)
    s = _check_scores("val_scores", val_scores, yt.shape)
    if grid is not None:
        grid = np.unique(np.asarray(grid, dtype=np.float64))
        if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
            raise ValueError("grid must be a non-empty 1-D set of finite thresholds")
    n, n_labels = yt.shape
    thresholds = np.full(n_labels, np.inf)
    f1 = np.full(n_labels, np.nan)
    none = []
    for j in range(n_labels):
        col, pos = s[:, j], s[yt[:, j] == 1, j]
        if pos.size == 0:
            none.append(j)
            continue
        cand = np.unique(col) if grid is None else grid
        # counts of scores >= each candidate: all images (predicted) and positives (true positives)
        predicted = n - np.searchsorted(np.sort(col), cand, side="left")
        tp = pos.size - np.searchsorted(np.sort(pos), cand, side="left")
        scores_f1 = 2.0 * tp / (predicted + pos.size)
        best = cand.size - 1 - int(np.argmax(scores_f1[::-1]))  # ties: the highest threshold
        thresholds[j], f1[j] = cand[best], scores_f1[best]
    if none:
        warnings.warn(f"{len(none)} of {n_labels} labels have no positive in the validation data and get "
                      f"threshold +inf (never predicted): columns {none[:10]}{' ...' if len(none) > 10 else ''}",
                      UserWarning, stacklevel=2)
    return OperatingPoint("threshold", thresholds=thresholds, val_f1=f1, no_positive=tuple(none))


def predict_multilabel(scores: Any, op: OperatingPoint) -> np.ndarray:
    """0/1 predictions (``N×L``, int8) of ``scores`` at the operating point ``op``.

    ``"topk"``: the ``k`` highest scores of each row (among equal scores, the lower label index
    first). ``"threshold"``: ``scores[:, j] >= op.thresholds[j]``.
    """
    if not isinstance(op, OperatingPoint):
        raise TypeError(f"op must be an OperatingPoint; got {type(op).__name__}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"scores must be 2-D (images × labels), non-empty; got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores holds NaN")
    if op.kind == "topk":
        if op.k > s.shape[1]:
            raise ValueError(f"k={op.k} exceeds the number of labels ({s.shape[1]})")
        return _topk(_ranking(s), op.k, s.shape).astype(np.int8)
    if op.thresholds.size != s.shape[1]:
        raise ValueError(f"the operating point has {op.thresholds.size} thresholds but scores has "
                         f"{s.shape[1]} labels")
    return (s >= op.thresholds[None, :]).astype(np.int8)


# ---------------------------------------------------------------------------------------------- rates


def multilabel_rates(y_true: Any, y_pred: Any, *, labels: Any = None) -> xr.Dataset:
    """Per-label recall (TPR), false positive rate and precision of 0/1 predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n, L)
        Multi-hot truth and predictions.
    labels : sequence of length L, optional
        Names of the columns; default ``0..L-1``.

    Returns
    -------
    xr.Dataset
        Dim ``label``. Int64 ``positives``, ``negatives``, ``predicted``, ``tp``, ``fp``; float
        ``recall`` (``tp / positives``, NaN without positives), ``fpr`` (``fp / negatives``,
        NaN without negatives) and ``precision`` (``tp / predicted``, NaN when never
        predicted). NaN marks undefined rates here, where fairlearn (:func:`multilabel_by_group`)
        writes 0.
    """
    yt = _check_multihot("y_true", y_true).astype(bool)
    yp = _check_multihot("y_pred", y_pred, yt.shape).astype(bool)
    names = _label_names(labels, yt.shape[1])
    positives = yt.sum(0).astype(np.int64)
    negatives = yt.shape[0] - positives
    predicted = yp.sum(0).astype(np.int64)
    tp = (yt & yp).sum(0).astype(np.int64)
    fp = predicted - tp
    values = {
        "positives": (positives, "images with the label"),
        "negatives": (negatives, "images without the label"),
        "predicted": (predicted, "images predicted to have the label"),
        "tp": (tp, "images with the label, predicted"),
        "fp": (fp, "images without the label, predicted"),
        "recall": (_ratio(tp, positives), "true positive rate tp / positives; NaN without positives"),
        "fpr": (_ratio(fp, negatives), "false positive rate fp / negatives; NaN without negatives"),
        "precision": (_ratio(tp, predicted), "tp / predicted; NaN when never predicted"),
    }
    return xr.Dataset({k: ("label", v, {"long_name": k, "description": d}) for k, (v, d) in values.items()},
                      coords={"label": names}, attrs={"n": int(yt.shape[0])})


def multilabel_by_group(y_true: Any, y_pred: Any, label_index: int, sensitive_features: Any) -> xr.Dataset:
    """Recall (``tpr``) and ``fpr`` of one label per sensitive group, via :func:`fairnotes.metrics.by_group`.

    The label's column of ``y_true`` and ``y_pred`` (0/1) goes to ``by_group(...,
    pos_label=1)``, so the result is its Dataset (fairlearn's ``MetricFrame``: per-group
    ``count``, ``accuracy``, ``selection_rate``, ``tpr``, ``fpr`` and the between-group summaries;
    a group without positives, or negatives, gets rate 0, fairlearn's convention), with the
    attr ``label_index`` added.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n, L)
        Multi-hot truth and predictions.
    label_index : int
        The column, ``0..L-1``.
    sensitive_features
        Group membership of each image, as :func:`fairnotes.metrics.by_group` takes it.
    """
    from ._group import by_group

    yt = _check_multihot("y_true", y_true)
    yp = _check_multihot("y_pred", y_pred, yt.shape)
    n_labels = yt.shape[1]
    if isinstance(label_index, bool) or not isinstance(label_index, (int, np.integer)) \
            or not 0 <= label_index < n_labels:
        raise ValueError(f"label_index must be an integer in 0..{n_labels - 1}; got {label_index!r}")
    ds = by_group(yt[:, label_index], yp[:, label_index], sensitive_features=sensitive_features, pos_label=1)
    ds.attrs["label_index"] = int(label_index)
    return ds


# ---------------------------------------------------------------------------------------------- helpers


def _check_multihot(name: str, y: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D, non-empty int64 array of 0/1 (of ``shape`` when given), or a ValueError."""
    a = np.asarray(y)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be 2-D (images × labels) with at least one of each; got shape {a.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}; expected {tuple(shape)} (that of y_true)")
    if a.dtype != bool and not (np.issubdtype(a.dtype, np.number) and np.isin(a, (0, 1)).all()):
        raise ValueError(f"{name} must be multi-hot: every value 0 or 1")
    return a.astype(np.int64)


def _check_scores(name: str, s: Any, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(s, dtype=np.float64)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}; expected {tuple(shape)} (that of the labels)")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


def _label_names(labels: Any, n_labels: int) -> np.ndarray:
    if labels is None:
        return np.arange(n_labels)
    names = np.asarray(labels)
    if names.ndim != 1 or names.size != n_labels:
        raise ValueError(f"labels must name the {n_labels} columns, one each; got shape {names.shape}")
    if np.unique(names).size != names.size:
        raise ValueError("labels contains duplicates")
    return names


def _ranking(s: np.ndarray) -> np.ndarray:
    """Column indices of each row from the highest score down; equal scores: lower index first."""
    return np.argsort(-s, axis=1, kind="stable")


def _topk(order: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    pred = np.zeros(shape, dtype=bool)
    np.put_along_axis(pred, order[:, :k], True, axis=1)
    return pred


def _f1(tp: int, predicted: int, positives: int) -> float:
    den = predicted + positives
    return 2.0 * tp / den if den else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out
