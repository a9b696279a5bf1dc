"""Figures *reported by the papers*, kept as data so chapters can show them beside ours, labelled.

Never mix these with our measurements: every entry says where it comes from.
"""
from __future__ import annotations

PAPER_FIGURES: dict[str, dict] = {
    "cui2024_imagenet_resnet50": {
        "paper": "Cui et al. 2024, Classes Are Not Equal (arXiv 2402.18133)",
        "setting": "ImageNet-1k validation, ResNet-50, 1,000 classes",
        "best": 1.00,
        "worst": 0.16,
    },
    "kang2020_imagenet_lt": {
        "paper": "Kang et al. 2020, Decoupling (ImageNet-LT, ResNeXt-50, all-class top-1 %)",
        "setting": "long-tailed ImageNet-LT",
        "joint": 44.4, "NCM": 47.3, "cRT": 49.6, "tau-norm": 49.4, "LWS": 49.9,
    },
}


def paper_figure(key: str) -> dict:
    """One entry of :data:`PAPER_FIGURES`; unknown keys raise a ``KeyError`` listing the valid ones."""
    if key not in PAPER_FIGURES:
        raise KeyError(f"unknown paper figure {key!r}; known: {', '.join(PAPER_FIGURES)}")
    return PAPER_FIGURES[key]
