from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import textwrap

import altair as alt
import pandas as pd
import pytest
from PIL import Image

import fairnotes.viz as fv


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    return fv.write_bundle(tmp_path_factory.mktemp("book") / "_static")


@pytest.fixture
def chart():
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0.2, 0.5, 0.4], "name": ["a</script>", "b", "c"]})
    return alt.Chart(df).mark_line(point=True).encode(x="x", y="y", tooltip=["name"]).properties(
        title="t", width=200)


def test_bundle_defines_vega_embed_globally(bundle_path):
    text = bundle_path.read_text(encoding="utf-8")
    assert bundle_path.name == "vega-bundle.js"
    assert text.count("(function () {") >= 1 and text.rstrip().endswith("})();")
    assert '"use strict";' in text[:1000]
    assert re.search(r"window\.vegaEmbed\s*=", text)
    assert not re.search(r"^\s*(import|export)\s", text, flags=re.M)  # a classic script, not a module


def test_write_bundle_is_idempotent(bundle_path):
    os.utime(bundle_path, (1_000_000, 1_000_000))
    again = fv.write_bundle(bundle_path.parent)
    assert again == bundle_path and bundle_path.stat().st_mtime == 1_000_000
    bundle_path.write_text("stale")
    fv.write_bundle(bundle_path.parent)
    assert bundle_path.read_text(encoding="utf-8") == fv.bundle_source()


HOST_GLOBALS = ["console", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask",
                "structuredClone", "performance", "URL", "URLSearchParams", "TextEncoder", "TextDecoder",
                "fetch", "AbortController", "Blob", "atob", "btoa"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_bundle_runs_and_leaks_only_its_three_globals(bundle_path, tmp_path):
    """Run the bundle as a classic script beside a Sphinx-like global `_`; compare with the raw bundle."""
    import vl_convert

    raw = tmp_path / "raw.js"
    raw.write_text(vl_convert.javascript_bundle(), encoding="utf-8")
    script = textwrap.dedent(f"""
        const vm = require("vm"), fs = require("fs");
        function run(path) {{
          const ctx = {{}};
          for (const k of {json.dumps(HOST_GLOBALS)}) ctx[k] = globalThis[k];
          ctx.window = ctx; vm.createContext(ctx);
          vm.runInContext("var _ = 'sphinx';", ctx);
          const before = new Set(Object.keys(ctx));
          vm.runInContext(fs.readFileSync(path, "utf8"), ctx);
          const added = Object.keys(ctx).filter(k => !before.has(k)).sort();
          return {{added: added.length > 3 ? added.length : added, embed: typeof ctx.vegaEmbed,
                   underscore: typeof ctx._ === "string" ? ctx._ : typeof ctx._}};
        }}
        console.log(JSON.stringify([run({json.dumps(str(bundle_path))}), run({json.dumps(str(raw))})]));
    """)
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    ours, unwrapped = json.loads(out.stdout.strip().splitlines()[-1])
    assert ours == {"added": ["vega", "vegaEmbed", "vegaLite"], "embed": "function", "underscore": "sphinx"}
    # why the IIFE: unwrapped, the bundle spills its top-level names and replaces Sphinx's `_`
    assert unwrapped["underscore"] == "function" and unwrapped["added"] > 100


def test_renderer_html_embeds_spec_and_png(chart):
    bundle = fv.mimebundle(chart, png=True)
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    html = bundle["text/html"]
    m = re.match(r'<div id="(fairnotes-viz-[0-9a-f]+-\d+)" class="fairnotes-viz">(.*?)</div><script>(.*)</script>$',
                 html, flags=re.S)
    assert m, html[:300]
    div_id, inner, script = m.groups()
    assert f'var id = "{div_id}"' in script and "vegaEmbed(el, spec, opt)" in script
    assert "DOMContentLoaded" in script
    assert "</script" not in script and "</" not in script  # the spec's "</script>" is escaped
    spec = json.loads(re.search(r"var spec = (\{.*?\});var opt", script).group(1))
    assert spec == chart.to_dict()  # data inline, not a URL
    assert json.loads(re.search(r"var opt = (\{.*?\});", script).group(1)) == {"actions": False}
    png = base64.b64decode(bundle["image/png"])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert inner.startswith('<img src="data:image/png;base64,' + bundle["image/png"])


def test_renderer_without_png_and_unique_ids(chart):
    a = fv.mimebundle(chart, png=False)
    b = fv.mimebundle(chart, png=False)
    assert set(a) == {"text/html", "text/plain"}
    assert "<img" not in a["text/html"]
    ids = [re.search(r'id="([^"]+)"', x["text/html"]).group(1) for x in (a, b)]
    assert ids[0] != ids[1]


def test_enable_registers_fairnotes_renderer(chart):
    previous = alt.renderers.active
    try:
        with fv.enable(png=False):
            assert alt.renderers.active == "fairnotes"
            bundle = chart._repr_mimebundle_()
            assert "vegaEmbed" in bundle["text/html"] and "image/png" not in bundle
        fv.enable()
        assert "image/png" in chart._repr_mimebundle_()
    finally:
        alt.renderers.enable(previous)
