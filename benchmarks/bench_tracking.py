"""Cost of ``TrainConfig(track=True)``: training step time with and without per-class tracking.

Run: ``cd benchmarks && ../.venv/bin/python bench_tracking.py [--model resnet20] [--steps 120]``
Goal: tracking adds at most 5% to a training step (resnet20, Fashion-MNIST 28 px, batch 128, CPU).

The train job's step (augment → prep → forward → cross-entropy → backward → SGD step) runs on two
copies of the same model, one with a :class:`fairnotes.jobs._tracking.Tracker` attached (hook,
per-batch sums, a flush every 20 steps as in the early epochs, and an epoch summary at the end
of every segment, which overstates that cost). Segments of each alternate (interleaved), so
drifts in machine load hit both alike; the figure is the median of the per-segment step times.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import record  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=120, help="timed steps per variant")
    p.add_argument("--segment", type=int, default=20, help="steps per interleaved segment")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = p.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from fairnotes import augment, data, models
    from fairnotes.jobs import _optim, _runtime, _tracking
    from fairnotes.jobs.train import TrainConfig

    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load("fashion-mnist", "train")
    k, in_chans, size = train.num_classes, train.images.shape[1], train.images.shape[-1]
    rt = _runtime.Runtime(torch.device("cpu"))
    torch.manual_seed(0)
    base = models.create(a.model, k, in_chans, size).to(memory_format=torch.channels_last)
    mean, std = models.normalization(base, in_chans)
    prep = partial(augment.to_float, mean=mean, std=std, size=size, channels_last=True)
    x_all = _runtime.as_tensor(train.images)
    y_all = torch.as_tensor(train.labels)
    cfg = TrainConfig(dataset="fashion-mnist", model=a.model, track=True, track_every_steps=20,
                      track_early_epochs=10**6)
    history: dict = {}

    variants = {}
    for name in ("plain", "track"):
        net = copy.deepcopy(base).train()
        opt = _optim.make_optimizer(net, "sgd", 0.05, 5e-4, 0.9)
        tracker = _tracking.Tracker(cfg, net, k, 10**9, rt, history) if name == "track" else None
        variants[name] = (net, opt, tracker)

    gen = torch.Generator().manual_seed(0)
    step_no = {"plain": 0, "track": 0}

    def segment(name: str, n: int) -> float:
        net, opt, tracker = variants[name]
        t0 = time.perf_counter()
        for _ in range(n):
            idx = torch.randint(0, len(y_all), (a.batch_size,), generator=gen)
            xb = prep(augment.apply(x_all[idx], ("crop",), generator=gen))
            out = net(xb)
            loss = F.cross_entropy(out.float(), y_all[idx])
            if tracker is not None:
                tracker.update(out, y_all[idx], 0, step_no[name])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_no[name] += 1
        if tracker is not None:
            tracker.end_epoch(0)
        return (time.perf_counter() - t0) / n

    for name in variants:  # warm-up
        segment(name, 3)
    times: dict[str, list[float]] = {"plain": [], "track": []}
    for r in range(max(1, a.steps // a.segment)):
        order = ("plain", "track") if r % 2 == 0 else ("track", "plain")
        for name in order:
            times[name].append(segment(name, a.segment))
    plain, track = statistics.median(times["plain"]), statistics.median(times["track"])
    overhead = track / plain - 1
    rows = len(history["track"]["step"])
    print(f"{a.model} batch {a.batch_size}: {plain * 1e3:.1f} ms/step plain, {track * 1e3:.1f} ms/step tracked "
          f"({overhead:+.1%}); {rows} step intervals recorded")
    return record(
        "tracking_overhead",
        {"model": a.model, "dataset": "fashion-mnist", "image_size": size, "batch_size": a.batch_size,
         "steps_per_variant": len(times["plain"]) * a.segment, "segment_steps": a.segment,
         "step_ms_plain": round(plain * 1e3, 2), "step_ms_track": round(track * 1e3, 2),
         "step_ms_plain_min": round(min(times["plain"]) * 1e3, 2),
         "step_ms_track_min": round(min(times["track"]) * 1e3, 2),
         "overhead": round(overhead, 4)},
        goal="<= 5% slower per training step",
        met=overhead <= 0.05,
    )


if __name__ == "__main__":
    main()
