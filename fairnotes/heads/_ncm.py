"""Nearest class mean head."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._common import check_train, tensor, threads_for

__all__ = ["ncm_head"]


def ncm_head(train_feats: Any, train_labels: Any, test_feats: Any, *, num_classes: int | None = None,
             normalize: bool = True) -> np.ndarray:
    """Nearest class mean: the class whose mean training feature is closest (Euclidean).

    With ``normalize`` (default) every feature vector is first scaled to unit L2 norm, and the
    class means are means of those unit vectors (not re-normalised), as in SimpleShot's L2N
    variant. This is exactly ``sklearn.neighbors.NearestCentroid()`` fitted on the normalised
    features (the oracle in the tests). Without ``normalize`` it is ``NearestCentroid`` on the raw
    features.

    Returns
    -------
    np.ndarray
        ``M×K`` float32 logits, the negative squared distances to the class means (a class
        with no training sample gets ``-inf``).
    """
    xtr, y, xte, k = check_train(train_feats, train_labels, test_feats, num_classes)
    with threads_for(xtr.size):
        return _fit(xtr, y, xte, k, normalize)


def _fit(xtr: np.ndarray, y: np.ndarray, xte: np.ndarray, k: int, normalize: bool) -> np.ndarray:
    import torch
    a, b = tensor(xtr, torch.float64), tensor(xte, torch.float64)
    if normalize:
        a, b = _unit(a), _unit(b)
    y_t = torch.from_numpy(y)
    counts = torch.bincount(y_t, minlength=k).double()
    means = torch.zeros(k, a.shape[1], dtype=torch.float64).index_add_(0, y_t, a) / counts.clamp(min=1)[:, None]
    # ||x - m||² = ||x||² - 2 x·m + ||m||²; float64 so near-equal distances rank as sklearn's do
    d2 = (b * b).sum(1, keepdim=True) - 2 * b @ means.T + (means * means).sum(1)
    d2[:, counts == 0] = float("inf")
    return (-d2).numpy().astype(np.float32)


def _unit(x: Any) -> Any:
    norm = x.norm(dim=1, keepdim=True)
    return x / norm.where(norm > 0, norm.new_ones(()))
