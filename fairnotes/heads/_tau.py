"""Heads made from a trained classifier's own weights: τ-normalisation and the weight norms."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from ._common import check_features

__all__ = ["tau_norm_head", "classifier_head", "weight_norms"]


def _check_weight(weight: Any, bias: Any, n_features: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (classes × features); got shape {w.shape}")
    if n_features is not None and w.shape[1] != n_features:
        raise ValueError(f"weight has {w.shape[1]} features but the features have {n_features}")
    b = None
    if bias is not None:
        b = np.asarray(bias, dtype=np.float64)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias must have shape ({w.shape[0]},); got {b.shape}")
    return w, b


def classifier_head(test_feats: Any, weight: Any, bias: Any = None) -> np.ndarray:
    """The trained classifier as it is: ``test_feats @ weight.T + bias`` (``M×K`` float32 logits)."""
    x = check_features("test_feats", test_feats)
    w, b = _check_weight(weight, bias, x.shape[1])
    out = x.astype(np.float64) @ w.T
    return (out if b is None else out + b).astype(np.float32)


def tau_norm_head(test_feats: Any, weight: Any, bias: Any = None, *, tau: float = 1.0) -> np.ndarray:
    """τ-normalised classifier (Kang et al. 2020): row ``W_c`` becomes ``W_c / ||W_c||^τ``.

    ``tau=0`` is the classifier unchanged, ``tau=1`` gives every class a unit-norm weight
    (a cosine classifier up to the feature norm). Kang et al. drop the bias, and so does this
    function by default (``bias=None``); a ``bias`` passed in is added unscaled.

    Returns
    -------
    np.ndarray
        ``M×K`` float32 logits.
    """
    x = check_features("test_feats", test_feats)
    w, b = _check_weight(weight, bias, x.shape[1])
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    scale = np.where(norms > 0, norms, 1.0) ** float(tau)
    return classifier_head(x, w / scale, b)


def weight_norms(weight: Any, *, class_names: Sequence[str] | None = None) -> xr.DataArray:
    """L2 norm of each class's classifier row, on dim ``label`` (coords ``label``, ``class_name``).

    Examples
    --------
    >>> weight_norms([[3.0, 4.0], [0.0, 1.0]]).values.tolist()
    [5.0, 1.0]
    """
    w, _ = _check_weight(weight, None, None)
    k = w.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} classifier rows")
    return xr.DataArray(np.linalg.norm(w, axis=1), dims="label", name="weight_norm",
                        coords={"label": np.arange(k), "class_name": ("label", names)},
                        attrs={"long_name": "L2 norm of the class's classifier weight"})
