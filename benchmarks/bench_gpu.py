"""GPU training throughput of the train job, and its share of the GPU's dense bf16 peak.

ResNet-18 (timm, CIFAR-size input) on Fashion-MNIST upsampled to 32×32, batch 512, bf16 autocast,
channels_last, images kept on the GPU (the train job's in-memory path); with and without
``torch.compile``. FLOPs per training image are counted with ``torch.utils.flop_counter`` on one
forward + backward pass; achieved FLOP/s = FLOPs per image × images per second. The peak is the
vendor's dense bf16 tensor-core figure for the device named (table below; unknown devices get no
share). Skips (exit 0, nothing recorded) where there is no CUDA device.

Run: ``.venv/bin/python benchmarks/bench_gpu.py`` on a GPU machine.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import record  # noqa: E402

# dense bf16 tensor-core peaks (FLOP/s), from the vendors' data sheets (sparsity not counted)
PEAK_BF16 = {"H200": 989e12, "H100 80GB HBM3": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12,
             "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10G": 70e12}
BATCH, EPOCHS, PER_CLASS, MODEL, SIZE = 512, 2, 6000, "resnet18", 32


def peak_for(name: str) -> float | None:
    for key, value in PEAK_BF16.items():
        if key in name:
            return value
    return None


def flops_per_image(model: str, size: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fairnotes import models
    net = models.create(model, 10, 1, size).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(8, 1, size, size, device="cuda").to(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as fc:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = net(x)
        out.float().sum().backward()
    return fc.get_total_flops() / 8


def throughput(compile_: bool, cache: str) -> float:
    import time

    from fairnotes.jobs import train
    os.environ["FAIRNOTES_CACHE"] = cache
    cfg = train.TrainConfig(dataset="fashion-mnist", model=MODEL, image_size=SIZE, epochs=EPOCHS, batch_size=BATCH,
                            lr=0.1, augment="crop", train_per_class=PER_CLASS, device="cuda", compile=compile_,
                            precision="bf16",  # the share of the bf16 peak it reports
                            progress=False, keep_checkpoint=False, seed=int(time.time()))
    ds = train.run(cfg)
    times = ds["epoch_time_s"].values
    return float(ds.attrs["n_train"] / times[1:].mean())  # the epochs after the first (warm-up, compilation)


def main() -> dict | None:
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device: the GPU benchmark runs only where a GPU is lent (nothing recorded)")
        return None
    name = torch.cuda.get_device_name(0)
    per_image = flops_per_image(MODEL, SIZE)
    peak = peak_for(name)
    figures = {"device": name, "model": MODEL, "image_size": SIZE, "batch": BATCH, "flops_per_train_image": per_image}
    with tempfile.TemporaryDirectory() as d:
        for label, comp in (("eager", False), ("compiled", True)):
            ips = throughput(comp, d)
            figures[f"images_per_s_{label}"] = round(ips, 1)
            figures[f"tflops_{label}"] = round(ips * per_image / 1e12, 2)
            figures[f"share_of_bf16_peak_{label}"] = round(ips * per_image / peak, 4) if peak else None
    return record("gpu_train_throughput", figures, goal="report img/s and share of the bf16 peak", met=None)


if __name__ == "__main__":
    main()
