"""Training throughput: the fairnotes train job vs the loop a user would usually write.

Reference: torchvision ``FashionMNIST`` + v2 transforms (per-image RandomCrop, ToDtype, Normalize)
+ ``DataLoader`` (with 0 and with 2 worker processes), the same ResNet-20, batch, optimiser and
number of images. fairnotes: ``fairnotes.jobs.train.run`` (uint8 tensors in memory, batched crop).
Both are timed over the training epoch only (no evaluation), interleaved, best of ``REPEAT``.

Run: ``cd benchmarks && ../.venv/bin/python bench_train_throughput.py``. Goal: >= 1.5x on CPU.
"""
from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import record  # noqa: E402

N_PER_CLASS, BATCH, REPEAT, MODEL = 500, 128, 2, "resnet20"


def reference_loop(root: str, workers: int) -> float:
    """Images per second of one epoch of the usual torchvision + DataLoader recipe."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets
    from torchvision.transforms import v2

    from fairnotes import models
    tf = v2.Compose([v2.ToImage(), v2.RandomCrop(28, padding=4), v2.ToDtype(torch.float32, scale=True),
                     v2.Normalize([0.5], [0.5])])
    full = datasets.FashionMNIST(root, train=True, transform=tf, download=False)
    labels = full.targets.numpy()
    import numpy as np
    idx = np.concatenate([np.flatnonzero(labels == c)[:N_PER_CLASS] for c in range(10)])
    loader = DataLoader(Subset(full, idx.tolist()), batch_size=BATCH, shuffle=True, num_workers=workers,
                        persistent_workers=False)
    torch.manual_seed(0)
    net = models.create(MODEL, 10, 1, 28)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    net.train()
    t0, n = time.perf_counter(), 0
    for x, y in loader:
        if len(y) < 2:
            continue
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(y)
    return n / (time.perf_counter() - t0)


def fairnotes_loop(cache: str) -> float:
    from fairnotes.jobs import train
    os.environ["FAIRNOTES_CACHE"] = cache
    cfg = train.TrainConfig(dataset="fashion-mnist", model=MODEL, epochs=1, batch_size=BATCH, optimizer="sgd",
                            lr=0.1, augment="crop", train_per_class=N_PER_CLASS, progress=False,
                            keep_checkpoint=False, seed=int(time.time()))  # a new seed: never resume
    ds = train.run(cfg)
    return float(ds.attrs["train_images_per_s"])


def main() -> dict:
    from fairnotes.data._laptop import FASHION_DEBIAN_DIR
    tmp = Path(tempfile.mkdtemp(prefix="bench-fmnist-"))
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in FASHION_DEBIAN_DIR.glob("*-ubyte.gz"):  # torchvision wants the extracted idx files
        with gzip.open(gz) as f, open(raw / gz.name[:-3], "wb") as out:
            shutil.copyfileobj(f, out)
    runs = {"fairnotes": [], "reference_workers0": [], "reference_workers2": []}
    try:
        for _ in range(REPEAT):
            runs["reference_workers0"].append(reference_loop(str(tmp), 0))
            runs["reference_workers2"].append(reference_loop(str(tmp), 2))
            runs["fairnotes"].append(fairnotes_loop(str(tmp / "cache")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {k: max(v) for k, v in runs.items()}
    ref = max(best["reference_workers0"], best["reference_workers2"])
    ratio = best["fairnotes"] / ref
    print({k: round(v, 1) for k, v in best.items()}, f"ratio vs the faster reference: {ratio:.2f}x")
    return record("train_throughput_vs_reference",
                  {"images_per_s": {k: round(v, 1) for k, v in best.items()}, "all_runs": runs,
                   "ratio": round(ratio, 3), "model": MODEL, "images": 10 * N_PER_CLASS, "batch": BATCH,
                   "device": "cpu"},
                  goal=">= 1.5x the faster reference loop on CPU", met=ratio >= 1.5)


if __name__ == "__main__":
    main()
