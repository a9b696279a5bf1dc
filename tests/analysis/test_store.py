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
    assert b.attrs["code_hash"] == code_hash() and "abc" in b.attrs["jobs"]
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
