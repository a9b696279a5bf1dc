"""Which training images a run saw, decided once for every job.

A config names its subset with ``dataset``, ``train_per_class``, ``train_imbalance`` (optional field),
``seed`` and ``data_root`` (optional field): :class:`~fairnotes.jobs.train.TrainConfig`,
:class:`~fairnotes.jobs.contrastive.ContrastiveConfig` and
:class:`~fairnotes.jobs.remedies.LinearProbeConfig` all do, so the train job, contrastive
pre-training, the linear probe and feature extraction (:func:`fairnotes.jobs.features.extract`)
read the very same images for the same fields. :func:`heldout_subset` gives images a balanced run
never saw.

>>> from fairnotes.jobs import training_subset
>>> from fairnotes.jobs.train import TrainConfig
>>> cfg = TrainConfig(dataset="digits", model="mlp", train_per_class=40, train_imbalance=10.0)
>>> training_subset(cfg).counts().tolist()
[40, 31, 24, 19, 14, 11, 9, 7, 5, 4]
"""
from __future__ import annotations

from typing import Any

__all__ = ["training_subset", "heldout_subset"]


def training_subset(cfg: Any, pool: Any = None) -> Any:
    """The training images a run of ``cfg`` trains on (an :class:`~fairnotes.data.ImageSet`, in data-set order).

    - ``train_imbalance`` = ρ set: the long-tailed subset
      ``pool.long_tailed(n_max, ρ, seed=cfg.seed)`` with ``n_max = train_per_class`` or, when that
      is ``None``, the smallest class count of the pool (class ``c`` keeps
      :func:`fairnotes.data.long_tail_counts` ``(n_max, ρ, K)[c]`` images);
    - else ``train_per_class`` set: ``pool.per_class(train_per_class, seed=cfg.seed)``;
    - else the whole pool.

    Parameters
    ----------
    cfg
        Any object with ``dataset``, ``train_per_class`` and ``seed``; ``train_imbalance`` and
        ``data_root`` are read when present (absent: ``None``).
    pool
        The full training split, when the caller has loaded it already (e.g. decoded at a given
        size); default ``data.load(cfg.dataset, "train", root=cfg.data_root)``.
    """
    from .. import data
    if pool is None:
        root = getattr(cfg, "data_root", None)
        pool = data.load(cfg.dataset, "train", **({"root": root} if root else {}))
    imbalance = getattr(cfg, "train_imbalance", None)
    if imbalance is not None:
        n_max = cfg.train_per_class or int(pool.counts().min())
        return pool.long_tailed(n_max, imbalance, seed=cfg.seed)
    if cfg.train_per_class is not None:
        return pool.per_class(cfg.train_per_class, seed=cfg.seed)
    return pool


def heldout_subset(cfg: Any, per_class: int, pool: Any = None) -> Any:
    """``per_class`` training images of each class that a balanced run of ``cfg`` never saw.

    They come after the run's ``train_per_class`` images in each class's shuffled order
    (:meth:`fairnotes.data.ImageSet.per_class` with ``skip``), so they are disjoint from
    :func:`training_subset` (and from the test split). A run on the whole training split, or a
    long-tailed one, has no such set: ``ValueError``.
    """
    from .. import data
    if cfg.train_per_class is None or getattr(cfg, "train_imbalance", None) is not None:
        raise ValueError("held-out images need a balanced training subset (train_per_class set, no "
                         "train_imbalance): the held-out images are the ones it leaves out")
    if pool is None:
        root = getattr(cfg, "data_root", None)
        pool = data.load(cfg.dataset, "train", **({"root": root} if root else {}))
    return pool.per_class(per_class, seed=cfg.seed, skip=cfg.train_per_class)
