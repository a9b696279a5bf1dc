"""Run every benchmarks/bench_*.py in turn; each records its figures in benchmarks/results.json.

``bench_book.py`` (the whole book cold and warm, about an hour on 2 cores) runs only with ``--book``;
``bench_gpu.py`` records nothing where there is no GPU.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    if script.name == "bench_book.py" and "--book" not in sys.argv:
        continue
    print(f"== {script.name}", flush=True)
    if subprocess.run([sys.executable, script.name], cwd=here).returncode != 0:
        failed.append(script.name)
subprocess.run([sys.executable, "report.py"], cwd=here, check=True)
if failed:
    sys.exit(f"failed: {', '.join(failed)}")
