"""Does bf16 training change the book's per-class findings? Paired fp32 vs bf16 runs of the prevalence recipe.

The prevalence chapter's laptop runs of ``cnn`` on Fashion-MNIST (``prevalence.base_config``: 4 epochs,
1000 training images per class, AdamW lr 0.002 wd 0.05, crop augmentation, batch 128), once with
``precision="fp32"`` (the book's own runs: same cache key, so they come from the results cache when the
book has been run) and once with ``precision="bf16"``, for each seed. Per seed and class the paired
difference Δ = accuracy(bf16) − accuracy(fp32); then

- per class: the mean Δ over seeds and its 95 % paired t-interval (``mean ± t(0.975, n−1) · sd / √n``);
- the best–worst class gap (max − min per-class accuracy of a run): its change Δgap (bf16 − fp32) with
  the same paired interval, and the gap's seed-to-seed spread (sd over the fp32 seeds);
- verdict ``"within noise"`` iff every class interval and the Δgap interval cover 0 and
  |mean Δgap| < the gap's seed-to-seed spread; else ``"differs"``. (Ten class intervals at 95 % each:
  by chance alone about 4 runs in 10 would see one miss 0, so "differs" asks for a look, not a verdict.)

Recorded in results.json as ``precision_bf16_vs_fp32``.

Run: ``cd benchmarks && ../.venv/bin/python bench_precision.py [--seeds 0 1 2 3 4]`` (uses
``$FAIRNOTES_CACHE``; ``--fresh`` trains in a scratch cache instead). About 2 × 3 runs of a few minutes
each on 2 cores, fewer when the book's fp32 runs are cached. ``--quick``: tiny sizes (a smoke test of the
script, scratch cache, nothing recorded in results.json).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import _common  # noqa: E402
from _common import record  # noqa: E402

DATASET, MODEL = "fashion-mnist", "cnn"


def configs(seeds: list[int], quick: bool) -> list:
    """The chapter's fp32 configs of ``MODEL`` on ``DATASET`` (the book's own keys), one per seed."""
    from fairnotes.analysis import prevalence
    from fairnotes.jobs import sweep
    base = prevalence.base_config(prevalence.Params(), DATASET)
    if quick:
        base = dataclasses.replace(base, epochs=2, train_per_class=100, profile="tiny")
    spec = "cnn:width=8" if quick else MODEL
    return sweep.configs(base, models=[spec], seeds=seeds)


def paired_interval(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``d`` (seeds along axis 0) and its t-interval."""
    from scipy import stats
    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    mean = d.mean(0)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def analyse(acc: dict[str, np.ndarray], class_names: list[str]) -> dict:
    """Per-class and gap statistics of ``acc[precision]`` (seeds × classes)."""
    fp32, bf16 = acc["fp32"], acc["bf16"]
    mean, lo, hi = paired_interval(bf16 - fp32)
    gap = {p: a.max(1) - a.min(1) for p, a in acc.items()}
    g_mean, g_lo, g_hi = paired_interval((gap["bf16"] - gap["fp32"])[:, None])
    spread = float(gap["fp32"].std(ddof=1))
    covers = (lo <= 0) & (hi >= 0)
    gap_covers = bool(g_lo[0] <= 0 <= g_hi[0])
    within = bool(covers.all() and gap_covers and (abs(g_mean[0]) < spread or g_mean[0] == spread == 0))
    return {
        "per_class": {name: {"mean_delta": round(float(m), 5), "ci": [round(float(a), 5), round(float(b), 5)],
                             "covers_0": bool(c), "accuracy_fp32": round(float(fp32[:, i].mean()), 5),
                             "accuracy_bf16": round(float(bf16[:, i].mean()), 5)}
                      for i, (name, m, a, b, c) in enumerate(zip(class_names, mean, lo, hi, covers))},
        "gap": {"fp32": [round(float(v), 5) for v in gap["fp32"]], "bf16": [round(float(v), 5) for v in gap["bf16"]],
                "mean_delta": round(float(g_mean[0]), 5), "ci": [round(float(g_lo[0]), 5), round(float(g_hi[0]), 5)],
                "seed_spread_fp32": round(spread, 5)},
        "overall_delta": round(float((bf16.mean(1) - fp32.mean(1)).mean()), 5),
        "verdict": "within noise" if within else "differs",
        "classes_outside": [n for n, c in zip(class_names, covers) if not c],
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="at least 3 (default: the book's)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, scratch cache, nothing recorded")
    p.add_argument("--fresh", action="store_true", help="train in a scratch cache, not $FAIRNOTES_CACHE")
    a = p.parse_args(argv)
    if len(a.seeds) < 3:
        p.error("need at least 3 seeds for a paired interval worth the name")
    if a.quick or a.fresh:
        os.environ["FAIRNOTES_CACHE"] = tempfile.mkdtemp(prefix="bench-precision-")
    if a.quick:  # a smoke test: its figures go to a scratch file, never into the real results.json
        _common.RESULTS = Path(tempfile.mkdtemp(prefix="bench-quick-")) / "results.json"

    from fairnotes import results
    from fairnotes.jobs import train
    acc: dict[str, list] = {"fp32": [], "bf16": []}
    epoch_s: dict[str, list] = {"fp32": [], "bf16": []}
    ran, names, from_cache = set(), None, 0
    for cfg in configs(a.seeds, a.quick):
        for prec in ("fp32", "bf16"):
            c = dataclasses.replace(cfg, precision=prec, progress=False)
            ds = results.cached(train.run, c)
            from_cache += str(ds.attrs.get("cache", "")).startswith("hit")
            acc[prec].append(ds["accuracy"].values.astype(np.float64))
            epoch_s[prec].append(float(np.mean(ds["epoch_time_s"].values)))
            names = [str(n) for n in ds["class_name"].values]
            if prec == "bf16":
                ran.add(str(ds.attrs.get("precision_ran", "fp32")))
            print(f"seed {c.seed} {prec}: accuracy {float(ds.attrs['overall_accuracy']):.4f}"
                  f" ({'cached' if str(ds.attrs.get('cache', '')).startswith('hit') else 'trained'})", flush=True)
    arrays = {k: np.stack(v) for k, v in acc.items()}
    stats = analyse(arrays, names)
    if ran != {"bf16"}:
        stats["verdict"] = "not measured: bf16 fell back to fp32 on this CPU"
    print(f"\n{'class':<14} {'fp32':>7} {'bf16':>7} {'mean Δ':>8}  95% paired interval")
    for name, row in stats["per_class"].items():
        print(f"{name:<14} {row['accuracy_fp32']:>7.4f} {row['accuracy_bf16']:>7.4f} {row['mean_delta']:>+8.4f}  "
              f"[{row['ci'][0]:+.4f}, {row['ci'][1]:+.4f}]{'' if row['covers_0'] else '  *'}")
    g = stats["gap"]
    print(f"best–worst gap: Δ {g['mean_delta']:+.4f} [{g['ci'][0]:+.4f}, {g['ci'][1]:+.4f}], "
          f"seed-to-seed spread {g['seed_spread_fp32']:.4f}  →  {stats['verdict']}"
          f"{'  (quick: tiny sizes, not a measurement)' if a.quick else ''}")
    cfg0 = configs(a.seeds[:1], a.quick)[0]
    figures = {**stats, "seeds": a.seeds, "dataset": DATASET, "model": cfg0.model,
               "model_kwargs": cfg0.model_kwargs, "epochs": cfg0.epochs, "train_per_class": cfg0.train_per_class,
               "recipe": {k: getattr(cfg0, k) for k in ("optimizer", "lr", "weight_decay", "augment", "batch_size")},
               "epoch_time_s": {k: round(float(np.mean(v)), 2) for k, v in epoch_s.items()},
               "runs_from_cache": from_cache, "precision_ran": sorted(ran), "quick": a.quick or None,
               "ratio": round(float(np.mean(epoch_s["fp32"]) / np.mean(epoch_s["bf16"])), 3)}
    return record("precision_bf16_vs_fp32", figures,
                  goal="bf16 per-class accuracy within seed noise of fp32 (paired, >= 3 seeds)",
                  met=stats["verdict"] == "within noise")


if __name__ == "__main__":
    main()
