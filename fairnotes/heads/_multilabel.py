"""A linear multi-label head on frozen features, and the two multi-label losses it trains with.

The chapter on arXiv 2107.09211 compares a multi-label *softmax* loss with per-label binary
cross-entropy. With multi-hot targets ``y`` (``N×L``, 0/1) and logits ``z``:

- ``"multilabel-softmax"`` (Mahajan et al. 2018; ClassyVision's
  ``SoftTargetCrossEntropyLoss(normalize_targets="count_based")``): the cross-entropy of
  ``softmax(z)`` against the target distribution ``y / Σ_c y_c``, i.e. per image
  ``−Σ_c (y_c / Σ y) log softmax(z)_c``. An image with no positive label has no target
  distribution: it raises, or is left out with ``skip_empty=True``.
- ``"bce"``: ``F.binary_cross_entropy_with_logits`` per label, averaged over labels and images.

The losses live here rather than in :mod:`fairnotes.jobs._loss` because the heads are a layer
below the jobs and may not import them; ``fairnotes.jobs._loss`` re-exports them, so a job and a
head train with the same code.

:func:`fit_multilabel_head` trains ``x @ W.T + b`` with AdamW, from an initial ``(W, b)`` drawn
from ``seed`` alone, so the two losses start from the same weights and see the same mini-batches;
:func:`head_scores` turns its logits into softmax (competing) or sigmoid (independent) scores.
Numpy in and out; torch is imported inside the functions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import check_features, tensor, threads_for

if TYPE_CHECKING:
    import torch

__all__ = ["MULTILABEL_LOSSES", "multilabel_softmax_loss", "bce_multilabel_loss", "multilabel_loss",
           "fit_multilabel_head", "head_scores"]

MULTILABEL_LOSSES = ("multilabel-softmax", "bce")
_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------- losses


def multilabel_softmax_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", *,
                            skip_empty: bool = False) -> torch.Tensor:
    """Softmax cross-entropy against the normalised multi-hot target ``y / Σy`` (see the module doc).

    Parameters
    ----------
    logits : torch.Tensor
        ``N×L`` logits (computed in float32).
    targets : torch.Tensor
        ``N×L`` multi-hot targets: 0/1 values (float, int or bool).
    reduction : {"mean", "sum", "none"}
        Mean or sum over images, or one loss per image.
    skip_empty : bool
        Leave out the images with no positive label (their target ``y / Σy`` is 0/0). Default:
        raise ``ValueError`` saying how many there are. With ``reduction="none"`` the result has
        one entry per *kept* image (those with ``targets.sum(1) > 0``); when every image is
        empty, "mean" and "sum" give a zero that still backpropagates (a no-op step).

    Returns
    -------
    torch.Tensor
        A scalar, or ``N`` (``"none"``) per-image losses.
    """
    import torch
    logits, t = _check_loss_inputs(logits, targets, reduction)
    mass = t.sum(1)
    empty = mass == 0
    n_empty = int(empty.sum())
    if n_empty:
        if not skip_empty:
            raise ValueError(f"{n_empty} of {t.shape[0]} rows of targets have no positive label; the "
                             "multi-label softmax loss is undefined for them (drop them, or pass skip_empty=True)")
        keep = ~empty
        logits, t, mass = logits[keep], t[keep], mass[keep]
        if logits.shape[0] == 0:
            return logits.new_empty(0) if reduction == "none" else logits.sum() * 0.0
    per_image = -(torch.log_softmax(logits, dim=1) * t).sum(1) / mass
    return _reduce(per_image, reduction)


def bce_multilabel_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", *,
                        skip_empty: bool = False) -> torch.Tensor:
    """Per-label binary cross-entropy with logits, averaged over labels and images.

    Parameters
    ----------
    logits, targets : torch.Tensor
        ``N×L`` logits and 0/1 multi-hot targets.
    reduction : {"mean", "sum", "none"}
        Mean over all ``N·L`` terms (``F.binary_cross_entropy_with_logits``'s default), their sum,
        or the ``N×L`` matrix of terms.
    skip_empty : bool
        Leave out the images with no positive label, so that this loss sees the same images as
        :func:`multilabel_softmax_loss` with ``skip_empty=True``. Default: keep them (all
        their labels are negatives, which BCE handles).
    """
    import torch.nn.functional as F
    logits, t = _check_loss_inputs(logits, targets, reduction)
    if skip_empty:
        keep = t.sum(1) > 0
        logits, t = logits[keep], t[keep]
        if logits.shape[0] == 0:
            return logits.new_empty(0, t.shape[1]) if reduction == "none" else logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits, t, reduction=reduction)


def multilabel_loss(name: str, logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", *,
                    skip_empty: bool = False) -> torch.Tensor:
    """The multi-label loss called ``name`` (one of :data:`MULTILABEL_LOSSES`) of ``logits`` against ``targets``."""
    fn = _LOSS_FNS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"unknown multi-label loss {name!r}; choose one of {', '.join(map(repr, MULTILABEL_LOSSES))}")
    return fn(logits, targets, reduction, skip_empty=skip_empty)


_LOSS_FNS = {"multilabel-softmax": multilabel_softmax_loss, "bce": bce_multilabel_loss}


def _check_loss_inputs(logits: Any, targets: Any, reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not valid; choose one of {', '.join(map(repr, _REDUCTIONS))}")
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("logits and targets must be torch tensors")
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (images × labels); got shape {tuple(logits.shape)}")
    if targets.shape != logits.shape:
        raise ValueError(f"targets must have the shape of logits {tuple(logits.shape)}; got {tuple(targets.shape)}")
    logits = logits.float()
    t = targets.to(logits.dtype)
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError("targets must be multi-hot: every value 0 or 1")
    return logits, t


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_image.mean()
    return per_image.sum() if reduction == "sum" else per_image


# ---------------------------------------------------------------------------------------------- the head


def fit_multilabel_head(x: Any, y: Any, *, loss: str, epochs: int = 100, lr: float = 0.05,
                        weight_decay: float = 1e-4, batch_size: int = 256, seed: int = 0,
                        init: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a linear multi-label head ``x @ W.T + b`` on frozen features with AdamW.

    Every epoch visits all images once, in mini-batches of ``batch_size`` (a fresh shuffle per
    epoch; one full batch when ``batch_size >= N``), each step minimising
    ``multilabel_loss(loss, logits, y)``. AdamW's decoupled weight decay applies to ``W`` only,
    not to the bias. The features are used as given (standardise them beforehand if their
    scales differ widely).

    One ``torch.Generator`` seeded with ``seed`` first draws the initial weights (``nn.Linear``'s
    default: uniform on ``±1/√D`` for ``W`` and ``b``), then the shuffles. Neither depends on
    ``loss``, so two calls that differ only in ``loss`` start from the same weights and see the
    same batches: any difference between them is the loss's. On CPU the same call twice gives
    identical arrays.

    Parameters
    ----------
    x : array-like
        ``N×D`` features.
    y : array-like
        ``N×L`` multi-hot labels (0/1). For ``"multilabel-softmax"`` every image needs at least
        one positive label (drop the others for both losses, so they train on the same images).
    loss : {"multilabel-softmax", "bce"}
        The training loss (:data:`MULTILABEL_LOSSES`).
    epochs, lr, weight_decay, batch_size
        Passes over the data, AdamW's learning rate and decoupled weight decay, images per step.
    seed
        Seeds the initial weights (when ``init`` is None) and the shuffles.
    init : dict, optional
        Start from ``{"weight": L×D, "bias": L}`` (e.g. another head's ``init_weight`` and
        ``init_bias``) instead of the weights drawn from ``seed``. The shuffles still follow
        ``seed`` alone, so passing a head's own start back reproduces it exactly.

    Returns
    -------
    dict
        ``weight`` (``L×D`` float32), ``bias`` (``L`` float32), ``loss_history`` (``epochs``
        float64: each epoch's mean training loss over its images, measured during the epoch),
        ``init_weight`` and ``init_bias`` (the starting point), ``loss`` (its name).
    """
    if loss not in MULTILABEL_LOSSES:
        raise ValueError(f"loss={loss!r} is not valid; choose one of {', '.join(map(repr, MULTILABEL_LOSSES))}")
    x = check_features("x", x)
    y = _check_multihot(y, x.shape[0])
    if int(epochs) != epochs or epochs < 1 or int(batch_size) != batch_size or batch_size < 1 or lr <= 0 \
            or weight_decay < 0:
        raise ValueError("need integers epochs >= 1 and batch_size >= 1, lr > 0 and weight_decay >= 0; got "
                         f"epochs={epochs!r}, batch_size={batch_size!r}, lr={lr!r}, weight_decay={weight_decay!r}")
    if loss == "multilabel-softmax":
        n_empty = int((y.sum(1) == 0).sum())
        if n_empty:
            raise ValueError(f"{n_empty} of {y.shape[0]} rows of y have no positive label; the multi-label "
                             "softmax loss is undefined for them: drop them (for both losses, so that they "
                             "train on the same images)")
    n_labels, n_features = y.shape[1], x.shape[1]
    if init is not None:
        init = {"weight": _check_init(init, "weight", (n_labels, n_features)),
                "bias": _check_init(init, "bias", (n_labels,))}
    with threads_for(min(x.shape[0], int(batch_size)) * n_features):
        return _fit(x, y, loss, int(epochs), float(lr), float(weight_decay), int(batch_size), seed, init)


def _fit(x: np.ndarray, y: np.ndarray, loss: str, epochs: int, lr: float, weight_decay: float, batch_size: int,
         seed: int, init: dict[str, np.ndarray] | None) -> dict[str, Any]:
    import torch
    x_t, y_t = tensor(x, torch.float32), tensor(y, torch.float32)
    n, f = x_t.shape
    k = y_t.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    head = torch.nn.Linear(f, k)
    with torch.no_grad():
        # nn.Linear's default init, from our own generator; drawn even when ``init`` replaces it,
        # so that the shuffles that follow depend on ``seed`` alone
        bound = 1.0 / math.sqrt(f)
        head.weight.uniform_(-bound, bound, generator=gen)
        head.bias.uniform_(-bound, bound, generator=gen)
        if init is not None:
            head.weight.copy_(torch.from_numpy(init["weight"]))
            head.bias.copy_(torch.from_numpy(init["bias"]))
    w0 = head.weight.detach().numpy().copy()
    b0 = head.bias.detach().numpy().copy()
    opt = torch.optim.AdamW([{"params": [head.weight], "weight_decay": weight_decay},
                             {"params": [head.bias], "weight_decay": 0.0}], lr=lr)
    history = np.empty(epochs, dtype=np.float64)
    full = batch_size >= n
    with torch.enable_grad():
        for epoch in range(epochs):
            order = None if full else torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, batch_size):
                if full:
                    xb, yb = x_t, y_t
                else:
                    idx = order[start:start + batch_size]
                    xb, yb = x_t[idx], y_t[idx]
                value = multilabel_loss(loss, head(xb), yb)
                opt.zero_grad(set_to_none=True)
                value.backward()
                opt.step()
                total += value.detach().item() * xb.shape[0]
            history[epoch] = total / n
    return {"weight": head.weight.detach().numpy().astype(np.float32),
            "bias": head.bias.detach().numpy().astype(np.float32),
            "loss_history": history, "init_weight": w0.astype(np.float32), "init_bias": b0.astype(np.float32),
            "loss": loss}


def head_scores(head: dict[str, Any], x: Any, loss: str) -> np.ndarray:
    """Scores of a head's logits ``x @ W.T + b``: softmax over labels for ``"multilabel-softmax"``
    (they compete: each row sums to 1), a sigmoid per label for ``"bce"`` (independent).

    Parameters
    ----------
    head : dict
        At least ``weight`` (``L×D``) and ``bias`` (``L``), as :func:`fit_multilabel_head` returns.
    x : array-like
        ``M×D`` features.
    loss : {"multilabel-softmax", "bce"}
        Which link to apply (normally the loss the head was trained with, ``head["loss"]``).

    Returns
    -------
    np.ndarray
        ``M×L`` float32 scores in [0, 1].
    """
    from scipy.special import expit, softmax
    if loss not in MULTILABEL_LOSSES:
        raise ValueError(f"loss={loss!r} is not valid; choose one of {', '.join(map(repr, MULTILABEL_LOSSES))}")
    w = np.asarray(head["weight"], dtype=np.float64)
    b = np.asarray(head["bias"], dtype=np.float64)
    if w.ndim != 2 or b.shape != (w.shape[0],):
        raise ValueError(f"head needs weight L×D and bias L; got shapes {w.shape} and {b.shape}")
    x = check_features("x", x, w.shape[1])
    logits = x.astype(np.float64) @ w.T + b
    scores = softmax(logits, axis=1) if loss == "multilabel-softmax" else expit(logits)
    return scores.astype(np.float32)


def _check_multihot(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[0] != n or y.shape[1] == 0:
        raise ValueError(f"y must be 2-D multi-hot (one row per row of x, {n}, and at least one label column); "
                         f"got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must be multi-hot: every value 0 or 1")
    return y.astype(np.float32)


def _check_init(init: dict[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in init:
        raise ValueError(f"init must hold 'weight' ({shape[0]}×D) and 'bias'; it has no {key!r}")
    a = np.asarray(init[key], dtype=np.float32)
    if a.shape != shape:
        raise ValueError(f"init[{key!r}] must have shape {shape}; got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"init[{key!r}] holds NaN or infinite values")
    return np.ascontiguousarray(a)
