"""Why do re-runs on another machine move the numbers? Each run of the prevalence chapter's cnn (4 epochs on
1,000 Fashion-MNIST images per class, seed 0) is repeated in a fresh process with one thing changed that differs
between machines of "the same kind": the number of threads, the CPU instruction set oneDNN and ATen may use
(``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY``: a CPU without AMX, or without AVX-512), or
``torch.use_deterministic_algorithms(True)``. Another seed gives the scale of ordinary run-to-run variation.

For each variant: is the training loss bit-identical to the reference (first epoch where it differs), how many
test predictions differ, the largest change of one class's accuracy, the change of the best−worst gap and of
overall accuracy, and the wall time. Writes ``benchmarks/determinism.json`` (atomically).

    .venv/bin/python benchmarks/determinism.py            # ~8 min on 2 cores
    .venv/bin/python benchmarks/determinism.py --quick    # digits mlp, seconds (checks the script)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("determinism.json")

#: name -> (environment changes, extra settings of the child: threads, deterministic, seed)
VARIANTS = {
    "reference": ({}, {}),
    "reference again": ({}, {}),
    "1 thread": ({"OMP_NUM_THREADS": "1"}, {"threads": 1}),
    "no AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE)": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, {}),
    "no AVX-512 (oneDNN AVX2, ATen avx2)": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, {}),
    "deterministic algorithms": ({}, {"deterministic": True}),
    "deterministic, 1 thread, AVX2": ({"OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                       "ATEN_CPU_CAPABILITY": "avx2"}, {"threads": 1, "deterministic": True}),
    "another seed (scale)": ({}, {"seed": 1}),
}

_CHILD = r"""
import json, sys, time
import numpy as np, torch
opts = json.loads(sys.argv[1])
if opts.get("threads"):
    torch.set_num_threads(opts["threads"])
if opts.get("deterministic"):
    torch.use_deterministic_algorithms(True)
from dataclasses import replace
from fairnotes.jobs import train
if opts["quick"]:
    cfg = train.TrainConfig(dataset="digits", model="mlp", epochs=3, lr=0.05, progress=False)
else:
    from fairnotes.analysis import prevalence as P
    cfg = replace(P.base_config(P.Params(), "fashion-mnist"), model="cnn", progress=False)
cfg = replace(cfg, seed=opts.get("seed", 0), checkpoint_dir=opts["ckpt"], keep_checkpoint=False)
t = time.perf_counter()
ds = train.run(cfg)
np.savez(opts["out"], train_loss=ds["train_loss"].values, prediction=ds["prediction"].values,
         target=ds["target"].values, per_class=ds["per_class_accuracy"].values[-1],
         wall=time.perf_counter() - t, threads=torch.get_num_threads(),
         capability=torch.backends.cpu.get_cpu_capability())
"""


def run_variant(env_changes: dict, opts: dict, tmp: Path, quick: bool) -> dict:
    out = tmp / f"{abs(hash(json.dumps([env_changes, opts], sort_keys=True)))}.npz"
    ckpt = tempfile.mkdtemp(dir=tmp)
    env = {**os.environ, "FAIRNOTES_CACHE": str(tmp / "cache"), **env_changes}
    env.setdefault("FAIRNOTES_ROOT", str(Path(__file__).resolve().parents[1]))
    subprocess.run([sys.executable, "-c", _CHILD, json.dumps({**opts, "quick": quick, "ckpt": ckpt,
                                                               "out": str(out)})], env=env, check=True)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def compare(ref: dict, run: dict) -> dict:
    diff = np.nonzero(ref["train_loss"] != run["train_loss"])[0]
    gap = lambda r: float(r["per_class"].max() - r["per_class"].min())  # noqa: E731
    acc = lambda r: float((r["prediction"] == r["target"]).mean())  # noqa: E731
    return {
        "bit_identical": bool(diff.size == 0 and np.array_equal(ref["prediction"], run["prediction"])),
        "first_epoch_loss_differs": int(diff[0]) + 1 if diff.size else None,
        "final_loss_rel_diff": float(abs(run["train_loss"][-1] - ref["train_loss"][-1]) / ref["train_loss"][-1]),
        "predictions_changed": float((ref["prediction"] != run["prediction"]).mean()),
        "max_class_accuracy_change": float(np.abs(ref["per_class"] - run["per_class"]).max()),
        "gap_change": gap(run) - gap(ref),
        "overall_accuracy_change": acc(run) - acc(ref),
        "wall_s": float(run["wall"]),
        "threads": int(run["threads"]),
        "aten_capability": str(run["capability"]),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="digits mlp, 3 epochs: checks the script in seconds")
    args = ap.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref = None
        for name, (env_changes, opts) in VARIANTS.items():
            print(f"-- {name}", flush=True)
            res = run_variant(env_changes, opts, tmp, args.quick)
            ref = res if ref is None else ref
            rows[name] = {"env": env_changes, **opts, **compare(ref, res)}
            print(json.dumps(rows[name]), flush=True)
    report = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "run": "digits mlp 3 epochs (--quick)" if args.quick else
                     "prevalence cnn, fashion-mnist 1,000/class, 4 epochs, seed 0",
              "cpus": os.cpu_count(), "variants": rows}
    if not args.quick:
        fd, tmpf = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmpf, OUT)
    return report


if __name__ == "__main__":
    main()
