"""Jobs: ``run(cfg) -> xr.Dataset`` functions with a config dataclass each, and the computations they cache.

- :mod:`fairnotes.jobs.train` — ``TrainConfig``, ``run``: train a classifier, per-epoch per-class curves.
- :mod:`fairnotes.jobs.evaluate` — ``EvalConfig``, ``run``: evaluate a (pretrained) classifier.
- :mod:`fairnotes.jobs.contrastive` — ``ContrastiveConfig``, ``run``: SimCLR pre-training.
- :mod:`fairnotes.jobs.features` — ``extract``: frozen features of a run or a pretrained model, cached.
- :func:`training_subset` — the training images a run saw (every job reads its subset here).

Import the job module you need (``from fairnotes.jobs import train``); this package imports
nothing heavy.
"""
from __future__ import annotations

from ._subset import heldout_subset, training_subset

__all__ = ["train", "evaluate", "contrastive", "features", "training_subset", "heldout_subset"]
