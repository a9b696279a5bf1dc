"""Coverage of the book's intervals by simulation, at full size (the test in tests/metrics/test_coverage.py
runs a small version in seconds).

A known per-class truth (Fashion-MNIST-like accuracies), 1,000 test images per class, S training seeds whose
per-class accuracy varies around the truth with sd ``tau`` and whose errors fall on the same hard images; each
draw builds the two bootstraps of :func:`fairnotes.metrics._resample.replicate_accuracy` and the interval of
:func:`~fairnotes.metrics._resample.two_source_interval`, and the table counts how often the 95 % interval holds
the true gap, std, worst-3 mean, mean and worst class. The percentile bootstrap over test images (the book's
method before) is measured on the same draws for comparison. Writes ``benchmarks/coverage.json``.

    .venv/bin/python benchmarks/coverage.py            # ~10 min on 2 cores
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from fairnotes.metrics._disparity import disparity_stats
from fairnotes.metrics._resample import replicate_accuracy, two_source_interval

STATS = ("gap", "std", "worst_k_mean", "mean", "worst")
TRUTHS = {
    "fashion-mnist-like": np.array([0.80, 0.95, 0.70, 0.83, 0.72, 0.93, 0.35, 0.92, 0.95, 0.94]),
    "close classes": np.array([0.88, 0.90, 0.91, 0.92, 0.90, 0.89, 0.93, 0.90, 0.91, 0.90]),
}
SETTINGS = [(1, 0.0), (3, 0.02), (3, 0.05), (5, 0.03)]  # (seeds, seed sd of per-class accuracy)


def simulate(p: np.ndarray, n_seeds: int, tau: float, *, n_per_class: int = 1000, n_sim: int = 300,
             n_boot: int = 500, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(p.size), n_per_class)
    truth = {k: float(v[0]) for k, v in disparity_stats(p[None], 0.1, 3)[0].items()}
    new = {s: 0 for s in STATS}
    old = {s: 0 for s in STATS}
    width = {s: 0.0 for s in STATS}
    for i in range(n_sim):
        p_seed = np.clip(p[None] + rng.normal(0, tau, size=(n_seeds, p.size)), 0, 1)
        u = rng.random(y.size)
        hits = (u[None] < p_seed[:, y])[None]
        obs, by_img, by_seed = replicate_accuracy(y, hits, n_boot=n_boot, seed=i)
        so, si, ss = (disparity_stats(a, 0.1, 3)[0] for a in (obs, by_img, by_seed))
        for s in STATS:
            lo, hi = two_source_interval(so[s], si[s], ss[s], n_seeds=n_seeds)
            new[s] += bool(lo[0] <= truth[s] <= hi[0])
            width[s] += float(hi[0] - lo[0]) / n_sim
            plo, phi = np.quantile(si[s][:, 0], [0.025, 0.975])
            old[s] += bool(plo <= truth[s] <= phi)
    return {"coverage": {s: new[s] / n_sim for s in STATS},
            "coverage_percentile_images_only": {s: old[s] / n_sim for s in STATS},
            "mean_width": width, "n_sim": n_sim, "n_boot": n_boot, "n_per_class": n_per_class}


def main() -> None:
    t0 = time.perf_counter()
    rows = []
    for name, p in TRUTHS.items():
        for n_seeds, tau in SETTINGS:
            r = simulate(p, n_seeds, tau)
            rows.append({"truth": name, "seeds": n_seeds, "seed_sd": tau, **r})
            print(name, n_seeds, tau, {k: round(v, 3) for k, v in r["coverage"].items()},
                  "| percentile:", {k: round(v, 3) for k, v in r["coverage_percentile_images_only"].items()},
                  flush=True)
    out = {"date": time.strftime("%Y-%m-%d"), "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
    path = Path(__file__).with_name("coverage.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path} in {out['seconds']} s")


if __name__ == "__main__":
    main()
