"""Class prototypes that mix text and support-image embeddings (MuSE style).

MuSE (Hickmon 2024) classifies with ``w·text + (1−w)·image`` per class, where ``text`` is the
zero-shot text prototype and ``image`` the mean embedding of the class's support images, then
renormalises. ``w = 1`` is plain zero-shot; ``w = 0`` is a nearest-class-mean classifier on the
support images.

>>> import numpy as np
>>> t = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> img = np.array([[0.0, 1.0], [0.0, 1.0]])
>>> mix_prototypes(t, img, [0, 1], 0.5).astype(float).round(3).tolist()
[[0.707, 0.707], [0.0, 1.0]]
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["mix_prototypes", "image_prototypes"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


def image_prototypes(image_emb: Any, labels: Any, num_classes: int, *, normalize: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-class mean of the (unit) image embeddings, ``K × D``, and the count per class.

    Classes without images get a zero row. With ``normalize`` the means are made unit length.
    """
    e = _unit(np.asarray(image_emb, np.float64))
    y = np.asarray(labels, np.int64)
    if e.ndim != 2 or y.shape != (e.shape[0],):
        raise ValueError(f"image_emb must be N×D and labels length N; got {e.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got range [{y.min()}, {y.max()}]")
    sums = np.zeros((num_classes, e.shape[1]))
    np.add.at(sums, y, e)
    counts = np.bincount(y, minlength=num_classes)
    means = sums / np.maximum(counts, 1)[:, None]
    return (_unit(means) if normalize else means), counts


def mix_prototypes(text_weights: Any, image_emb: Any, labels: Any, w: float | Any, *,
                   normalize_image_mean: bool = True, missing: str = "text") -> np.ndarray:
    """``normalise(w·text + (1−w)·image)`` per class, ``K × D`` float32.

    Parameters
    ----------
    text_weights
        ``K × D`` text prototypes (e.g. :func:`zero_shot_weights`); renormalised here.
    image_emb, labels
        Support-image embeddings ``N × D`` and their class index in ``0..K-1``.
    w
        Text weight in ``[0, 1]``, one number or one per class.
    normalize_image_mean
        Make each class's mean image embedding unit length before mixing (default), so ``w``
        weighs two unit vectors; ``False`` mixes the raw mean of the unit embeddings.
    missing
        Classes with no support image: ``"text"`` keeps their text prototype; ``"raise"`` refuses.
    """
    t = _unit(np.asarray(text_weights, np.float64))
    if missing not in ("text", "raise"):
        raise ValueError(f"missing must be 'text' or 'raise'; got {missing!r}")
    img, counts = image_prototypes(image_emb, labels, t.shape[0], normalize=normalize_image_mean)
    return _mix(t, img, counts, w, missing)


def mix_prototypes_sweep(text_weights: Any, image_emb: Any, labels: Any, ws: Any, *,
                         normalize_image_mean: bool = True, missing: str = "text") -> list[np.ndarray]:
    """:func:`mix_prototypes` at each text weight of ``ws``, the image means computed once (the same numbers)."""
    t = _unit(np.asarray(text_weights, np.float64))
    img, counts = image_prototypes(image_emb, labels, t.shape[0], normalize=normalize_image_mean)
    return [_mix(t, img, counts, w, missing) for w in ws]


def _mix(t: np.ndarray, img: np.ndarray, counts: np.ndarray, w: Any, missing: str) -> np.ndarray:
    k = t.shape[0]
    w = np.asarray(w, np.float64)
    if w.ndim > 1 or (w.ndim == 1 and w.shape[0] != k):
        raise ValueError(f"w must be a number or one number per class ({k}); got shape {w.shape}")
    if np.any((w < 0) | (w > 1)):
        raise ValueError(f"w must lie in [0, 1]; got {w}")
    if missing not in ("text", "raise"):
        raise ValueError(f"missing must be 'text' or 'raise'; got {missing!r}")
    if img.shape[1] != t.shape[1]:
        raise ValueError(f"text prototypes have dim {t.shape[1]} but image embeddings {img.shape[1]}")
    empty = counts == 0
    if empty.any() and missing == "raise":
        raise ValueError(f"{int(empty.sum())} classes have no support images: {np.flatnonzero(empty)[:10].tolist()}")
    wk = np.broadcast_to(w, (k,)).copy()
    wk[empty] = 1.0
    mixed = wk[:, None] * t + (1 - wk[:, None]) * img
    return _unit(mixed).astype(np.float32)
