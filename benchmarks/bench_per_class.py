"""per_class vs sklearn's classification_report on 1M predictions x 1000 classes.

Run: ``cd benchmarks && ../.venv/bin/python bench_per_class.py``
Goal: per_class at least 10x faster, with the same per-class recall and precision.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_of, record  # noqa: E402
from sklearn.metrics import classification_report  # noqa: E402

from fairnotes.metrics import per_class  # noqa: E402

N, K, SEED = 1_000_000, 1_000, 0


def main() -> dict:
    rng = np.random.default_rng(SEED)
    y_true = rng.integers(0, K, N)
    # ~70% right, errors uniform over classes: every class has support and predictions.
    y_pred = np.where(rng.random(N) < 0.7, y_true, rng.integers(0, K, N))
    labels = np.arange(K)

    def ours():
        return per_class(y_true, y_pred, labels=labels)

    def sklearn():
        return classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)

    ds, report = ours(), sklearn()
    recall = np.array([report[str(c)]["recall"] for c in labels])
    precision = np.array([report[str(c)]["precision"] for c in labels])
    agree = bool(np.allclose(ds["accuracy"].values, recall) and np.allclose(ds["precision"].values, precision))
    if not agree:
        raise SystemExit("per_class and classification_report disagree")

    t_ours = best_of(ours, repeat=5)
    t_sklearn = best_of(sklearn, repeat=3)
    ratio = t_sklearn / t_ours
    print(f"per_class {t_ours * 1e3:.1f} ms, classification_report {t_sklearn * 1e3:.1f} ms: {ratio:.1f}x faster")
    return record(
        "per_class_vs_sklearn",
        {"per_class_s": round(t_ours, 5), "sklearn_s": round(t_sklearn, 5), "ratio": round(ratio, 2),
         "n": N, "classes": K, "agree": agree},
        goal=">= 10x faster",
        met=ratio >= 10,
    )


if __name__ == "__main__":
    main()
