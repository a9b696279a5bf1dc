"""Train an image classifier and record how every class fares, epoch by epoch.

>>> from fairnotes.jobs import train
>>> cfg = train.TrainConfig(dataset="digits", model="mlp", epochs=3, lr=0.05)
>>> ds = train.run(cfg)                                          # doctest: +SKIP
>>> ds["per_class_accuracy"].sel(epoch=3).to_series()            # doctest: +SKIP

The result (``xr.Dataset``):

- per epoch (dim ``epoch``, 1..E): ``train_loss``, ``test_accuracy``, ``lr`` (at the epoch's
  end), ``epoch_time_s`` (training only); ``per_class_accuracy`` (epoch × label);
- the final model on the test set: ``prediction``, ``target`` (sample), ``logits`` (sample ×
  label, float32), ``features`` (sample × feature, with ``save_features``), and the variables
  of :func:`fairnotes.metrics.per_class` under their own names (``support``, ``predicted``,
  ``tp``, ``fp``, ``fn``, ``accuracy``, ``precision``, ``f1`` on ``label``);
- with ``track=True``: ``track_*`` (epoch × label), ``step_*`` (step × label) and
  ``feature_variance``, ``nearest_mean_distance`` (feature_epoch × label), see
  :mod:`fairnotes.jobs._tracking`;
- coords ``label`` (0..K-1) and ``class_name``; attrs from :func:`fairnotes.results.provenance`
  plus ``seed``, ``device``, ``wall_time_s``, ``n_train``, ``n_test``, ``n_params``,
  ``image_size``, ``world_size``, ``resumed_from_epoch``, ``overall_accuracy``, ``balanced_accuracy``,
  ``precision_asked`` / ``precision_ran`` (``"fp32"`` or ``"bf16"``; they differ, with a
  ``precision_note``, where bf16 was asked on a device without it).

Your own weights: a ``weights`` entry in ``model_kwargs`` (model spec ``"resnet18:weights=~/w.safetensors"``)
starts the run from that file (:mod:`fairnotes.models._weights`; its SHA-256, not its path, enters the
key). Training re-initialises a classifier that does not fit the data set's classes (attr
``weights_head`` says so); ``epochs=0`` trains nothing and evaluates the file on the test split (the
classifier must fit), with the same result schema and an empty ``epoch`` dim.

Every epoch ends with a checkpoint; running the same config again resumes from the last
complete one, and on CPU gives the same result as an uninterrupted run (bit for bit, in fp32 and in
bf16). Random streams (shuffling, augmentation, dropout) are re-seeded from ``(seed, epoch, rank)`` at
each epoch, as ``DistributedSampler.set_epoch`` does, so a resume needs no saved RNG state.

Scale-out: ``torchrun --standalone --nproc_per_node=N -m fairnotes.jobs.train --config cfg.yaml
--out r.nc`` trains with DDP (gloo on CPU, nccl on CUDA); ``batch_size`` stays the global batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import xarray as xr

from .. import _torch
from .. import progress as _progress
from . import _checkpoint, _loss, _optim, _schema, _tracking
from ._config import PROFILES, check_choice, check_positive

# fields that change neither the numbers nor the checkpoint's meaning (the tracking fields,
# _tracking.FIELDS, join the key only when track=True: see TrainConfig.key)
# fields added after results were cached: left out of the key at these values, so older keys still hold
_KEY_DEFAULTS = {"head": "linear", "train_imbalance": None, "label_smoothing": 0.0, "mixup": 0.0, "cutmix": 0.0,
                 "loss": "cross_entropy", "focal_gamma": 2.0, "class_weights": None, "pretrain": None,
                 "precision": "fp32"}
_NOT_IN_KEY = ("checkpoint_dir", "keep_checkpoint", "progress")


@dataclass
class TrainConfig:
    """Everything that defines a training run (and its cache key).

    ``augment``: ``"none"``, ``"crop"``, ``"flip"`` or ``"flip-crop"`` (see
    :mod:`fairnotes.augment`; no flip for digits). ``image_size=None`` keeps the native size,
    or upsamples to the model's minimum (64 px for ``efficientnet_lite0``). ``train_per_class``
    keeps a random subset of that many training images per class; with ``train_imbalance`` = ρ
    the subset is long-tailed instead (class c keeps ``train_per_class · ρ^(−c/(K−1))`` images,
    :func:`fairnotes.data.long_tail_counts`); :func:`fairnotes.jobs.training_subset` picks the
    images. ``head="etf"`` fixes the classifier to a simplex ETF with zero bias
    (:mod:`fairnotes.models._etf`; needs a feature dim >= classes - 1); only the features are
    trained. ``batch_size`` is the global
    batch (split across DDP processes). ``checkpoint_dir=None`` uses
    ``$FAIRNOTES_CACHE/checkpoints/<key>``. ``progress=None`` shows bars in notebooks and
    terminals, not in logs. ``profile`` is a label for the book (laptop, paper, tiny);
    ``track=True`` also records per-class training dynamics (predictions, TP/FP/FN, mean
    softmax on own/other samples, classifier-gradient norms from positives/negatives) per
    epoch and every ``track_every_steps`` steps of the first ``track_early_epochs`` epochs,
    and test-feature spread at ``track_feature_epochs`` (None: the last); see
    :mod:`fairnotes.jobs._tracking`.

    Remedies (chapter "remedies"): ``label_smoothing`` ε; ``mixup`` / ``cutmix``: the Beta α of
    timm's Mixup / CutMix (0 = off; both > 0: each batch picks one); ``augment`` may add
    ``randaugment`` or ``trivialaugment``; ``loss="focal"`` with ``focal_gamma``; ``loss="multilabel-softmax"`` or
    ``"bce"`` on a multi-label data set (``meta["multi_hot"]``, e.g. ``emoji-scenes``): one logit per label, the result
    adds ``target_multi_hot`` beside the logits;
    ``class_weights`` (one positive number per class) weight the loss (see
    :mod:`fairnotes.jobs._loss`; :func:`fairnotes.jobs.remedies.heldout_weights` derives them from
    held-out per-class accuracy); ``pretrain``: the fields of a
    :class:`~fairnotes.jobs.contrastive.ContrastiveConfig` (same model) whose encoder initialises
    every weight but the classifier.

    ``precision="bf16"`` trains and evaluates under bf16 autocast (channels_last, float32 parameters,
    gradients and optimizer state, the loss computed in float32, no loss scaling) on CUDA and on CPUs with
    native bf16 (``avx512_bf16`` / AMX, Arm ``bf16``: :func:`fairnotes._torch.cpu_bf16_supported`); elsewhere
    it runs float32 and says so (attrs ``precision_asked``, ``precision_ran``, ``precision_note``).
    ``"fp32"`` (the default, left out of the key) is plain float32 on every device.

    ``model_kwargs["weights"]``: a local weights file to start from (see the module doc; it wins over
    ``pretrained``). ``epochs=0``: no training, the initial model (that file, ``pretrained`` weights or
    the seed's random ones) evaluated on the test split.
    """

    dataset: str = "fashion-mnist"
    model: str = "resnet20"
    model_kwargs: dict = field(default_factory=dict)
    head: Literal["linear", "etf"] = "linear"
    train_imbalance: float | None = None
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    loss: Literal["cross_entropy", "focal", "multilabel-softmax", "bce"] = "cross_entropy"
    focal_gamma: float = 2.0
    class_weights: list[float] | None = None
    pretrain: dict | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    optimizer: Literal["sgd", "adamw"] = "sgd"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: Literal["cosine", "constant", "step"] = "cosine"
    warmup_epochs: float = 0.0
    augment: str = "crop"
    image_size: int | None = None
    train_per_class: int | None = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    pretrained: bool = False
    save_features: bool = False
    checkpoint_dir: str | None = None
    keep_checkpoint: bool = True
    profile: Literal["laptop", "paper", "tiny"] = "laptop"
    track: bool = False
    track_every_steps: int = 20
    track_early_epochs: int = 1
    track_feature_epochs: list[int] | None = None
    compile: bool = False
    precision: Literal["fp32", "bf16"] = "fp32"
    progress: bool | None = None
    data_root: str | None = None

    def __post_init__(self) -> None:
        from .. import augment, data, models
        check_choice("optimizer", self.optimizer, _optim.OPTIMIZERS)
        check_choice("schedule", self.schedule, _optim.SCHEDULES)
        check_choice("device", self.device, _torch.DEVICES)
        check_choice("profile", self.profile, PROFILES)
        check_choice("head", self.head, models.HEADS)
        check_choice("precision", self.precision, _torch.PRECISIONS)
        if self.train_imbalance is not None and self.train_imbalance < 1:
            raise ValueError(f"train_imbalance is the largest / smallest class count (>= 1); got {self.train_imbalance}")
        augment.parse(self.augment)
        data.info(self.dataset)  # KeyError listing the data sets
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0 (0: evaluate without training); got {self.epochs!r}")
        check_positive(self, "batch_size")
        check_positive(self, "image_size", "train_per_class", optional=True)
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_epochs < 0 or not 0 <= self.momentum < 1:
            raise ValueError("need lr > 0, weight_decay >= 0, warmup_epochs >= 0 and 0 <= momentum < 1")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict; got {self.model_kwargs!r}")
        if not models.is_model(self.model):
            raise ValueError(models.unknown_model_message(self.model))
        models.check_weights(self.model_kwargs)
        if self.epochs == 0 and self.track:
            raise ValueError("track=True records training dynamics; epochs=0 trains nothing: turn tracking off")
        _tracking.check_config(self)
        self._check_remedies()

    def _check_remedies(self) -> None:
        check_choice("loss", self.loss, _loss.LOSSES + _loss.MULTILABEL_LOSSES)
        if self.loss in _loss.MULTILABEL_LOSSES and (self.mixup or self.cutmix or self.label_smoothing or self.track
                                                     or self.class_weights is not None):
            raise ValueError(f"loss={self.loss!r} trains on multi-hot targets; mixup, cutmix, label_smoothing, "
                             f"class_weights and track are single-label options: turn them off")
        if not 0 <= self.label_smoothing < 1 or self.mixup < 0 or self.cutmix < 0 or self.focal_gamma < 0:
            raise ValueError("need 0 <= label_smoothing < 1, mixup >= 0, cutmix >= 0 and focal_gamma >= 0")
        if self.track and (self.mixup or self.cutmix):
            raise ValueError("track=True counts predictions against one label per image; Mixup/CutMix images have "
                             "two, so turn tracking or mixing off")
        _loss.check_class_weights(self.class_weights)
        if self.pretrain is not None:
            from .contrastive import ContrastiveConfig
            if not isinstance(self.pretrain, dict):
                raise ValueError(f"pretrain must be a dict of ContrastiveConfig fields or None; got {self.pretrain!r}")
            known = {f.name for f in fields(ContrastiveConfig)}
            if set(self.pretrain) - known:
                raise ValueError(f"unknown ContrastiveConfig fields in pretrain: {', '.join(sorted(set(self.pretrain) - known))}; "
                                 f"known: {', '.join(sorted(known))}")
            pre = ContrastiveConfig(**self.pretrain)
            if (pre.model, pre.model_kwargs) != (self.model, self.model_kwargs):
                raise ValueError(f"pretrain trains {pre.model} {pre.model_kwargs}; this run is {self.model} "
                                 f"{self.model_kwargs}: they must be the same network")

    def key(self) -> str:
        """Hash of the fields that determine the numbers (names the checkpoint folder)."""
        from ..results import config_hash
        skip = _NOT_IN_KEY if self.track else _NOT_IN_KEY + _tracking.FIELDS
        skip += tuple(k for k, v in _KEY_DEFAULTS.items() if getattr(self, k) == v)
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return config_hash(_weights_by_content(d))


def _weights_by_content(d: dict) -> dict:
    """A weights file enters a key as its SHA-256, not its path, and makes ``pretrained`` moot; fields
    without one are returned as they are, so every other key stays as it was."""
    from ..models import key_kwargs
    if (d.get("model_kwargs") or {}).get("weights") is not None:
        d = {**d, "model_kwargs": key_kwargs(d["model_kwargs"]), "pretrained": False}
    pre = d.get("pretrain")
    if isinstance(pre, dict) and (pre.get("model_kwargs") or {}).get("weights") is not None:
        d = {**d, "pretrain": {**pre, "model_kwargs": key_kwargs(pre["model_kwargs"])}}
    return d


def initial_model(cfg: TrainConfig, num_classes: int, in_chans: int, image_size: int) -> Any:
    """The network a run of ``cfg`` starts from, on the CPU: seeded initialisation, then the weights file
    (classifier re-initialised when it does not fit and the run trains) or ``pretrained`` weights, the
    ``pretrain`` encoder, and the ``head``."""
    import torch

    from .. import models
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    net = models.create(cfg.model, num_classes, in_chans, image_size, pretrained=cfg.pretrained,
                        head_mismatch="reinit" if cfg.epochs > 0 else "error", **cfg.model_kwargs)
    if cfg.pretrain is not None:  # the encoder's weights; the classifier keeps this seed's initialisation
        from .contrastive import ContrastiveConfig, encoder_state, load_backbone
        load_backbone(net, encoder_state(ContrastiveConfig(**cfg.pretrain)))
    models.apply_head(net, cfg.head)  # "etf": a fixed classifier, before the optimiser collects parameters
    return net


def run(cfg: TrainConfig, *, on_epoch_end: Callable[[int, dict], None] | None = None) -> xr.Dataset | None:
    """Train ``cfg.model`` on ``cfg.dataset`` and evaluate it on the test split (see the module doc).

    ``on_epoch_end(epoch, history)`` is called after each epoch's checkpoint is written. Under
    ``torchrun`` only rank 0 returns the result; the other ranks return ``None``.
    """
    t_start = time.perf_counter()
    rt = _torch.start(cfg.device)
    try:
        return _train(cfg, rt, on_epoch_end, t_start)
    finally:
        rt.close()


def _load_data(cfg: TrainConfig) -> tuple[Any, Any]:
    from .. import data
    from ._subset import training_subset
    root = {"root": cfg.data_root} if cfg.data_root else {}
    train = data.load(cfg.dataset, "train", **root)
    test = data.load(cfg.dataset, "test", **root)
    if not isinstance(train.images, np.ndarray):
        raise ValueError(f"the train job needs an in-memory data set; {cfg.dataset!r} is read lazily from disk")
    return training_subset(cfg, train), test


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _train(cfg: TrainConfig, rt: _torch.Runtime, on_epoch_end: Callable | None, t_start: float) -> xr.Dataset | None:
    import torch
    import yaml

    from .. import augment, models
    from ..results import config_dict, provenance

    train, test = _load_data(cfg)
    k, in_chans, native = train.num_classes, train.images.shape[1], train.images.shape[-1]
    multilabel = cfg.loss in _loss.MULTILABEL_LOSSES
    if multilabel:  # one output per label; the targets are the data set's multi-hot matrix
        if "multi_hot" not in train.meta or "multi_hot" not in test.meta:
            raise ValueError(f"loss={cfg.loss!r} needs a multi-label data set (meta['multi_hot'], e.g. emoji-scenes); "
                             f"{cfg.dataset!r} has one label per image")
        k = int(np.asarray(train.meta["multi_hot"]).shape[1])
        test_multi = np.asarray(test.meta["multi_hot"])
        test_first = test_multi.argmax(1)  # each test image's first label column: the "target" of the schema
    image_size = cfg.image_size or max(native, models.min_image_size(cfg.model) or 0)

    prec, prec_note = _torch.resolve_precision(cfg.precision, rt.device)  # bf16 falls back where unsupported
    net = initial_model(cfg, k, in_chans, image_size)
    own_weights = models.loaded_weights(net) or {}
    net = net.to(rt.device, memory_format=torch.channels_last)  # faster on CPU too (resnet20 +20%)
    mean, std = models.normalization(net, in_chans)
    prep = partial(augment.to_float, mean=mean, std=std, size=image_size, channels_last=True)
    aug_steps = augment.parse(cfg.augment)

    x_train = _torch.as_tensor(train.images).to(rt.device)
    y_train = torch.as_tensor(np.asarray(train.meta["multi_hot"]), dtype=torch.float32).to(rt.device) if multilabel \
        else torch.as_tensor(train.labels).to(rt.device)
    x_test = _torch.as_tensor(test.images)
    weight = None
    if cfg.class_weights is not None:
        if len(cfg.class_weights) != k:
            raise ValueError(f"class_weights has {len(cfg.class_weights)} numbers; {cfg.dataset!r} has {k} classes")
        weight = torch.tensor(cfg.class_weights, dtype=torch.float32, device=rt.device)
    loss_fn = partial(_loss.multilabel_loss, cfg.loss) if multilabel else \
        partial(_loss.classification_loss, label_smoothing=cfg.label_smoothing, class_weight=weight,
                focal_gamma=cfg.focal_gamma if cfg.loss == "focal" else 0.0)
    mixer = _loss.Mixer(k, mixup=cfg.mixup, cutmix=cfg.cutmix, label_smoothing=cfg.label_smoothing) \
        if cfg.mixup or cfg.cutmix else None

    bs = cfg.batch_size // rt.world_size
    if bs < 1:
        raise ValueError(f"batch_size {cfg.batch_size} is smaller than the {rt.world_size} processes")
    per_rank = math.ceil(len(train) / rt.world_size)
    steps = per_rank // bs + (per_rank % bs >= 2)  # a last batch of 1 is dropped (BatchNorm needs 2)
    opt = _optim.make_optimizer(net, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _optim.lr_factor(cfg.schedule, cfg.epochs, steps, cfg.warmup_epochs))

    key = cfg.key()
    cfg_yaml = yaml.safe_dump(config_dict(cfg), sort_keys=True)
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else _default_ckpt_dir(key)
    start, history = _checkpoint.resume(ckpt_dir, key, net, opt, sched, {
        "train_loss": [], "test_accuracy": [], "per_class_accuracy": [], "lr": [], "epoch_time_s": []})

    tracker = _tracking.Tracker(cfg, net, k, steps, rt, history) if cfg.track else None
    fwd = net
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        fwd = DDP(net, device_ids=[rt.device.index] if rt.cuda else None)
    if cfg.compile:
        fwd = torch.compile(fwd)

    eval_bs = max(256, cfg.batch_size)
    last = None  # (logits, features) of the final epoch's evaluation
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(_seed(cfg.seed, epoch, 0)))
        if rt.distributed:  # DistributedSampler's padding and striding, on the same permutation
            order = torch.cat([order, order[:per_rank * rt.world_size - len(order)]])[rt.rank::rt.world_size]
        order = order.to(rt.device)
        gen = torch.Generator().manual_seed(_seed(cfg.seed, epoch, 1, rt.rank))
        torch.manual_seed(_seed(cfg.seed, epoch, 2, rt.rank))
        mix_rng = np.random.RandomState(_seed(cfg.seed, epoch, 3, rt.rank) % 2**32) if mixer else None
        fwd.train()
        loss_sum = torch.zeros((), device=rt.device, dtype=torch.float64)
        n_seen = 0
        if rt.is_main:  # the status line of `fairnotes run` (a no-op elsewhere)
            _progress.report(model=cfg.model, seed=cfg.seed, epoch=epoch + 1, epochs=cfg.epochs)
        bar = _torch.progress(range(steps), enable=cfg.progress if rt.is_main else False,
                              desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=True)
        for i in bar:
            idx = order[i * bs:(i + 1) * bs]
            xb = prep(augment.apply(x_train[idx], aug_steps, generator=gen))
            target = y_train[idx]
            if mixer is not None:
                xb, target = mixer(xb, target, mix_rng)
            with _torch.autocast(rt, prec):
                out = fwd(xb)
            out = out.float()  # the loss in float32 (a no-op for fp32)
            loss = loss_fn(out, target)
            if tracker is not None:
                tracker.update(out, y_train[idx], epoch, i)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach().double() * len(xb)
            n_seen += len(xb)
            if i % 20 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        if rt.distributed:
            import torch.distributed as dist
            totals = torch.stack([loss_sum.float(), torch.tensor(float(n_seen), device=rt.device)])
            dist.all_reduce(totals)
            loss_sum, n_seen = totals[0].double(), int(totals[1].item())
        if tracker is not None:
            tracker.end_epoch(epoch)
        history["train_loss"].append(float(loss_sum.item() / max(1, n_seen)))
        history["epoch_time_s"].append(round(time.perf_counter() - t0, 3))
        history["lr"].append(float(sched.get_last_lr()[0]))

        if rt.is_main:
            final = epoch == cfg.epochs - 1
            track_feats = tracker is not None and tracker.wants_features(epoch + 1)
            last = _torch.predict(net, _torch.tensor_batches(x_test, eval_bs), prep, rt,
                                  features=(cfg.save_features and final) or track_feats, precision=prec)
            if track_feats:
                last = tracker.record_features(epoch + 1, last, test.labels, keep=cfg.save_features and final)
            pred = last[0].argmax(1)
            target = test.labels
            if multilabel:  # "accuracy": the top-scoring label is one of the image's labels (per first label)
                hit = test_multi[np.arange(len(pred)), pred] == 1
                target = test_first
                pred = np.where(hit, target, -1)
            history["test_accuracy"].append(float((pred == target).mean()))
            history["per_class_accuracy"].append(_schema.per_class_accuracy(target, pred, k).tolist())
            bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", test_acc=f"{history['test_accuracy'][-1]:.3f}")
            _checkpoint.save(ckpt_dir, {"key": key, "epoch": epoch + 1, "model": net.state_dict(),
                                        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                        "history": history},
                             config_yaml=cfg_yaml)
        bar.close()
        rt.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)

    checksums = _param_checksums(net, rt)
    if not rt.is_main:
        return None
    if last is None or (cfg.save_features and last[1] is None):  # resumed a finished run
        last = _torch.predict(net, _torch.tensor_batches(x_test, eval_bs), prep, rt, features=cfg.save_features,
                              precision=prec)
    if multilabel:  # logits over the labels; the multi-hot targets beside them (mAP is computed from these)
        ds = _schema.final_dataset(last[0], test_first, list(test.meta["label_names"]), last[1])
        ds["target_multi_hot"] = (("sample", "label"), test_multi.astype(np.uint8), {"long_name": "multi-hot targets"})
    else:
        ds = _schema.final_dataset(last[0], test.labels, test.class_names, last[1])
    ds = _with_history(ds, history, k)
    if tracker is not None:
        tracker.close()
        ds = _tracking.with_tracking(ds, history, k)
    ds.attrs.update(provenance(
        cfg, seed=cfg.seed, device=str(rt.device), wall_time_s=round(time.perf_counter() - t_start, 3),
        n_train=len(train), n_test=len(test), n_params=_torch.count_params(net), image_size=image_size,
        world_size=rt.world_size, resumed_from_epoch=start,
        precision_asked=cfg.precision, precision_ran=prec, precision_note=prec_note,
        train_images_per_s=_throughput(len(train), history["epoch_time_s"]),
        checkpoint=str(ckpt_dir / _checkpoint.FILE) if cfg.keep_checkpoint and cfg.epochs else None,
        ddp_param_checksums=checksums if rt.distributed else None,
        weights_file=own_weights.get("file"), weights_sha256=own_weights.get("sha256"),
        weights_head=own_weights.get("head"), weights_stem=own_weights.get("stem")))
    if not cfg.keep_checkpoint:
        _checkpoint.remove(ckpt_dir)
    return ds


def _default_ckpt_dir(key: str) -> Path:
    from .._paths import cache_dir
    return cache_dir("checkpoints", key)


def _throughput(n_train: int, epoch_times: list[float]) -> float:
    """Training images per second over the recorded epochs (resumed ones included)."""
    return round(n_train * len(epoch_times) / max(1e-9, sum(epoch_times)), 1)


def _param_checksums(net: Any, rt: _torch.Runtime) -> list[float]:
    """Sum of all parameters (float64) on each rank: equal when DDP kept the replicas in step."""
    local = float(sum(p.detach().double().sum().item() for p in net.parameters()))
    if not rt.distributed:
        return [local]
    import torch.distributed as dist
    out: list = [None] * rt.world_size
    dist.all_gather_object(out, local)
    return out


def _with_history(ds: xr.Dataset, h: dict, k: int) -> xr.Dataset:
    epochs = np.arange(1, len(h["train_loss"]) + 1)
    pca = np.asarray(h["per_class_accuracy"], dtype=np.float64).reshape(len(epochs), k)
    return ds.assign(
        train_loss=("epoch", np.asarray(h["train_loss"]), {"long_name": "mean training cross-entropy"}),
        test_accuracy=("epoch", np.asarray(h["test_accuracy"]), {"long_name": "test accuracy"}),
        per_class_accuracy=(("epoch", "label"), pca, {"long_name": "test accuracy of each class"}),
        lr=("epoch", np.asarray(h["lr"]), {"long_name": "learning rate at the end of the epoch"}),
        epoch_time_s=("epoch", np.asarray(h["epoch_time_s"]), {"long_name": "training seconds"}),
    ).assign_coords(epoch=epochs)


def main(argv: list[str] | None = None) -> int:
    """``python -m fairnotes.jobs.train --config cfg.yaml [--out r.nc] [--set key=value ...]``."""
    from ._config import cli_main
    return cli_main(TrainConfig, run, "fairnotes.jobs.train", __doc__, argv,
                    lambda ds: f"test accuracy {ds.attrs.get('overall_accuracy', float('nan')):.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
