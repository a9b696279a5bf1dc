"""Cost of ``TrainConfig(track=True)``: training step time with and without per-class tracking.

Run: ``cd benchmarks && ../.venv/bin/python bench_tracking.py [--model resnet20] [--steps 100]``
Goal: tracking adds at most 5% to a training step (resnet20, Fashion-MNIST 28 px, batch 128, CPU).

The train job's step (augment → prep → forward → cross-entropy → backward → SGD step) runs on two
copies of the same model, one with a :class:`fairnotes.jobs._tracking.Tracker` attached (hook,
per-batch sums, a flush every 20 steps as in the early epochs, an epoch summary every 50 steps).
Steps of the two alternate (plain, tracked, tracked, plain, ...), so changes in machine load hit
both alike; the figure is the median over adjacent pairs of the tracked/plain step-time ratio.
The tracker's own work per step is also timed alone (best of 3), a noise-free estimate.
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

from _common import best_of, record  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=100, help="timed steps per variant")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = p.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from fairnotes import augment, data, models
    from fairnotes import _torch
    from fairnotes.jobs import _optim, _tracking
    from fairnotes.jobs.train import TrainConfig

    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load("fashion-mnist", "train")
    k, in_chans, size = train.num_classes, train.images.shape[1], train.images.shape[-1]
    rt = _torch.Runtime(torch.device("cpu"))
    torch.manual_seed(0)
    base = models.create(a.model, k, in_chans, size).to(memory_format=torch.channels_last)
    mean, std = models.normalization(base, in_chans)
    prep = partial(augment.to_float, mean=mean, std=std, size=size, channels_last=True)
    x_all = _torch.as_tensor(train.images)
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
    done = {"plain": 0, "track": 0}

    def step(name: str) -> float:
        net, opt, tracker = variants[name]
        t0 = time.perf_counter()
        idx = torch.randint(0, len(y_all), (a.batch_size,), generator=gen)
        xb = prep(augment.apply(x_all[idx], ("crop",), generator=gen))
        out = net(xb)
        loss = F.cross_entropy(out.float(), y_all[idx])
        if tracker is not None:
            tracker.update(out, y_all[idx], 0, done[name])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done[name] += 1
        if tracker is not None and done[name] % 50 == 0:
            tracker.end_epoch(0)
        return time.perf_counter() - t0

    for _ in range(3):  # warm-up
        step("plain"), step("track")
    times: dict[str, list[float]] = {"plain": [], "track": []}
    for r in range(a.steps):
        for name in (("plain", "track") if r % 2 == 0 else ("track", "plain")):
            times[name].append(step(name))
    ratios = [t / p_ for t, p_ in zip(times["track"], times["plain"])]
    overhead = statistics.median(ratios) - 1
    plain, track = statistics.median(times["plain"]), statistics.median(times["track"])

    # the tracker's own work on one batch (update: softmax, counts, two K×B×F products), alone
    net, _, tracker = variants["track"]
    xb = prep(x_all[:a.batch_size])
    with torch.no_grad():
        out = net(xb)
    y = y_all[:a.batch_size]
    h = tracker._h

    def tracker_only():
        for _ in range(100):
            tracker._h = h
            tracker.update(out, y, 0, 0)
    t_tracker = best_of(tracker_only, repeat=3) / 100
    tracker.end_epoch(0)
    rows = len(history["track"]["step"])
    print(f"{a.model} batch {a.batch_size}: {plain * 1e3:.1f} ms/step plain, {track * 1e3:.1f} ms/step tracked; "
          f"median paired overhead {overhead:+.1%}; tracker alone {t_tracker * 1e3:.3f} ms/step "
          f"({t_tracker / plain:.2%} of a plain step); {rows} step intervals recorded")
    return record(
        "tracking_overhead",
        {"model": a.model, "dataset": "fashion-mnist", "image_size": size, "batch_size": a.batch_size,
         "steps_per_variant": a.steps, "threads": torch.get_num_threads(),
         "step_ms_plain": round(plain * 1e3, 2), "step_ms_track": round(track * 1e3, 2),
         "step_ms_plain_min": round(min(times["plain"]) * 1e3, 2),
         "step_ms_track_min": round(min(times["track"]) * 1e3, 2),
         "overhead": round(overhead, 4), "tracker_ms_per_step": round(t_tracker * 1e3, 4),
         "overhead_tracker_alone": round(t_tracker / plain, 5)},
        goal="<= 5% slower per training step",
        met=overhead <= 0.05,
    )


if __name__ == "__main__":
    main()
