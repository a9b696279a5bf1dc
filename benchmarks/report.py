"""Write benchmarks/README.md: a table of the latest figures in results.json (run after the benchmarks)."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
HEADLINE = {  # benchmark -> (what, the figure to show)
    "per_class_vs_sklearn": ("`per_class` vs sklearn `classification_report`, 1M × 1000 classes", "ratio"),
    "knn_vs_sklearn": ("kNN head (bf16 search + exact re-rank) vs sklearn `KNeighborsClassifier(algorithm='brute')`",
                       "ratio"),
    "tracking_overhead": ("training-step overhead of prediction-bias tracking", "overhead"),
    "train_throughput_vs_reference": ("train job (bf16, + torch.compile where faster) vs torchvision + "
                                      "DataLoader loop, smallest over the book's 4 models (CPU)", "ratio"),
    "precision_bf16_vs_fp32": ("bf16 ÷ fp32 epoch time of cnn on Fashion-MNIST (per-class deltas: `verdict`)",
                               "ratio"),
    "inference_bf16_vs_fp32": ("bf16 ÷ fp32 inference, smallest of features.extract and the LiT image tower",
                               "ratio"),
    "peak_rss_fashion_mnist": ("peak RSS, Fashion-MNIST ResNet-20 epoch (MB)", "peak_rss_mb"),
    "cached_rerun_prevalence_laptop": ("prevalence chapter, cold vs cached re-run", "ratio"),
    "cached_rerun": ("cached chapter re-run vs cold, smallest ratio of the chapters taking >= 1 min cold", "min_ratio"),
    "book_cold_warm": ("`make book` (all chapters + HTML build), cold / warm, minutes", "totals"),
}


def main() -> None:
    data = json.loads((HERE / "results.json").read_text())
    lines = ["# Benchmarks", "",
             "Each `bench_*.py` measures fairnotes side by side with a reference in one run and records its figures",
             "in `results.json` (machine, torch version and date included). `make benchmarks` runs them all; this",
             "table is written by `report.py` from the last run.", "",
             "| benchmark | figure | goal | met | machine | date |", "|---|---|---|---|---|---|"]
    for name, entry in sorted(data.items()):
        what, key = HEADLINE.get(name, (name, "ratio"))
        value = entry.get(key)
        if key == "totals":
            value = f"{entry.get('cold_total_min')} / {entry.get('warm_total_min')}"
        fig = f"{value:.3g}×" if key in ("ratio", "min_ratio") and isinstance(value, (int, float)) else str(value)
        m = entry.get("machine", {})
        where = m.get("cuda") or f"{m.get('cpus')} CPUs, torch {m.get('torch')}"
        lines.append(f"| {what} | {fig} | {entry.get('goal') or ''} | {'yes' if entry.get('met') else 'no'} | "
                     f"{where} | {entry.get('date', '')[:10]} |")
    book = data.get("book_cold_warm")
    if book:
        lines += ["", "Per chapter, from the last `bench_book.py` run (seconds):", "",
                  "| chapter | cold | warm | ratio |", "|---|---|---|---|"]
        for ch, v in book.get("chapters", {}).items():
            lines.append(f"| {ch} | {v['cold_s']} | {v['warm_s']} | {v['ratio']}× |")
        lines.append(f"| (book build) | {book.get('build_cold_s')} | {book.get('build_warm_s')} | |")
    gpu = [e for e in data.values() if e.get("machine", {}).get("cuda")]
    if not gpu:
        lines += ["", "No GPU figure yet: none of the runs so far had a GPU (the GPU benchmark runs where the device "
                  "tool lends one)."]
    lines += ["", "Not speed benchmarks, each with its own JSON: `coverage.py` (`coverage.json`: how often the book's "
              "95 % intervals hold a known truth, by simulation) and `determinism.py` (`determinism.json`: what "
              "changes when a run is repeated with another thread count or instruction set; shown in the data "
              "chapter)."]
    (HERE / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
