"""Frozen features of a data set, from a trained run or a pretrained model, cached on disk.

>>> from fairnotes.jobs import features
>>> from fairnotes.jobs.train import TrainConfig
>>> cfg = TrainConfig(dataset="fashion-mnist", model="resnet20", epochs=10)
>>> tr = features.extract(cfg, split="train")                        # doctest: +SKIP
>>> te = features.extract(cfg, split="test")                         # doctest: +SKIP
>>> im = features.extract("efficientnet_lite0", "fashion-mnist", "test")  # doctest: +SKIP
>>> va = features.extract(cfg, split="train", heldout=500)           # doctest: +SKIP

The result (``xr.Dataset``): ``features`` (sample × feature; the classifier's input, taken with
a forward pre-hook on ``get_classifier()``), ``labels`` (sample); coords ``label`` (0..K-1) and
``class_name``; for a trained run on its own data set also ``classifier_weight`` (label ×
feature) and ``classifier_bias`` (label), the trained classifier, for
:func:`fairnotes.heads.tau_norm_head` and :func:`fairnotes.heads.weight_norms`. Attrs give the
source, data, image size, cache key and provenance.

A trained run's weights come from its checkpoint (``last.pt`` in the run's checkpoint folder,
read with ``torch.load(weights_only=True)``). That is why a run is not simply re-run with
``save_features=True``: the train job saves the *test* split's features only, while a head
needs the training split's too, and the checkpoint gives any split (or another data set)
from the very weights the run ended with. A run whose checkpoint is missing or unfinished is
trained (or resumed) first, with ``keep_checkpoint=True``, through
:func:`fairnotes.results.cached`.

Files live in ``$FAIRNOTES_CACHE/features/<model>-<dataset>-<split>-<key>.nc``; the key hashes
the weights' identity (the run's config key, or the model name and weight file), the data
set, split, image size, ``max_per_class``, ``dtype`` and, for a run's own training split, its
subset. ``heldout=N`` gives N training images per class that the run never trained on
(:func:`heldout_images`; file ``<model>-run-<dataset>-train-heldout-<key>.nc``). A file is
written once (atomically) and read from then on; an unreadable one is recomputed with a warning.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

__all__ = ["extract", "cache_path", "run_model", "heldout_images", "NoHeldOutImages"]

_DTYPES = ("float32", "float16")


def extract(source: Any, dataset: str | None = None, split: str = "train", *, image_size: int | None = None,
            max_per_class: int | None = None, pretrained: bool = True, model_kwargs: dict | None = None,
            dtype: Literal["float32", "float16"] = "float32", batch_size: int = 256,
            device: Literal["auto", "cpu", "cuda"] = "auto", data_root: str | None = None,
            progress: bool | None = None, refresh: bool = False, heldout: int | None = None,
            precision: Literal["fp32", "bf16"] = "fp32") -> xr.Dataset:
    """Features of ``dataset``/``split`` from ``source``, computed once and then read from disk.

    Parameters
    ----------
    source
        A :class:`fairnotes.jobs.train.TrainConfig` (the run's final weights), or a model name
        (``"efficientnet_lite0"``, a timm name...) built with ``pretrained`` weights.
    dataset
        Registry name; default the run's data set (required for a model name).
    split
        ``"train"``, ``"test"``... For a run, ``"train"`` on its own data set with
        ``max_per_class=None`` gives the images the run trained on, in the same order
        (:func:`fairnotes.jobs.training_subset`: its ``train_per_class`` or long-tailed
        ``train_imbalance`` subset, if any).
    image_size
        Input size; default the run's, or for a model name the native size upsampled to the
        model's minimum (64 px for ``efficientnet_lite0``). Grey images go to a grey stem
        (RGB kernels summed, the same as repeating the grey channel).
    max_per_class
        Keep the first this many images of each class.
    pretrained, model_kwargs
        For a model name: load its published weights (bundled ones for ``efficientnet_lite0``;
        other timm names need the hub), and build arguments. A random-weight model
        (``pretrained=False``) is drawn with seed 0. ``model_kwargs["weights"]``: a local weights
        file instead (``pretrained`` ignored; its classifier may have any number of classes, it is
        not used; the key holds the file's SHA-256, see :mod:`fairnotes.models._weights`).
    dtype
        Stored precision: ``"float32"`` or ``"float16"`` (half the disk; heads upcast).
    batch_size, device, data_root, progress
        Inference batch, device, data folder, and the tqdm bar (``None``: notebooks and terminals).
    refresh
        Recompute even when the file exists.
    heldout
        For a run on its own training split: instead of the images it trained on, up to this
        many per class that it never saw (:func:`heldout_images`), e.g. a validation split for
        choosing a head's settings. :class:`NoHeldOutImages` when the run left none out.
    precision
        ``"fp32"`` (default) or ``"bf16"``: inference under bf16 autocast on CUDA and on CPUs with native
        bf16, float32 elsewhere (:func:`fairnotes._torch.resolve_precision`). The precision that runs
        joins the key when it is bf16 (float32 keys are unchanged); attrs ``precision_ran`` (stored) and
        ``precision_asked`` (this call's) record both.
    """
    from .._paths import cache_dir
    from ..results import read_cached
    from .train import TrainConfig

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}")
    ran, note = _precision(precision, device)
    spec = _Spec.build(source, dataset, split, image_size, max_per_class, pretrained, model_kwargs or {}, dtype,
                       data_root, TrainConfig, heldout, ran)
    path = cache_dir("features") / spec.file_name()
    asked = {"precision_asked": precision, **({"precision_note": note} if note else {})}  # this call's, not the file's
    ds = None if refresh else read_cached(path, "cached features")
    if ds is not None:
        ds.attrs.update(asked)
        return ds
    ds = _compute(spec, batch_size=batch_size, device=device, progress=progress)
    from ..results import save
    save(ds, path)
    ds.attrs.update(cache=f"miss {path}", **asked)
    return ds


def cache_path(source: Any, dataset: str | None = None, split: str = "train", *, image_size: int | None = None,
               max_per_class: int | None = None, pretrained: bool = True, model_kwargs: dict | None = None,
               dtype: str = "float32", data_root: str | None = None, heldout: int | None = None,
               precision: str = "fp32", device: str = "auto") -> Path:
    """Where :func:`extract` keeps (or would keep) these features."""
    from .._paths import cache_dir
    from .train import TrainConfig
    spec = _Spec.build(source, dataset, split, image_size, max_per_class, pretrained, model_kwargs or {}, dtype,
                       data_root, TrainConfig, heldout, _precision(precision, device)[0])
    return cache_dir("features") / spec.file_name()


class _Spec:
    """What to compute, resolved (data loaded lazily), and its cache key."""

    def __init__(self, **kw: Any):
        self.__dict__.update(kw)

    @classmethod
    def build(cls, source: Any, dataset: str | None, split: str, image_size: int | None,
              max_per_class: int | None, pretrained: bool, model_kwargs: dict, dtype: str,
              data_root: str | None, train_config: type, heldout: int | None = None, precision: str = "fp32"
              ) -> _Spec:
        from .. import data, models
        run = source if isinstance(source, train_config) else None
        if run is None and not isinstance(source, str):
            raise TypeError(f"source must be a TrainConfig or a model name; got {type(source).__name__}")
        if run is None and dataset is None:
            raise ValueError("a model-name source needs dataset=")
        if run is not None and model_kwargs:
            raise ValueError("model_kwargs come from the TrainConfig; pass them there")
        dataset = dataset or run.dataset
        info = data.info(dataset)
        if split not in info.splits:
            raise ValueError(f"{dataset!r} has no split {split!r}; valid splits: {', '.join(info.splits)}")
        if max_per_class is not None and (int(max_per_class) != max_per_class or max_per_class < 1):
            raise ValueError(f"max_per_class must be a positive integer or None; got {max_per_class!r}")
        model = run.model if run is not None else source
        if run is None and not models.is_model(model):
            raise ValueError(models.unknown_model_message(model))
        if run is None:
            models.check_weights(model_kwargs)
        root = data_root or (run.data_root if run is not None else None)
        if run is not None:
            weights = {"train_key": run.key()}
        elif model_kwargs.get("weights") is not None:  # a file: its content, not its path or `pretrained`
            weights = {"model": model, "pretrained": False, "model_kwargs": models.key_kwargs(model_kwargs),
                       "weights_file": None}
        else:
            weights = {"model": model, "pretrained": bool(pretrained), "model_kwargs": model_kwargs,
                       "weights_file": _weights_identity(model) if pretrained else None}
        if heldout is not None:
            if run is None or dataset != run.dataset or split != "train" or max_per_class is not None:
                raise ValueError("heldout= needs a trained run's own data set, split='train' and no max_per_class")
            if int(heldout) != heldout or heldout < 1:
                raise ValueError(f"heldout must be a positive integer; got {heldout!r}")
            if run.train_per_class is None:
                raise NoHeldOutImages(f"the run trained on every image of the {run.dataset} training split")
        imbalance = getattr(run, "train_imbalance", None) if run is not None else None
        own_subset = (heldout is None and run is not None and dataset == run.dataset and split == "train"
                      and max_per_class is None and (run.train_per_class is not None or imbalance is not None))
        # a balanced subset keeps the key it always had; a long-tailed one adds ρ, so features
        # cached before the long-tailed subset was honoured (balanced images) are never read back
        subset = None if not own_subset else \
            [run.train_per_class, run.seed] + ([imbalance] if imbalance is not None else [])
        # the size asked for; when None the size follows from the data set's native size (fixed)
        # and the model's minimum (which code may change), so that minimum joins the key
        size = image_size if image_size is not None else \
            {"default_min": run.image_size if run is not None and run.image_size else models.min_image_size(model)}
        key_fields = {"weights": weights, "dataset": dataset, "split": split, "image_size": size,
                      "max_per_class": max_per_class, "dtype": dtype,
                      "subset": subset}
        if heldout is not None:  # only then: every other key stays as it was
            key_fields["heldout"] = int(heldout)
        if precision != "fp32":  # likewise: float32 features keep their keys
            key_fields["precision"] = precision
        return cls(run=run, model=model, dataset=dataset, split=split, image_size=image_size,
                   max_per_class=max_per_class, pretrained=pretrained, model_kwargs=model_kwargs, dtype=dtype,
                   root=root, own_subset=own_subset, heldout=heldout, key_fields=key_fields, precision=precision)

    def key(self) -> str:
        from ..results import config_hash
        return config_hash(self.key_fields)

    def file_name(self) -> str:
        tag = f"{self.model}-run" if self.run is not None else self.model
        split = self.split if self.heldout is None else f"{self.split}-heldout"
        return f"{tag}-{self.dataset}-{split}-{self.key()}.nc".replace("/", "_")


class NoHeldOutImages(ValueError):
    """The run left no training image of some class out (it trained on all of them)."""


def heldout_images(cfg: Any, per_class: int, pool: Any = None) -> Any:
    """Up to ``per_class`` training images of each class that the run of ``cfg`` never trained on.

    - a balanced subset (``train_per_class``): :func:`fairnotes.jobs.heldout_subset`'s images, the
      same the remedies' re-weighting reads (they follow the run's own in each class's shuffle);
    - a long-tailed subset (``train_imbalance``): the images the long-tailed subset left out, a
      random ``per_class`` of each class (seed ``cfg.seed``), so the split is balanced even though
      the training data is not (as the balanced validation set of ImageNet-LT);
    - the whole training split: :class:`NoHeldOutImages`; likewise when some class has none left.

    Which images the run trained on is read from :func:`fairnotes.jobs.training_subset` itself (on
    an index pool), and the result is checked to share none with them.
    """
    from .. import data
    from ._subset import heldout_subset, training_subset
    if cfg.train_per_class is None:
        raise NoHeldOutImages(f"the run trained on every image of the {cfg.dataset} training split")
    if pool is None:
        root = getattr(cfg, "data_root", None)
        pool = data.load(cfg.dataset, "train", **({"root": root} if root else {}))
    index = data.ImageSet(pool.name, pool.split, np.arange(len(pool)).reshape(-1, 1), pool.labels, pool.class_names,
                          pool.source, pool.license)
    seen = np.asarray(training_subset(cfg, index).images).ravel()
    if getattr(cfg, "train_imbalance", None) is None:
        held = np.asarray(heldout_subset(cfg, int(per_class), index).images).ravel()
    else:
        rng = np.random.default_rng(cfg.seed)
        rest = np.setdiff1d(np.arange(len(pool)), seen)
        held = np.sort(np.concatenate([rng.permutation(rest[pool.labels[rest] == c])[:int(per_class)]
                                       for c in range(pool.num_classes)]))
    if np.intersect1d(held, seen).size:
        raise RuntimeError("held-out images overlap the run's training images")
    counts = np.bincount(pool.labels[held], minlength=pool.num_classes)
    if counts.min() < 1:
        empty = [pool.class_names[c] for c in np.flatnonzero(counts == 0)]
        raise NoHeldOutImages(f"the run trained on every {cfg.dataset} training image of class(es) "
                              f"{', '.join(empty)}")
    return pool.subset(held)


def _precision(precision: str, device: str) -> tuple[str, str | None]:
    """The precision that will run (bf16 only where the device has it) and the fallback note."""
    from .. import _torch
    _torch.check_precision(precision)
    if device not in _torch.DEVICES:
        raise ValueError(f"device must be one of {', '.join(_torch.DEVICES)}; got {device!r}")
    return _torch.resolve_precision(precision, device)


def _weights_identity(model: str) -> str:
    """Name and size of the bundled weight file (or the timm name for hub weights)."""
    if model == "efficientnet_lite0":
        from ..models._timm import lite0_weights_path
        p = Path(lite0_weights_path())
        return f"{p.name}:{p.stat().st_size}"
    return f"timm:{model}"


def _load_images(spec: _Spec) -> Any:
    from .. import data
    from ._subset import training_subset
    from .evaluate import _pretrained_size
    kwargs: dict[str, Any] = {"root": spec.root} if spec.root else {}
    loader = data.info(spec.dataset).loader
    if "size" in inspect.signature(loader).parameters:  # folder data sets decode at a fixed size
        kwargs["size"] = spec.image_size or _pretrained_size(spec.model)
    images = data.load(spec.dataset, spec.split, max_per_class=spec.max_per_class, **kwargs)
    if spec.own_subset:  # the very images the run trained on
        images = training_subset(spec.run, images)
    elif spec.heldout is not None:  # images of its training split it never saw
        images = heldout_images(spec.run, spec.heldout, images)
    return images


def _build_model(spec: _Spec, num_classes: int, in_chans: int, native: int) -> tuple[Any, int, dict]:
    """The network (weights loaded), its input size, and extra variables (the run's classifier)."""
    import torch

    from .. import models
    if spec.run is None:
        image_size = spec.image_size or max(native, models.min_image_size(spec.model) or 0)
        torch.manual_seed(0)  # a random-weight model is the same every time
        net = models.create(spec.model, num_classes, in_chans, image_size, pretrained=spec.pretrained,
                            head_mismatch="reinit", **spec.model_kwargs)  # features: the classifier is not used
        return net, image_size, {}
    cfg = spec.run
    net, image_size, run_chans = _run_model(cfg, spec.image_size)
    if in_chans != run_chans:
        raise ValueError(f"the run was trained on {run_chans}-channel images; {spec.dataset!r} has {in_chans}")
    extra = {}
    head = net.get_classifier()
    if spec.dataset == cfg.dataset and isinstance(head, torch.nn.Linear):
        w = head.weight.detach().float().numpy()
        b = head.bias.detach().float().numpy() if head.bias is not None else np.zeros(len(w), np.float32)
        extra = {"classifier_weight": (("label", "feature"), w, {"long_name": "the run's classifier weight"}),
                 "classifier_bias": ("label", b, {"long_name": "the run's classifier bias"})}
    return net, image_size, extra


def run_model(cfg: Any) -> tuple[Any, int]:
    """A train run's network with its final weights (trained first if needed), and its input size."""
    net, image_size, _ = _run_model(cfg, None)
    return net, image_size


def _run_model(cfg: Any, image_size: int | None) -> tuple[Any, int, int]:
    from .. import models
    state, run_k, run_chans, run_native = _run_state(cfg)
    image_size = image_size or cfg.image_size or max(run_native, models.min_image_size(cfg.model) or 0)
    if state is None:  # epochs=0: the run's initial model is its final one
        from .train import initial_model
        return initial_model(cfg, run_k, run_chans, image_size), image_size, run_chans
    net = models.create(cfg.model, run_k, run_chans, image_size, pretrained=False,
                        **models.without_weights(cfg.model_kwargs))  # the run's own weights follow
    models.apply_head(net, getattr(cfg, "head", "linear"))
    net.load_state_dict(state)
    return net, image_size, run_chans


def _run_state(cfg: Any) -> tuple[dict | None, int, int, int]:
    """The finished run's model state dict (training it first if needed; ``None`` for ``epochs=0``, which
    trains nothing) and its data's shape."""
    from .. import data
    from ..results import cached
    from . import _checkpoint, train
    if cfg.epochs == 0:
        root = {"root": cfg.data_root} if cfg.data_root else {}
        ref = data.load(cfg.dataset, "test", max_per_class=1, **root)
        return None, ref.num_classes, ref.shape[0], ref.shape[-1]
    folder = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else train._default_ckpt_dir(cfg.key())
    state = _checkpoint.load(folder, cfg.key())
    if state is None or int(state["epoch"]) < cfg.epochs:
        # keep_checkpoint is not in the key: same run, same result file, but the weights stay
        cached(train.run, replace(cfg, keep_checkpoint=True), refresh=True)
        state = _checkpoint.load(folder, cfg.key())
        if state is None:
            raise RuntimeError(f"training {cfg.model} left no checkpoint in {folder}")
    root = {"root": cfg.data_root} if cfg.data_root else {}
    ref = data.load(cfg.dataset, "test", max_per_class=1, **root)
    return state["model"], ref.num_classes, ref.shape[0], ref.shape[-1]


def _batches(images: Any, batch_size: int) -> Any:
    import torch

    from .. import _torch
    if isinstance(images, np.ndarray):
        yield from _torch.tensor_batches(_torch.as_tensor(images), batch_size)
        return
    for i in range(0, len(images), batch_size):  # lazy folder images: read one batch at a time
        yield torch.from_numpy(np.stack([images[j] for j in range(i, min(i + batch_size, len(images)))]))


def _compute(spec: _Spec, *, batch_size: int, device: str, progress: bool | None) -> xr.Dataset:
    import torch

    from .. import _torch, augment, models
    from ..results import provenance

    t0 = time.perf_counter()
    images = _load_images(spec)
    in_chans, native = images.shape[0], images.shape[-1]
    rt = _torch.start(device)
    try:
        net, image_size, extra = _build_model(spec, images.num_classes, in_chans, native)
        net = net.to(rt.device, memory_format=torch.channels_last)
        mean, std = models.normalization(net, in_chans)
        prep = partial(augment.to_float, mean=mean, std=std, size=image_size, channels_last=True)
        from ..progress import report  # the status line of `fairnotes run` (its bar below is off there)
        report(what=f"{spec.model} features {spec.dataset}/{spec.split}")
        n_batches = -(-len(images) // batch_size)
        batches = _torch.progress(_batches(images.images, batch_size), enable=progress, total=n_batches,
                                    desc=f"{spec.model} features {spec.dataset}/{spec.split}", unit="batch")
        _, feats = _torch.predict(net, batches, prep, rt, features=True, precision=spec.precision)
    finally:
        rt.close()
    k = images.num_classes
    ds = xr.Dataset(
        {"features": (("sample", "feature"), feats.astype(spec.dtype),
                      {"long_name": "penultimate features (the classifier's input)"}),
         "labels": ("sample", np.asarray(images.labels, dtype=np.int64), {"long_name": "true label"}),
         **extra},
        coords={"sample": np.arange(len(images)), "label": np.arange(k),
                "class_name": ("label", np.asarray(images.class_names, dtype=str))})
    own = models.loaded_weights(net)
    source = f"run {spec.run.key()} ({spec.model})" if spec.run is not None else \
        f"{spec.model} (weights file {own['file']}, sha256 {own['sha256']})" if own and spec.run is None else \
        f"{spec.model} ({'pretrained' if spec.pretrained else 'random'} weights)"
    ds.attrs.update(provenance(spec.key_fields, features_key=spec.key(), source=source, dataset=spec.dataset,
                               split=spec.split if spec.heldout is None else f"{spec.split} (held out)",
                               image_size=image_size, n=len(images), device=str(rt.device),
                               precision_ran=spec.precision,
                               data_source=images.source, wall_time_s=round(time.perf_counter() - t0, 3)))
    return ds
