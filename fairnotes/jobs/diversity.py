"""Does a more diverse class become harder, and attract more predictions? A paired, controlled experiment.

*Classes Are Not Equal* (arXiv 2402.18133) suggests that hard classes are hard because their
images vary more, and that this draws predictions from other classes ("model prediction bias").
Here diversity is the treatment: a *control* data set keeps some base classes, all the same
size; each *treatment* is the control with a fraction of one label's images (train and test)
replaced by images of a base class left out (see :mod:`fairnotes.data._derived`). Class sizes,
every other image, and the training configs are the same; only that label's diversity changes.

>>> from fairnotes.jobs import diversity, train
>>> diversity.designs("fashion-mnist", [0, 1, 2, 3, 4], targets=[0, 2], source_for={0: 9, 2: 8})
['fashion-mnist|classes=0,1,2,3,4', 'fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.5', \
'fashion-mnist|classes=0,1,2,3,4|mix=2:8@0.5']
>>> cfg = train.TrainConfig(model="resnet20", epochs=10, track=True)
>>> ds = diversity.run(cfg, base="fashion-mnist", classes=range(5), targets=[0], sources=[9],
...                    fraction=0.5, seeds=range(5), models=["resnet20"])      # doctest: +SKIP
>>> ds["delta_fp_mean"].to_series()                                              # doctest: +SKIP

The result (``xr.Dataset``), from :func:`run` then :func:`compare`:

- dims ``design`` (``"control"``, then ``"mix L:S@F"`` per treated label), ``model``, ``seed``,
  ``label``, ``sample``, ``treated`` (the treated labels);
- per run (``design × model × seed × label``): test ``accuracy``, ``predicted`` (test images
  predicted as the label), ``tp``, ``fp``, ``fn``, ``support``, ``precision``; with
  ``track=True`` also every ``track_*`` variable at the last epoch (training batches:
  ``track_fp``, ``track_predicted``, ``track_gn``, ``track_gp``, ``track_grad_neg``...) and
  ``feature_variance``, ``nearest_mean_distance`` at the last feature epoch (test features);
- ``prediction`` (design × model × seed × sample), ``target`` (sample; the same in every design,
  since replacements take the places of the images they replace) and ``replaced``
  (design × sample);
- per treated label (dim ``treated``, coords ``treated_design``, ``treated_class_name``):
  ``delta_<v>`` (model × seed × treated) = treatment − control for that label, for ``accuracy``,
  ``predicted``, ``fp`` and each tracked variable present; ``delta_accuracy_kept``: the same for
  accuracy on the label's test images the treatment kept (identical images in both designs);
  ``delta_<v>_mean`` (over seeds) and confidence bounds on it (below).

Which confidence interval covers what (percentile bootstrap, ``n_boot`` replicates):

- ``delta_<v>_seed_lower/_upper``: resamples the training seeds (each seed's paired delta
  kept whole), test images fixed: the spread between training runs. Every ``delta_<v>``; NaN
  with one seed, and too narrow with few (with 2 seeds it spans the two deltas at most).
- ``delta_<v>_image_lower/_upper``: resamples test images within each true class (class sizes
  fixed; image ``i`` is drawn for control and treatment together, so the pair stays paired),
  seeds fixed: test-set sampling for these trained models.
- ``delta_<v>_lower/_upper``: both at once (seeds and images in each replicate), the one to
  report. The image-based bounds exist for ``accuracy``, ``predicted``, ``fp`` and
  ``accuracy_kept``, which the test predictions determine.

Note that a treatment changes the treated label's own test images too: ``delta_accuracy`` mixes
"the label got harder" with "the replacement images are harder"; ``delta_accuracy_kept``
separates them, and ``delta_fp`` counts other classes' (unchanged) test images.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..metrics._resample import within_class_counts

__all__ = ["designs", "run", "compare"]

_FINAL = ("accuracy", "predicted", "tp", "fp", "fn", "support", "precision")
_FROM_PREDICTIONS = ("accuracy", "predicted", "fp", "accuracy_kept")  # get image and joint bounds
_FEATURES = ("feature_variance", "nearest_mean_distance")
_CI_METHOD = ("percentile bootstrap of the mean over seeds of the paired delta; resampling seeds (seed_), "
              "test images within each true class, paired across designs (image_), or both (no infix)")


def _source_map(targets: Sequence[int], source_for: Any) -> dict[int, int]:
    targets = [int(t) for t in targets]
    if len(set(targets)) != len(targets) or not targets:
        raise ValueError(f"targets must be distinct labels, at least one; got {targets}")
    if isinstance(source_for, Mapping):
        missing = [t for t in targets if t not in source_for]
        if missing:
            raise ValueError(f"source_for has no source class for targets {missing}")
        return {t: int(source_for[t]) for t in targets}
    if isinstance(source_for, (int, np.integer)):
        return {t: int(source_for) for t in targets}
    seq = [int(s) for s in source_for]
    if len(seq) != len(targets):
        raise ValueError(f"give one source per target: {len(targets)} targets, {len(seq)} sources")
    return dict(zip(targets, seq))


def designs(base: str, classes: Sequence[int], *, targets: Sequence[int], source_for: Any,
            fraction: float = 0.5) -> list[str]:
    """Data set names: the control, then one treatment per target label.

    ``targets`` are new labels (positions in ``classes``); ``source_for`` is a mapping
    ``{target: base class}``, a sequence aligned with ``targets``, or one base class for all.
    Each treatment replaces ``fraction`` of its target's images by the source class's.
    """
    from ..data._derived import derived_name
    classes = [int(c) for c in classes]
    src = _source_map(targets, source_for)
    bad = [t for t in src if not 0 <= t < len(classes)]
    if bad:
        raise ValueError(f"targets {bad} are not labels of the {len(classes)}-class problem (0..{len(classes) - 1})")
    return [derived_name(base, classes=classes)] + [
        derived_name(base, classes=classes, mix={t: (s, fraction)}) for t, s in src.items()]


def run(base_cfg: Any, *, base: str, classes: Sequence[int], targets: Sequence[int], sources: Any,
        fraction: float = 0.5, seeds: Sequence[int], models: Sequence[str], store: Any = None,
        progress: bool = True, n_boot: int = 1000, confidence: float = 0.95, ci_seed: int = 0,
        executor: Any = None) -> xr.Dataset:
    """Train the control and every treatment for each model and seed (cached), and compare them.

    ``base_cfg`` gives every training field but ``dataset``, ``seed`` and the model (taken from
    ``models``, specs as in :func:`fairnotes.jobs.sweep.parse_model`). ``sources`` is
    ``source_for`` of :func:`designs`. Returns the Dataset of the module doc. ``executor``: where the runs
    not in the cache train, as for :func:`fairnotes.jobs.sweep.run`.
    """
    import yaml

    from .. import _torch, data, results
    from ..progress import report
    from . import sweep, train

    names = designs(base, classes, targets=targets, source_for=sources, fraction=fraction)
    src = _source_map(targets, sources)
    design = ["control"] + [f"mix {t}:{s}@{float(fraction):g}" for t, s in src.items()]
    seeds, models = [int(s) for s in seeds], list(models)
    runs: dict[tuple[str, str, int], xr.Dataset] = {}
    stage, n_jobs = "diversity: runs", len(names) * len(models) * len(seeds)
    bar = _torch.progress(None, enable=progress, total=n_jobs, desc=stage, unit="run")
    ex = sweep.resolve_executor(executor)
    if ex is not None:
        keys, jobs = [], []
        for dname, name in zip(design, names):
            cfgs = sweep.configs(dataclasses.replace(base_cfg, dataset=name), models=models, seeds=seeds)
            for spec, cfg in zip([m for m in models for _ in seeds], cfgs):
                keys.append((dname, spec, cfg.seed))
                jobs.append((train.run, dataclasses.replace(cfg, progress=False)))
        done = sweep.run_jobs(jobs, executor=ex, labels=[{"model": f"{d}, {m}", "seed": s} for d, m, s in keys],
                              store=store, stage=stage, bar=bar)
        runs = dict(zip(keys, done))
    else:
        for dname, name in zip(design, names):
            cfgs = sweep.configs(dataclasses.replace(base_cfg, dataset=name), models=models, seeds=seeds)
            for spec, cfg in zip([m for m in models for _ in seeds], cfgs):
                bar.set_postfix_str(f"{dname}, {spec}, seed {cfg.seed}")
                k = len(runs) + 1  # job k of n (a disabled bar does not count)
                report(stage, k=k, n=n_jobs, model=f"{dname}, {spec}", seed=cfg.seed)
                runs[(dname, spec, cfg.seed)] = results.cached(train.run, dataclasses.replace(cfg, progress=False),
                                                               store=store)
                report(stage, k=k, n=n_jobs, done=True, cached=sweep._cache_hit(runs[(dname, spec, cfg.seed)]))
                bar.update()
    bar.close()
    root = {"root": base_cfg.data_root} if base_cfg.data_root else {}
    replaced = np.stack([data.load(n, "test", **root).attributes["replaced"].to_numpy() for n in names])
    out = _stack(runs, design, models, seeds, replaced)
    out = out.assign_coords(dataset=("design", names),
                            treated_label=("design", [-1, *src]),
                            source_class=("design", [-1, *src.values()]))
    out.attrs.update(base=base, classes=", ".join(map(str, classes)), fraction=float(fraction),
                     models=", ".join(models), seeds=", ".join(map(str, seeds)),
                     train_config=yaml.safe_dump(results.config_dict(base_cfg), sort_keys=True))
    return compare(out, n_boot=n_boot, confidence=confidence, seed=ci_seed)


def _per_label(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """The final per-label metrics of one run, and its tracked variables at their last epoch."""
    out = {v: ds[v].values for v in _FINAL}
    for v, da in ds.data_vars.items():
        if str(v).startswith("track_") and da.dims == ("epoch", "label"):
            out[str(v)] = da.isel(epoch=-1).values
    for v in _FEATURES:
        if v in ds and ds[v].dims == ("feature_epoch", "label") and ds.sizes["feature_epoch"]:
            out[v] = ds[v].isel(feature_epoch=-1).values
    return out


def _stack(runs: dict, design: list[str], models: list[str], seeds: list[int], replaced: np.ndarray) -> xr.Dataset:
    keys = [(d, m, s) for d in design for m in models for s in seeds]
    per = [_per_label(runs[k]) for k in keys]
    names = [v for v in per[0] if all(v in p for p in per)]
    shape = (len(design), len(models), len(seeds))
    first = runs[keys[0]]
    target = first["target"].values
    if any(not np.array_equal(runs[k]["target"].values, target) for k in keys):
        raise ValueError("the designs' test sets do not line up sample by sample")
    dims = ("design", "model", "seed", "label")
    out = xr.Dataset(
        {v: (dims, np.stack([p[v] for p in per]).reshape(*shape, -1), dict(first[v].attrs)
             if v in first else {"long_name": f"{v} at the last feature epoch"}) for v in names},
        coords={"design": design, "model": models, "seed": seeds, "label": first["label"].values,
                "class_name": ("label", first["class_name"].values),
                "design_class_name": (("design", "label"),
                                      np.stack([runs[(d, models[0], seeds[0])]["class_name"].values for d in design]))})
    out["prediction"] = (("design", "model", "seed", "sample"),
                         np.stack([runs[k]["prediction"].values for k in keys]).reshape(*shape, -1).astype(np.int16))
    out["target"] = ("sample", target.astype(np.int16))
    out["replaced"] = (("design", "sample"), replaced.astype(bool),
                       {"long_name": "test image replaced by an image of the source class"})
    return out


def compare(ds: xr.Dataset, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> xr.Dataset:
    """Add the paired deltas (treatment − control, for the treated label) and their bounds to ``ds``.

    ``ds`` is :func:`run`'s stacked result before the deltas (coord ``treated_label`` on
    ``design``, -1 for the control, which must be the first design). See the module doc.
    """
    treated = ds["treated_label"].values
    t_design = np.flatnonzero(treated >= 0)
    t_label = treated[t_design]
    per_label = [v for v in ds.data_vars if ds[v].dims == ("design", "model", "seed", "label")]
    wanted = [v for v in per_label if v in ("accuracy", "predicted", "fp") or v.startswith("track_") or v in _FEATURES]
    out = ds.copy()
    deltas = {}
    for v in wanted:
        a = ds[v].values.astype(np.float64)
        deltas[v] = np.moveaxis(a[t_design, :, :, t_label] - a[0, :, :, t_label], 0, -1)  # (M, S, T)

    y = ds["target"].values.astype(np.int64)
    pred = ds["prediction"].values
    rep = ds["replaced"].values
    w_img = within_class_counts(y, n_boot, seed)  # (B, N) within-class resampling counts
    rng = np.random.default_rng([seed, 1])
    n_seeds = ds.sizes["seed"]
    s_idx = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    observed, boot = _from_predictions(w_img, y, pred, rep, t_design, t_label)
    deltas["accuracy_kept"] = observed["accuracy_kept"][0]

    q = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]
    dims = ("model", "treated")
    for v, per_seed in deltas.items():
        name = f"delta_{v}"
        what = "accuracy on the treated label's test images the treatment kept" if v == "accuracy_kept" else v
        out[name] = (("model", "seed", "treated"), per_seed,
                     {"description": f"treatment - control of {what}, for the treated label"})
        out[f"{name}_mean"] = (dims, per_seed.mean(axis=1), {"description": f"mean over seeds of {name}"})
        seed_reps = per_seed[:, s_idx, :].mean(axis=2)  # (M, B, T)
        lo, hi = _bounds(seed_reps, q, ok=n_seeds > 1)
        _put(out, f"{name}_seed", lo, hi, dims, "resampling seeds, test images fixed", confidence)
        if v in _FROM_PREDICTIONS:
            img = boot[v]  # (B, M, S, T)
            lo, hi = _bounds(np.moveaxis(img.mean(axis=2), 0, 1), q)
            _put(out, f"{name}_image", lo, hi, dims, "resampling test images within class, seeds fixed",
                 confidence)
            joint = np.take_along_axis(img, s_idx[:, None, :, None], axis=2).mean(axis=2)
            lo, hi = _bounds(np.moveaxis(joint, 0, 1), q)
            _put(out, name, lo, hi, dims, "resampling seeds and test images together", confidence)
    out = out.assign_coords(treated=("treated", t_label),
                            treated_design=("treated", ds["design"].values[t_design]),
                            treated_class_name=("treated", ds["design_class_name"].values[t_design, t_label]))
    out.attrs.update(n_boot=int(n_boot), confidence=float(confidence), ci_seed=int(seed), ci_method=_CI_METHOD)
    return out


def _from_predictions(w: np.ndarray, y: np.ndarray, pred: np.ndarray, rep: np.ndarray,
                      t_design: np.ndarray, t_label: np.ndarray) -> tuple[dict, dict]:
    """Observed ((1, M, S, T)) and bootstrap ((B, M, S, T)) paired deltas computed from predictions."""
    _, m, s, n = pred.shape
    obs: dict[str, list] = {v: [] for v in _FROM_PREDICTIONS}
    boot: dict[str, list] = {v: [] for v in _FROM_PREDICTIONS}
    ones = np.ones((1, n))
    for d, t in zip(t_design, t_label):
        own = y == t
        kept = own & ~rep[d]
        for weights, dest in ((ones, obs), (w, boot)):
            stat = {}
            for key, dd in (("treat", d), ("ctrl", 0)):
                hit = (pred[dd] == t).reshape(m * s, n).T.astype(np.float64)  # (N, M*S)
                with np.errstate(invalid="ignore", divide="ignore"):
                    stat[key] = {
                        "accuracy": (weights @ (hit * own[:, None])) / (weights @ own)[:, None],
                        "predicted": weights @ hit,
                        "fp": weights @ (hit * ~own[:, None]),
                        "accuracy_kept": (weights @ (hit * kept[:, None])) / (weights @ kept)[:, None],
                    }
            for v in _FROM_PREDICTIONS:
                dest[v].append((stat["treat"][v] - stat["ctrl"][v]).reshape(-1, m, s))
    return ({v: np.stack(a, axis=-1) for v, a in obs.items()}, {v: np.stack(a, axis=-1) for v, a in boot.items()})


def _bounds(reps: np.ndarray, q: list[float], ok: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds over axis 1 of ``(M, B, T)`` replicates (NaN when not ``ok``)."""
    if not ok or not np.isfinite(reps).any():
        nan = np.full((reps.shape[0], reps.shape[2]), np.nan)
        return nan, nan.copy()
    lo, hi = np.nanquantile(reps, q, axis=1)
    return lo, hi


def _put(out: xr.Dataset, prefix: str, lo: np.ndarray, hi: np.ndarray, dims: tuple, how: str,
         confidence: float) -> None:
    for side, v in (("lower", lo), ("upper", hi)):
        out[f"{prefix}_{side}"] = (dims, v, {"description": f"{side} {confidence:.0%} percentile-bootstrap bound of "
                                                            f"the seed-mean delta, {how}"})
