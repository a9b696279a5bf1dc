"""Input checks and conversions shared by the heads (numpy in, torch inside)."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    import torch


def check_features(name: str, x: Any, n_features: int | None = None) -> np.ndarray:
    """A 2-D float array (float32 unless it is float64), or a ValueError that says what is wrong."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples × features); got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features; expected {n_features}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)  # float16 from the features cache
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def check_train(train_feats: Any, train_labels: Any, test_feats: Any,
                num_classes: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Checked ``(train_feats, train_labels, test_feats, num_classes)``."""
    xtr = check_features("train_feats", train_feats)
    xte = check_features("test_feats", test_feats, xtr.shape[1])
    y = np.asarray(train_labels)
    if y.ndim != 1 or len(y) != len(xtr):
        raise ValueError(f"train_labels must be 1-D with one label per row of train_feats "
                         f"({len(xtr)}); got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("need at least one training sample")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("train_labels must be integers 0..K-1")
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.max() >= k:
        raise ValueError(f"train_labels go up to {y.max()} but num_classes is {k}")
    return xtr, y.astype(np.int64), xte, k


def tensor(x: np.ndarray, dtype: Any = None) -> torch.Tensor:
    import torch
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Scale every feature to zero mean and unit variance on ``train`` (as sklearn's ``StandardScaler``;
    a constant feature is only centred), and apply the same map to ``others``."""
    mean = train.mean(0)
    std = train.std(0, unbiased=False)
    std = std.where(std > 0, std.new_ones(()))
    return [(t - mean) / std for t in (train, *others)]


_SMALL = 1 << 20  # elements of the training matrix below which one thread is faster


@contextlib.contextmanager
def threads_for(n_elements: int) -> Iterator[None]:
    """Run small problems (``n_elements`` below 2**20; 0 forces it) on one torch thread: on them
    OpenMP's per-op start-up and barriers cost more than the arithmetic (50x more on a busy
    2-core machine). Large ones keep torch's thread count. The previous count is restored."""
    import torch
    if n_elements >= _SMALL:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
