"""The built book's layout in headless Chromium, network off: no table is clipped.

Reads the book already built at ``_build/html`` (``fairnotes book`` or ``make book``); skipped when there is none,
when it predates ``_static/fairnotes.css``, or without Chromium. A table is clipped when its box runs past the
content column, or past an outer box that cuts it off (it scrolls only with the whole cell output, or not at all);
a wide table may scroll sideways inside its own box (or the theme's wrapper right around it).
``FAIRNOTES_SCREENSHOTS=<folder>`` keeps a screenshot of each page checked.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = next((p for p in map(shutil.which, ["chromium", "chromium-browser", "google-chrome"]) if p), None)
OFFLINE = ROOT.parent / "shared" / "tools" / "offline"  # an empty network namespace (needs root); optional
PAGES = ["prevalence", "representation"]

PROBE = r"""<pre id="fairnotes-layout">pending</pre><script>
window.addEventListener("load", function () { setTimeout(function () {
  var art = document.querySelector("article.bd-article"), col = art.getBoundingClientRect(), bad = [], n = 0;
  art.querySelectorAll("table").forEach(function (t) {
    n++;
    var r = t.getBoundingClientRect(), a = t, why = "";
    if (r.right > col.right + 1) why = "past the column";
    while (!why && a && a !== art) {
      var ox = getComputedStyle(a).overflowX, own = a === t || a === t.parentElement;
      if (ox !== "visible" && !own && t.scrollWidth > 0 && r.right > a.getBoundingClientRect().right + 1)
        why = "cut by an outer " + a.tagName.toLowerCase() + "." + a.className.split(" ").join(".");
      if (own && (ox === "hidden" || ox === "clip") && a.scrollWidth > a.clientWidth + 1) why = "hidden overflow";
      a = a.parentElement;
    }
    if (why) bad.push(n + ":" + Math.round(r.width) + "px " + why);
  });
  var page = document.documentElement;
  document.getElementById("fairnotes-layout").textContent = "tables=" + n + " clipped=" + bad.length
    + " page_overflow=" + (page.scrollWidth > page.clientWidth + 1) + " " + bad.join("; ");
}, 1000); });
</script>"""


def _chromium(args: list[str]) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", *args]  # no network either way
    if OFFLINE.exists() and os.geteuid() == 0:
        cmd = [str(OFFLINE), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _probe(page: Path, tmp: Path, width: int) -> str:
    """Open a copy of ``page`` (same base URL, the probe appended) and return the probe's report."""
    html = page.read_text(encoding="utf-8")
    html = html.replace("<head>", f'<head><base href="{page.parent.as_uri()}/">', 1)
    html = html.replace("</body>", PROBE + "</body>", 1)
    copy = tmp / f"{page.parent.name}-{width}.html"
    copy.write_text(html, encoding="utf-8")
    out = _chromium([f"--window-size={width},2400", "--dump-dom", copy.as_uri()])
    m = re.search(r'<pre id="fairnotes-layout"[^>]*>([^<]*)</pre>', out.stdout)
    assert m, out.stderr[-2000:]
    return m.group(1)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
@pytest.mark.parametrize("width", [1400, 900])
@pytest.mark.parametrize("chapter", PAGES)
def test_no_table_is_clipped(chapter, width, tmp_path):
    page = HTML / "papermill_runs" / chapter / "laptop.html"
    if not page.exists():
        pytest.skip(f"no built book at {HTML} (build it: fairnotes book, or make book)")
    if "fairnotes.css" not in page.read_text(encoding="utf-8"):
        pytest.skip("the built book predates _static/fairnotes.css: rebuild it")
    report = _probe(page, tmp_path, width)
    tables = int(re.search(r"tables=(\d+)", report).group(1))
    assert tables >= 3, report
    assert " clipped=0 " in report and "page_overflow=false" in report, report
    shots = os.environ.get("FAIRNOTES_SCREENSHOTS")  # a folder: keep a screenshot of the page to look at
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        _chromium([f"--window-size={width},2400", f"--screenshot={Path(shots) / f'{chapter}-{width}.png'}",
                   page.as_uri()])
