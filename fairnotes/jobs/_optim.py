"""Optimiser and per-step learning-rate schedule for the train job.

Written with plain ``torch.optim`` rather than timm's ``create_optimizer_v2`` /
``create_scheduler_v2`` so that small-model runs never import timm (seconds per process),
and so that the schedule is a pure function of the step (``LambdaLR``): a resumed run's
``state_dict`` restores it exactly.
"""
from __future__ import annotations

import math
from typing import Any, Callable

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant", "step")
STEP_MILESTONES = (0.5, 0.75)  # "step": lr × 0.1 after half and after three quarters of the epochs


def make_optimizer(model: Any, name: str, lr: float, weight_decay: float, momentum: float) -> Any:
    """SGD (with momentum) or AdamW; biases and norm weights (1-D tensors) get no weight decay,
    as in timm's ``param_groups_weight_decay``."""
    import torch
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")


def lr_factor(schedule: str, epochs: int, steps_per_epoch: int, warmup_epochs: float) -> Callable[[int], float]:
    """Multiplier of the base lr at optimiser step ``s`` (0-based): linear warm-up, then the schedule."""
    total = max(1, epochs * steps_per_epoch)
    warm = min(total - 1, round(warmup_epochs * steps_per_epoch))

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / (warm + 1)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (s - warm) / max(1, total - warm)))
        if schedule == "step":
            epoch = s / max(1, steps_per_epoch)
            return 0.1 ** sum(epoch >= m * epochs for m in STEP_MILESTONES)
        return 1.0

    return factor
