"""The train job's loss, and its Mixup/CutMix: cross-entropy or focal, label smoothing, class weights.

One formula covers every option. With targets ``t`` (one-hot, smoothed, or mixed by Mixup/CutMix),
log-probabilities ``log p``, class weights ``w`` (all 1 by default) and focusing ``γ`` (0 for
cross-entropy)::

    loss = Σ_i Σ_c w_c t_ic (1 − p_ic)^γ (−log p_ic)  /  Σ_i Σ_c w_c t_ic

For hard targets this is exactly ``F.cross_entropy(weight=w)`` (the weighted mean PyTorch uses),
and with ``w = 1`` exactly ``F.cross_entropy(label_smoothing=ε)`` and the soft-target
cross-entropy; γ > 0 is the focal loss of Lin et al. (2017) in its softmax form, with ``w`` as its
per-class α. (PyTorch's own weighted *smoothed* loss divides by ``Σ_i w_{y_i}`` instead; the two
differ only when both options are on.) The plain case takes ``F.cross_entropy`` itself, so the
baseline's numbers do not change.

Mixup and CutMix are timm's ``Mixup`` (one λ per batch, ``mode="batch"``; both on: each batch
picks one, half the time each). timm draws from numpy's global generator and needs an even batch;
:class:`Mixer` gives it its own seeded stream (swapped in and out around each call, so the
caller's numpy state is untouched and a resumed run replays the same draws) and leaves the
last image of an odd batch out.

Multi-label losses (:data:`MULTILABEL_LOSSES`, :func:`multilabel_loss`): with multi-hot targets
``y`` (``N×L``, 0/1), ``"multilabel-softmax"`` is the cross-entropy against ``y / Σ_c y_c``
(:func:`multilabel_softmax_loss`; Mahajan et al. 2018, ClassyVision's count-based soft-target
loss) and ``"bce"`` the per-label binary cross-entropy averaged over labels and images
(:func:`bce_multilabel_loss`). They are defined in :mod:`fairnotes.heads._multilabel`, because
the heads (a layer below the jobs, which may not import them) train with them too, and are
re-exported here.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..heads._multilabel import MULTILABEL_LOSSES, bce_multilabel_loss, multilabel_loss, multilabel_softmax_loss

LOSSES = ("cross_entropy", "focal")
__all__ = ["LOSSES", "classification_loss", "Mixer", "check_class_weights",
           "MULTILABEL_LOSSES", "multilabel_loss", "multilabel_softmax_loss", "bce_multilabel_loss"]


def classification_loss(logits: Any, target: Any, *, label_smoothing: float = 0.0,
                        class_weight: Any = None, focal_gamma: float = 0.0) -> Any:
    """Mean loss of ``logits`` (``N×K``) against hard (``N``, int) or soft (``N×K``) targets (see the module doc)."""
    import torch.nn.functional as F
    logits = logits.float()
    hard = target.ndim == 1
    if hard and focal_gamma == 0 and (class_weight is None or label_smoothing == 0):
        return F.cross_entropy(logits, target, weight=class_weight, label_smoothing=label_smoothing)
    if not hard and class_weight is None and focal_gamma == 0:
        return F.cross_entropy(logits, target)  # soft targets: already smoothed by the mixer
    t = _soft(target, logits, label_smoothing) if hard else target
    return _general(logits, t, class_weight, focal_gamma)


def _soft(target: Any, logits: Any, eps: float) -> Any:
    import torch.nn.functional as F
    k = logits.shape[1]
    return F.one_hot(target, k).to(logits.dtype) * (1 - eps) + eps / k


def _general(logits: Any, t: Any, class_weight: Any, gamma: float) -> Any:
    import torch
    logp = torch.log_softmax(logits, dim=1)
    terms = -logp * t
    if gamma:
        terms = terms * (1 - logp.exp()).clamp_min(0).pow(gamma)
    mass = t
    if class_weight is not None:
        w = class_weight.to(logits.dtype).view(1, -1)
        terms, mass = terms * w, t * w
    return terms.sum() / mass.sum()


class Mixer:
    """timm's ``Mixup``/``CutMix`` with its own numpy stream: ``mixer(x, y, seed) -> (x, soft_targets)``."""

    def __init__(self, num_classes: int, *, mixup: float, cutmix: float, label_smoothing: float):
        from timm.data import Mixup
        self.mix = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=1.0, switch_prob=0.5, mode="batch",
                         label_smoothing=label_smoothing, num_classes=num_classes)

    def __call__(self, x: Any, y: Any, rng: Any) -> tuple[Any, Any]:
        """Mix batch ``x`` (float, any layout) with targets ``y``; ``rng`` is a ``np.random.RandomState``."""
        import numpy as np
        if len(x) % 2:
            x, y = x[:-1], y[:-1]
        saved = np.random.get_state()
        np.random.set_state(rng.get_state())
        try:
            x, t = self.mix(x, y)
        finally:
            rng.set_state(np.random.get_state())
            np.random.set_state(saved)
        return x, t


def check_class_weights(weights: Sequence[float] | None) -> None:
    """Positive, finite numbers (or None); their count is checked against the data's classes at run time."""
    import math
    if weights is None:
        return
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) == 0:
        raise ValueError(f"class_weights must be a list with one positive number per class, or None; got {weights!r}")
    bad = [w for w in weights if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0]
    if bad:
        raise ValueError(f"class_weights must be positive finite numbers; got {bad[:3]!r}")
