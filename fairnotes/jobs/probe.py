"""Every head on the same frozen features: is per-class unfairness in the classifier or the representation?

>>> from fairnotes.jobs import probe, train
>>> cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=5)
>>> ds = probe.on_run(cfg)                                   # doctest: +SKIP
>>> ds["accuracy"].sel(head="knn(k=10)")                     # doctest: +SKIP

Both entry points return :func:`fairnotes.heads.evaluate_heads`'s Dataset (dims ``head`` × ``label``
and ``head`` × ``sample``) plus the provenance of the features.

Head settings are never chosen on the test set. With ``val_per_class=N``, :func:`on_run` scores
every τ (and every k, when several are given) on N training images per class that the run never
trained on (:func:`fairnotes.jobs.features.heldout_images`; for a balanced subset the very images
of :func:`fairnotes.jobs.heldout_subset`) and adds the heads ``tau_norm(selected)`` (and
``knn(selected)``): the test predictions of the setting with the best balanced accuracy there.
A run that trained on every training image has no such split: then nothing is chosen (τ = 1,
Kang et al.'s default; the first k), and attr ``validation`` says so. Both are cached
(:func:`fairnotes.results.cached`, folder ``probe.heads``) by the features' identity and the head
settings, so a re-run of a chapter reads the heads instead of refitting them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import xarray as xr

__all__ = ["on_run", "on_pretrained"]

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)


def _evaluate(train: xr.Dataset, test: xr.Dataset, *, knn_k: int | Sequence[int], taus: Sequence[float],
              seed: int, heads: Sequence[str] | None, val: xr.Dataset | None = None,
              select: bool = False) -> xr.Dataset:
    from ..heads import evaluate_heads
    weight = train["classifier_weight"].values if "classifier_weight" in train else None
    bias = train["classifier_bias"].values if "classifier_bias" in train else None
    return evaluate_heads(train["features"].values, train["labels"].values, test["features"].values,
                          test["labels"].values, class_names=[str(c) for c in train["class_name"].values],
                          heads=heads, knn_k=knn_k, taus=taus, weight=weight, bias=bias, seed=seed,
                          val_feats=None if val is None else val["features"].values,
                          val_labels=None if val is None else val["labels"].values, select=select)


@dataclass
class HeadsConfig:
    """What :func:`fit_heads` computes: ``source`` is a TrainConfig (:func:`on_run`) or a model name
    (:func:`on_pretrained`, with ``dataset``, ``train_per_class``, ``image_size``)."""

    source: Any = None
    dataset: str | None = None
    train_per_class: int | None = None
    image_size: int | None = None
    knn_k: list = field(default_factory=lambda: [10])
    taus: list = field(default_factory=list)
    seed: int = 0
    heads: list | None = None
    progress: bool | None = False
    #: held-out training images per class on which τ (and k) are chosen; None: no selection (no selected heads)
    val_per_class: int | None = None
    #: :func:`on_pretrained`'s feature precision, ``"fp32"`` or ``"bf16"`` (see :func:`fairnotes.jobs.features.extract`)
    precision: str = "fp32"

    def key(self) -> str:
        from ..results import config_hash
        src = self.source.key() if hasattr(self.source, "key") else self.source
        key = {"source": src, "dataset": self.dataset, "train_per_class": self.train_per_class,
               "image_size": self.image_size, "knn_k": self.knn_k, "taus": self.taus, "seed": self.seed,
               "heads": self.heads}
        if self.val_per_class is not None:  # only then: the keys of heads fitted without it stay as they were
            key["val_per_class"] = int(self.val_per_class)
        if self.precision != "fp32":  # the precision the features run in joins the key; fp32 keys stay as they were
            from .features import _precision
            ran = _precision(self.precision, "auto")[0]
            if ran != "fp32":
                key["precision"] = ran
        if getattr(self.source, "train_imbalance", None) is not None:
            # heads of a long-tailed run cached before its features honoured the long-tailed subset were
            # fitted on balanced images: a new key for those only (every other key stays as it was)
            key["train_subset"] = "long-tailed"
        return config_hash(key)


def fit_heads(cfg: HeadsConfig) -> xr.Dataset:
    """The job behind :func:`on_run` and :func:`on_pretrained` (call those)."""
    if isinstance(cfg.source, str):
        return _on_pretrained(cfg)
    return _on_run(cfg)


def _listed(x: int | Sequence[int]) -> list[int]:
    return [int(x)] if isinstance(x, (int,)) else [int(v) for v in x]


def on_run(cfg: Any, *, knn_k: int | Sequence[int] = 10, taus: Sequence[float] = TAUS, seed: int = 0,
           heads: Sequence[str] | None = None, progress: bool | None = False,
           val_per_class: int | None = None) -> xr.Dataset:
    """Heads on the features of a trained run (its training subset and the full test split).

    The run is trained first if it is not cached; its own classifier appears as head
    ``classifier`` (and, τ-normalised, as ``tau_norm(...)``), and ``weight_norm`` holds its
    per-class weight norms.

    With ``val_per_class``, τ (and k, if several) are chosen by balanced accuracy on up to that
    many training images per class the run never trained on, ties to the smaller τ and the first
    k: heads ``tau_norm(selected)``, ``knn(selected)``, variable ``val_balanced_accuracy``, attrs
    ``validation``, ``tau_selected``, ``knn_k_selected``. A run with no such images (it trained on
    its whole training split) gets τ = 1 and the first k, not chosen, and says so in ``validation``.
    """
    from ..results import cached
    if val_per_class is not None and (int(val_per_class) != val_per_class or val_per_class < 1):
        raise ValueError(f"val_per_class must be a positive integer or None; got {val_per_class!r}")
    return cached(fit_heads, HeadsConfig(source=cfg, knn_k=_listed(knn_k), taus=[float(t) for t in taus],
                                                  seed=int(seed), heads=None if heads is None else list(heads),
                                                  progress=progress,
                                                  val_per_class=None if val_per_class is None else int(val_per_class)))


def _on_run(h: HeadsConfig) -> xr.Dataset:
    from .features import NoHeldOutImages, extract
    cfg = h.source
    tr = extract(cfg, split="train", progress=h.progress)
    te = extract(cfg, split="test", progress=h.progress)
    val, why = None, ""
    if h.val_per_class is not None:
        try:
            val = extract(cfg, split="train", heldout=h.val_per_class, progress=h.progress)
        except NoHeldOutImages as e:
            why = str(e)
    ds = _evaluate(tr, te, knn_k=h.knn_k, taus=h.taus, seed=h.seed, heads=h.heads, val=val,
                   select=h.val_per_class is not None)
    ds.attrs.update({"backbone": cfg.model, "dataset": cfg.dataset, "run_key": cfg.key(),
                     "n_train": int(tr.sizes["sample"]), "n_test": int(te.sizes["sample"])})
    if h.val_per_class is not None:
        ds.attrs["val_per_class"] = int(h.val_per_class)
        ds.attrs["validation_missing"] = why  # "" when there was a validation split
        ds.attrs["validation"] = (
            f"up to {h.val_per_class} training images per class that the run never trained on "
            f"({int(val.sizes['sample'])} images)" if val is not None else
            f"none, because {why}: nothing was selected, τ = 1 (Kang et al.'s default) and the first k")
    return ds


def on_pretrained(model: str, dataset: str, *, train_per_class: int | None = None, image_size: int | None = None,
                  knn_k: int | Sequence[int] = 10, seed: int = 0, heads: Sequence[str] | None = None,
                  progress: bool | None = False, precision: str = "fp32") -> xr.Dataset:
    """Heads on frozen features of a pretrained model (e.g. ImageNet ``efficientnet_lite0``).

    Uses the first ``train_per_class`` training images of each class (all if ``None``) and the
    full test split. There is no trained classifier for the data set, so no ``classifier`` or
    ``tau_norm`` heads. ``precision``: the features' (:func:`fairnotes.jobs.features.extract`).
    """
    from ..results import cached
    return cached(fit_heads, HeadsConfig(source=model, dataset=dataset, train_per_class=train_per_class,
                                                  image_size=image_size, knn_k=_listed(knn_k), seed=int(seed),
                                                  heads=None if heads is None else list(heads), progress=progress,
                                                  precision=precision))


def _on_pretrained(h: HeadsConfig) -> xr.Dataset:
    from .features import extract
    model, dataset = h.source, h.dataset
    tr = extract(model, dataset, "train", max_per_class=h.train_per_class, image_size=h.image_size,
                 progress=h.progress, precision=h.precision)
    te = extract(model, dataset, "test", image_size=h.image_size, progress=h.progress, precision=h.precision)
    ds = _evaluate(tr, te, knn_k=h.knn_k, taus=(), seed=h.seed, heads=h.heads)
    ds.attrs.update({"backbone": f"{model} (pretrained, frozen)", "dataset": dataset,
                     "n_train": int(tr.sizes["sample"]), "n_test": int(te.sizes["sample"])})
    if tr.attrs.get("precision_ran", "fp32") != "fp32":  # fp32 heads (also a bf16 ask that fell back) as before
        ds.attrs["precision_ran"] = str(tr.attrs["precision_ran"])
    return ds
