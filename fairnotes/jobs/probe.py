"""Every head on the same frozen features: is per-class unfairness in the classifier or the representation?

>>> from fairnotes.jobs import probe, train
>>> cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=5)
>>> ds = probe.on_run(cfg)                                   # doctest: +SKIP
>>> ds["accuracy"].sel(head="knn(k=10)")                     # doctest: +SKIP

Both entry points return :func:`fairnotes.heads.evaluate_heads`'s Dataset (dims ``head`` × ``label``
and ``head`` × ``sample``) plus the provenance of the features.
"""
from __future__ import annotations

from typing import Any, Sequence

import xarray as xr

__all__ = ["on_run", "on_pretrained"]

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)


def _evaluate(train: xr.Dataset, test: xr.Dataset, *, knn_k: int | Sequence[int], taus: Sequence[float],
              seed: int, heads: Sequence[str] | None) -> xr.Dataset:
    from ..heads import evaluate_heads
    weight = train["classifier_weight"].values if "classifier_weight" in train else None
    bias = train["classifier_bias"].values if "classifier_bias" in train else None
    return evaluate_heads(train["features"].values, train["labels"].values, test["features"].values,
                          test["labels"].values, class_names=[str(c) for c in train["class_name"].values],
                          heads=heads, knn_k=knn_k, taus=taus, weight=weight, bias=bias, seed=seed)


def on_run(cfg: Any, *, knn_k: int | Sequence[int] = 10, taus: Sequence[float] = TAUS, seed: int = 0,
           heads: Sequence[str] | None = None, progress: bool | None = False) -> xr.Dataset:
    """Heads on the features of a trained run (its training subset and the full test split).

    The run is trained first if it is not cached; its own classifier appears as head
    ``classifier`` (and, τ-normalised, as ``tau_norm(...)``), and ``weight_norm`` holds its
    per-class weight norms.
    """
    from ..features import extract
    tr = extract(cfg, split="train", progress=progress)
    te = extract(cfg, split="test", progress=progress)
    ds = _evaluate(tr, te, knn_k=knn_k, taus=taus, seed=seed, heads=heads)
    ds.attrs.update({"backbone": cfg.model, "dataset": cfg.dataset, "run_key": cfg.key(),
                     "n_train": int(tr.sizes["sample"]), "n_test": int(te.sizes["sample"])})
    return ds


def on_pretrained(model: str, dataset: str, *, train_per_class: int | None = None, image_size: int | None = None,
                  knn_k: int | Sequence[int] = 10, seed: int = 0, heads: Sequence[str] | None = None,
                  progress: bool | None = False) -> xr.Dataset:
    """Heads on frozen features of a pretrained model (e.g. ImageNet ``efficientnet_lite0``).

    Uses the first ``train_per_class`` training images of each class (all if ``None``) and the
    full test split. There is no trained classifier for the data set, so no ``classifier`` or
    ``tau_norm`` heads.
    """
    from ..features import extract
    tr = extract(model, dataset, "train", max_per_class=train_per_class, image_size=image_size, progress=progress)
    te = extract(model, dataset, "test", image_size=image_size, progress=progress)
    ds = _evaluate(tr, te, knn_k=knn_k, taus=(), seed=seed, heads=heads)
    ds.attrs.update({"backbone": f"{model} (pretrained, frozen)", "dataset": dataset,
                     "n_train": int(tr.sizes["sample"]), "n_test": int(te.sizes["sample"])})
    return ds
