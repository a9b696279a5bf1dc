"""Heads on frozen features: does a class's accuracy follow its classifier or its representation?

Each head takes numpy features and returns numpy test logits (``M×K``) or labels (``M``);
torch does the work inside. :func:`evaluate_heads` runs several on one feature pair and
returns per-class results on dims ``head`` × ``label``.

>>> from fairnotes import heads
>>> ds = heads.evaluate_heads(xtr, ytr, xte, yte, class_names=names)     # doctest: +SKIP

Trained on the features: ``linear_head`` (linear probe), ``crt_head`` (classifier re-training
with class-balanced sampling), ``knn_head`` (cosine kNN), ``ncm_head`` (nearest class mean).
From a trained classifier: ``classifier_head``, ``tau_norm_head`` and ``weight_norms``.
Settings (τ, k) are chosen on a validation split, never on the test set (``val_feats=`` of
:func:`evaluate_heads`; :func:`choose`, :func:`balanced_accuracy`).
"""
from __future__ import annotations

from ._evaluate import HEADS, evaluate_heads
from ._knn import bf16_supported, knn_head
from ._linear import crt_head, linear_head
from ._ncm import ncm_head
from ._select import FALLBACK_TAU, balanced_accuracy, choose
from ._tau import classifier_head, tau_norm_head, weight_norms

__all__ = ["HEADS", "FALLBACK_TAU", "balanced_accuracy", "choose", "evaluate_heads", "linear_head", "crt_head",
           "knn_head", "bf16_supported", "ncm_head", "classifier_head", "tau_norm_head", "weight_norms"]
