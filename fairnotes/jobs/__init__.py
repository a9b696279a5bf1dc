"""Jobs: ``run(cfg) -> xr.Dataset`` functions with a config dataclass each.

- :mod:`fairnotes.jobs.train` — ``TrainConfig``, ``run``: train a classifier, per-epoch per-class curves.
- :mod:`fairnotes.jobs.evaluate` — ``EvalConfig``, ``run``: evaluate a (pretrained) classifier.

Import the job module you need (``from fairnotes.jobs import train``); this package imports
nothing heavy.
"""
from __future__ import annotations

__all__ = ["train", "evaluate"]
