"""A chapter's analysis cached by parameters and code, with provenance that nothing overwrites."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import xarray as xr

from fairnotes.analysis import ChapterParams, cached_analysis, code_hash, save_chapter
from fairnotes.analysis._store import JobLog


@dataclass(frozen=True)
class P(ChapterParams):
    chapter: ClassVar[str] = "toy"
    n: int = 1


def test_cached_by_params_with_provenance(tmp_path):
    calls = []

    def compute(p):
        calls.append(p.n)
        return xr.Dataset({"x": p.n}, attrs={"config": "overwritten?", "jobs": {"train": ["abc"]}})

    a = cached_analysis(P(n=1), compute, store=tmp_path)
    b = cached_analysis(P(n=1), compute, store=tmp_path)
    c = cached_analysis(P(n=2), compute, store=tmp_path)
    assert calls == [1, 2]
    assert a.attrs["cache"].startswith("miss") and b.attrs["cache"].startswith("hit")
    assert int(c["x"]) == 2
    for key in ("git_commit", "torch_version", "config_hash", "code_hash", "date", "chapter"):
        assert key in b.attrs, key
    assert "n: 1" in b.attrs["config"]  # provenance wins over whatever compute put there
    assert b.attrs["code_hash"] == code_hash() and b.attrs["jobs"] == {"train": ["abc"]}  # the dict again
    cached_analysis(P(n=1), compute, store=tmp_path, refresh=True)
    assert calls == [1, 2, 1]


def test_save_chapter_writes_analysis_and_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_RESULTS_DIR", str(tmp_path))
    ds = xr.Dataset({"x": 1}, attrs={"git_commit": "abc"})
    claims = xr.Dataset({"verdict": ("claim", ["agrees"])}, coords={"claim": ["a"]})
    paths = save_chapter("toy", ds, claims)
    from fairnotes import results
    assert results.load(paths["claims"]).attrs["git_commit"] == "abc"  # claims carry the run's provenance
    assert (tmp_path / "analysis.nc").exists()


def test_job_log_keeps_keys_once():
    log = JobLog()
    log.add("train", {"a": 1})
    log.add("train", {"a": 1})
    log.add("train", {"a": 2})
    assert len(log.keys["train"]) == 2


@dataclass(frozen=True)
class WithModels(ChapterParams):
    chapter: ClassVar[str] = "toy"
    models: tuple[str, ...] = ("cnn",)


def test_a_weights_file_changed_in_place_is_a_new_analysis(tmp_path):
    from fairnotes.analysis._store import weights_files
    ckpt = tmp_path / "w.safetensors"
    ckpt.write_bytes(b"first")
    calls = []

    def compute(p):
        calls.append(1)
        return xr.Dataset({"x": len(calls)})

    spec = f"cnn:width=4,weights={ckpt}"
    store = tmp_path / "store"
    cached_analysis(WithModels(models=(spec,)), compute, store=store)
    cached_analysis(WithModels(models=(spec,)), compute, store=store)
    assert len(calls) == 1
    ckpt.write_bytes(b"second, longer")  # new size and mtime: re-hashed
    cached_analysis(WithModels(models=(spec,)), compute, store=store)
    assert len(calls) == 2
    assert list(weights_files({"models": ["cnn", spec]})) == [str(ckpt)]
    assert weights_files({"models": ["cnn", "resnet8"], "n": 3}) == {}  # no weights: the key is as before


# --- the analysis key follows the code the analysis imports --------------------------------------------------------

def _fake_package(root):
    """A package named ``fairnotes`` in ``root``: ``a`` imports ``b`` inside a function and ``sub.d`` relatively;
    ``c`` is imported by nobody."""
    pkg = root / "fairnotes"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""fake"""\n')
    (pkg / "a.py").write_text("def f():\n    from . import b\n    from .sub.d import g\n    return b, g\n")
    (pkg / "b.py").write_text("import os\nX = 1\n")
    (pkg / "c.py").write_text("Y = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "d.py").write_text("from ..b import X\ndef g():\n    return X\n")
    (pkg / "prompts.json").write_text("{}")
    return pkg


def test_import_closure_follows_imports_inside_functions_and_relative_levels(tmp_path, monkeypatch):
    from fairnotes.analysis import _store
    pkg = _fake_package(tmp_path)
    monkeypatch.setattr(_store, "_PKG", pkg)
    _store.import_closure.cache_clear()
    try:
        assert _store.import_closure("fairnotes.a") == ("__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/d.py")
        assert _store.import_closure("fairnotes.sub.d") == ("__init__.py", "b.py", "sub/__init__.py", "sub/d.py")
        before = _store.analysis_code_hash("fairnotes.a")
        (pkg / "c.py").write_text("Y = 3\n")  # outside the closure: same key
        _store.import_closure.cache_clear()
        assert _store.analysis_code_hash("fairnotes.a") == before
        (pkg / "sub" / "d.py").write_text("from ..b import X\ndef g():\n    return X + 1\n")  # inside: a new key
        _store.import_closure.cache_clear()
        changed = _store.analysis_code_hash("fairnotes.a")
        assert changed != before
        (pkg / "prompts.json").write_text('{"a": 1}')  # package data counts for every analysis
        assert _store.analysis_code_hash("fairnotes.a") != changed
    finally:
        _store.import_closure.cache_clear()


def test_every_chapter_that_reads_another_chapter_imports_it():
    """The closure cannot see ``analysis.module(name)``; a chapter reading another one's parameters must import it."""
    import re
    from pathlib import Path

    from fairnotes.analysis import CHAPTERS
    from fairnotes.analysis._store import import_closure
    folder = Path(__file__).resolve().parents[2] / "fairnotes" / "analysis"
    readers = 0
    for ch in CHAPTERS:
        closure = import_closure(f"fairnotes.analysis.{ch}")
        assert f"analysis/{ch}.py" in closure and "analysis/_store.py" in closure and "__init__.py" in closure
        assert "cli.py" not in closure  # the command line computes nothing an analysis uses
        src = "".join(p.read_text() for p in folder.glob("*.py") if f"analysis/{p.name}" in closure)
        for other in set(re.findall(r"profile_params\(\"(\w+)\"", src)):
            readers += 1
            assert f"analysis/{other}.py" in closure, (ch, other)
    assert readers >= 2  # representation and remedies read prevalence's parameters


def test_an_analysis_outside_the_package_keys_on_the_whole_package(tmp_path):
    from fairnotes.analysis._store import analysis_code_hash
    ds = cached_analysis(P(n=5), lambda p: xr.Dataset({"x": p.n}), store=tmp_path)
    assert ds.attrs["analysis_code_hash"] == code_hash() == analysis_code_hash(__name__)
    assert analysis_code_hash("fairnotes.analysis.muse") != code_hash()  # a chapter keys on its own closure
