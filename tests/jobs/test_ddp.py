from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fairnotes import results


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_torchrun_two_gloo_processes(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"dataset: digits\nmodel: cnn\nmodel_kwargs: {{width: 4}}\nepochs: 1\nbatch_size: 64\n"
                   f"train_per_class: 30\ndevice: cpu\nprogress: false\nprofile: tiny\n"
                   f"checkpoint_dir: {tmp_path / 'ckpt'}\n")
    out = tmp_path / "r.nc"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "FAIRNOTES_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "fairnotes.jobs.train", "--config", str(cfg), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ds = results.load(out)
    assert ds.attrs["world_size"] == 2
    assert ds.attrs["n_train"] == 300 and ds.sizes["sample"] == 540 and ds.sizes["epoch"] == 1
    sums = ds.attrs["ddp_param_checksums"]
    sums = list(sums) if not isinstance(sums, str) else __import__("json").loads(sums)
    assert len(sums) == 2 and sums[0] == sums[1]  # the replicas stayed bit-identical
    assert (tmp_path / "ckpt" / "last.pt").exists()
