"""The chapter runner: parameters, profiles, failures keep the last good run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairnotes.runner import ChapterError, chapters, parameters, run_chapter
from toy_book import myst_chapter

CHAPTER = myst_chapter('Toy', '''\

    ```{code-cell} ipython3
    :tags: [parameters]
    profile = "laptop"
    fail = False
    value = 1
    ```

    ```{code-cell} ipython3
    import xarray as xr
    from fairnotes import results
    from fairnotes.runner import results_dir
    assert not fail, "asked to fail"
    results.save(xr.Dataset({"value": value}), results_dir("toy") / "value.nc")
    print("value", value, "profile", profile)
    ```
    ''')


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "toy.md").write_text(CHAPTER)
    (tmp_path / "book" / "profiles.yaml").write_text("toy:\n  tiny: {value: 7}\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: papermill_runs/toy/laptop\n")
    return tmp_path


def _outputs(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_chapters_come_from_toc(book):
    assert chapters(book) == ["toy"]
    assert set(parameters("toy", book)) == {"profile", "fail", "value"}


def test_profile_and_overrides(book, tmp_path):
    from fairnotes import results
    rep = run_chapter("toy", profile="tiny", root=book, progress=False)
    assert rep.notebook == book / "papermill_runs" / "toy" / "tiny.ipynb"
    assert "value 7 profile tiny" in _outputs(rep.notebook)
    assert int(results.load(book / "papermill_runs" / "toy" / "tiny" / "value.nc").value) == 7
    pfile = tmp_path / "p.yaml"
    pfile.write_text("value: 9\n")
    rep = run_chapter("toy", params={"value": 10}, param_file=pfile, name="mine", root=book, progress=False)
    assert "value 10 profile laptop" in _outputs(rep.notebook)  # -p beats -f beats the profile


def test_unknown_parameter_is_named(book):
    with pytest.raises(ChapterError, match=r"unknown parameter 'bogus'.*valid: fail, profile, value"):
        run_chapter("toy", params={"bogus": 1}, root=book, progress=False)
    assert not (book / "papermill_runs" / "toy" / "laptop.ipynb").exists()


def test_unknown_chapter_and_profile(book):
    with pytest.raises(ChapterError, match="unknown chapter 'nope'; chapters: toy"):
        run_chapter("nope", root=book)
    with pytest.raises(ChapterError, match="profiles: laptop, tiny, paper"):
        run_chapter("toy", profile="huge", root=book)


def test_failure_keeps_last_good_run(book):
    good = run_chapter("toy", root=book, progress=False).notebook
    before = good.read_text()
    with pytest.raises(ChapterError, match="asked to fail"):
        run_chapter("toy", params={"fail": True}, root=book, progress=False)
    assert good.read_text() == before  # last good run untouched
    failed = good.with_name("laptop.failed.ipynb")
    assert failed.exists() and "AssertionError" in failed.read_text()
    assert (good.parent / "laptop" / "value.nc").exists()  # its results too
    assert not [p for p in good.parent.iterdir() if p.name.startswith(".")]  # no staging left
    run_chapter("toy", root=book, progress=False)
    assert not failed.exists()  # a later success clears the failed copy


def test_cli_reports_unknown_parameter(book, monkeypatch):
    from click.testing import CliRunner

    from fairnotes.cli import main
    monkeypatch.setenv("FAIRNOTES_ROOT", str(book))
    res = CliRunner().invoke(main, ["run", "toy", "-p", "bogus", "1"])
    assert res.exit_code != 0 and "bogus" in res.output


def test_the_kernel_knows_its_book_and_the_caller_keeps_its_own(book, monkeypatch):
    """FAIRNOTES_ROOT points the kernel at the chapter's book and is restored afterwards (a leaked root sent
    later profile lookups in the same process to a toy book)."""
    import os
    monkeypatch.delenv("FAIRNOTES_ROOT", raising=False)
    (book / "book" / "toy.md").write_text(CHAPTER.replace(
        'print("value", value, "profile", profile)', 'import os; print("root", os.environ["FAIRNOTES_ROOT"])'))
    rep = run_chapter("toy", root=book, progress=False)
    assert f"root {book}" in _outputs(rep.notebook)
    assert "FAIRNOTES_ROOT" not in os.environ
    monkeypatch.setenv("FAIRNOTES_ROOT", "/somewhere/else")
    run_chapter("toy", root=book, progress=False)
    assert os.environ["FAIRNOTES_ROOT"] == "/somewhere/else"
