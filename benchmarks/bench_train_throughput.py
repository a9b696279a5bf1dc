"""Training throughput: the fairnotes train job in fp32 and bf16 vs the loop a user would usually write.

For each of the book's models (the prevalence chapter's ``cnn``, ``resnet8``, ``mlp`` and
``vit:embed_dim=64,depth=4,num_heads=2,patch_size=4``) on Fashion-MNIST (28 px, grey), in one run:

- reference: torchvision ``FashionMNIST`` + v2 transforms (per-image RandomCrop, ToDtype, Normalize) +
  ``DataLoader`` (0 and 2 worker processes; the faster counts) + a plain float32 training loop, the same
  network, batch, optimiser (the chapter's AdamW, lr 0.002, wd 0.05) and number of images;
- fairnotes: ``fairnotes.jobs.train.run`` with ``precision="fp32"``, ``precision="bf16"`` (bf16
  autocast, channels_last; it falls back to fp32 on a CPU without native bf16, and the figures say so) and
  ``precision="bf16", compile=True`` (``torch.compile``: two epochs, the second one timed; the first one's
  extra seconds are reported as the compile time, which a short job pays in full: ``compile_s_cold`` the first
  repeat's, with an empty inductor cache, ``compile_s_cached`` a later one's, from inductor's on-disk cache).

Each is timed over one training epoch (no evaluation), interleaved, best of ``repeat``. The headline is
the train job's faster bf16 setting (with or without compile) images/s ÷ the faster reference
(goal >= 2x for every model). The share of the
CPU's bf16 peak: FLOPs per training image (forward + backward, counted once with
``torch.utils.flop_counter.FlopCounterMode``) × images/s ÷ the FLOP/s of a large bf16 matmul measured
here (the fp32 runs likewise against a large fp32 matmul).

A second section times inference in fp32 and bf16: :func:`fairnotes.jobs.features.extract` (a random
``cnn`` and the bundled ImageNet ``efficientnet_lite0`` at 64 px) and the LiT image tower
(:func:`fairnotes.zeroshot._lit_model.image_trunk_features`, EfficientNet-Lite0 at 128 px); recorded as
``inference_bf16_vs_fp32``.

Run: ``cd benchmarks && ../.venv/bin/python bench_train_throughput.py`` (about 10-15 minutes on 2 cores).
``--quick``: tiny sizes, a smoke test of the script; it prints its figures and leaves results.json alone.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common  # noqa: E402
from _common import best_of, record  # noqa: E402

MODELS = ("cnn", "resnet8", "mlp", "vit:embed_dim=64,depth=4,num_heads=2,patch_size=4")
RECIPE = dict(optimizer="adamw", lr=0.002, weight_decay=0.05, augment="crop")  # the prevalence chapter's
SIZES = {  # per_class: training images per class; repeat: best of; peak_n: the matmul's side
    "full": dict(per_class=500, batch=128, repeat=2, workers=(0, 2), peak_n=4096, feat_per_class=300,
                 lit_images=256),
    "quick": dict(per_class=16, batch=32, repeat=1, workers=(0,), peak_n=512, feat_per_class=4, lit_images=16),
}
GOAL = 2.0
VARIANTS = ("fp32", "bf16", "bf16+compile")  # the train job's settings timed against the reference loop


def _spec(spec: str) -> tuple[str, dict]:
    from fairnotes.jobs.sweep import parse_model
    return parse_model(spec)


def reference_loop(root: str, spec: str, workers: int, per_class: int, batch: int) -> float:
    """Images per second of one epoch of the usual torchvision + DataLoader recipe (float32)."""
    import numpy as np
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
    idx = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
    loader = DataLoader(Subset(full, idx.tolist()), batch_size=batch, shuffle=True, num_workers=workers,
                        persistent_workers=False)
    name, kwargs = _spec(spec)
    torch.manual_seed(0)
    net = models.create(name, 10, 1, 28, **kwargs)
    opt = torch.optim.AdamW(net.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
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


_SEED = [int(time.time()) % 100_000]


def train_job(spec: str, precision: str, per_class: int, batch: int, compile: bool = False) -> tuple[float, str, float]:
    """(training images per second, the precision that ran, compile seconds) of one epoch of the train job.

    With ``compile`` (``torch.compile`` of the model) it trains two epochs: images/s is the second (compiled)
    epoch's, and the compile seconds are how much longer the first epoch took."""
    from fairnotes.jobs import train
    name, kwargs = _spec(spec)
    _SEED[0] += 1  # a new seed (key) every time: never resume
    cfg = train.TrainConfig(dataset="fashion-mnist", model=name, model_kwargs=kwargs, epochs=2 if compile else 1,
                            batch_size=batch, train_per_class=per_class, progress=False, keep_checkpoint=False,
                            seed=_SEED[0], device="cpu", precision=precision, compile=compile, **RECIPE)
    ds = train.run(cfg)
    if not compile:
        return float(ds.attrs["train_images_per_s"]), str(ds.attrs["precision_ran"]), 0.0
    t = [float(v) for v in ds["epoch_time_s"].values]
    return int(ds.attrs["n_train"]) / t[1], str(ds.attrs["precision_ran"]), t[0] - t[1]


def flops_per_train_image(spec: str, precision: str) -> float:
    """Forward + backward FLOPs of one 28-px training image (counted on a batch of 8)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from fairnotes import _torch, models
    name, kwargs = _spec(spec)
    net = models.create(name, 10, 1, 28, **kwargs).to(memory_format=torch.channels_last)
    x = torch.randn(8, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    rt = _torch.Runtime(torch.device("cpu"))
    with FlopCounterMode(display=False) as fc:
        with _torch.autocast(rt, precision):
            out = net(x)
        F.cross_entropy(out.float(), torch.zeros(8, dtype=torch.long)).backward()
    return fc.get_total_flops() / 8


def matmul_peak(dtype_name: str, n: int) -> float:
    """FLOP/s of an ``n×n @ n×n`` matmul in ``dtype_name`` on this CPU (best of 3)."""
    import torch
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n ** 3 / best_of(lambda: torch.mm(a, b), repeat=3, warmup=1)


def _fashion_root(tmp: Path) -> None:
    from fairnotes.data._laptop import FASHION_DEBIAN_DIR
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in FASHION_DEBIAN_DIR.glob("*-ubyte.gz"):  # torchvision wants the extracted idx files
        with gzip.open(gz) as f, open(raw / gz.name[:-3], "wb") as out:
            shutil.copyfileobj(f, out)


def training(size: dict, tmp: Path) -> dict:
    import torch

    from fairnotes import _torch
    os.environ["FAIRNOTES_CACHE"] = str(tmp / "cache")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(tmp / "inductor")  # the first compile of each model is cold
    peak = {"bf16": matmul_peak("bfloat16", size["peak_n"]), "fp32": matmul_peak("float32", size["peak_n"])}
    print(f"matmul peak ({size['peak_n']}^3): bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s, "
          f"fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s", flush=True)
    per_model, runs, ran, compile_s = {}, {}, {}, {}
    for spec in MODELS:
        r = runs[spec] = {f"reference_workers{w}": [] for w in size["workers"]} | {v: [] for v in VARIANTS}
        for _ in range(size["repeat"]):
            for w in size["workers"]:
                r[f"reference_workers{w}"].append(reference_loop(str(tmp), spec, w, size["per_class"], size["batch"]))
            for variant in VARIANTS:
                prec, _, comp = variant.partition("+")
                ips, ran[spec, prec], secs = train_job(spec, prec, size["per_class"], size["batch"], compile=bool(comp))
                r[variant].append(ips)
                if comp:
                    compile_s.setdefault(spec, []).append(round(secs, 1))
        best = {k: max(v) for k, v in r.items()}
        ref = max(best[f"reference_workers{w}"] for w in size["workers"])
        fastest = max(("bf16", "bf16+compile"), key=best.__getitem__)
        flops = {p: flops_per_train_image(spec, p) for p in ("fp32", "bf16")}
        per_model[spec] = {
            "images_per_s": {k: round(v, 1) for k, v in best.items()},
            "ratio_fp32": round(best["fp32"] / ref, 3), "ratio_bf16": round(best["bf16"] / ref, 3),
            "ratio_bf16_compile": round(best["bf16+compile"] / ref, 3),
            "fastest": fastest, "ratio_fastest": round(best[fastest] / ref, 3),
            "bf16_speedup": round(best["bf16"] / best["fp32"], 3),
            "compile_speedup_over_bf16": round(best["bf16+compile"] / best["bf16"], 3),
            "compile_s_cold": compile_s[spec][0], "compile_s_cached": min(compile_s[spec][1:], default=None),
            "flops_per_train_image": flops["bf16"],
            "share_of_bf16_peak": round(best[fastest] * flops["bf16"] / peak["bf16"], 4),
            "share_of_fp32_peak_fp32_run": round(best["fp32"] * flops["fp32"] / peak["fp32"], 4),
            "precision_ran": ran[spec, "bf16"]}
        print(spec, per_model[spec], flush=True)
    ratio = min(m["ratio_fastest"] for m in per_model.values())
    return {"models": per_model, "all_runs": runs, "peak_flops": {k: round(v) for k, v in peak.items()},
            "ratio": ratio, "images": 10 * size["per_class"], "batch": size["batch"], "device": "cpu",
            "cpu_bf16": _torch.cpu_bf16_supported(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "recipe": RECIPE}


def inference(size: dict, tmp: Path) -> dict:
    """images/s of features.extract and of the LiT image tower, fp32 and bf16."""
    import numpy as np

    from fairnotes.jobs import features
    os.environ["FAIRNOTES_CACHE"] = str(tmp / "cache")
    out: dict = {}
    for model, kw in (("cnn", dict(pretrained=False)), ("efficientnet_lite0", dict(pretrained=True))):
        row = {}
        for prec in ("fp32", "bf16"):
            def go() -> None:
                row["n"] = features.extract(model, "fashion-mnist", "test", max_per_class=size["feat_per_class"],
                                            refresh=True, precision=prec, device="cpu", progress=False,
                                            **kw).sizes["sample"]
            row[prec] = best_of(go, repeat=size["repeat"], warmup=1)
        out[f"features_{model}"] = {"images_per_s_fp32": round(row["n"] / row["fp32"], 1),
                                    "images_per_s_bf16": round(row["n"] / row["bf16"], 1),
                                    "bf16_speedup": round(row["fp32"] / row["bf16"], 3), "images": row["n"]}
        print(f"features.extract {model}", out[f"features_{model}"], flush=True)
    from fairnotes.zeroshot import OpenClipEmbedder
    from fairnotes.zeroshot._lit_model import create_lit_model, image_trunk_features
    images = np.random.default_rng(0).integers(0, 256, size=(size["lit_images"], 3, 72, 72), dtype=np.uint8)
    secs, ran = {}, {}
    for prec in ("fp32", "bf16"):
        model, tok, name = create_lit_model(image_size=128)  # one model each: bf16 makes its weights NHWC
        emb = OpenClipEmbedder(model, tok, name=name, device="cpu", precision=prec)
        ran[prec] = emb.precision
        secs[prec] = best_of(lambda e=emb: image_trunk_features(e, images, batch_size=64, progress=False),
                             repeat=size["repeat"], warmup=1)
    out["lit_image_tower"] = {"images_per_s_fp32": round(len(images) / secs["fp32"], 1),
                              "images_per_s_bf16": round(len(images) / secs["bf16"], 1),
                              "bf16_speedup": round(secs["fp32"] / secs["bf16"], 3), "images": len(images),
                              "image_size": 128, "precision_ran": ran["bf16"]}
    print("LiT image tower", out["lit_image_tower"], flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes; print, record nothing in results.json")
    p.add_argument("--skip-inference", action="store_true", help="only the training section")
    a = p.parse_args(argv)
    size = SIZES["quick" if a.quick else "full"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-fmnist-"))
    if a.quick:  # a smoke test: its figures go to a scratch file, never into the real results.json
        _common.RESULTS = Path(tempfile.mkdtemp(prefix="bench-quick-")) / "results.json"
    try:
        _fashion_root(tmp)
        figures = training(size, tmp)
        inf = None if a.skip_inference else inference(size, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tag = " (quick: tiny sizes, not a measurement)" if a.quick else ""
    print(f"\n{'model':<48} {'reference':>10} {'fp32':>8} {'bf16':>8} {'+compile':>9} {'best/ref':>9} "
          f"{'compile s':>10} {'% bf16 peak':>12}{tag}")
    for spec, m in figures["models"].items():
        ips = m["images_per_s"]
        ref = max(v for k, v in ips.items() if k.startswith("reference"))
        print(f"{spec:<48} {ref:>10.1f} {ips['fp32']:>8.1f} {ips['bf16']:>8.1f} {ips['bf16+compile']:>9.1f} "
              f"{m['ratio_fastest']:>8.2f}x {m['compile_s_cold']:>10.1f} {100 * m['share_of_bf16_peak']:>11.2f}%")
    entry = record("train_throughput_vs_reference", {**figures, "quick": a.quick or None},
                   goal=f">= {GOAL:g}x the faster reference loop on CPU: the train job in bf16 (with torch.compile "
                        "where faster, its compile seconds reported), every book model",
                   met=figures["ratio"] >= GOAL)
    if inf is not None:
        record("inference_bf16_vs_fp32", {**inf, "ratio": min(v["bf16_speedup"] for v in inf.values()),
                                          "quick": a.quick or None},
               goal="report bf16 ÷ fp32 images/s of features.extract and the LiT image tower", met=None)
    return entry


if __name__ == "__main__":
    main()
