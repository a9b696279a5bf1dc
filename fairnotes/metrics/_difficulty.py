"""Hard, medium and easy classes: one definition for every chapter.

The hard group is the ⌊K/3⌋ classes of lowest accuracy, the easy group the ⌊K/3⌋ of highest,
and medium the rest, so the two ends are the same size and any remainder goes to the middle
(10 classes: 3 / 4 / 3; 100 classes: 33 / 34 / 33). Equal accuracies are ranked by label, the
lower label counting as harder. Written by hand: it is a stable sort and two slices.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["GROUPS", "difficulty_groups", "difficulty_classes"]

GROUPS = ("hard", "medium", "easy")


def _ranked(accuracy: Any) -> tuple[np.ndarray, np.ndarray, dict]:
    """Accuracy values, their order (hardest first, ties by label) and the ``label`` coords to keep."""
    if isinstance(accuracy, xr.DataArray):
        if accuracy.dims != ("label",):
            raise ValueError(f"accuracy must be 1-D over 'label'; got dims {accuracy.dims} (reduce the others "
                             "first, e.g. .mean('seed'))")
        values = np.asarray(accuracy.values, dtype=float)
        coords = {n: c for n, c in accuracy.coords.items() if c.dims == ("label",)}
        labels = np.asarray(accuracy["label"].values) if "label" in accuracy.coords else np.arange(values.size)
    else:
        values = np.asarray(accuracy, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"accuracy must be 1-D (one value per class); got shape {values.shape}")
        labels = np.arange(values.size)
        coords = {"label": labels}
    if np.isnan(values).any():
        raise ValueError(f"accuracy is NaN for labels {labels[np.isnan(values)].tolist()}: a class needs a "
                         "finite accuracy to be ranked")
    return values, np.lexsort((labels, values)), coords


def _split(order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard, medium and easy positions of a ranking (hardest first): ⌊K/3⌋, the rest, ⌊K/3⌋."""
    n, k = order.size // 3, order.size
    return order[:n], order[n:k - n], order[k - n:]


def difficulty_groups(accuracy: Any) -> xr.DataArray:
    """``"hard"``, ``"medium"`` or ``"easy"`` for each class, by its accuracy (see the module doc).

    Parameters
    ----------
    accuracy
        Per-class accuracy: a 1-D ``xr.DataArray`` over ``label`` (its ``label`` coords, and
        others on ``label`` such as ``class_name``, are kept), or a 1-D array indexed by label.

    Returns
    -------
    xr.DataArray
        Strings over ``label``, named ``difficulty``.

    Examples
    --------
    >>> difficulty_groups([0.9, 0.3, 0.6, 0.8]).values.tolist()
    ['easy', 'hard', 'medium', 'medium']
    """
    _, order, coords = _ranked(accuracy)
    groups = np.empty(order.size, dtype="<U6")
    for name, idx in zip(GROUPS, _split(order)):
        groups[idx] = name
    return xr.DataArray(groups, dims="label", coords=coords, name="difficulty",
                        attrs={"description": "hard: the K//3 classes of lowest accuracy; easy: the K//3 of "
                                              "highest; medium: the rest (ties ranked by label)"})


def difficulty_classes(accuracy: Any) -> dict[str, list]:
    """The labels of each group, ``{"hard": [...], "medium": [...], "easy": [...]}``, hardest first in each.

    Same grouping as :func:`difficulty_groups`; the labels are the ``label`` coords (``0..K-1`` for
    an array).

    >>> difficulty_classes([0.9, 0.3, 0.6, 0.8])
    {'hard': [1], 'medium': [2, 3], 'easy': [0]}
    """
    values, order, coords = _ranked(accuracy)
    labels = np.asarray(coords["label"]) if "label" in coords else np.arange(values.size)
    return {name: labels[idx].tolist() for name, idx in zip(GROUPS, _split(order))}
