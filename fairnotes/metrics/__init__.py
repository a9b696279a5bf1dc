"""Per-class and per-group metrics for image-recognition fairness, as ``xr.Dataset``.

Every metric takes ``(y_true, y_pred, *, ...)`` with options keyword-only, and always
returns an ``xr.Dataset`` (a per-class table has dim ``label``; a summary has scalars).
:func:`difficulty_groups` names each class hard, medium or easy (a ``DataArray`` over ``label``).
Multi-label metrics take ``N×L`` matrices (images × labels): :func:`average_precision` and
:func:`multilabel_rates` return Datasets over ``label``; operating points chosen on validation
scores (:func:`topk_operating_point`, :func:`threshold_operating_point`) return an
:class:`OperatingPoint`, which :func:`predict_multilabel` applies to test scores.
No torch here: importing this module is cheap.
"""
from __future__ import annotations

from ._agreement import rank_agreement
from ._agreement_ci import rank_agreement_ci
from ._bootstrap import disparity_ci, per_class_ci
from ._difficulty import difficulty_classes, difficulty_groups
from ._disparity import disparity
from ._group import by_group
from ._multilabel import (
    OperatingPoint, average_precision, multilabel_by_group, multilabel_rates, predict_multilabel,
    threshold_operating_point, topk_operating_point,
)
from ._noise_floor import noise_floor
from ._per_class import per_class
from ._seeds import per_class_over_seeds

__all__ = [
    "per_class", "disparity", "per_class_ci", "disparity_ci", "noise_floor", "by_group",
    "per_class_over_seeds", "rank_agreement", "rank_agreement_ci", "difficulty_groups", "difficulty_classes",
    "OperatingPoint", "average_precision", "topk_operating_point", "threshold_operating_point",
    "predict_multilabel", "multilabel_rates", "multilabel_by_group",
]
