"""Cosine k-nearest-neighbour head, by chunked matrix products (never an N×M distance matrix)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._common import check_train, tensor, threads_for

__all__ = ["knn_head"]

_CHUNK_BYTES = 64 << 20  # similarity block per test chunk: 64 MiB


def knn_head(train_feats: Any, train_labels: Any, test_feats: Any, *, k: int = 10,
             num_classes: int | None = None, chunk_size: int | None = None,
             return_votes: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Majority vote of the ``k`` training samples with the highest cosine similarity.

    Gives the predictions of ``sklearn.neighbors.KNeighborsClassifier(n_neighbors=k,
    algorithm="brute", metric="cosine")`` (uniform weights): a tie between classes goes to the
    smallest label, as scikit-learn's mode does. The neighbours themselves are the ``k`` largest
    similarities in float32; when two training samples are equally similar to a test sample
    (duplicates), which one is kept may differ from scikit-learn.

    Written by hand because scikit-learn's brute-force cosine search materialises and
    ``argpartition``s whole distance blocks in numpy; here the test set is cut into chunks whose
    ``chunk × N`` similarity block fits in about 64 MiB, and each chunk is reduced with
    ``torch.topk`` before the next is computed.

    Parameters
    ----------
    train_feats, train_labels, test_feats
        ``N×F`` features, ``N`` integer labels ``0..K-1``, ``M×F`` features (numpy).
    k
        Number of neighbours (at most ``N``).
    num_classes
        ``K``; default ``max(train_labels) + 1``.
    chunk_size
        Test samples per matrix product; default from the 64 MiB budget.
    return_votes
        Also return the ``M×K`` int64 vote counts.

    Returns
    -------
    np.ndarray
        ``M`` int64 predicted labels (and the votes, with ``return_votes``).

    Examples
    --------
    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_head(train, [0, 0, 1], np.array([[1.0, 0.2], [0.1, 1.0]]), k=1).tolist()
    [0, 1]
    """
    import torch
    xtr, y, xte, n_classes = check_train(train_feats, train_labels, test_feats, num_classes)
    n = len(xtr)
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n} (the training samples); got {k!r}")
    k = int(k)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (4 * n))
    train_t = _unit_rows(tensor(xtr, torch.float32)).T.contiguous()  # F×N, so each chunk is one GEMM
    y_t = torch.from_numpy(y)
    test_t = tensor(xte, torch.float32)
    pred = torch.empty(len(xte), dtype=torch.int64)
    votes = torch.zeros(len(xte), n_classes, dtype=torch.int64)
    with torch.inference_mode(), threads_for(xtr.size):
        for start in range(0, len(xte), chunk_size):
            q = _unit_rows(test_t[start:start + chunk_size])
            idx = torch.topk(q @ train_t, k, dim=1, sorted=False).indices
            v = votes[start:start + len(q)]
            v.scatter_add_(1, y_t[idx], torch.ones_like(idx))
            pred[start:start + len(q)] = v.argmax(1)  # the first maximum: the smallest tied label
    pred_np = pred.numpy()
    return (pred_np, votes.numpy()) if return_votes else pred_np


def _unit_rows(x: Any) -> Any:
    """Rows scaled to unit L2 norm (a zero row stays zero, as in sklearn's ``normalize``)."""
    norm = x.norm(dim=1, keepdim=True)
    return x / norm.where(norm > 0, norm.new_ones(()))
