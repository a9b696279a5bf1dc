"""SimCLR-style contrastive pre-training: a representation learnt without labels.

*Classes Are Not Equal* (arXiv 2402.18133) reports that representation learning (contrastive or
masked-image pre-training) makes per-class accuracy more even. This job pre-trains a network of
the registry (:mod:`fairnotes.models`) the SimCLR way (Chen et al. 2020): two random views of each
training image (random resized crop, horizontal flip, brightness/contrast jitter, drawn per image
on tensors, see :mod:`fairnotes.augment`), the network's penultimate features through a two-layer
projection head, and the NT-Xent loss (each view must pick its twin among the ``2B − 1`` other
views of the batch at temperature ``τ``). Labels are never read.

>>> from fairnotes.jobs import contrastive
>>> cfg = contrastive.ContrastiveConfig(dataset="digits", model="cnn", epochs=2)
>>> ds = contrastive.run(cfg)                         # doctest: +SKIP
>>> state = contrastive.encoder_state(cfg)            # doctest: +SKIP

What uses it: ``TrainConfig(pretrain=dataclasses.asdict(cfg))`` fine-tunes from the encoder, and
:func:`fairnotes.jobs.remedies.linear_probe` fits a linear probe on its frozen features. The
result (``xr.Dataset``): ``loss``, ``lr``, ``epoch_time_s`` per ``epoch``; attrs give the encoder
file (``encoder``: a safetensors state dict of the whole network, its untrained classifier
included) and provenance. Every epoch ends with a checkpoint (resume as in the train job).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import xarray as xr

from .. import _torch
from .. import progress as _progress
from . import _checkpoint, _optim
from ._config import PROFILES, check_choice, check_positive

ENCODER = "encoder.safetensors"
_NOT_IN_KEY = ("checkpoint_dir", "progress")


@dataclass
class ContrastiveConfig:
    """A contrastive pre-training run (and its cache key).

    ``crop_scale``: area range of the random crop; ``flip``: random horizontal flips (off for
    digits and text); ``jitter``: brightness and contrast factors drawn from ``[1-j, 1+j]``.
    ``proj_dim``: output of the projection head (hidden width = the feature dim). AdamW with a
    cosine schedule and ``warmup_epochs``. ``train_per_class`` keeps the same random subset as
    ``TrainConfig(train_per_class=..., seed=...)`` (:func:`fairnotes.jobs.training_subset`), so a
    fine-tune sees no extra images.
    """

    dataset: str = "fashion-mnist"
    model: str = "cnn"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    temperature: float = 0.2
    proj_dim: int = 64
    crop_scale: list = field(default_factory=lambda: [0.3, 1.0])
    flip: bool = True
    jitter: float = 0.4
    image_size: int | None = None
    train_per_class: int | None = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    profile: Literal["laptop", "paper", "tiny"] = "laptop"
    checkpoint_dir: str | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        from .. import data, models
        check_choice("device", self.device, _torch.DEVICES)
        check_choice("profile", self.profile, PROFILES)
        data.info(self.dataset)
        check_positive(self, "epochs", "batch_size", "proj_dim")
        check_positive(self, "image_size", "train_per_class", optional=True)
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (each view needs negatives)")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_epochs < 0 or self.temperature <= 0:
            raise ValueError("need lr > 0, weight_decay >= 0, warmup_epochs >= 0 and temperature > 0")
        cs = list(self.crop_scale)
        if len(cs) != 2 or not 0 < cs[0] <= cs[1] <= 1:
            raise ValueError(f"crop_scale must be [low, high] with 0 < low <= high <= 1; got {self.crop_scale!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1); got {self.jitter!r}")
        if not models.is_model(self.model):
            raise ValueError(models.unknown_model_message(self.model))

    def key(self) -> str:
        from ..results import config_hash
        return config_hash({f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_KEY})


def nt_xent(z: Any, temperature: float) -> Any:
    """SimCLR's NT-Xent loss of ``2B`` projections: rows ``i`` and ``i + B`` are the two views of image ``i``."""
    import torch
    import torch.nn.functional as F
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0]
    b = n // 2
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, n), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)


def run(cfg: ContrastiveConfig, *, on_epoch_end: Callable[[int, dict], None] | None = None) -> xr.Dataset:
    """Pre-train ``cfg.model`` on ``cfg.dataset``'s training images (labels unused); see the module doc.

    ``on_epoch_end(epoch, history)`` is called after each epoch's checkpoint is written.
    """
    t_start = time.perf_counter()
    rt = _torch.start(cfg.device)
    if rt.distributed:
        rt.close()
        raise ValueError("contrastive pre-training runs in one process; launch it without torchrun")
    try:
        return _train(cfg, rt, t_start, on_epoch_end)
    finally:
        rt.close()


def encoder_state(cfg: ContrastiveConfig) -> dict[str, Any]:
    """The pre-trained network's state dict (pre-training first, through the results cache, if needed)."""
    from safetensors.torch import load_file

    from ..results import cached
    path = _folder(cfg) / ENCODER
    if not path.exists():
        cached(run, cfg, refresh=True)
    return load_file(str(path))


def build_encoder(cfg: ContrastiveConfig, num_classes: int, in_chans: int) -> tuple[Any, int]:
    """The registry network with the pre-trained weights loaded, and its input size."""
    from .. import models
    size = _image_size(cfg)
    net = models.create(cfg.model, num_classes, in_chans, size, **cfg.model_kwargs)
    load_backbone(net, encoder_state(cfg))
    return net, size


def load_backbone(net: Any, state: dict[str, Any]) -> None:
    """Load every weight of ``state`` except the classifier's into ``net`` (which keeps its own classifier)."""
    head = {id(p) for p in net.get_classifier().parameters()}
    head_names = {n for n, p in net.named_parameters() if id(p) in head}
    keep = {k: v for k, v in state.items() if k not in head_names}
    hint = "(same model and model_kwargs as the pre-training?)"
    try:
        missing, unexpected = net.load_state_dict(keep, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"the pre-trained encoder does not fit this network {hint}: {str(e)[:300]}") from None
    if set(missing) - head_names or unexpected:
        raise ValueError(f"the pre-trained encoder does not fit this network {hint}: missing "
                         f"{sorted(set(missing) - head_names)[:5]}, unexpected {unexpected[:5]}")


def _folder(cfg: ContrastiveConfig) -> Path:
    from .._paths import cache_dir
    return Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else cache_dir("contrastive", cfg.key())


def _image_size(cfg: ContrastiveConfig) -> int:
    from .. import data, models
    if cfg.image_size:
        return cfg.image_size
    native = data.load(cfg.dataset, "test", max_per_class=1).shape[-1]
    return max(native, models.min_image_size(cfg.model) or 0)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _views(x: Any, cfg: ContrastiveConfig, gen: Any) -> Any:
    from .. import augment
    v = augment.random_resized_crop(x, tuple(cfg.crop_scale), generator=gen)
    if cfg.flip:
        v = augment.random_hflip(v, generator=gen)
    return augment.random_brightness_contrast(v, cfg.jitter, generator=gen) if cfg.jitter else v


def _train(cfg: ContrastiveConfig, rt: _torch.Runtime, t_start: float, on_epoch_end: Callable | None) -> xr.Dataset:
    import torch
    from torch import nn

    from .. import augment, models
    from ..results import provenance
    from ._subset import training_subset

    train = training_subset(cfg)
    k, in_chans = train.num_classes, train.images.shape[1]
    size = _image_size(cfg)
    torch.manual_seed(cfg.seed)
    net = models.create(cfg.model, k, in_chans, size, **cfg.model_kwargs)
    d = net.num_features
    proj = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, cfg.proj_dim))
    both = nn.ModuleList([net, proj]).to(rt.device)
    net.to(memory_format=torch.channels_last)
    mean, std = models.normalization(net, in_chans)
    prep = partial(augment.to_float, mean=mean, std=std, size=size, channels_last=True)
    x_train = _torch.as_tensor(train.images).to(rt.device)

    bs = min(cfg.batch_size, len(train))
    steps = max(1, len(train) // bs)
    opt = _optim.make_optimizer(both, "adamw", cfg.lr, cfg.weight_decay, 0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _optim.lr_factor("cosine", cfg.epochs, steps, cfg.warmup_epochs))
    folder, key = _folder(cfg), cfg.key()
    start, history = _checkpoint.resume(folder, key, both, opt, sched, {"loss": [], "lr": [], "epoch_time_s": []})

    both.train()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(_seed(cfg.seed, epoch, 0)))
        gen = torch.Generator().manual_seed(_seed(cfg.seed, epoch, 1))
        torch.manual_seed(_seed(cfg.seed, epoch, 2))
        total = torch.zeros((), dtype=torch.float64)
        _progress.report(model=f"SimCLR {cfg.model}", seed=cfg.seed, epoch=epoch + 1, epochs=cfg.epochs)
        bar = _torch.progress(range(steps), enable=cfg.progress, desc=f"SimCLR {cfg.model} epoch {epoch + 1}/{cfg.epochs}",
                              unit="batch", leave=True)
        for i in bar:
            xb = x_train[order[i * bs:(i + 1) * bs].to(rt.device)]
            views = prep(torch.cat([_views(xb, cfg, gen), _views(xb, cfg, gen)]))
            with _torch.autocast(rt):
                z = proj(net.forward_head(net.forward_features(views), pre_logits=True))
            loss = nt_xent(z, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach().double().cpu()
            if i % 10 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        history["loss"].append(float(total / steps))
        history["lr"].append(float(sched.get_last_lr()[0]))
        history["epoch_time_s"].append(round(time.perf_counter() - t0, 3))
        _checkpoint.save(folder, {"key": key, "epoch": epoch + 1, "model": both.state_dict(),
                                  "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history})
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)

    _save_encoder(net, folder / ENCODER)
    epochs = np.arange(1, len(history["loss"]) + 1)
    ds = xr.Dataset(
        {"loss": ("epoch", np.asarray(history["loss"]), {"long_name": "mean NT-Xent loss"}),
         "lr": ("epoch", np.asarray(history["lr"]), {"long_name": "learning rate at the end of the epoch"}),
         "epoch_time_s": ("epoch", np.asarray(history["epoch_time_s"]), {"long_name": "training seconds"})},
        coords={"epoch": epochs})
    ds.attrs.update(provenance(cfg, seed=cfg.seed, device=str(rt.device), n_train=len(train), image_size=size,
                               wall_time_s=round(time.perf_counter() - t_start, 3), resumed_from_epoch=start,
                               encoder=str(folder / ENCODER), n_params=_torch.count_params(net)))
    return ds


def _save_encoder(net: Any, path: Path) -> None:
    """Write the network's weights as safetensors, atomically (temp file + rename)."""
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=".encoder.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m fairnotes.jobs.contrastive --config cfg.yaml [--out r.nc] [--set key=value ...]``."""
    from ._config import cli_main
    return cli_main(ContrastiveConfig, run, "fairnotes.jobs.contrastive", __doc__, argv,
                    lambda ds: f"final loss {float(ds['loss'][-1]):.4f}; encoder {ds.attrs['encoder']}")


if __name__ == "__main__":
    raise SystemExit(main())
