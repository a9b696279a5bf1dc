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
