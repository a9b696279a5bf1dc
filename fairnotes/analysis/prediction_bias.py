"""Chapter "Model Prediction Bias": the paper's mechanism measured inside training, and a controlled test of it.

*Classes Are Not Equal* (Cui et al. 2024) says that hard classes attract more predictions than they
have samples, that their false positives dominate the gradient of their classifier rows, and that
diversity is the root cause. This module turns the chapter's jobs into every number it shows:

- tracked training runs, one per seed (``train.run`` with ``track=True``, cached): per class and epoch
  (and every few steps of the first epoch) the prediction bias, Gn/Gp and the share of the
  classifier-row gradient that comes from other classes' samples; the test-set feature variance and
  distance to the nearest other class mean; the test confusion matrix;
- the hard / medium / easy groups (:func:`fairnotes.metrics.difficulty_groups`, by seed-mean final
  test accuracy) and their mean bias per epoch;
- Spearman correlations over classes (seed-mean values) with a Fisher-z interval
  (:func:`fairnotes.analysis.spearman_ci`), and the same correlation per seed summarised by a
  t-interval over seeds (:func:`fairnotes.analysis.seed_interval`);
- a feature-overlap statistic per class, ``overlap = feature_variance / nearest_mean_distance²``
  (test-set features of the last tracked epoch): the class's mean squared spread around its own mean
  relative to the squared gap to the nearest other class mean, a scale-free within/between ratio that
  grows as the class's cloud reaches into its nearest neighbour's; its correlation with accuracy;
- where the hardest class's false positives come from: among test images predicted as the hardest
  class whose true class is another, the share from each true class (mean over seeds);
- the long-tailed contrast (``long_tail_ratio``): the same tracked runs on a long-tailed version of the
  same subset (class c keeps :func:`fairnotes.data.long_tail_counts` ``(n_max, ρ, K)[c]`` images), and
  the correlation over classes of their prediction bias with class frequency and with final accuracy;
- the controlled diversity experiment (``diversity.run``) with its paired deltas, and a direction word
  per delta taken from the shared rule ``below(0)``.

>>> from fairnotes.analysis import prediction_bias as chapter
>>> chapter.Params().seeds
(0, 1, 2)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._claims import AGREES, CANNOT_TELL, DISAGREES, Claim, above, below, claims_dataset
from ._common import paper_claim, rerun_band, seed_interval, spearman_ci
from ._params import ChapterParams
from ._store import JobLog, cached_analysis

__all__ = ["Params", "run", "base_config", "long_tail_config", "long_tail_frequency", "summarize", "claims",
           "glue_values", "tables", "confusion", "direction", "overlap", "CORRELATIONS", "LT_CORRELATIONS",
           "SECTIONS"]

GROUPS = ("hard", "medium", "easy")

#: the notebook's section headings, where each claim's evidence is shown
SECTIONS = {"bias": "Which classes attract predictions?", "gradient": "Whose gradient is it?",
            "features": "Diverse classes, crowded neighbourhoods",
            "long_tail": "The contrast: long-tailed training",
            "diversity": "A controlled test: make a class more diverse"}

#: correlations over classes with final test accuracy: name -> what is correlated
CORRELATIONS = {
    "bias_mean": "prediction bias, mean over epochs",
    "bias_first": "prediction bias, first epoch",
    "bias_last": "prediction bias, last epoch",
    "grad_neg_share": "share of the classifier gradient from negatives, last epoch",
    "gn_over_gp": "Gn/Gp, last epoch",
    "feature_variance": "test-set feature variance, last feature epoch",
    "nearest_mean_distance": "distance to the nearest other class mean, last feature epoch",
    "overlap": "feature overlap (variance / nearest-mean distance²), last feature epoch",
}

#: the long-tailed runs' correlations over classes of prediction bias (mean over epochs): name -> with what
LT_CORRELATIONS = {"frequency": "training images of the class", "accuracy": "final test accuracy"}

#: the claims this chapter adds itself (no key of fairnotes.reference.PAPER_CLAIMS fits them)
OWN_CLAIMS = {
    "longtail.bias_tracks_frequency": "Under long-tailed training, prediction bias follows class frequency "
                                      "(frequent classes attract predictions), unlike balanced training",
    "overlap.tracks_difficulty": "Hard classes have more diverse and overlapping features",
}

#: the diversity experiment's paired deltas the chapter reports (name -> column title)
DELTAS = {"accuracy_kept": "Δ accuracy (unchanged images)", "predicted": "Δ test predictions",
          "fp": "Δ false positives"}


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (see ``book/prediction_bias.md``).

    ``precision`` reaches every run: the tracked runs, the long-tailed contrast and the diversity experiment
    (all derive from :func:`base_config`).
    """

    chapter: ClassVar[str] = "prediction_bias"
    dataset: str = "fashion-mnist"
    model: str = "cnn"
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 4
    train_per_class: int | None = 1000
    batch_size: int = 128
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.05
    augment: str = "crop"
    precision: Literal["fp32", "bf16"] = "fp32"
    track_every_steps: int = 10
    long_tail_ratio: float | None = 10.0
    diversity_classes: tuple[int, ...] = (0, 1, 2, 5, 7)
    diversity_targets: tuple[int, ...] = (1, 3)
    diversity_source: int | tuple[int, ...] = 8
    diversity_fraction: float = 0.5
    diversity_seeds: tuple[int, ...] = (0, 1, 2)
    diversity_epochs: int = 4
    n_boot: int = 1000


# --------------------------------------------------------------------------------------------- jobs


def run(p: Params, *, refresh: bool = False, progress: bool = True) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


def base_config(p: Params) -> Any:
    """The tracked runs' TrainConfig (seed 0): the same fields and values the chapter has always used."""
    from ..jobs import train
    return train.TrainConfig(dataset=p.dataset, model=p.model, epochs=p.epochs, batch_size=p.batch_size,
                             optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay, augment=p.augment,
                             train_per_class=p.train_per_class, profile=p.profile, track=True,
                             track_every_steps=p.track_every_steps, progress=False, precision=p.precision)


def long_tail_config(p: Params, seed: int) -> Any:
    """A tracked run of the long-tailed contrast: the base config with ``train_imbalance = long_tail_ratio``."""
    import dataclasses
    if p.long_tail_ratio is None:
        raise ValueError("long_tail_ratio is None: the long-tailed contrast is skipped")
    return dataclasses.replace(base_config(p), train_imbalance=float(p.long_tail_ratio), seed=seed)


def long_tail_frequency(p: Params) -> np.ndarray:
    """Training images per class of the long-tailed runs: ``long_tail_counts(n_max, ρ, K)``, ``n_max`` =
    ``train_per_class`` or the pool's smallest class count (as :func:`fairnotes.jobs.training_subset` draws
    them; a class with fewer images than its count keeps them all)."""
    from .. import data
    pool = data.load(p.dataset, "train")
    have = pool.counts()
    n_max = p.train_per_class or int(have.min())
    return np.minimum(data.long_tail_counts(n_max, float(p.long_tail_ratio), len(have)), have)


def _compute(p: Params, *, progress: bool = True) -> xr.Dataset:
    import dataclasses

    from .. import bias, results
    from ..jobs import diversity, sweep, train

    log = JobLog()
    base = base_config(p)
    runs = []
    for s in p.seeds:
        cfg = dataclasses.replace(base, seed=s)
        runs.append(results.cached(train.run, cfg))
        log.add("train", cfg)
    stacked = bias.stack_seeds(runs, list(p.seeds)).assign_coords(class_name=runs[0]["class_name"])
    train_minutes = sum(float(r.attrs.get("wall_time_s", 0)) for r in runs) / 60

    div_base = dataclasses.replace(base, track=False, epochs=p.diversity_epochs, train_per_class=p.train_per_class)
    sources = p.diversity_source if isinstance(p.diversity_source, int) else list(p.diversity_source)
    div = diversity.run(div_base, base=p.dataset, classes=list(p.diversity_classes),
                        targets=list(p.diversity_targets), sources=sources, fraction=p.diversity_fraction,
                        seeds=list(p.diversity_seeds), models=[p.model], n_boot=p.n_boot, progress=progress)
    for name in diversity.designs(p.dataset, list(p.diversity_classes), targets=list(p.diversity_targets),
                                  source_for=sources, fraction=p.diversity_fraction):
        for cfg in sweep.configs(dataclasses.replace(div_base, dataset=name), models=[p.model],
                                 seeds=list(p.diversity_seeds)):
            log.add("train", cfg)

    long_tail = frequency = None
    if p.long_tail_ratio is not None:
        lt_runs = []
        for s in p.seeds:
            cfg = long_tail_config(p, s)
            lt_runs.append(results.cached(train.run, cfg))
            log.add("train", cfg)
        frequency = long_tail_frequency(p)
        seen = {int(r.attrs.get("n_train", frequency.sum())) for r in lt_runs}
        if seen != {int(frequency.sum())}:
            raise ValueError(f"the long-tailed runs trained on {seen} images; long_tail_counts gives "
                             f"{int(frequency.sum())}")
        long_tail = bias.stack_seeds(lt_runs, list(p.seeds)).assign_coords(class_name=lt_runs[0]["class_name"])
        train_minutes += sum(float(r.attrs.get("wall_time_s", 0)) for r in lt_runs) / 60

    ds = summarize(stacked, div, model=p.model, train_minutes=train_minutes, long_tail=long_tail,
                   long_tail_frequency=frequency,
                   long_tail_ratio=math.nan if p.long_tail_ratio is None else float(p.long_tail_ratio))
    ds.attrs.update(profile=p.profile, dataset=p.dataset, model=p.model, epochs=int(p.epochs),
                    train_per_class=-1 if p.train_per_class is None else int(p.train_per_class),
                    track_every_steps=int(p.track_every_steps), jobs=log.keys)
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        ds.attrs["precision_asked"] = p.precision
    return ds


# ------------------------------------------------------------------------------------------ summary


def direction(lower: float, upper: float) -> str:
    """A paired delta's direction in words, from the shared rule ``below(0)``: its interval wholly below 0 is
    "decreased", wholly above 0 "increased", otherwise "no clear change"."""
    return {AGREES: "decreased", DISAGREES: "increased", CANNOT_TELL: "no clear change"}[
        below(0).decide(float(lower), float(upper))]


def _group_mean(da: xr.DataArray, difficulty: xr.DataArray) -> xr.DataArray:
    """Mean over the classes of each difficulty group (a new dim ``group``, NaN for an empty group)."""
    parts = []
    for g in GROUPS:
        mask = (difficulty == g).values
        parts.append(da.isel(label=np.flatnonzero(mask)).mean("label") if mask.any()
                     else xr.full_like(da.isel(label=0, drop=True), np.nan, dtype=float))
    return xr.concat(parts, dim=xr.DataArray(list(GROUPS), dims="group", name="group"), coords="minimal")


def _per_seed_correlation(x: xr.DataArray, y: xr.DataArray) -> np.ndarray:
    """Spearman's rho over classes of ``x`` and ``y`` (both seed × label), one value per seed."""
    return np.array([spearman_ci(x.isel(seed=i).values, y.isel(seed=i).values)[0] for i in range(x.sizes["seed"])])


def overlap(feature_variance: xr.DataArray, nearest_mean_distance: xr.DataArray) -> xr.DataArray:
    """Per class, ``feature_variance / nearest_mean_distance²``: the class's mean squared distance to its own
    mean over the squared distance from that mean to the nearest other class mean. Scale-free (a rescaled
    feature space gives the same value). At 1 or more the root-mean-square distance of the class's samples to
    their mean is at least the distance to the nearest other class mean, so the two clouds overlap. NaN or inf
    where the distance is NaN or 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = feature_variance / nearest_mean_distance ** 2
    return out.rename("overlap").assign_attrs(
        description="test-feature variance (trace of the class covariance) / squared distance to the nearest "
                    "other class mean")


def summarize(stacked: xr.Dataset, div: xr.Dataset | None = None, *, model: str | None = None,
              train_minutes: float = math.nan, confidence: float = 0.95, long_tail: xr.Dataset | None = None,
              long_tail_frequency: Any = None, long_tail_ratio: float = math.nan) -> xr.Dataset:
    """Every number of the chapter from the stacked tracked runs and the diversity experiment (pure, torch-free).

    ``stacked`` is :func:`fairnotes.bias.stack_seeds` of the tracked runs (with coord ``class_name`` on
    ``label``); ``div`` is ``diversity.run``'s result (``model`` picks its model; ``None``: the only one).
    ``long_tail`` is the stacked tracked runs on the long-tailed subset (same seeds and labels) and
    ``long_tail_frequency`` their training images per class (see :func:`_long_tail`), ``long_tail_ratio`` the
    imbalance it was drawn with (recorded in attrs).
    """
    from ..bias import by_class
    from ..metrics import difficulty_classes

    pb = by_class(stacked)
    names = [str(c) for c in stacked["class_name"].values]
    k = len(names)
    acc_s = stacked["accuracy"]  # seed × label
    acc = pb["accuracy"]
    difficulty = pb["difficulty"]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_s = stacked["track_grad_neg"] / (stacked["track_grad_neg"] + stacked["track_grad_pos"])
        gngp_s = stacked["track_gn"] / stacked["track_gp"]
    bias_s = pb["bias_by_seed"]

    out = xr.Dataset(coords={"seed": stacked["seed"].values, "label": stacked["label"].values,
                             "class_name": ("label", np.array(names, dtype=object))})
    out["accuracy_by_seed"] = acc_s.transpose("seed", "label")
    out["accuracy"] = acc
    out["difficulty"] = difficulty.astype(str)
    out["bias_by_seed"] = bias_s.transpose("seed", "epoch", "label")
    out["bias"] = pb["bias"]
    out["gn_over_gp"] = pb["gn_over_gp"]
    out["grad_neg_share"] = pb["grad_neg_share"]
    out["grad_neg_share_by_seed"] = share_s.transpose("seed", "epoch", "label")
    if "step_bias" in pb:
        out["step_bias"] = pb["step_bias"]
        out["group_step_bias"] = _group_mean(pb["step_bias"], difficulty)
    for v in ("feature_variance", "nearest_mean_distance"):
        if v in pb:
            out[v] = pb[v]
    has_features = all(v in stacked for v in ("feature_variance", "nearest_mean_distance")) \
        and stacked.sizes.get("feature_epoch", 0) > 0
    if has_features:
        ov_s = overlap(stacked["feature_variance"], stacked["nearest_mean_distance"])
        out["overlap_by_seed"] = ov_s.transpose("seed", "feature_epoch", "label")
        out["overlap"] = ov_s.mean("seed").assign_attrs(ov_s.attrs)
    out["group_bias"] = _group_mean(pb["bias"], difficulty)
    out["group_bias_by_seed"] = _group_mean(bias_s, difficulty).transpose("seed", "group", "epoch")
    out["group_grad_neg_share_by_seed"] = _group_mean(share_s.isel(epoch=-1), difficulty).transpose("seed", "group")

    # the claims' per-seed measures, and their t-intervals over seeds
    measures = {"hard_bias": out["group_bias_by_seed"].sel(group="hard").mean("epoch"),
                "hard_neg_share": out["group_grad_neg_share_by_seed"].sel(group="hard")}
    for name, per_seed in measures.items():
        m, lo, hi = seed_interval(per_seed.values, confidence=confidence)
        out[f"{name}_by_seed"] = per_seed
        out[name], out[f"{name}_lower"], out[f"{name}_upper"] = m, lo, hi

    # correlations with final test accuracy: over classes on seed means (Fisher z), and per seed
    last_feat = {v: stacked[v].isel(feature_epoch=-1) for v in ("feature_variance", "nearest_mean_distance")
                 if v in stacked and stacked.sizes.get("feature_epoch", 0)}
    if has_features:
        last_feat["overlap"] = out["overlap_by_seed"].isel(feature_epoch=-1)
    xs_seed = {"bias_mean": bias_s.mean("epoch"), "bias_first": bias_s.isel(epoch=0),
               "bias_last": bias_s.isel(epoch=-1), "grad_neg_share": share_s.isel(epoch=-1),
               "gn_over_gp": gngp_s.isel(epoch=-1), **last_feat}
    rows = {"rho": [], "rho_lower": [], "rho_upper": [], "rho_by_seed": [], "rho_seed_mean": [],
            "rho_seed_lower": [], "rho_seed_upper": []}
    for name in CORRELATIONS:
        if name not in xs_seed:
            for key in rows:
                rows[key].append(np.full(stacked.sizes["seed"], np.nan) if key == "rho_by_seed" else math.nan)
            continue
        x = xs_seed[name].transpose("seed", "label")
        rho, lo, hi = spearman_ci(x.mean("seed").values, acc.values, confidence=confidence)
        per_seed = _per_seed_correlation(x, acc_s.transpose("seed", "label"))
        sm, slo, shi = seed_interval(per_seed, confidence=confidence)
        slo, shi = max(slo, -1.0), min(shi, 1.0)  # a mean of correlations lies in [-1, 1] (NaN stays NaN)
        for key, val in zip(rows, (rho, lo, hi, per_seed, sm, slo, shi)):
            rows[key].append(val)
    corr_coords = {"correlation": list(CORRELATIONS),
                   "correlation_of": ("correlation", np.array(list(CORRELATIONS.values()), dtype=object))}
    for key, vals in rows.items():
        if key == "rho_by_seed":
            out[key] = xr.DataArray(np.array(vals).T, dims=("seed", "correlation"), coords=corr_coords)
        else:
            out[key] = xr.DataArray(np.array(vals, dtype=float), dims="correlation", coords=corr_coords)
    out["rho"].attrs["description"] = ("Spearman's rho over classes of the seed-mean value and the seed-mean final "
                                       "test accuracy; rho_lower/upper: Fisher-z interval (Bonett & Wright)")

    out = out.merge(_confusion(stacked, acc, names))
    if long_tail is not None:
        lt = _long_tail(long_tail, long_tail_frequency, stacked, confidence=confidence)
        out = out.merge(lt, compat="no_conflicts", join="exact")
        out.attrs.update(lt.attrs, long_tail_ratio=float(long_tail_ratio))
    if div is not None:
        d = _diversity(div, model)
        out = out.merge(d)
        out.attrs.update(d.attrs)
    out.attrs.update(n_classes=k, n_hard=len(difficulty_classes(acc)["hard"]), confidence=float(confidence),
                     train_minutes=float(train_minutes))
    return out


def _long_tail(lt: xr.Dataset, frequency: Any, balanced: xr.Dataset, *, confidence: float) -> xr.Dataset:
    """The long-tailed runs' prediction bias per class (training batches, :func:`fairnotes.bias.by_class`) and
    its Spearman correlation over classes with class frequency (``frequency``: training images per class) and
    with final test accuracy: on seed means with a Fisher-z interval, and per seed with a t-interval."""
    from ..bias import by_class
    if frequency is None:
        raise ValueError("long_tail needs long_tail_frequency (training images per class)")
    freq = np.asarray(frequency)
    if freq.shape != (lt.sizes["label"],) or not np.array_equal(lt["label"].values, balanced["label"].values):
        raise ValueError(f"the long-tailed runs must share the balanced runs' labels and have one frequency per "
                         f"label; got {freq.shape[0] if freq.ndim else 0} frequencies for labels "
                         f"{lt['label'].values.tolist()}")
    if lt["epoch"].values.tolist() != balanced["epoch"].values.tolist():
        raise ValueError(f"the long-tailed runs' epochs {lt['epoch'].values.tolist()} differ from the balanced "
                         f"runs' {balanced['epoch'].values.tolist()}")
    if lt["seed"].values.tolist() != balanced["seed"].values.tolist():
        raise ValueError(f"the long-tailed runs' seeds {lt['seed'].values.tolist()} differ from the balanced runs' "
                         f"{balanced['seed'].values.tolist()}")
    pb = by_class(lt)
    bias_s = pb["bias_by_seed"].transpose("seed", "epoch", "label")
    x_s = bias_s.mean("epoch")
    acc_s = lt["accuracy"].transpose("seed", "label")
    freq_da = xr.DataArray(freq.astype(np.int64), dims="label", coords={"label": lt["label"].values})
    ys = {"frequency": freq_da.astype(float).broadcast_like(acc_s).transpose("seed", "label"), "accuracy": acc_s}
    out = xr.Dataset({"lt_frequency": freq_da.assign_attrs(long_name="training images of the class, long-tailed"),
                      "lt_bias_by_seed": bias_s, "lt_bias": pb["bias"],
                      "lt_bias_mean": x_s.mean("seed").assign_attrs(
                          description="long-tailed runs: prediction bias on training batches, mean over epochs "
                                      "and seeds"),
                      "lt_accuracy_by_seed": acc_s, "lt_accuracy": acc_s.mean("seed")})
    rows: dict[str, list] = {k: [] for k in ("lt_rho", "lt_rho_lower", "lt_rho_upper", "lt_rho_by_seed",
                                             "lt_rho_seed_mean", "lt_rho_seed_lower", "lt_rho_seed_upper")}
    for name in LT_CORRELATIONS:
        rho, lo, hi = spearman_ci(x_s.mean("seed").values, ys[name].mean("seed").values, confidence=confidence)
        per_seed = _per_seed_correlation(x_s, ys[name])
        sm, slo, shi = seed_interval(per_seed, confidence=confidence)
        for key, val in zip(rows, (rho, lo, hi, per_seed, sm, max(slo, -1.0), min(shi, 1.0))):
            rows[key].append(val)
    coords = {"lt_correlation": list(LT_CORRELATIONS),
              "lt_correlation_with": ("lt_correlation", np.array(list(LT_CORRELATIONS.values()), dtype=object))}
    for key, vals in rows.items():
        out[key] = (xr.DataArray(np.array(vals).T, dims=("seed", "lt_correlation"), coords=coords)
                    if key == "lt_rho_by_seed" else
                    xr.DataArray(np.array(vals, dtype=float), dims="lt_correlation", coords=coords))
    out["lt_rho"].attrs["description"] = ("long-tailed runs: Spearman's rho over classes of the seed-mean prediction "
                                          "bias (mean over epochs) and the class's frequency or seed-mean final "
                                          "accuracy; lt_rho_lower/upper: Fisher-z interval")
    out.attrs.update(long_tail_n_train=int(freq.sum()))
    return out


def _confusion(stacked: xr.Dataset, acc: xr.DataArray, names: list[str]) -> xr.Dataset:
    """The test confusion matrix per seed, its row-normalised seed mean, and the hardest class's false positives
    by true class."""
    from ..metrics import difficulty_classes
    k = len(names)
    target = stacked["target"].values.astype(np.int64)
    pred = stacked["prediction"].transpose("seed", "sample").values.astype(np.int64)
    counts = np.stack([np.bincount(target * k + p, minlength=k * k).reshape(k, k) for p in pred]).astype(float)
    mean = counts.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        row_share = mean / mean.sum(1, keepdims=True)
    ranked = difficulty_classes(acc)
    hardest = int(ranked["hard"][0] if ranked["hard"] else (ranked["medium"] or ranked["easy"])[0])
    h = int(np.flatnonzero(acc["label"].values == hardest)[0])
    fp = counts[:, :, h].copy()  # seed × true class: test images predicted as the hardest class
    fp[:, h] = 0.0
    fp_total = fp.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fp_share = fp / fp_total[:, None]
    fp_mean = np.nanmean(fp_share, axis=0) if np.isfinite(fp_share).any() else np.full(k, np.nan)
    top = int(np.nanargmax(fp_mean)) if np.isfinite(fp_mean).any() and np.nanmax(fp_mean) > 0 else -1
    cls = ("true_class", np.array(names, dtype=object))
    seeds = stacked["seed"].values
    return xr.Dataset({
        "confusion": (("seed", "true_class", "predicted_as"), counts,
                      {"description": "test images of the true class predicted as the column's class"}),
        "confusion_share": (("true_class", "predicted_as"), row_share,
                            {"description": "share of the true class's test images predicted as the column's "
                                            "class (seed-mean counts, row-normalised)"}),
        "fp_source_share_by_seed": (("seed", "true_class"), fp_share),
        "fp_source_share": ("true_class", fp_mean,
                            {"description": "among test images predicted as the hardest class whose true class is "
                                            "another, the share with this true class (mean over seeds)"}),
        "hardest_fp_by_seed": ("seed", fp_total),
        "hardest_fp": float(fp_total.mean()),
        "hardest": names[h],
        "top_sender": names[top] if top >= 0 else "",
        "top_sender_share": float(fp_mean[top]) if top >= 0 else math.nan,
        "top_sender_row_share": float(row_share[top, h]) if top >= 0 else math.nan,
    }, coords={"seed": seeds, "true_class": cls[1], "predicted_as": np.array(names, dtype=object)})


def _diversity(div: xr.Dataset, model: str | None) -> xr.Dataset:
    """The paired deltas of the treated labels for one model, with direction words from ``below(0)``."""
    if model is None:
        if div.sizes["model"] != 1:
            raise ValueError(f"the diversity result has models {list(div['model'].values)}; pass model=")
        model = str(div["model"].values[0])
    d = div.sel(model=model)
    t = d["treated"].values
    control_names = [str(d["class_name"].sel(label=int(x)).values) for x in t]
    treated_names = [str(v) for v in d["treated_class_name"].values]
    out = xr.Dataset(coords={"treated": t,
                             "treated_class_name": ("treated", np.array(treated_names, dtype=object)),
                             "treated_label_name": ("treated", np.array(control_names, dtype=object)),
                             "diversity_seed": d["seed"].values})
    for v in DELTAS:
        for suffix in ("mean", "lower", "upper"):
            out[f"delta_{v}_{suffix}"] = ("treated", d[f"delta_{v}_{suffix}"].values.astype(float))
        out[f"delta_{v}_by_seed"] = (("diversity_seed", "treated"), d[f"delta_{v}"].transpose("seed", "treated").values)
        out[f"delta_{v}_direction"] = ("treated", np.array(
            [direction(lo, hi) for lo, hi in zip(out[f"delta_{v}_lower"].values, out[f"delta_{v}_upper"].values)],
            dtype=object))
    out.attrs.update(diversity_model=model, diversity_n_boot=int(div.attrs.get("n_boot", 0)),
                     diversity_n_classes=int(div.sizes["label"]),
                     diversity_fraction=float(div.attrs.get("fraction", math.nan)))
    return out


# ------------------------------------------------------------------------------------------- claims


def claims(ds: xr.Dataset) -> xr.Dataset:
    """The paper's claims this chapter tests, with our measure, interval and verdict."""
    num = lambda name: float(ds[name].values)  # noqa: E731
    rho = ds["rho"].sel(correlation="bias_mean")
    found: list[Claim] = [
        paper_claim("cui.hard_overpredicted", measure="hard group's mean prediction bias over all epochs "
                    "(training batches), mean of seeds; t-interval over seeds", ours=num("hard_bias"),
                    lower=num("hard_bias_lower"), upper=num("hard_bias_upper"), rule=above(1),
                    section=SECTIONS["bias"]),
        paper_claim("cui.bias_tracks_difficulty", measure="Spearman's rho over classes: mean prediction bias over "
                    "epochs against final test accuracy (seed means); Fisher-z interval", ours=float(rho),
                    lower=float(ds["rho_lower"].sel(correlation="bias_mean")),
                    upper=float(ds["rho_upper"].sel(correlation="bias_mean")), rule=below(0),
                    section=SECTIONS["bias"]),
        paper_claim("cui.fp_dominate_gradient", measure="hard group's mean share of the classifier-row gradient "
                    "from other classes' samples, last epoch, mean of seeds; t-interval over seeds",
                    ours=num("hard_neg_share"), lower=num("hard_neg_share_lower"),
                    upper=num("hard_neg_share_upper"), rule=above(0.5), section=SECTIONS["gradient"]),
        _own_claim("overlap.tracks_difficulty", measure="Spearman's rho over classes: feature overlap (test-set "
                   "feature variance / squared distance to the nearest other class mean, last feature epoch) "
                   "against final test accuracy (seed means); Fisher-z interval",
                   row=ds.sel(correlation="overlap"), prefix="rho", rule=below(0), section=SECTIONS["features"],
                   note="per seed: mean " + _row_ci(ds.sel(correlation="overlap"), "rho_seed", "_mean")
                   + " (t-interval over seeds)"),
    ]
    if "lt_rho" in ds:
        freq, acc_lt = ds.sel(lt_correlation="frequency"), ds.sel(lt_correlation="accuracy")
        found.append(_own_claim(
            "longtail.bias_tracks_frequency", measure="Spearman's rho over classes: the long-tailed runs' prediction "
            "bias (training batches, mean over epochs, seed means) against training images per class; Fisher-z "
            "interval", row=freq, prefix="lt_rho", rule=above(0), section=SECTIONS["long_tail"],
            note=f"beside it, Spearman's rho of prediction bias with final test accuracy: long-tailed "
                 f"{_row_ci(acc_lt, 'lt_rho')}, balanced {_row_ci(ds.sel(correlation='bias_mean'), 'rho')}; per "
                 f"seed, with frequency: mean {_row_ci(freq, 'lt_rho_seed', '_mean')} (t-interval over seeds)"))
    if "treated" in ds.dims:
        for i in range(ds.sizes["treated"]):
            r = ds.isel(treated=i)
            label, what = str(r["treated_label_name"].values), str(r["treated_class_name"].values)
            for key, v, rule, measure in (
                    ("cui.diversity_hurts", "accuracy_kept", below(0),
                     f"Δ accuracy of {what} on its unchanged test images, treatment − control"),
                    ("cui.diversity_attracts", "predicted", above(0),
                     f"Δ test images predicted as {what}, treatment − control")):
                found.append(paper_claim(
                    key, id=f"{key}:{label}", measure=measure + " (mean of seeds; bootstrap over seeds and images)",
                    ours=float(r[f"delta_{v}_mean"]), lower=float(r[f"delta_{v}_lower"]),
                    upper=float(r[f"delta_{v}_upper"]), rule=rule, section=SECTIONS["diversity"]))
    return claims_dataset(found, chapter="prediction_bias")


def _own_claim(key: str, *, measure: str, row: xr.Dataset, prefix: str, rule: Any, section: str,
               note: str = "") -> Claim:
    """A claim of Cui et al. 2024 that :data:`fairnotes.reference.PAPER_CLAIMS` does not list, from a correlation
    row (``<prefix>``, ``<prefix>_lower``, ``<prefix>_upper``)."""
    return Claim(id=key, paper="Cui et al. 2024", statement=OWN_CLAIMS[key], measure=measure,
                 ours=float(row[prefix]), lower=float(row[f"{prefix}_lower"]), upper=float(row[f"{prefix}_upper"]),
                 rule=rule, section=section, note=note)


def _row_ci(row: xr.Dataset, prefix: str, mean: str = "") -> str:
    """``"+0.12 [-0.30, +0.50]"`` from ``<prefix><mean>``, ``<prefix>_lower``, ``<prefix>_upper``."""
    return _ci(float(row[prefix + mean]), float(row[f"{prefix}_lower"]), float(row[f"{prefix}_upper"]), "+.2f")


# --------------------------------------------------------------------------------------------- glue


def _verdicts(found: xr.Dataset, prefix: str) -> str:
    ids = [str(c) for c in found["claim"].values if str(c).split(":")[0] == prefix]
    if not ids:
        return "not tested"
    if len(ids) == 1 and ":" not in ids[0]:
        return str(found["verdict"].sel(claim=ids[0]).values)
    return "; ".join(f"{c.split(':', 1)[1]}: {found['verdict'].sel(claim=c).values}" for c in ids)


def _disagreements(found: xr.Dataset) -> str:
    bad = [i for i in range(found.sizes["claim"]) if str(found["verdict"].values[i]) == DISAGREES]
    if not bad:
        return "On no claim tested here do our results contradict the paper."
    parts = []
    for i in bad:
        c = found.isel(claim=i)
        parts.append(f"“{c['statement'].values}” ({c['measure'].values}: ours {float(c['ours']):.3g} "
                     f"[{float(c['lower']):.3g}, {float(c['upper']):.3g}]; the rule: {c['rule'].values})")
    return "We disagree with the paper on: " + "; ".join(parts) + "."


def glue_values(ds: xr.Dataset) -> dict[str, float | int | str]:
    """The numbers and words the chapter's prose quotes (``{glue:text}`` keys)."""
    found = claims(ds)
    num = lambda name: float(ds[name].values)  # noqa: E731
    g: dict[str, float | int | str] = {
        "pb_train_minutes": float(ds.attrs.get("train_minutes", math.nan)),
        "pb_n_classes": int(ds.sizes["label"]), "pb_n_hard": int(ds.attrs.get("n_hard", 0)),
        "pb_n_seeds": int(ds.sizes["seed"]),
    }
    gb = ds["group_bias"]
    for grp in GROUPS:
        g[f"pb_{grp}_bias_first"] = float(gb.sel(group=grp).isel(epoch=0))
        g[f"pb_{grp}_bias_last"] = float(gb.sel(group=grp).isel(epoch=-1))
    for name in ("hard_bias", "hard_neg_share"):
        g[f"pb_{name}"], g[f"pb_{name}_lo"], g[f"pb_{name}_hi"] = (num(name), num(f"{name}_lower"),
                                                                   num(f"{name}_upper"))
        g[f"pb_{name}_rerun"] = rerun_band(ds[f"{name}_by_seed"].values)
    short = {"bias_mean": "mean", "bias_first": "first", "bias_last": "last", "grad_neg_share": "grad",
             "gn_over_gp": "gngp", "feature_variance": "var", "nearest_mean_distance": "dist", "overlap": "overlap"}
    for name, key in short.items():
        c = ds.sel(correlation=name)
        g[f"pb_rho_{key}"] = float(c["rho"])
        g[f"pb_rho_{key}_lo"], g[f"pb_rho_{key}_hi"] = float(c["rho_lower"]), float(c["rho_upper"])
        g[f"pb_rho_{key}_seed"] = float(c["rho_seed_mean"])
        g[f"pb_rho_{key}_seed_lo"] = float(c["rho_seed_lower"])
        g[f"pb_rho_{key}_seed_hi"] = float(c["rho_seed_upper"])
        g[f"pb_rho_{key}_seed_rerun"] = rerun_band(c["rho_by_seed"].values)
    g |= _long_tail_glue(ds)
    g |= {"pb_hardest": str(ds["hardest"].values), "pb_top_sender": str(ds["top_sender"].values) or "none",
          "pb_top_sender_share": num("top_sender_share"), "pb_top_sender_row_share": num("top_sender_row_share"),
          "pb_hardest_fp": num("hardest_fp")}
    if "treated" in ds.dims:
        for v, key in (("accuracy_kept", "acc"), ("predicted", "pred"), ("fp", "fp")):
            g[f"pb_div_{key}_words"] = ", ".join(
                f"{n} — {w}" for n, w in zip(ds["treated_class_name"].values, ds[f"delta_{v}_direction"].values))
        g["pb_div_fraction"] = float(ds.attrs.get("diversity_fraction", math.nan))
        g["pb_div_n_seeds"] = int(ds.sizes["diversity_seed"])
        g["pb_div_n_classes"] = int(ds.attrs.get("diversity_n_classes", 0))
    for key in ("hard_overpredicted", "bias_tracks_difficulty", "fp_dominate_gradient", "diversity_hurts",
                "diversity_attracts"):
        g[f"verdict_{key}"] = _verdicts(found, f"cui.{key}")
    g["verdict_overlap"] = _verdicts(found, "overlap.tracks_difficulty")
    g["verdict_long_tail"] = _verdicts(found, "longtail.bias_tracks_frequency")
    g["pb_disagreements"] = _disagreements(found)
    g["pb_profile_text"] = _profile_text(ds)
    return g


def _long_tail_glue(ds: xr.Dataset) -> dict[str, float | int | str]:
    """The long-tailed contrast's glue keys (NaN / "not run" when ``long_tail_ratio`` was None, so that the
    notebook's prose still finds every key)."""
    g: dict[str, float | int | str] = {"pb_lt_ratio": float(ds.attrs.get("long_tail_ratio", math.nan)),
                                       "pb_lt_n_train": int(ds.attrs.get("long_tail_n_train", 0))}
    for name, key in (("frequency", "freq"), ("accuracy", "acc")):
        has = "lt_rho" in ds
        c = ds.sel(lt_correlation=name) if has else None
        for suffix, var in (("", "lt_rho"), ("_lo", "lt_rho_lower"), ("_hi", "lt_rho_upper"),
                            ("_seed", "lt_rho_seed_mean"), ("_seed_lo", "lt_rho_seed_lower"),
                            ("_seed_hi", "lt_rho_seed_upper")):
            g[f"pb_lt_rho_{key}{suffix}"] = float(c[var]) if has else math.nan
    if "lt_bias_mean" in ds:
        freq, b = ds["lt_frequency"].values, ds["lt_bias_mean"].values
        names = [str(n) for n in ds["class_name"].values]
        head, tail = int(np.argmax(freq)), int(np.argmin(freq))
        g |= {"pb_lt_head": names[head], "pb_lt_head_n": int(freq[head]), "pb_lt_head_bias": float(b[head]),
              "pb_lt_tail": names[tail], "pb_lt_tail_n": int(freq[tail]), "pb_lt_tail_bias": float(b[tail])}
    else:
        g |= {"pb_lt_head": "not run", "pb_lt_head_n": 0, "pb_lt_head_bias": math.nan,
              "pb_lt_tail": "not run", "pb_lt_tail_n": 0, "pb_lt_tail_bias": math.nan}
    return g


def _profile_text(ds: xr.Dataset) -> str:
    a = ds.attrs
    per_class = a.get("train_per_class", -1)
    subset = "all training images" if per_class in (-1, None) else f"{per_class} training images per class"
    seeds = [int(s) for s in ds["seed"].values]
    return (f"**Profile `{a.get('profile', '?')}`.** {a.get('model', '?')} on {a.get('dataset', '?')} ({subset}, full "
            f"test set), {a.get('epochs', '?')} epochs, seeds {seeds}, tracking every epoch and every "
            f"{a.get('track_every_steps', '?')} steps in the first epoch"
            + (f", precision `{a['precision_asked']}` (bf16 autocast where the CPU/GPU has it, else fp32: each run's "
               f"`precision_ran` says which)" if a.get("precision_asked", "fp32") != "fp32" else "")
            + f". The tracked runs took "
            f"{float(a.get('train_minutes', math.nan)):.1f} minutes when trained."
            + (f" The long-tailed contrast trains the same model on {a['long_tail_n_train']} images "
               f"(imbalance ratio {float(a.get('long_tail_ratio', math.nan)):g})." if "long_tail_n_train" in a else
               " The long-tailed contrast was skipped (`long_tail_ratio = None`)."))


# ------------------------------------------------------------------------------------------- tables


def _ci(m: float, lo: float, hi: float, fmt: str) -> str:
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Every table the notebook shows, and the frames its charts draw."""
    names = [str(n) for n in ds["class_name"].values]
    per_class = pd.DataFrame({"class": names, "difficulty": [str(v) for v in ds["difficulty"].values],
                              "final test accuracy": ds["accuracy"].values})
    lines = ds["bias"].to_dataframe().reset_index()[["epoch", "label", "bias"]]
    lines = lines.assign(**{"class": [names[i] for i in lines["label"]]}).merge(per_class, on="class")
    out = {"bias_lines": lines}
    if "step_bias" in ds:
        steps = ds["step_bias"].to_dataframe().reset_index()[["step", "label", "step_bias"]]
        out["step_lines"] = steps.assign(**{"class": [names[i] for i in steps["label"]]})
    group = ds["group_bias"].to_pandas()  # group × epoch
    group.index.name, group.columns.name = "difficulty", "epoch"
    out["group_bias"] = group.round(3)
    out["gradient"] = per_class.assign(**{
        "share of gradient from negatives": ds["grad_neg_share"].isel(epoch=-1).values,
        "Gn/Gp": ds["gn_over_gp"].isel(epoch=-1).values})
    if "feature_variance" in ds:
        out["features"] = per_class.assign(**{
            "feature variance": ds["feature_variance"].isel(feature_epoch=-1).values,
            "distance to nearest other class mean": ds["nearest_mean_distance"].isel(feature_epoch=-1).values})
    if "overlap" in ds:
        out["features"]["feature overlap"] = ds["overlap"].isel(feature_epoch=-1).values
    if "lt_rho" in ds:
        out |= _long_tail_tables(ds, names)
    out["correlations"] = pd.DataFrame({
        "Spearman rho with final accuracy [95% CI, Fisher z]": [
            _ci(float(r), float(lo), float(hi), "+.2f") for r, lo, hi in
            zip(ds["rho"].values, ds["rho_lower"].values, ds["rho_upper"].values)],
        "per-seed rho, mean [95% t-interval over seeds]": [
            _ci(float(r), float(lo), float(hi), "+.2f") for r, lo, hi in
            zip(ds["rho_seed_mean"].values, ds["rho_seed_lower"].values, ds["rho_seed_upper"].values)]},
        index=pd.Index([str(v) for v in ds["correlation_of"].values], name="correlated with final test accuracy"))
    out["fp_sources"] = pd.DataFrame({
        f"share of {ds['hardest'].values}'s false positives": ds["fp_source_share"].values,
        f"share of the class's own images predicted as {ds['hardest'].values}":
            ds["confusion_share"].sel(predicted_as=str(ds["hardest"].values)).values},
        index=pd.Index(names, name="true class")).drop(index=str(ds["hardest"].values)).round(3)
    if "treated" in ds.dims:
        rows = {}
        for i in range(ds.sizes["treated"]):
            r = ds.isel(treated=i)
            row = {}
            for v, title in DELTAS.items():
                fmt = "+.3f" if v == "accuracy_kept" else "+.1f"
                row[title] = _ci(*(float(r[f"delta_{v}_{s}"]) for s in ("mean", "lower", "upper")), fmt)
                row[f"{title.split(' (')[0]}: direction"] = str(r[f"delta_{v}_direction"].values)
            rows[str(r["treated_class_name"].values)] = row
        out["diversity"] = pd.DataFrame.from_dict(rows, orient="index").rename_axis("treated label")
    return out


def _long_tail_tables(ds: xr.Dataset, names: list[str]) -> dict[str, pd.DataFrame]:
    """The long-tailed contrast: per class (frequency, bias, accuracy) and its correlations beside the balanced
    runs' correlation of bias with accuracy."""
    per_class = pd.DataFrame({
        "class": names, "training images": ds["lt_frequency"].values,
        "prediction bias, long-tailed": ds["lt_bias_mean"].values,
        "prediction bias, balanced": ds["bias"].mean("epoch").values,
        "final test accuracy, long-tailed": ds["lt_accuracy"].values})

    rows = [(f"long-tailed: with {ds['lt_correlation_with'].sel(lt_correlation=n).values}",
             ds.sel(lt_correlation=n), "lt_rho") for n in LT_CORRELATIONS]
    rows.append(("balanced: with final test accuracy", ds.sel(correlation="bias_mean"), "rho"))
    corr = pd.DataFrame({"Spearman rho [95% CI, Fisher z]": [_row_ci(c, v) for _, c, v in rows],
                         "per-seed rho, mean [95% t-interval over seeds]": [_row_ci(c, f"{v}_seed", "_mean")
                                                                            for _, c, v in rows]},
                        index=pd.Index([r[0] for r in rows],
                                       name="prediction bias (mean over epochs), correlated over classes"))
    return {"long_tail_classes": per_class, "long_tail": corr}


def confusion(ds: xr.Dataset) -> xr.DataArray:
    """The row-normalised test confusion (seed mean) for :func:`fairnotes.viz.heatmap`."""
    return ds["confusion_share"].rename({"true_class": "true class", "predicted_as": "predicted as"}).rename("share")


# --------------------------------------------------------------------------------------------- the short answer


def _ans_ci(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    from ._common import ci_text
    return ci_text(v, lo, hi, fmt)


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer to "do hard classes attract predictions?", in one or two sentences whose wording
    follows the verdicts of ``cui.hard_overpredicted`` and, for each treated label of the controlled experiment,
    ``cui.diversity_hurts`` and ``cui.diversity_attracts``; each number with its 95 % interval."""
    found = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(found["claim"].values, found["verdict"].values)}
    b = _ans_ci(float(ds["hard_bias"]), float(ds["hard_bias_lower"]), float(ds["hard_bias_upper"]), ".2f")
    out = [{AGREES: f"Yes: over training the hard classes are predicted more often than they occur (mean prediction "
                    f"bias {b}, above 1), as the paper's Model Prediction Bias says.",
            DISAGREES: f"No: over training the hard classes are predicted less often than they occur (mean prediction "
                       f"bias {b}, below 1), the opposite of the paper's Model Prediction Bias."}.get(
        verdict["cui.hard_overpredicted"],
        f"Not measurably: the hard classes' mean prediction bias over training is {b}, an interval that straddles 1.")]
    if "treated" in ds.dims:
        parts = []
        for i in range(ds.sizes["treated"]):
            r = ds.isel(treated=i)
            label = str(r["treated_label_name"].values)
            acc = _ans_ci(*(float(r[f"delta_accuracy_kept{x}"]) for x in ("_mean", "_lower", "_upper")), fmt="+.3f")
            pred = _ans_ci(*(float(r[f"delta_predicted{x}"]) for x in ("_mean", "_lower", "_upper")), fmt="+.1f")
            hurts = {AGREES: "loses accuracy", DISAGREES: "gains accuracy"}.get(
                verdict[f"cui.diversity_hurts:{label}"], "keeps its accuracy within the noise")
            draws = {AGREES: "draws more predictions", DISAGREES: "draws fewer predictions"}.get(
                verdict[f"cui.diversity_attracts:{label}"], "draws no measurably different number of predictions")
            parts.append(f"{label} {hurts} ({acc}) and {draws} ({pred} test images)")
        out.append(f"Made more diverse in the controlled experiment, {'; '.join(parts)}.")
    return " ".join(out)
