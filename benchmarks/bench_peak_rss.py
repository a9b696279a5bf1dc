"""Peak resident memory of a full Fashion-MNIST training run (60,000 images, ResNet-20, 1 epoch).

The run happens in a child process (``python -m fairnotes.jobs.train``), so the figure is that
process's own peak (``ru_maxrss`` of the children). Goal: <= 2 GB.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

CONFIG = """dataset: fashion-mnist
model: resnet20
epochs: 1
batch_size: 128
optimizer: sgd
lr: 0.1
augment: crop
progress: false
keep_checkpoint: false
"""


def main() -> dict:
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "cfg.yaml"
        cfg.write_text(CONFIG + f"seed: {int(time.time())}\n")
        env = {**os.environ, "FAIRNOTES_CACHE": str(Path(d) / "cache")}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fairnotes.jobs.train", "--config", str(cfg),
                        "--out", str(Path(d) / "r.nc")], check=True, env=env,
                       cwd=Path(__file__).resolve().parents[1])
        seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS {peak_mb:.0f} MB over {seconds:.0f} s")
    return record("peak_rss_fashion_mnist", {"peak_rss_mb": round(peak_mb, 1), "seconds": round(seconds, 1),
                                             "images": 60000, "model": "resnet20", "epochs": 1},
                  goal="<= 2048 MB", met=peak_mb <= 2048)


if __name__ == "__main__":
    main()
