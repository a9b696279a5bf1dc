"""The whole book, cold (empty job cache) and then warm (every job cached), chapter by chapter, in one run.

What ``make book`` does after setup: every chapter of ``_toc.yml`` (laptop profile), then the HTML
build. Cold uses a fresh job cache (results, checkpoints, features, pre-trained encoders); the
installed data (Debian Fashion-MNIST, the npm emoji packages under the cache's ``emoji/``) is
linked in, since ``make setup`` installs it before any chapter runs. Warm re-runs everything on
the cache the cold pass filled. Goals (issue 7): cold <= 60 min, warm <= 3 min, and a cached
chapter re-run >= 20x faster than cold.

By default the notebooks go to a temporary folder; ``--in-place`` writes them where
``fairnotes book`` does (``papermill_runs/<chapter>/laptop.ipynb``), so the committed book is the
cold run that was timed. ``--keep-cache DIR`` keeps the filled cache there for later runs.

Run: ``.venv/bin/python benchmarks/bench_book.py [--in-place] [--keep-cache ~/.cache/fairnotes]``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

DATA_DIRS = ("emoji",)  # installed data that lives in the cache folder (not job results)


def _timed_pass(chapters: list[str], root: Path, out_dir: Path | None) -> dict[str, float]:
    from fairnotes.runner import build_book, run_chapter
    times: dict[str, float] = {}
    for ch in chapters:
        t0 = time.perf_counter()
        run_chapter(ch, profile="laptop", name="laptop", out_dir=out_dir, root=root, progress=False)
        times[ch] = round(time.perf_counter() - t0, 1)
        print(f"  {ch:<18} {times[ch]:8.1f} s", flush=True)
    t0 = time.perf_counter()
    if out_dir is None:
        build_book(root)
    else:  # build from the temporary notebooks: a copy of the book's sources pointing at them
        tmp_root = out_dir.parent / "book_root"
        shutil.copytree(root, tmp_root, ignore=shutil.ignore_patterns(".venv", ".git", "_build", "papermill_runs"),
                        dirs_exist_ok=True)
        shutil.copytree(out_dir, tmp_root / "papermill_runs", dirs_exist_ok=True)
        build_book(tmp_root)
    times["(book build)"] = round(time.perf_counter() - t0, 1)
    print(f"  {'(book build)':<18} {times['(book build)']:8.1f} s", flush=True)
    return times


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--in-place", action="store_true", help="write the notebooks into papermill_runs/")
    ap.add_argument("--keep-cache", help="move the filled job cache here afterwards (replacing its job folders)")
    args = ap.parse_args()
    from fairnotes._paths import cache_dir
    from fairnotes.runner import chapters
    root = Path(__file__).resolve().parents[1]
    installed = cache_dir()
    work = Path(tempfile.mkdtemp(prefix="bench-book-"))
    cache = work / "cache"
    cache.mkdir()
    for name in DATA_DIRS:
        if (installed / name).exists():
            (cache / name).symlink_to(installed / name)
    os.environ["FAIRNOTES_CACHE"] = str(cache)
    out_dir = None if args.in_place else work / "runs"
    chs = chapters(root)
    try:
        print("cold (empty job cache):", flush=True)
        cold = _timed_pass(chs, root, out_dir)
        print("warm (everything cached):", flush=True)
        warm = _timed_pass(chs, root, out_dir)
    finally:
        if args.keep_cache:
            dest = Path(args.keep_cache).expanduser()
            dest.mkdir(parents=True, exist_ok=True)
            for sub in cache.iterdir():
                if sub.name in DATA_DIRS:
                    continue
                shutil.rmtree(dest / sub.name, ignore_errors=True)
                shutil.move(str(sub), dest / sub.name)
        shutil.rmtree(work, ignore_errors=True)
    cold_total, warm_total = sum(cold.values()), sum(warm.values())
    per_chapter = {ch: {"cold_s": cold[ch], "warm_s": warm[ch], "ratio": round(cold[ch] / max(warm[ch], 1e-9), 1)}
                   for ch in chs}
    heavy = [ch for ch in chs if cold[ch] >= 60]  # a ratio on a seconds-long chapter says little
    min_ratio = min((per_chapter[ch]["ratio"] for ch in heavy), default=float("nan"))
    record("book_cold_warm", {"cold_total_min": round(cold_total / 60, 1), "warm_total_min": round(warm_total / 60, 2),
                              "build_cold_s": cold["(book build)"], "build_warm_s": warm["(book build)"],
                              "chapters": per_chapter, "min_ratio_chapters_over_1_min": min_ratio},
           goal="cold <= 60 min, warm <= 3 min", met=cold_total <= 3600 and warm_total <= 180)
    return record("cached_rerun", {"min_ratio": min_ratio, "chapters": {ch: per_chapter[ch] for ch in heavy}},
                  goal="every chapter that takes >= 1 min cold re-runs >= 20x faster warm", met=min_ratio >= 20)


if __name__ == "__main__":
    main()
