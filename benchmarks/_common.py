"""Shared helpers for benchmark scripts: timing and one JSON file of the latest figures."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).with_name("results.json")


def machine() -> dict:
    import torch
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def best_of(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Minimum wall time of ``repeat`` calls after ``warmup`` calls, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def record(name: str, figures: dict, *, goal: str | None = None, met: bool | None = None) -> dict:
    """Merge ``figures`` under ``name`` into benchmarks/results.json (atomic rewrite) and print them."""
    entry = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "machine": machine(), "goal": goal, "met": met, **figures}
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = entry
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, RESULTS)
    print(json.dumps({name: entry}, indent=2))
    return entry
