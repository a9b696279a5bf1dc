"""A fixed simplex equiangular tight frame (ETF) as a model's classifier.

Neural collapse (Papyan et al. 2020) says the last-layer class means and classifier rows of a
well-trained network tend to a simplex ETF: ``K`` unit vectors whose pairwise cosines are all
``-1/(K-1)``, the most spread-out ``K`` directions there are. Fixing the classifier to one from
the start (Zhu et al. 2021; Yang et al. 2022) gives every class a classifier of the same norm
and the same angle to every other class, so whatever per-class unfairness remains after
training lives in the features.

>>> w = simplex_etf(10, 16)
>>> w.shape
torch.Size([10, 16])
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["simplex_etf", "fix_etf_classifier", "apply_head"]


def simplex_etf(num_classes: int, dim: int, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``K × d`` simplex ETF: unit rows with pairwise cosine ``-1/(K-1)``, for ``d >= K - 1``.

    The rows are ``sqrt(K/(K-1))`` times an orthonormal basis of the centred ``K``-space
    (``P = I - 11ᵀ/K = V Vᵀ``), so their Gram matrix is ``K/(K-1) P``; a random rotation
    (from ``seed``) places the ``K - 1``-dimensional simplex in ``d`` dimensions. The rows sum
    to zero.
    """
    k, d = int(num_classes), int(dim)
    if k < 2:
        raise ValueError(f"a simplex ETF needs at least 2 classes; got {k}")
    if d < k - 1:
        raise ValueError(f"a {k}-class simplex ETF needs at least {k - 1} feature dimensions; got {d}")
    centred = torch.eye(k, dtype=torch.float64) - 1.0 / k
    basis, _ = torch.linalg.qr(centred[:, : k - 1])  # K × (K-1), orthonormal columns spanning 1⊥
    gen = torch.Generator().manual_seed(seed)
    rot, _ = torch.linalg.qr(torch.randn(d, k - 1, generator=gen, dtype=torch.float64))  # d × (K-1)
    return ((k / (k - 1)) ** 0.5 * basis @ rot.T).to(dtype)


def fix_etf_classifier(model: nn.Module, *, scale: float | None = None, learn_scale: bool = False,
                       seed: int = 0) -> nn.Module:
    """Replace ``model.get_classifier()``'s weight by a fixed simplex ETF, in place.

    The ``nn.Linear`` stays where it is (so hooks on ``get_classifier()`` and state-dict keys
    are unchanged), but its ``weight`` and ``bias`` become buffers: saved in the state dict,
    moved with the model, never handed to the optimiser. The bias is zero. ``scale``
    multiplies the logits (a fixed number, or with ``learn_scale`` the initial value of a
    learnable scalar ``etf_scale``); default none, so a logit is the feature's projection on a
    unit vector and the network learns the feature norm it needs.
    """
    head = model.get_classifier()
    if not isinstance(head, nn.Linear):
        raise TypeError(f"fix_etf_classifier needs an nn.Linear classifier; got {type(head).__name__}")
    k, d = head.out_features, head.in_features
    device = head.weight.device
    w = simplex_etf(k, d, seed=seed).to(device)
    del head.weight
    head.register_buffer("weight", w)
    if head.bias is not None:
        del head.bias
        head.register_buffer("bias", torch.zeros(k, device=device))
    if scale is not None or learn_scale:
        s = torch.tensor(1.0 if scale is None else float(scale), device=device)
        if learn_scale:
            head.etf_scale = nn.Parameter(s)
        else:
            head.register_buffer("etf_scale", s)
        head.register_forward_hook(_scale_logits)
    return model


def _scale_logits(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
    return out * module.etf_scale


def apply_head(model: nn.Module, head: str) -> nn.Module:
    """Give ``model`` the classifier named ``head``: ``"linear"`` (as built) or ``"etf"``
    (:func:`fix_etf_classifier`, no scale)."""
    if head == "linear":
        return model
    if head == "etf":
        return fix_etf_classifier(model)
    from . import HEADS
    raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}; got {head!r}")
