"""knn_head vs scikit-learn's brute-force cosine KNeighborsClassifier, 60,000 × 10,000 × 256-d, k=10.

Run: ``cd benchmarks && ../.venv/bin/python bench_knn.py``
Goal: knn_head at least 5x faster, with identical predictions.

The features are random but clustered, like a network's: 10 classes, each a mixture of 8
Gaussian blobs in 256 dims, with noise set so that kNN gets about 3 in 4 test samples right
(votes are not unanimous, so the vote and its tie rule matter). Continuous values make exact
distance ties (where either answer would be right) practically impossible. Both sides compute
float32 cosine similarities with a BLAS GEMM on all the machine's cores, so the GEMM
(2 × 10,000 × 60,000 × 256 flops) sets a floor that neither can go below.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_of, record  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from fairnotes.heads import knn_head  # noqa: E402

N_TRAIN, N_TEST, DIM, K, CLASSES, BLOBS, NOISE, SEED = 60_000, 10_000, 256, 10, 10, 8, 3.5, 0


def features(n: int, rng: np.random.Generator, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    blob = rng.integers(0, len(centres), n)
    x = centres[blob] + NOISE * rng.standard_normal((n, centres.shape[1]), dtype=np.float32)
    return x.astype(np.float32), (blob % CLASSES).astype(np.int64)


def main() -> dict:
    rng = np.random.default_rng(SEED)
    centres = rng.standard_normal((CLASSES * BLOBS, DIM), dtype=np.float32)
    xtr, ytr = features(N_TRAIN, rng, centres)
    xte, yte = features(N_TEST, rng, centres)

    out: dict[str, np.ndarray] = {}

    def ours():
        out["ours"] = knn_head(xtr, ytr, xte, k=K)

    def sklearn():
        knn = KNeighborsClassifier(n_neighbors=K, algorithm="brute", metric="cosine")
        out["sklearn"] = knn.fit(xtr, ytr).predict(xte)

    t_ours = best_of(ours, repeat=3, warmup=1)
    t_sklearn = best_of(sklearn, repeat=1, warmup=0)  # tens of seconds a call; nothing in it warms up
    p_ours, p_sklearn = out["ours"], out["sklearn"]
    mismatches = int((p_ours != p_sklearn).sum())
    ratio = t_sklearn / t_ours
    print(f"knn_head {t_ours:.2f} s, KNeighborsClassifier {t_sklearn:.2f} s: {ratio:.1f}x faster; "
          f"{mismatches} of {N_TEST} predictions differ; kNN accuracy {(p_ours == yte).mean():.3f}")
    entry = record(
        "knn_vs_sklearn",
        {"knn_head_s": round(t_ours, 3), "sklearn_s": round(t_sklearn, 3), "ratio": round(ratio, 2),
         "n_train": N_TRAIN, "n_test": N_TEST, "dim": DIM, "k": K, "mismatches": mismatches,
         "identical": mismatches == 0, "knn_accuracy": round(float((p_ours == yte).mean()), 4)},
        goal=">= 5x faster",
        met=ratio >= 5 and mismatches == 0,
    )
    if mismatches:
        raise SystemExit("knn_head and KNeighborsClassifier disagree")
    return entry


if __name__ == "__main__":
    main()
