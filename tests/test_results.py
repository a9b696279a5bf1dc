from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
import yaml

from fairnotes import results


@dataclasses.dataclass
class Cfg:
    dataset: str = "digits"
    seed: int = 0
    widths: tuple = (8, 16)


def _ds(value=1.0):
    return xr.Dataset({"accuracy": ("label", np.array([value, 0.5]))},
                      coords={"label": [0, 1], "class_name": ("label", ["a", "b"])},
                      attrs={"nested": {"a": 1}, "flag": True, "none": None})


def test_config_hash_is_canonical():
    assert results.config_hash(Cfg()) == results.config_hash({"seed": 0, "widths": [8, 16], "dataset": "digits"})
    assert results.config_hash(Cfg(seed=1)) != results.config_hash(Cfg())
    assert len(results.config_hash(Cfg())) == 12


def test_save_load_roundtrip_and_attrs(tmp_path):
    path = results.save(_ds(), tmp_path / "sub" / "r.nc")
    back = results.load(path)
    xr.testing.assert_identical(back[["accuracy"]].drop_attrs(), _ds()[["accuracy"]].drop_attrs())
    assert back.attrs["flag"] == 1 and "none" not in back.attrs
    assert back.attrs["nested"] == {"a": 1}  # JSON text on disk, the dict again in memory
    assert list(back.class_name.values) == ["a", "b"]


def test_save_is_atomic(tmp_path, monkeypatch):
    path = results.save(_ds(1.0), tmp_path / "r.nc")

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        results.save(_ds(0.0), path)
    assert float(results.load(path).accuracy[0]) == 1.0  # last good result intact
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]  # no temp file left behind


def test_provenance_records_config_and_versions():
    p = results.provenance(Cfg(), seed=3, device="cpu")
    assert yaml.safe_load(p["config"]) == {"dataset": "digits", "seed": 0, "widths": [8, 16]}
    assert p["config_hash"] == results.config_hash(Cfg())
    assert p["seed"] == 3 and p["device"] == "cpu"
    for key in ("fairnotes_version", "git_commit", "torch_version", "timm_version", "date"):
        assert p[key]


def job(cfg):
    job.calls += 1
    return _ds(float(cfg.seed))


def test_cached_computes_once_then_hits(tmp_path):
    job.calls = 0
    a = results.cached(job, Cfg(seed=2), store=tmp_path)
    b = results.cached(job, Cfg(seed=2), store=tmp_path)
    assert job.calls == 1
    assert a.attrs["cache"].startswith("miss") and b.attrs["cache"].startswith("hit")
    assert float(b.accuracy[0]) == 2.0 and b.attrs["config_hash"] == results.config_hash(Cfg(seed=2))
    results.cached(job, Cfg(seed=3), store=tmp_path)
    assert job.calls == 2
    results.cached(job, Cfg(seed=2), store=tmp_path, refresh=True)
    assert job.calls == 3


def test_unreadable_cache_is_recomputed_with_warning(tmp_path):
    job.calls = 0
    results.cached(job, Cfg(), store=tmp_path)
    (path,) = list(tmp_path.rglob("*.nc"))
    path.write_bytes(b"not a netcdf file")
    with pytest.warns(UserWarning, match="unreadable"):
        ds = results.cached(job, Cfg(), store=tmp_path)
    assert job.calls == 2 and float(ds.accuracy[0]) == 0.0
    assert results.load(path).attrs["config_hash"] == results.config_hash(Cfg())  # repaired on disk


def test_list_attributes_survive_the_cache(tmp_path):
    """Lists of strings and dicts are written as JSON text (netCDF has neither) and read back as they were (a warm
    run once got '["google", ...]' where the computed run had a list)."""
    import xarray as xr

    from fairnotes import results
    ds = xr.Dataset({"x": ("i", [1, 2])}, attrs={"styles": ["google", "twitter"], "sizes": [286, 26],
                                                "mixed": ["a", 1], "jobs": {"train": ["k"]}, "note": "[not json"})
    back = results.load(results.save(ds, tmp_path / "r.nc"))
    assert back.attrs["styles"] == ["google", "twitter"] and back.attrs["mixed"] == ["a", 1]
    assert list(back.attrs["sizes"]) == [286, 26]
    assert back.attrs["jobs"] == {"train": ["k"]} and back.attrs["note"] == "[not json"
