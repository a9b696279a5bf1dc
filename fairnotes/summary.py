"""Summaries of a sweep (models × seeds on one test set): how unequal are the classes, and how sure are we?

Torch-free: works on the stacked result of :func:`fairnotes.jobs.sweep.run` (or any Dataset with
``prediction`` (model × seed × sample), ``target`` (sample) and coords ``label``/``class_name``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .metrics import disparity, noise_floor, per_class_over_seeds, rank_agreement

__all__ = ["by_model", "paired_deltas", "STATS", "DELTA_STATS"]

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


DELTA_STATS = ("mean", "worst", "gap", "std", "gini")


def paired_deltas(sweep: xr.Dataset, *, dim: str = "remedy", reference: str | None = None,
                  groups: dict[str, list[int]] | None = None, n_boot: int = 1000, confidence: float = 0.95,
                  worst_fraction: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Each entry of ``dim`` minus ``reference`` (default: the first), paired by seed and by test image.

    ``sweep`` holds ``prediction`` (``dim`` × seed × sample) and ``target`` (sample); seed ``s`` of
    every entry must be comparable with seed ``s`` of the reference (same training subset and
    initial weights, as :func:`fairnotes.jobs.remedies.run` arranges). ``groups`` names sets of
    labels (e.g. ``{"hard third": [6, 4, 2], "easy third": [1, 8, 5]}``).

    Returns dims ``dim``, ``label`` (and ``group``):

    - ``accuracy`` (dim × label): per-class accuracy, mean over seeds; ``delta_accuracy`` = entry −
      reference, with ``delta_accuracy_lower`` / ``_upper``; ``hurt`` / ``helped`` (bool): the
      interval lies wholly below / above 0;
    - for each of :data:`DELTA_STATS` (``mean`` = balanced accuracy, ``worst`` = worst-class
      accuracy, ``gap``, ``std`` across classes, ``gini``; see :func:`fairnotes.metrics.disparity`),
      computed on the seed-mean per-class accuracy: ``<stat>``, ``<stat>_lower`` / ``_upper`` and
      ``delta_<stat>`` with bounds;
    - ``delta_group`` (dim × group): mean ``delta_accuracy`` over each group's labels, with bounds.

    Intervals: percentile bootstrap with ``n_boot`` replicates, each resampling the seeds (with
    replacement; an entry and its reference keep the same seeds) *and* the test images within each
    true class (the same images for entry and reference). With few seeds the seed part is coarse
    (3 seeds allow 10 distinct multisets), so the bounds are approximate.
    """
    from .metrics._disparity import disparity_stats
    from .metrics._resample import within_class_counts

    names = [str(v) for v in sweep[dim].values]
    ref = names[0] if reference is None else str(reference)
    if ref not in names:
        raise ValueError(f"reference {ref!r} is not in {dim}; valid: {', '.join(names)}")
    r0 = names.index(ref)
    y = sweep["target"].values.astype(np.int64)
    pred = sweep["prediction"].transpose(dim, "seed", "sample").values.astype(np.int64)
    labels = sweep["label"].values
    k, (r, s, n) = len(labels), pred.shape
    hit = (pred == y).reshape(r * s, n).astype(np.float64)
    w = within_class_counts(y, n_boot, seed)
    sizes = np.bincount(y, minlength=k).astype(float)
    acc_obs = np.stack([hit[:, y == c].mean(axis=1) for c in labels], axis=-1).reshape(r, s, k)
    acc_b = np.stack([w[:, y == c] @ hit[:, y == c].T / sizes[c] for c in labels], axis=-1)  # (B, R*S, K)
    acc_b = acc_b.reshape(n_boot, r, s, k)
    s_idx = np.random.default_rng([seed, 1]).integers(0, s, size=(n_boot, s))
    reps = np.take_along_axis(acc_b, s_idx[:, None, :, None], axis=2).mean(axis=2)  # (B, R, K)
    obs = acc_obs.mean(axis=1)  # (R, K)
    q = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]

    def bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.quantile(x, q, axis=0)
        return lo, hi

    out = xr.Dataset(coords={dim: names, "label": labels, "class_name": ("label", sweep["class_name"].values)})
    ldims = (dim, "label")
    out["accuracy"] = (ldims, obs, {"description": "per-class accuracy, mean over seeds"})
    d_obs, d_reps = obs - obs[r0], reps - reps[:, r0:r0 + 1]
    lo, hi = bounds(d_reps)
    out["delta_accuracy"] = (ldims, d_obs, {"description": f"per-class accuracy minus {ref}'s, mean over seeds"})
    out["delta_accuracy_lower"], out["delta_accuracy_upper"] = (ldims, lo), (ldims, hi)
    out["hurt"] = (ldims, hi < 0, {"description": "the delta's interval lies wholly below 0"})
    out["helped"] = (ldims, lo > 0, {"description": "the delta's interval lies wholly above 0"})
    st_obs, _, _ = disparity_stats(obs, worst_fraction)
    st_rep, _, _ = disparity_stats(reps, worst_fraction)
    for stat in DELTA_STATS:
        out[stat] = (dim, st_obs[stat])
        out[f"{stat}_lower"], out[f"{stat}_upper"] = ((dim, b) for b in bounds(st_rep[stat]))
        out[f"delta_{stat}"] = (dim, st_obs[stat] - st_obs[stat][r0], {"description": f"{stat} minus {ref}'s"})
        out[f"delta_{stat}_lower"], out[f"delta_{stat}_upper"] = (
            (dim, b) for b in bounds(st_rep[stat] - st_rep[stat][:, r0:r0 + 1]))
    if groups:
        gnames = list(groups)
        pos = {int(v): i for i, v in enumerate(labels)}
        bad = [g for g, ls in groups.items() if not ls or any(int(v) not in pos for v in ls)]
        if bad:
            raise ValueError(f"groups {bad} name no labels or labels not in {labels.tolist()}")
        cols = [[pos[int(v)] for v in groups[g]] for g in gnames]
        g_obs = np.stack([d_obs[:, c].mean(axis=1) for c in cols], axis=-1)
        g_rep = np.stack([d_reps[:, :, c].mean(axis=2) for c in cols], axis=-1)
        out = out.assign_coords(group=gnames)
        lo, hi = bounds(g_rep)
        out["delta_group"] = ((dim, "group"), g_obs, {"description": "mean per-class delta over the group's labels"})
        out["delta_group_lower"], out["delta_group_upper"] = ((dim, "group"), lo), ((dim, "group"), hi)
        out.attrs["groups"] = "; ".join(f"{g}: {', '.join(map(str, groups[g]))}" for g in gnames)
    out.attrs.update(reference=ref, n_boot=int(n_boot), confidence=float(confidence), n_seeds=int(s), n_test=int(n),
                     ci_method="percentile bootstrap resampling seeds (paired) and test images within class (paired)")
    return out
