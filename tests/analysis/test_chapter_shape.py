"""Every chapter notebook is thin: parameters, one analysis call, glue, charts — and its parameters cell maps
one to one onto its ``fairnotes.analysis`` Params."""
from __future__ import annotations

from pathlib import Path

import pytest

from fairnotes import analysis
from fairnotes.runner import chapters, parameters

ROOT = Path(__file__).resolve().parents[2]
MAX_CODE_LINES = 60


def _code_lines(chapter: str) -> int:
    import jupytext
    nb = jupytext.read(ROOT / "book" / f"{chapter}.md")
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    return sum(1 for c in cells for line in c.source.splitlines() if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("chapter", chapters(ROOT))
def test_chapter_code_is_thin(chapter):
    n = _code_lines(chapter)
    assert n <= MAX_CODE_LINES, f"{chapter}: {n} lines of code outside the parameters cell (max {MAX_CODE_LINES})"


@pytest.mark.parametrize("chapter", analysis.CHAPTERS)
def test_parameters_cell_maps_onto_params(chapter):
    cls = analysis.params_class(chapter)
    cell = {k: v["default"] for k, v in parameters(chapter, ROOT).items()}
    assert set(cell) == set(cls.names())
    assert cls.from_mapping(cell) == cls(), f"{chapter}: the cell's defaults differ from Params()"


@pytest.mark.parametrize("chapter", analysis.CHAPTERS)
def test_every_profile_passes_the_type_check(chapter):
    from fairnotes.runner import profile_parameters
    for profile in ("laptop", "tiny", "paper"):
        analysis.check_params(chapter, {**profile_parameters(chapter, profile, ROOT), "profile": profile})


def test_wrong_type_is_a_usage_error_before_any_kernel(tmp_path):
    from click.testing import CliRunner

    from fairnotes.cli import main
    res = CliRunner().invoke(main, ["run", "prevalence", "-p", "seeds", "0.5", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "parameter 'seeds' must be a list of int; got 0.5 (float)" in res.output
    assert not list(tmp_path.rglob("*.ipynb"))  # nothing ran, nothing written
    res = CliRunner().invoke(main, ["run", "prevalence", "-p", "bogus", "1", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "unknown parameter 'bogus'" in res.output
