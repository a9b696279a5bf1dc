"""A chapter run cold (empty job cache) against the same run warm (every job cached), one after the other.

Default: the ``prevalence`` chapter, laptop profile (about 17 minutes cold on 2 cores). Pass
``--profile tiny`` for a quick check. Goal: warm >= 20x faster than cold.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chapter", default="prevalence")
    ap.add_argument("--profile", default="laptop")
    args = ap.parse_args()
    from fairnotes.runner import run_chapter
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as d:
        os.environ["FAIRNOTES_CACHE"] = str(Path(d) / "cache")
        times = {}
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            run_chapter(args.chapter, profile=args.profile, out_dir=Path(d) / "runs", root=root, progress=False)
            times[label] = time.perf_counter() - t0
            print(f"{label}: {times[label]:.1f} s", flush=True)
    ratio = times["cold"] / times["warm"]
    return record(f"cached_rerun_{args.chapter}_{args.profile}",
                  {"cold_s": round(times["cold"], 1), "warm_s": round(times["warm"], 1), "ratio": round(ratio, 1),
                   "chapter": args.chapter, "profile": args.profile},
                  goal="warm >= 20x faster than cold", met=ratio >= 20)


if __name__ == "__main__":
    main()
