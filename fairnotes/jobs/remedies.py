"""Remedies for unequal classes, each trained against the same baseline, seed by seed.

*Classes Are Not Equal* (arXiv 2402.18133) reports that Mixup, CutMix and representation learning
make per-class accuracy more even, and that re-weighting lifts hard classes but hurts easy ones
with no overall gain; DropMix (arXiv 2307.09136) finds augmentation helps some classes and hurts
others. A *remedy* is a named change to a base :class:`~fairnotes.jobs.train.TrainConfig`, written
like a model spec (``"mixup"``, ``"mixup:alpha=0.4"``, ``"simclr-probe:epochs=20"``); see
:data:`REMEDIES` for the names, what each does and its settings. ``baseline-probe`` is not a remedy
but the control of ``simclr-probe``: the same linear probe on the baseline run's own frozen
features, so that simclr-probe − baseline-probe isolates what SimCLR's features change. Every remedy runs with the
baseline's seeds, so seed ``s`` of a remedy and seed ``s`` of the baseline share the training
subset and the initial weights: the comparison is paired (:func:`fairnotes.jobs.paired.compare`).

>>> from fairnotes.jobs import remedies, train
>>> base = train.TrainConfig(dataset="fashion-mnist", model="cnn", epochs=4, train_per_class=1000)
>>> ds = remedies.run(base, remedies=["mixup", "reweight"], seeds=[0, 1, 2])   # doctest: +SKIP
>>> ds["accuracy"].dims                                                         # doctest: +SKIP
('remedy', 'seed', 'label')

Every run is cached (:func:`fairnotes.results.cached`); the baseline is the same cached run as
chapter 1's when the base config is the same.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["REMEDIES", "parse", "plan", "run", "heldout_accuracy", "weights_from_accuracy", "LinearProbeConfig",
           "linear_probe"]

# name: (what it does, its settings and their defaults)
_SIMCLR = {"epochs": 10, "batch_size": 256, "lr": 2e-3, "temperature": 0.2, "proj_dim": 64, "jitter": 0.4,
           "flip": True, "crop_scale": [0.3, 1.0], "warmup_epochs": 1.0, "weight_decay": 1e-4}
REMEDIES: dict[str, tuple[str, dict]] = {
    "baseline": ("the base config unchanged", {}),
    "mixup": ("Mixup (timm): convex mixes of image pairs and their labels, λ ~ Beta(α, α) per batch",
              {"alpha": 0.2}),
    "cutmix": ("CutMix (timm): a box of another image pasted in, labels mixed by area, λ ~ Beta(α, α)",
               {"alpha": 1.0}),
    "label-smoothing": ("label smoothing: targets (1 − ε) on the label, ε spread over all classes", {"eps": 0.1}),
    "randaugment": ("torchvision v2 RandAugment after the base augmentation (2 ops, magnitude 9)", {}),
    "trivialaugment": ("torchvision v2 TrivialAugmentWide after the base augmentation (1 op, random magnitude)", {}),
    "reweight": ("class weights ∝ accuracy^−power, accuracy measured by the baseline (same seed) on held-out "
                 "training images it never saw; weights averaged to 1", {"power": 1.0, "heldout_per_class": 500}),
    "focal": ("focal loss (softmax form): cross-entropy × (1 − p_true)^γ", {"gamma": 2.0}),
    "baseline-probe": ("the control of simclr-probe: the same linear probe (same training images, C and test set) "
                       "on the baseline run's own frozen features (its final weights)", {"C": 1.0}),
    "simclr-finetune": ("SimCLR pre-training on the same training images (labels unused), then the base "
                        "training from those weights", dict(_SIMCLR)),
    "simclr-probe": ("SimCLR pre-training, then a linear probe (logistic regression) on the frozen features",
                     {**_SIMCLR, "C": 1.0}),
}


def parse(spec: str) -> tuple[str, dict]:
    """``"mixup:alpha=0.4"`` → ``("mixup", {"alpha": 0.4})``, defaults filled in; unknown names or settings raise."""
    from .sweep import parse_model
    name, kwargs = parse_model(spec)
    if name not in REMEDIES:
        raise ValueError(f"unknown remedy {name!r}; valid: {', '.join(REMEDIES)}")
    defaults = REMEDIES[name][1]
    bad = sorted(set(kwargs) - set(defaults))
    if bad:
        valid = ", ".join(defaults) or "none"
        raise ValueError(f"remedy {name!r} has no setting {', '.join(bad)}; valid settings: {valid}")
    return name, {**defaults, **kwargs}


@dataclass
class LinearProbeConfig:
    """A linear probe on frozen features: a contrastive encoder's (``pretrain``, the ``simclr-probe`` remedy) or,
    with ``features_of`` (a :class:`~fairnotes.jobs.train.TrainConfig`'s fields), a trained run's final weights
    (the ``baseline-probe`` control). The probe fits on the training subset of ``dataset``,
    ``train_per_class``, ``seed`` and predicts the full test split either way."""

    pretrain: dict = field(default_factory=dict)
    dataset: str = "fashion-mnist"
    train_per_class: int | None = None
    seed: int = 0
    C: float = 1.0
    profile: str = "laptop"
    features_of: dict | None = None

    def __post_init__(self) -> None:
        if self.features_of is not None and self.pretrain:
            raise ValueError("a linear probe reads one encoder: give pretrain or features_of, not both")

    def key(self) -> str:
        """Hash of the fields; ``features_of`` enters as the run's own key (absent when ``None``, so the
        simclr-probe keys cached before it existed still hold)."""
        from ..results import config_hash
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "features_of"}
        if self.features_of is not None:
            d["features_of"] = self.run_config().key()
        return config_hash(d)

    def run_config(self) -> Any:
        """The ``TrainConfig`` whose final weights give the features (``features_of``), or ``None``."""
        if self.features_of is None:
            return None
        from .train import TrainConfig
        return TrainConfig(**{**self.features_of, "progress": False})


def plan(base: Any, spec: str, seed: int) -> Any:
    """The config (``TrainConfig`` or :class:`LinearProbeConfig`) of remedy ``spec`` for ``seed``.

    ``reweight`` measures the baseline's held-out accuracy here (training the baseline first if
    it is not cached). ``baseline-probe`` is a :class:`LinearProbeConfig` on the baseline's
    ``TrainConfig`` for ``seed`` (the same probe fields as ``simclr-probe``'s).
    """
    from .contrastive import ContrastiveConfig
    name, kw = parse(spec)
    cfg = dataclasses.replace(base, seed=int(seed), progress=False)
    if name == "baseline":
        return cfg
    if name in ("mixup", "cutmix"):
        return dataclasses.replace(cfg, **{name: float(kw["alpha"])})
    if name == "label-smoothing":
        return dataclasses.replace(cfg, label_smoothing=float(kw["eps"]))
    if name in ("randaugment", "trivialaugment"):
        steps = [] if cfg.augment in ("none", "") else [cfg.augment]
        return dataclasses.replace(cfg, augment="-".join([*steps, name]))
    if name == "focal":
        return dataclasses.replace(cfg, loss="focal", focal_gamma=float(kw["gamma"]))
    if name == "reweight":
        acc = heldout_accuracy(cfg, per_class=int(kw["heldout_per_class"]))
        return dataclasses.replace(cfg, class_weights=[round(float(w), 6) for w in
                                                       weights_from_accuracy(acc, power=float(kw["power"]))])
    if name == "baseline-probe":
        run = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "progress"}
        return LinearProbeConfig(dataset=cfg.dataset, train_per_class=cfg.train_per_class, seed=cfg.seed,
                                 C=float(kw["C"]), profile=cfg.profile, features_of=run)
    sim = {k: v for k, v in kw.items() if k != "C"}
    pre = ContrastiveConfig(dataset=cfg.dataset, model=cfg.model, model_kwargs=dict(cfg.model_kwargs),
                            train_per_class=cfg.train_per_class, seed=cfg.seed, device=cfg.device,
                            image_size=cfg.image_size, profile=cfg.profile, progress=False, **sim)
    pre_dict = {k: v for k, v in dataclasses.asdict(pre).items() if k not in ("checkpoint_dir", "progress")}
    if name == "simclr-finetune":
        return dataclasses.replace(cfg, pretrain=pre_dict)
    return LinearProbeConfig(pretrain=pre_dict, dataset=cfg.dataset, train_per_class=cfg.train_per_class,
                             seed=cfg.seed, C=float(kw["C"]), profile=cfg.profile)


def run(base: Any, *, remedies: Sequence[str], seeds: Sequence[int], progress: bool = True,
        executor: Any = None) -> xr.Dataset:
    """Every remedy × seed (the baseline first, added if missing), cached, stacked on dims ``remedy`` × ``seed``.

    Returns :func:`fairnotes.jobs.sweep.run`'s variables with ``remedy`` in place of ``model``
    (no per-epoch histories: a probe has none), plus ``pretrain_time_s`` (remedy × seed: seconds of
    contrastive pre-training, 0 for the others) and coords ``description``.

    ``executor`` (as :func:`fairnotes.jobs.sweep.run`'s): the runs not in the cache train there, in two
    rounds: the baseline runs and the contrastive pre-training first (``reweight`` measures the baseline,
    ``baseline-probe`` reads its weights, the SimCLR remedies start from the encoder), then every remedy.
    """
    from .. import _torch, results
    from ..progress import report
    from . import contrastive, train
    from .sweep import _cache_hit, _stack, resolve_executor

    specs = list(dict.fromkeys(["baseline", *remedies]))
    for spec in specs:
        parse(spec)  # fail before any training
    runs: dict[tuple[str, int], xr.Dataset] = {}
    pre_time: dict[tuple[str, int], float] = {}
    stage, n = f"{base.dataset}: remedies", len(specs) * len(seeds)
    ex = resolve_executor(executor)
    bar = _torch.progress(None, enable=progress, total=n, desc=stage, unit="run")
    if ex is not None:
        runs, pre_time = _run_on(ex, base, specs, [int(s) for s in seeds], stage, bar)
    else:
        for spec in specs:
            for seed in seeds:
                bar.set_postfix_str(f"{spec} seed {seed}")
                k = len(runs) + 1  # job k of n (a disabled bar does not count)
                report(stage, k=k, n=n, model=spec, seed=int(seed))
                cfg = plan(base, spec, int(seed))
                pretrain = getattr(cfg, "pretrain", None)
                pre_time[(spec, int(seed))] = 0.0
                if pretrain:
                    pre = results.cached(contrastive.run, contrastive.ContrastiveConfig(**pretrain, progress=False))
                    pre_time[(spec, int(seed))] = float(pre.attrs.get("wall_time_s", np.nan))
                job = linear_probe if isinstance(cfg, LinearProbeConfig) else train.run
                runs[(spec, int(seed))] = results.cached(job, cfg)
                report(stage, k=k, n=n, done=True, cached=_cache_hit(runs[(spec, int(seed))]))
                bar.update()
    bar.close()
    seeds = [int(s) for s in seeds]
    out = _stack(runs, specs, seeds, dim="remedy", history=False)
    out["pretrain_time_s"] = (("remedy", "seed"), np.array([[pre_time[(r, s)] for s in seeds] for r in specs]),
                              {"description": "seconds of contrastive pre-training behind the run (0: none)"})
    out = out.assign_coords(description=("remedy", [REMEDIES[parse(s)[0]][0] for s in specs]))
    out.attrs.update(dataset=base.dataset, model=base.model, remedies=", ".join(specs), seeds=", ".join(map(str, seeds)))
    return out


def _run_on(executor: Any, base: Any, specs: list[str], seeds: list[int], stage: str, bar: Any
            ) -> tuple[dict[tuple[str, int], xr.Dataset], dict[tuple[str, int], float]]:
    """:func:`run`'s runs on ``executor`` (:func:`fairnotes.jobs.sweep.run_jobs`): first what the remedies
    need (the contrastive encoders, the baseline runs that start from none), then every remedy × seed."""
    from .. import results
    from . import contrastive, train
    from .sweep import run_jobs

    def encoder(cfg: Any) -> Any:
        pretrain = getattr(cfg, "pretrain", None)
        return contrastive.ContrastiveConfig(**pretrain, progress=False) if pretrain else None

    first, labels = [], []
    for spec in specs:
        if parse(spec)[0] == "reweight":
            continue  # planning it measures the baseline; its encoder (if any) is the baseline's
        for seed in seeds:
            cfg = plan(base, spec, seed)
            if encoder(cfg) is not None:
                first.append((contrastive.run, encoder(cfg)))
                labels.append({"model": f"{spec} (pre-training)", "seed": seed})
            elif spec == "baseline":
                first.append((train.run, cfg))
                labels.append({"model": spec, "seed": seed})
    run_jobs(first, executor=executor, labels=labels, stage=f"{stage}: baselines and pre-training")
    keys = [(spec, seed) for spec in specs for seed in seeds]
    cfgs = [plan(base, spec, seed) for spec, seed in keys]  # reweight measures its (now cached) baseline here
    done = run_jobs([(linear_probe if isinstance(c, LinearProbeConfig) else train.run, c) for c in cfgs],
                    executor=executor, labels=[{"model": spec, "seed": seed} for spec, seed in keys], stage=stage,
                    bar=bar)
    pre_time = {key: 0.0 if encoder(c) is None else
                float(results.cached(contrastive.run, encoder(c)).attrs.get("wall_time_s", np.nan))
                for key, c in zip(keys, cfgs)}
    return dict(zip(keys, done)), pre_time


def heldout_accuracy(cfg: Any, *, per_class: int = 500) -> np.ndarray:
    """Per-class accuracy of ``cfg``'s trained run on ``per_class`` training images per class it never saw.

    The images are :func:`fairnotes.jobs.heldout_subset`'s: they come after the run's own
    ``train_per_class`` in each class's shuffled order, so they are disjoint from the training
    subset and from the test set. The run is trained first if needed.
    """
    import torch
    from functools import partial

    from .. import _torch, augment, models
    from ._subset import heldout_subset
    from .features import run_model
    held = heldout_subset(cfg, per_class)
    counts = held.counts()
    if counts.min() < 1:
        raise ValueError(f"{cfg.dataset!r} has no training images left after {cfg.train_per_class} per class "
                         "for a held-out split; lower train_per_class")
    net, size = run_model(cfg)
    rt = _torch.start("cpu" if cfg.device == "cpu" else "auto")
    try:
        net = net.to(rt.device, memory_format=torch.channels_last)
        mean, std = models.normalization(net, held.images.shape[1])
        prep = partial(augment.to_float, mean=mean, std=std, size=size, channels_last=True)
        logits, _ = _torch.predict(net, _torch.tensor_batches(_torch.as_tensor(held.images), 512), prep, rt)
    finally:
        rt.close()
    hit = logits.argmax(1) == held.labels
    return np.bincount(held.labels[hit], minlength=held.num_classes) / counts


def weights_from_accuracy(accuracy: Any, *, power: float = 1.0, floor: float = 0.05) -> np.ndarray:
    """Class weights ``max(accuracy, floor) ** −power``, scaled to average 1 (harder class, larger weight).

    >>> weights_from_accuracy([0.25, 0.5, 1.0]).round(3).tolist()
    [1.714, 0.857, 0.429]
    """
    acc = np.asarray(accuracy, dtype=float)
    if acc.ndim != 1 or not np.isfinite(acc).all() or (acc < 0).any() or (acc > 1).any():
        raise ValueError("accuracy must be a 1-D array of per-class accuracies in [0, 1]")
    if power < 0 or not 0 < floor <= 1:
        raise ValueError(f"need power >= 0 and 0 < floor <= 1; got power={power}, floor={floor}")
    w = np.maximum(acc, floor) ** -power
    return w / w.mean()


def linear_probe(cfg: LinearProbeConfig) -> xr.Dataset:
    """Logistic-regression probe on frozen features (:func:`fairnotes.heads.linear_head`).

    The features are a contrastive encoder's (``cfg.pretrain``) or a trained run's final weights'
    (``cfg.features_of``, through :func:`fairnotes.jobs.features.extract`, which reads the run's
    checkpoint). Fits on the training subset (``train_per_class``, ``seed``: the images the encoder
    or the run saw), predicts the full test split; returns the train job's final-result variables
    (``prediction``, ``target``, ``logits``, per-class metrics) so it stacks with training runs.
    """
    from .. import data
    from ..heads import linear_head
    from . import _schema
    from ._subset import training_subset
    t0 = time.perf_counter()
    train = training_subset(cfg)
    test = data.load(cfg.dataset, "test")
    source = _run_features if cfg.features_of is not None else _encoder_features
    feats, n_params = source(cfg, train, test)
    logits = linear_head(feats[0], train.labels, feats[1], num_classes=train.num_classes, C=cfg.C)
    ds = _schema.final_dataset(logits, test.labels, test.class_names)
    ds.attrs.update(n_train=len(train), n_test=len(test), n_params=n_params,
                    wall_time_s=round(time.perf_counter() - t0, 3), probe="logistic regression (L-BFGS), C=%g" % cfg.C)
    if cfg.features_of is not None:
        ds.attrs["features_of"] = f"run {cfg.run_config().key()} ({cfg.run_config().model})"
    return ds


def _encoder_features(cfg: LinearProbeConfig, train: Any, test: Any) -> tuple[list[np.ndarray], int]:
    """Training- and test-set features of ``cfg.pretrain``'s contrastive encoder, and its parameter count."""
    import torch
    from functools import partial

    from .. import _torch, augment, models
    from .contrastive import ContrastiveConfig, build_encoder
    pre = ContrastiveConfig(**cfg.pretrain)
    net, size = build_encoder(pre, train.num_classes, train.images.shape[1])
    rt = _torch.start(pre.device)
    try:
        net = net.to(rt.device, memory_format=torch.channels_last)
        mean, std = models.normalization(net, train.images.shape[1])
        prep = partial(augment.to_float, mean=mean, std=std, size=size, channels_last=True)
        feats = [_torch.predict(net, _torch.tensor_batches(_torch.as_tensor(s.images), 512), prep, rt,
                                features=True)[1] for s in (train, test)]
    finally:
        rt.close()
    return feats, _torch.count_params(net)


def _run_features(cfg: LinearProbeConfig, train: Any, test: Any) -> tuple[list[np.ndarray], int]:
    """Training- and test-set features of ``cfg.features_of``'s trained run (its final weights, cached on disk by
    :func:`fairnotes.jobs.features.extract`; the run is trained first if its checkpoint is missing), and its
    parameter count. Refuses features of other images than the probe's own training subset and test set."""
    from .. import _torch
    from .features import extract, run_model
    run = cfg.run_config()
    if (run.dataset, run.train_per_class, run.seed) != (cfg.dataset, cfg.train_per_class, cfg.seed) \
            or run.train_imbalance is not None:
        raise ValueError("baseline-probe: the run's data set, train_per_class and seed must be the probe's, and "
                         "its training subset balanced")
    out = [extract(run, split=split, device=run.device, progress=False) for split in ("train", "test")]
    for ds, images in zip(out, (train, test)):
        if not np.array_equal(ds["labels"].values, np.asarray(images.labels)):
            raise RuntimeError(f"the run's {ds.attrs.get('split')} features are not of the probe's images")
    return [ds["features"].values.astype(np.float32) for ds in out], _torch.count_params(run_model(run)[0])
