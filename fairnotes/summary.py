"""Summaries of a sweep (models × seeds on one test set): how unequal are the classes, and how sure are we?

Torch-free: works on the stacked result of :func:`fairnotes.jobs.sweep.run` (or any Dataset with
``prediction`` (model × seed × sample), ``target`` (sample) and coords ``label``/``class_name``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .metrics import disparity, noise_floor, per_class_over_seeds, rank_agreement

__all__ = ["by_model", "STATS"]

STATS = ("mean", "best", "worst", "gap", "std", "cv", "gini", "worst_k_mean", "min_max_ratio")


def by_model(sweep: xr.Dataset, *, n_boot: int = 1000, n_sim: int = 2000, confidence: float = 0.95,
             worst_fraction: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Per model: seed-averaged per-class accuracy with CIs, disparity statistics with CIs,
    the binomial noise-floor test, and how well seeds agree on which classes are hard.

    Returns dims ``model`` and ``label`` (and ``seed``):

    - ``accuracy``, ``accuracy_lower``, ``accuracy_upper``, ``accuracy_seed_std`` (model × label):
      :func:`~fairnotes.metrics.per_class_over_seeds` — CIs from resampling test images;
    - ``accuracy_by_seed`` (model × seed × label);
    - each of :data:`STATS` (model) computed on the seed-averaged accuracy, with
      ``<stat>_lower``/``<stat>_upper`` from the same bootstrap replicates; ``best_class``,
      ``worst_class``;
    - ``noise_p_value``, ``noise_observed``, ``noise_null_upper`` (model × seed): is each
      model's spread of per-class accuracy (std) larger than binomial noise at equal accuracy?
    - ``seed_kendall_w``, ``seed_p_value`` (model): agreement of the seeds' class rankings;
    - ``overall_accuracy`` (mean over seeds), ``overall_accuracy_std``, ``n_params``.
    """
    y_true = sweep["target"].values.astype(np.int64)
    labels = sweep["label"].values
    names = list(sweep["class_name"].values)
    alpha = 1 - confidence
    parts = []
    for m in sweep["model"].values:
        pred = sweep["prediction"].sel(model=m).values.astype(np.int64)
        pc = per_class_over_seeds(y_true, pred, labels=labels, class_names=names, n_boot=n_boot,
                                  confidence=confidence, seed=seed, keep_replicates=True)
        point = disparity(pc, worst_fraction=worst_fraction)
        reps = disparity(pc["accuracy_replicates"].assign_coords(class_name=pc["class_name"]),
                         worst_fraction=worst_fraction)
        out = pc[["accuracy", "accuracy_lower", "accuracy_upper", "accuracy_seed_std", "accuracy_by_seed"]]
        out = out.assign_coords(seed=sweep["seed"].values)
        for stat in STATS:
            out[stat] = point[stat]
            lo, hi = reps[stat].quantile([alpha / 2, 1 - alpha / 2], dim="replicate").values
            out[f"{stat}_lower"], out[f"{stat}_upper"] = lo, hi
        out["best_class"], out["worst_class"] = point["best_class"], point["worst_class"]
        nf = [noise_floor(y_true, p, labels=labels, n_sim=n_sim, seed=seed) for p in pred]
        out["noise_p_value"] = ("seed", [float(r["p_value"]) for r in nf])
        out["noise_observed"] = ("seed", [float(r["observed"]) for r in nf])
        out["noise_null_upper"] = ("seed", [float(r["null_upper"]) for r in nf])
        if pred.shape[0] > 1:
            ra = rank_agreement(pc["accuracy_by_seed"], over="seed")
            out["seed_kendall_w"], out["seed_p_value"] = ra["kendall_w"], ra["p_value"]
        else:
            out["seed_kendall_w"] = out["seed_p_value"] = np.nan
        parts.append(out)
    res = xr.concat(parts, dim=xr.DataArray(sweep["model"].values, dims="model", name="model"),
                    data_vars="all", coords="minimal", compat="override")
    res["overall_accuracy"] = sweep["overall_accuracy"].mean("seed")
    res["overall_accuracy_std"] = sweep["overall_accuracy"].std("seed", ddof=1) if sweep.sizes["seed"] > 1 \
        else sweep["overall_accuracy"].isel(seed=0) * np.nan
    if "n_params" in sweep:
        res["n_params"] = sweep["n_params"]
    res.attrs = {"confidence": confidence, "n_boot": n_boot, "n_sim": n_sim, "worst_fraction": worst_fraction,
                 "n_test": int(len(y_true)), "n_seeds": int(sweep.sizes["seed"]), **sweep.attrs}
    return res
