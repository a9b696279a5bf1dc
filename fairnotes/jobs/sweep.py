"""Many training runs (models × seeds) of one data set, each cached, stacked into one Dataset.

>>> from fairnotes.jobs import sweep, train
>>> base = train.TrainConfig(dataset="digits", epochs=2)
>>> ds = sweep.run(base, models=["mlp", "cnn:width=8"], seeds=[0, 1])    # doctest: +SKIP
>>> ds["accuracy"].dims                                                  # doctest: +SKIP
('model', 'seed', 'label')

A model is named by a *spec*: a registered or timm model name, optionally followed by
``:key=value,...`` keyword arguments for the model (``"cnn:width=16"``, ``"vit:depth=4,embed_dim=64"``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import xarray as xr
import yaml

__all__ = ["parse_model", "configs", "run"]

# per-run final metrics kept in the stacked result (logits and features stay in the per-run cache)
_FINAL = ("support", "predicted", "tp", "fp", "fn", "accuracy", "precision")
_HISTORY = ("train_loss", "test_accuracy", "per_class_accuracy")


def parse_model(spec: str) -> tuple[str, dict]:
    """``"cnn:width=16,depth=3"`` → ``("cnn", {"width": 16, "depth": 3})`` (values parsed as YAML)."""
    name, _, args = str(spec).partition(":")
    kwargs: dict[str, Any] = {}
    for part in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad model spec {spec!r}: write NAME or NAME:key=value,key=value")
        # a weights path stays text (YAML would read "weights=2024" or "weights=yes" as a number or a bool)
        kwargs[key.strip()] = value.strip() if key.strip() == "weights" else yaml.safe_load(value)
    return name.strip(), kwargs


def configs(base: Any, *, models: Sequence[str], seeds: Sequence[int]) -> list[Any]:
    """One ``TrainConfig`` per (model spec, seed), all other fields from ``base``."""
    out = []
    for spec in models:
        name, kwargs = parse_model(spec)
        for seed in seeds:
            out.append(dataclasses.replace(base, model=name, model_kwargs={**base.model_kwargs, **kwargs},
                                           seed=int(seed)))
    return out


def run(base: Any, *, models: Sequence[str], seeds: Sequence[int], store: Any = None,
        progress: bool = True) -> xr.Dataset:
    """Train every (model, seed) of ``base``'s data set, reusing cached runs; stack the results.

    Returns dims ``model`` (the specs), ``seed``, ``label``, ``epoch`` and ``sample``:
    final per-class metrics (``accuracy``, ``support``, ``predicted``, ``tp``, ``fp``, ``fn``,
    ``precision``), test-set ``prediction`` (model × seed × sample) and ``target`` (sample),
    histories (``train_loss``, ``test_accuracy``, ``per_class_accuracy``), and per run
    ``overall_accuracy``, ``wall_time_s`` (0 means it came from the cache), ``n_params``.
    """
    from .. import _torch, results
    from ..progress import report
    from . import train

    cfgs = configs(base, models=models, seeds=seeds)
    runs: dict[tuple[str, int], xr.Dataset] = {}
    stage = f"{base.dataset}: runs"
    bar = _torch.progress(None, enable=progress, total=len(cfgs), desc=stage, unit="run")
    specs = [s for s in models for _ in seeds]
    for i, (spec, cfg) in enumerate(zip(specs, cfgs), 1):
        bar.set_postfix_str(f"{spec} seed {cfg.seed}")
        report(stage, k=i, n=len(cfgs), model=spec, seed=cfg.seed)
        ds = results.cached(train.run, dataclasses.replace(cfg, progress=False), store=store)
        report(stage, k=i, n=len(cfgs), done=True, cached=_cache_hit(ds))
        runs[(spec, cfg.seed)] = ds
        bar.update()
    bar.close()
    out = _stack(runs, list(models), [int(s) for s in seeds])
    out.attrs["dataset"] = base.dataset
    return out


def _cache_hit(ds: xr.Dataset) -> bool:
    """Whether :func:`fairnotes.results.cached` served ``ds`` from the cache."""
    return str(ds.attrs.get("cache", "")).startswith("hit")


def _stack(runs: dict[tuple[str, int], xr.Dataset], models: list[str], seeds: list[int], *, dim: str = "model",
           history: bool = True) -> xr.Dataset:
    """Stack per-run results on ``dim`` (the run names) × ``seed``; ``history=False`` leaves out per-epoch curves."""
    first = next(iter(runs.values()))
    wanted = [*_FINAL, *(_HISTORY if history else ()), "prediction"]
    rows = []
    for m in models:
        per_seed = []
        for s in seeds:
            ds = runs[(m, s)]
            keep = ds[wanted].drop_vars("class_name")
            keep["overall_accuracy"] = float(ds.attrs["overall_accuracy"])
            keep["wall_time_s"] = 0.0 if _cache_hit(ds) else float(ds.attrs.get("wall_time_s", np.nan))
            keep["train_time_s"] = float(ds.attrs.get("wall_time_s", np.nan))
            keep["n_params"] = int(ds.attrs.get("n_params", -1))
            keep["prediction"] = keep["prediction"].astype(np.int16)
            per_seed.append(keep)
        rows.append(xr.concat(per_seed, dim=xr.DataArray(seeds, dims="seed", name="seed"),
                              data_vars="all", coords="minimal", compat="override", join="override"))
    out = xr.concat(rows, dim=xr.DataArray(models, dims=dim, name=dim), data_vars="all",
                    coords="minimal", compat="override", join="override")
    out["n_params"] = out["n_params"].isel(seed=0, drop=True)
    out["target"] = first["target"].astype(np.int16)
    out = out.assign_coords(class_name=first["class_name"])
    out["wall_time_s"].attrs["description"] = "seconds spent training in this call (0 = taken from the cache)"
    out["train_time_s"].attrs["description"] = "seconds the run took when it was trained"
    out.attrs = {"models": ", ".join(models), "seeds": ", ".join(map(str, seeds))}
    return out
