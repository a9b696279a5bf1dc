"""Summaries of a sweep (models × seeds on one test set): how unequal are the classes, and how sure are we?

Torch-free: works on the stacked result of :func:`fairnotes.jobs.sweep.run` (or any Dataset with
``prediction`` (model × seed × sample), ``target`` (sample) and coords ``label``/``class_name``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .metrics import disparity, noise_floor, per_class_over_seeds, rank_agreement

__all__ = ["by_model", "paired_deltas", "benjamini_hochberg", "STATS", "DELTA_STATS", "FDR_Q"]

STATS = ("mean", "best", "worst", "gap", "std", "cv", "gini", "worst_k_mean", "min_max_ratio")


WORST_MIN = 3  # worst_k_mean averages at least 3 classes ("the worst 10 %" of 10 classes is not one class)
CI_METHOD = ("bias-corrected t-interval from two bootstraps: test images resampled within each true class, and "
             "training seeds resampled (variance x S/(S-1)); Welch-Satterthwaite degrees of freedom "
             "(fairnotes.metrics._resample.two_source_interval)")


def by_model(sweep: xr.Dataset, *, n_boot: int = 1000, n_sim: int = 2000, confidence: float = 0.95,
             worst_fraction: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Per model: seed-averaged per-class accuracy with CIs, disparity statistics with CIs,
    the binomial noise-floor test, and how well seeds agree on which classes are hard.

    Returns dims ``model`` and ``label`` (and ``seed``):

    - ``accuracy``, ``accuracy_lower``, ``accuracy_upper``, ``accuracy_seed_std`` (model × label);
    - ``accuracy_by_seed`` (model × seed × label);
    - each of :data:`STATS` (model) computed on the seed-averaged accuracy, with
      ``<stat>_lower``/``<stat>_upper`` and ``<stat>_rerun`` (how far a re-run with the same seeds on
      another machine may move it: :func:`fairnotes.metrics._resample.rerun_half_width`; NaN with one
      seed); ``best_class``, ``worst_class``;
    - ``noise_p_value``, ``noise_observed``, ``noise_null_upper`` (model × seed): is each
      model's spread of per-class accuracy (std) larger than binomial noise at equal accuracy?
    - ``seed_kendall_w``, ``seed_p_value`` (model): agreement of the seeds' class rankings;
    - ``overall_accuracy`` (mean over seeds), ``overall_accuracy_std``, ``n_params``.

    Intervals (:data:`CI_METHOD`) cover both the test images and the training seeds; their coverage is
    checked by simulation (``tests/metrics/test_coverage.py``). ``worst_k_mean`` averages at least
    :data:`WORST_MIN` classes.
    """
    from .metrics._resample import replicate_accuracy, stat_intervals, stat_rerun

    y_true = sweep["target"].values.astype(np.int64)
    labels = sweep["label"].values
    names = list(sweep["class_name"].values)
    n_seeds = int(sweep.sizes["seed"])
    support = np.bincount(y_true, minlength=int(labels.max()) + 1)[labels]
    parts = []
    for m in sweep["model"].values:
        pred = sweep["prediction"].sel(model=m).values.astype(np.int64)
        pc = per_class_over_seeds(y_true, pred, labels=labels, class_names=names, n_boot=1, seed=seed)
        obs, by_img, by_seed = replicate_accuracy(y_true, (pred == y_true)[None], n_boot=n_boot, seed=seed)
        iv = stat_intervals(obs[0], by_img[:, 0], by_seed[:, 0], n_seeds=n_seeds, worst_fraction=worst_fraction,
                            worst_min=WORST_MIN, confidence=confidence, support=support)
        out = pc[["accuracy", "accuracy_seed_std", "accuracy_by_seed"]]
        out = out.assign_coords(seed=sweep["seed"].values)
        out["accuracy_lower"], out["accuracy_upper"] = ("label", iv["accuracy"][1]), ("label", iv["accuracy"][2])
        rr = stat_rerun(by_seed[:, 0], n_seeds=n_seeds, worst_fraction=worst_fraction, worst_min=WORST_MIN,
                        confidence=confidence)
        point = disparity(pc, worst_fraction=worst_fraction, worst_min=WORST_MIN)
        for stat in STATS:
            out[stat] = point[stat]
            out[f"{stat}_lower"], out[f"{stat}_upper"] = float(iv[stat][1]), float(iv[stat][2])
            out[f"{stat}_rerun"] = float(rr[stat])
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
    res.attrs = {**sweep.attrs, "confidence": confidence, "n_boot": n_boot, "n_sim": n_sim,
                 "worst_fraction": worst_fraction, "worst_min": WORST_MIN, "n_test": int(len(y_true)),
                 "n_seeds": n_seeds, "ci_method": CI_METHOD}
    return res


DELTA_STATS = ("mean", "worst", "gap", "std", "gini")

FDR_Q = 0.05  # the false-discovery rate of hurt_fdr / helped_fdr
FDR_METHOD = ("Benjamini-Hochberg at q = 0.05 across the classes of each entry (scipy.stats.false_discovery_control), "
              "on the two-sided p-values of the per-class deltas (the same t as their intervals)")


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values along the last axis (:func:`scipy.stats.false_discovery_control`).

    NaN p-values stay NaN and do not count among the hypotheses; reject at level ``q`` where the
    adjusted value is ``<= q``.
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    flat, res = p.reshape(-1, p.shape[-1]), out.reshape(-1, p.shape[-1])
    for row, dst in zip(flat, res):
        ok = np.isfinite(row)
        if ok.any():
            dst[ok] = false_discovery_control(row[ok], method="bh")
    return out


def paired_deltas(sweep: xr.Dataset, *, dim: str = "remedy", reference: str | None = None,
                  groups: dict[str, list[int]] | None = None, n_boot: int = 1000, confidence: float = 0.95,
                  worst_fraction: float = 0.1, seed: int = 0) -> xr.Dataset:
    """Each entry of ``dim`` minus ``reference`` (default: the first), paired by seed and by test image.

    ``sweep`` holds ``prediction`` (``dim`` × seed × sample) and ``target`` (sample); seed ``s`` of
    every entry must be comparable with seed ``s`` of the reference (same training subset and
    initial weights, as :func:`fairnotes.jobs.remedies.run` arranges). ``groups`` names sets of
    labels (e.g. ``{"hard": [6, 4, 2], "easy": [1, 8, 5]}``).

    Returns dims ``dim``, ``label`` (and ``group``):

    - ``accuracy`` (dim × label): per-class accuracy, mean over seeds; ``delta_accuracy`` = entry −
      reference, with ``delta_accuracy_lower`` / ``_upper``; ``hurt`` / ``helped`` (bool): the
      interval lies wholly below / above 0 (one class at a time, no correction for looking at K);
    - ``delta_accuracy_p`` (dim × label): the two-sided p-value of each per-class delta, from the
      same t as its interval (:func:`fairnotes.metrics._resample.two_source_p_value`: the interval
      excludes 0 exactly when ``p < 1 − confidence``); ``delta_accuracy_p_adjusted``: its
      Benjamini–Hochberg adjustment across the classes of the entry; ``hurt_fdr`` / ``helped_fdr``
      (bool): rejected at a false-discovery rate of :data:`FDR_Q` across the K classes, with a
      negative / positive delta;
    - for each of :data:`DELTA_STATS` (``mean`` = balanced accuracy, ``worst`` = worst-class
      accuracy, ``gap``, ``std`` across classes, ``gini``; see :func:`fairnotes.metrics.disparity`),
      computed on the seed-mean per-class accuracy: ``<stat>``, ``<stat>_lower`` / ``_upper`` and
      ``delta_<stat>`` with bounds and ``delta_<stat>_rerun`` (how far a re-run with the same seeds on
      another machine may move it: :func:`fairnotes.metrics._resample.rerun_half_width`);
    - ``delta_group`` (dim × group): mean ``delta_accuracy`` over each group's labels, with bounds.

    Intervals: :data:`CI_METHOD`, applied to the paired differences (the same resampled seeds and test
    images for an entry and its reference).
    """
    from .metrics._disparity import disparity_stats
    from .metrics._resample import replicate_accuracy, rerun_half_width, two_source_interval, two_source_p_value

    names = [str(v) for v in sweep[dim].values]
    ref = names[0] if reference is None else str(reference)
    if ref not in names:
        raise ValueError(f"reference {ref!r} is not in {dim}; valid: {', '.join(names)}")
    r0 = names.index(ref)
    y = sweep["target"].values.astype(np.int64)
    pred = sweep["prediction"].transpose(dim, "seed", "sample").values.astype(np.int64)
    labels = sweep["label"].values
    r, s, n = pred.shape
    obs, by_img, by_seed = replicate_accuracy(y, pred == y, n_boot=n_boot, seed=seed)  # (R, K), (B, R, K) x2

    def iv(o: np.ndarray, bi: np.ndarray, bs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return two_source_interval(o, bi, bs, n_seeds=s, confidence=confidence)

    def minus_ref(a: np.ndarray, axis: int) -> np.ndarray:
        return a - np.take(a, [r0], axis=axis)

    out = xr.Dataset(coords={dim: names, "label": labels, "class_name": ("label", sweep["class_name"].values)})
    ldims = (dim, "label")
    out["accuracy"] = (ldims, obs, {"description": "per-class accuracy, mean over seeds"})
    d_obs, d_img, d_seed = minus_ref(obs, 0), minus_ref(by_img, 1), minus_ref(by_seed, 1)
    lo, hi = iv(d_obs, d_img, d_seed)
    lo, hi = np.clip(lo, -1, 1), np.clip(hi, -1, 1)
    out["delta_accuracy"] = (ldims, d_obs, {"description": f"per-class accuracy minus {ref}'s, mean over seeds"})
    out["delta_accuracy_lower"], out["delta_accuracy_upper"] = (ldims, lo), (ldims, hi)
    out["hurt"] = (ldims, hi < 0, {"description": "the delta's interval lies wholly below 0"})
    out["helped"] = (ldims, lo > 0, {"description": "the delta's interval lies wholly above 0"})
    p_val = two_source_p_value(d_obs, d_img, d_seed, n_seeds=s)
    p_adj = benjamini_hochberg(p_val)
    centre = (lo + hi) / 2  # the bias-corrected centre of the t-interval: the sign of the test
    out["delta_accuracy_p"] = (ldims, p_val, {"description": "two-sided p-value of the per-class delta (the "
                                                             "t of its interval)"})
    out["delta_accuracy_p_adjusted"] = (ldims, p_adj, {"description": "Benjamini-Hochberg adjusted p across the "
                                                                      "entry's classes"})
    reject = np.nan_to_num(p_adj, nan=1.0) <= FDR_Q
    out["hurt_fdr"] = (ldims, reject & (centre < 0), {"description": f"delta below 0 at a false-discovery rate of "
                                                                     f"{FDR_Q:g} across the classes (BH)"})
    out["helped_fdr"] = (ldims, reject & (centre > 0), {"description": f"delta above 0 at a false-discovery rate "
                                                                       f"of {FDR_Q:g} across the classes (BH)"})
    st = [disparity_stats(a, worst_fraction, WORST_MIN)[0] for a in (obs, by_img, by_seed)]
    for stat in DELTA_STATS:
        o, bi, bs = (x[stat] for x in st)
        lo, hi = iv(o, bi, bs)
        out[stat] = (dim, o)
        out[f"{stat}_lower"], out[f"{stat}_upper"] = (dim, lo), (dim, hi)
        out[f"delta_{stat}"] = (dim, o - o[r0], {"description": f"{stat} minus {ref}'s"})
        lo, hi = iv(o - o[r0], minus_ref(bi, 1), minus_ref(bs, 1))
        lo, hi = np.clip(lo, -1, 1), np.clip(hi, -1, 1)  # a difference of accuracies (or gaps) lies in [-1, 1]
        out[f"delta_{stat}_lower"], out[f"delta_{stat}_upper"] = (dim, lo), (dim, hi)
        out[f"delta_{stat}_rerun"] = (dim, rerun_half_width(minus_ref(bs, 1), n_seeds=s, confidence=confidence),
                                      {"description": "how far a re-run with the same seeds may move the delta "
                                                      "(half-width; NaN with one seed)"})
    if groups:
        gnames = list(groups)
        pos = {int(v): i for i, v in enumerate(labels)}
        bad = [g for g, ls in groups.items() if not ls or any(int(v) not in pos for v in ls)]
        if bad:
            raise ValueError(f"groups {bad} name no labels or labels not in {labels.tolist()}")
        cols = [[pos[int(v)] for v in groups[g]] for g in gnames]
        g = [np.stack([a[..., c].mean(axis=-1) for c in cols], axis=-1) for a in (d_obs, d_img, d_seed)]
        out = out.assign_coords(group=gnames)
        lo, hi = iv(*g)
        out["delta_group"] = ((dim, "group"), g[0], {"description": "mean per-class delta over the group's labels"})
        out["delta_group_lower"], out["delta_group_upper"] = ((dim, "group"), lo), ((dim, "group"), hi)
        out.attrs["groups"] = "; ".join(f"{g}: {', '.join(map(str, groups[g]))}" for g in gnames)
    out.attrs.update(reference=ref, n_boot=int(n_boot), confidence=float(confidence), n_seeds=int(s), n_test=int(n),
                     worst_min=WORST_MIN, ci_method=CI_METHOD, fdr_q=FDR_Q, fdr_method=FDR_METHOD)
    return out
