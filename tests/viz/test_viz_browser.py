"""Draw two charts in headless Chromium from the local bundle alone (skipped when Chromium is absent)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from viz_synthetic import make_per_class

import fairnotes.viz as fv

CHROMIUM = next((p for p in map(shutil.which, ["chromium", "chromium-browser", "google-chrome"]) if p), None)

# Reports, after the charts had time to draw, per chart: drawn views (canvas or SVG; vega-embed picks) /
# leftover fallback <img> / SVG <image> marks; and whether a page global `_` (Sphinx's gettext) survived.
PROBE = """<pre id="status">pending</pre><script>setTimeout(function () {
  var charts = Array.from(document.querySelectorAll(".fairnotes-viz"));
  document.getElementById("status").textContent = "drawn=" + charts.map(function (c) {
    return c.querySelectorAll("canvas, svg.marks").length + "/" + c.querySelectorAll("img").length
      + "/" + c.querySelectorAll("svg image").length; }).join(",")
    + " underscore=" + _("ok");
}, 2000);</script>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
@pytest.mark.parametrize("bundle_at", ["head", "end"])
def test_charts_draw_offline_in_chromium(tmp_path, digits, bundle_at):
    fv.write_bundle(tmp_path / "_static")
    images, labels, names = digits
    curve = fv.mimebundle(fv.accuracy_curve(make_per_class(), by="model"), png=True)["text/html"]
    grid = fv.mimebundle(fv.sample_grid(images, labels, names, per_class=4), png=False)["text/html"]
    bundle = '<script src="_static/vega-bundle.js"></script>'
    page = ("<!doctype html><html><head><meta charset=utf-8>"
            "<script>const _ = function (s) { return s; };</script>"  # as Sphinx's doctools.js does
            + (bundle if bundle_at == "head" else "") + "</head><body>" + curve + grid + PROBE
            + (bundle if bundle_at == "end" else "") + "</body></html>")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", (tmp_path / "page.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    status = re.search(r'<pre id="status">([^<]*)</pre>', out.stdout)
    assert status, out.stderr[-2000:]
    # each chart drew one view, the curve's fallback <img> was replaced, the grid shows 4 × 10 thumbnails
    # (when vega draws SVG), and Sphinx's `_` still works
    assert re.fullmatch(r"drawn=1/0/0,1/0/(40|0) underscore=ok", status.group(1)), status.group(1)
