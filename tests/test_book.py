"""The book as a whole: every chapter runs (tiny profile) and the committed book builds without warnings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairnotes.runner import build_book, chapters, run_chapter

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters(ROOT))
def test_chapter_runs_with_tiny_profile(chapter, tmp_path, request):
    if chapter in ("data", "muse", "d3g", "multilabel"):  # chapters that read the emoji art: link (or fetch) the packages first
        request.getfixturevalue("emoji_packages")
    rep = run_chapter(chapter, profile="tiny", out_dir=tmp_path, root=ROOT, progress=False)
    nb = json.loads(rep.notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]


@pytest.mark.slow
def test_committed_book_builds_without_warnings(tmp_path):
    for ch in chapters(ROOT):
        assert (ROOT / "papermill_runs" / ch / "laptop.ipynb").exists(), f"chapter {ch} has no committed run"
    index = build_book(ROOT, out=tmp_path, strict=True)
    assert index.exists()
    html = index.parent
    for ch in chapters(ROOT):
        page = (html / "papermill_runs" / ch / "laptop.html").read_text()
        if ch == "scoreboard":  # a table, no chart: every chapter's claims
            assert "fairnotes-claims" in page and page.count("laptop.html#") >= 10
        else:
            assert "vegaEmbed" in page or ch == "references"
    assert (html / "_static" / "vega-bundle.js").exists()


@pytest.mark.slow
def test_prevalence_runs_a_timm_model_it_does_not_use(tmp_path):
    """A researcher's re-run: any timm model name, on digits, one epoch, one seed, barely trained (lr 1e-7); the
    chapter shows it beside the book's (tiny profile) models and warns that its disparity reflects training."""
    rep = run_chapter("prevalence", profile="tiny",
                      params={"datasets": ["digits"], "models": ["mobilenetv3_small_050"], "capacity": [],
                              "budget_models": [], "full_data_model": "mobilenetv3_small_050", "epochs": 1,
                              "seeds": [0], "n_boot": 50, "lr": 1e-7},
                      out_dir=tmp_path, root=ROOT, progress=False, name="timm")
    from fairnotes import results
    ds = results.load(rep.notebook.parent / "timm" / "analysis.nc")
    assert list(ds["dataset"].values) == ["digits"]
    assert list(ds["model"].values) == ["mobilenetv3_small_050"]
    assert bool(ds["trained"].sel(dataset="digits", model="mobilenetv3_small_050"))
    acc = ds["accuracy"].sel(dataset="digits", model="mobilenetv3_small_050")
    assert acc.sizes["label"] == 10 and bool(acc.notnull().all())
    claims = results.load(rep.notebook.parent / "timm" / "claims.nc")
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for c in json.loads(rep.notebook.read_text())["cells"]
                   for o in c.get("outputs", []))
    assert "Your run beside the book&#x27;s" in html or "Your run beside the book's" in html
    assert "within 0.10 of chance" in html and "reflects training, not the classes" in html
    assert html.count("(book)") >= 2  # the tiny profile's two models as verdict columns
    assert "cui.balanced_disparity" in claims["claim"].values
    assert "cui.across_architectures" not in claims["claim"].values  # one model: the rest skipped
