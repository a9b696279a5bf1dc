"""Evaluate a classifier on one split, without training: the paper's pretrained-model audits.

>>> from fairnotes.jobs import evaluate
>>> cfg = evaluate.EvalConfig(dataset="imagenet", split="val", model="resnet50",
...                           data_root="/data/imagenet")                  # doctest: +SKIP
>>> ds = evaluate.run(cfg)                                                   # doctest: +SKIP

The result has the same per-sample and per-class schema as :mod:`fairnotes.jobs.train`'s final
part and no ``epoch`` dim: ``prediction``, ``target`` (sample), ``logits`` (sample × label,
float32), optional ``features`` (sample × feature), :func:`fairnotes.metrics.per_class`'s
variables on ``label``; coords ``label``, ``class_name``; provenance attrs.

In-memory data sets are evaluated in large batches straight from a uint8 tensor. Folder
data sets (ImageNet, Flowers-102...) come as lazy images, resized on the short side to
``image_size`` and centre-cropped by :mod:`fairnotes.data`, and are read by a torch
``DataLoader`` with worker processes and pinned memory.
"""
from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import xarray as xr

from .. import _torch
from . import _schema
from ._config import PROFILES, check_choice, check_positive


@dataclass
class EvalConfig:
    """What to evaluate, on which data.

    ``pretrained=True`` loads the model's published weights (timm: from the Hugging Face hub;
    ``efficientnet_lite0``: the bundled ImageNet weights). ``weights`` (or ``model_kwargs["weights"]``,
    the model spec's ``weights=`` key; give one of them) instead loads a local file, and then
    ``pretrained`` is ignored: a train-job checkpoint ``last.pt``, or a state dict saved with
    safetensors or ``torch.save`` (see :mod:`fairnotes.models._weights`). Loading is strict and the
    classifier must fit the data set's classes; the cache key holds the file's SHA-256, not its
    path. ``image_size=None``: the model's ``pretrained_cfg`` input size
    for folder data sets, else the native size (upsampled to the model's minimum).
    ``num_workers=None``: up to 8 workers, one fewer than the CPUs.
    """

    dataset: str = "imagenet"
    split: str = "val"
    model: str = "resnet50"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool = True
    weights: str | None = None
    image_size: int | None = None
    batch_size: int = 256
    data_root: str | None = None
    max_per_class: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int | None = None
    save_features: bool = False
    progress: bool | None = None
    profile: Literal["laptop", "paper", "tiny"] = "paper"

    def __post_init__(self) -> None:
        from .. import data, models
        info = data.info(self.dataset)
        check_choice("split", self.split, info.splits)
        check_choice("device", self.device, _torch.DEVICES)
        check_choice("profile", self.profile, PROFILES)
        check_positive(self, "batch_size")
        check_positive(self, "image_size", "max_per_class", optional=True)
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 or None; got {self.num_workers!r}")
        if not models.is_model(self.model):
            raise ValueError(models.unknown_model_message(self.model))
        if self.weights is not None and (self.model_kwargs or {}).get("weights") is not None:
            raise ValueError("give the weights file once: weights= or model_kwargs['weights'], not both")
        models.check_weights({"weights": self.weights})
        models.check_weights(self.model_kwargs)

    def key(self) -> str:
        """The config hash (as :func:`fairnotes.results.config_hash` of all fields), with a weights file
        entering as its SHA-256 rather than its path (and ``pretrained`` then moot)."""
        from ..models import key_kwargs
        from ..results import config_dict, config_hash
        d = config_dict(self)
        if self.weights is not None:
            d["weights"], d["pretrained"] = key_kwargs({"weights": self.weights})["weights"], False
        if (self.model_kwargs or {}).get("weights") is not None:
            d["model_kwargs"], d["pretrained"] = key_kwargs(self.model_kwargs), False
        return config_hash(d)


def run(cfg: EvalConfig) -> xr.Dataset:
    """Evaluate ``cfg.model`` on ``cfg.dataset``/``cfg.split`` (see the module doc)."""
    t0 = time.perf_counter()
    rt = _torch.start(cfg.device)
    try:
        return _evaluate(cfg, rt, t0)
    finally:
        rt.close()


def _evaluate(cfg: EvalConfig, rt: _torch.Runtime, t0: float) -> xr.Dataset:
    import torch

    from .. import augment, data, models
    from ..results import provenance

    loader = data.info(cfg.dataset).loader
    kwargs: dict[str, Any] = {"root": cfg.data_root} if cfg.data_root else {}
    lazy_size = cfg.image_size or _pretrained_size(cfg.model)
    if "size" in inspect.signature(loader).parameters:  # folder data sets decode at a fixed size
        kwargs["size"] = lazy_size
    ds_in = data.load(cfg.dataset, cfg.split, max_per_class=cfg.max_per_class, **kwargs)
    lazy = not isinstance(ds_in.images, np.ndarray)
    k, (in_chans, native) = ds_in.num_classes, (ds_in.shape[0], ds_in.shape[-1])
    image_size = cfg.image_size or (native if lazy else max(native, models.min_image_size(cfg.model) or 0))

    torch.manual_seed(0)  # a random-weight model is the same every run
    model_kwargs = {**cfg.model_kwargs, **({"weights": cfg.weights} if cfg.weights is not None else {})}
    net = models.create(cfg.model, k, in_chans, image_size, pretrained=cfg.pretrained, **model_kwargs)
    own_weights = models.loaded_weights(net) or {}
    net = net.to(rt.device, memory_format=torch.channels_last)  # faster on CPU too (resnet20 +20%)
    mean, std = models.normalization(net, in_chans)
    prep = partial(augment.to_float, mean=mean, std=std, size=image_size, channels_last=True)

    if lazy:
        batches = _folder_batches(ds_in, cfg, rt)
    else:
        batches = _torch.tensor_batches(_torch.as_tensor(ds_in.images), cfg.batch_size)
    n_batches = -(-len(ds_in) // cfg.batch_size)
    batches = _torch.progress(batches, enable=cfg.progress, total=n_batches, desc=f"{cfg.model} eval", unit="batch")
    logits, feats = _torch.predict(net, batches, prep, rt, features=cfg.save_features)

    ds = _schema.final_dataset(logits, ds_in.labels, ds_in.class_names, feats)
    ds.attrs.update(provenance(cfg, device=str(rt.device), wall_time_s=round(time.perf_counter() - t0, 3),
                               n_test=len(ds_in), n_params=_torch.count_params(net), image_size=image_size,
                               data_source=ds_in.source, weights_file=own_weights.get("file"),
                               weights_sha256=own_weights.get("sha256"), weights_stem=own_weights.get("stem")))
    return ds


def _pretrained_size(name: str) -> int:
    """The input size a timm model was trained at (224 when unknown)."""
    from .. import models
    if models.info(name) is not None:
        return 224
    try:
        import timm
        return int(timm.get_pretrained_cfg(name).input_size[-1])
    except Exception:  # noqa: BLE001 - no pretrained config: the ImageNet default
        return 224


class _Lazy:
    """Map-style dataset over :class:`fairnotes.data.LazyImages` (uint8 arrays; collated to tensors)."""

    def __init__(self, images: Any):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]


def _folder_batches(ds_in: Any, cfg: EvalConfig, rt: _torch.Runtime) -> Any:
    from torch.utils.data import DataLoader
    workers = cfg.num_workers if cfg.num_workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
    return DataLoader(_Lazy(ds_in.images), batch_size=cfg.batch_size, shuffle=False, num_workers=workers,
                      pin_memory=rt.cuda, persistent_workers=False,
                      prefetch_factor=4 if workers else None)


def main(argv: list[str] | None = None) -> int:
    """``python -m fairnotes.jobs.evaluate --config cfg.yaml [--out r.nc] [--set key=value ...]``."""
    from ._config import cli_main
    return cli_main(EvalConfig, run, "fairnotes.jobs.evaluate", __doc__, argv,
                    lambda ds: f"accuracy {ds.attrs.get('overall_accuracy', float('nan')):.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
