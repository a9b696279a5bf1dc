"""Choosing a head's setting (τ of τ-normalisation, k of kNN) on a validation split, never on the test set."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["balanced_accuracy", "choose", "tau_scores", "knn_scores", "FALLBACK_TAU"]

#: τ when there is no validation split to choose on: Kang et al.'s (2020) default, a unit-norm classifier
FALLBACK_TAU = 1.0


def balanced_accuracy(target: Any, pred: Any) -> float:
    """Mean over the classes present in ``target`` of the share of their samples predicted right.

    >>> balanced_accuracy([0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1])
    0.75
    """
    target, pred = np.asarray(target), np.asarray(pred)
    classes = np.unique(target)
    return float(np.mean([(pred[target == c] == c).mean() for c in classes]))


def choose(scores: Sequence[float]) -> int:
    """Index of the best score; a tie (within 1e-12) goes to the first, so list candidates simplest first.

    >>> choose([0.8, 0.9, 0.9])
    1
    """
    s = np.asarray(scores, dtype=float)
    if s.size == 0 or not np.isfinite(s).all():
        raise ValueError(f"need finite scores to choose from; got {s.tolist()}")
    return int(np.flatnonzero(s >= s.max() - 1e-12)[0])


def tau_scores(val_feats: Any, val_labels: Any, weight: Any, taus: Sequence[float]) -> np.ndarray:
    """Balanced accuracy of the τ-normalised classifier (bias dropped) on the validation split, per τ."""
    from ._tau import tau_norm_head
    return np.array([balanced_accuracy(val_labels, tau_norm_head(val_feats, weight, tau=float(t)).argmax(1))
                     for t in taus])


def knn_scores(train_feats: Any, train_labels: Any, val_feats: Any, val_labels: Any, ks: Sequence[int], *,
               num_classes: int | None = None, **kwargs: Any) -> np.ndarray:
    """Balanced accuracy on the validation split of the cosine kNN head fitted on the training features, per k."""
    from ._knn import knn_head
    return np.array([balanced_accuracy(val_labels, knn_head(train_feats, train_labels, val_feats, k=int(k),
                                                            num_classes=num_classes, **kwargs))
                     for k in ks])
