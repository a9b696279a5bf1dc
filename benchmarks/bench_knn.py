"""knn_head vs scikit-learn's brute-force cosine KNeighborsClassifier, 60,000 × 10,000 × 256-d, k=10.

Run: ``cd benchmarks && ../.venv/bin/python bench_knn.py`` (``--quick``: 12,000 × 2,000, a smoke
test of a few seconds that prints its figures and leaves results.json alone).
Goal: knn_head at least 3x faster, with predictions identical to scikit-learn's.

One run times three things on the same data: scikit-learn, ``knn_head(precision="fp32")`` (the
search in float32) and ``knn_head(precision="bf16")`` (the search in bfloat16, then the exact
re-rank of the candidates; the default where the CPU multiplies bfloat16 natively). The headline
``ratio`` is the default precision's (``precision="auto"``); ``ratio_fp32`` and ``ratio_bf16``
are both, and ``identical`` says that both gave scikit-learn's predictions, all of them.

The features are random but clustered, like a network's: 10 classes, each a mixture of 8
Gaussian blobs in 256 dims, with noise set so that kNN gets about 3 in 4 test samples right
(votes are not unanimous, so the vote and its tie rule matter). scikit-learn's GEMM is float32
(2 × 10,000 × 60,000 × 256 flops) on all the machine's cores; the bfloat16 search does the same
product at bfloat16 speed, and the exact float32 work is left to the few candidates per test
sample.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_of, record  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from fairnotes.heads import bf16_supported, knn_head  # noqa: E402

N_TRAIN, N_TEST, DIM, K, CLASSES, BLOBS, NOISE, SEED = 60_000, 10_000, 256, 10, 10, 8, 3.5, 0
QUICK_TRAIN, QUICK_TEST = 12_000, 2_000
GOAL = 3.0


def features(n: int, rng: np.random.Generator, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    blob = rng.integers(0, len(centres), n)
    x = centres[blob] + NOISE * rng.standard_normal((n, centres.shape[1]), dtype=np.float32)
    return x.astype(np.float32), (blob % CLASSES).astype(np.int64)


def main(quick: bool = False) -> dict:
    n_train, n_test = (QUICK_TRAIN, QUICK_TEST) if quick else (N_TRAIN, N_TEST)
    rng = np.random.default_rng(SEED)
    centres = rng.standard_normal((CLASSES * BLOBS, DIM), dtype=np.float32)
    xtr, ytr = features(n_train, rng, centres)
    xte, yte = features(n_test, rng, centres)

    out: dict[str, np.ndarray] = {}

    def sklearn():
        knn = KNeighborsClassifier(n_neighbors=K, algorithm="brute", metric="cosine")
        out["sklearn"] = knn.fit(xtr, ytr).predict(xte)

    def ours(precision: str):
        def run():
            out[precision] = knn_head(xtr, ytr, xte, k=K, precision=precision)
        return run

    times = {"sklearn": best_of(sklearn, repeat=3 if quick else 1, warmup=0)}  # nothing in it warms up
    for precision in ("fp32", "bf16"):
        times[precision] = best_of(ours(precision), repeat=3, warmup=1)
    auto = "bf16" if bf16_supported() else "fp32"
    mismatches = {p: int((out[p] != out["sklearn"]).sum()) for p in ("fp32", "bf16")}
    identical = not any(mismatches.values())
    ratios = {p: times["sklearn"] / times[p] for p in ("fp32", "bf16")}
    accuracy = float((out[auto] == yte).mean())
    print(f"{n_train} × {n_test} × {DIM}, k={K}: KNeighborsClassifier {times['sklearn']:.2f} s; "
          f"knn_head fp32 {times['fp32']:.2f} s ({ratios['fp32']:.1f}x, {mismatches['fp32']} differ), "
          f"bf16 + re-rank {times['bf16']:.2f} s ({ratios['bf16']:.1f}x, {mismatches['bf16']} differ); "
          f"default here: {auto}; kNN accuracy {accuracy:.3f}")
    figures = {"knn_head_s": round(times[auto], 3), "sklearn_s": round(times["sklearn"], 3),
               "ratio": round(ratios[auto], 2), "precision": auto, "bf16_supported": bf16_supported(),
               "fp32_s": round(times["fp32"], 3), "bf16_s": round(times["bf16"], 3),
               "ratio_fp32": round(ratios["fp32"], 2), "ratio_bf16": round(ratios["bf16"], 2),
               "mismatches_fp32": mismatches["fp32"], "mismatches_bf16": mismatches["bf16"],
               "mismatches": mismatches[auto], "identical": identical,
               "n_train": n_train, "n_test": n_test, "dim": DIM, "k": K, "knn_accuracy": round(accuracy, 4)}
    if quick:  # a smoke test: the recorded figure stays the full-size one
        print(figures)
        entry = figures
    else:
        entry = record("knn_vs_sklearn", figures, goal=f">= {GOAL:g}x faster, identical predictions",
                       met=ratios[auto] >= GOAL and identical)
    if not identical:
        raise SystemExit("knn_head and KNeighborsClassifier disagree")
    return entry


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; print, do not record")
    main(quick=parser.parse_args().quick)
