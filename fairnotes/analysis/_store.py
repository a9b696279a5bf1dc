"""A chapter's analysis, cached by the hash of its parameters and of the package's code, with provenance.

The jobs a chapter calls are cached on their own (``fairnotes.results.cached``); this cache
holds the chapter's *summary* (bootstraps, tests, tables), so a warm re-run reads one file. The
key includes a hash of the package's source, so a code change never serves a stale analysis.
"""
from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path
from typing import Any, Callable

import xarray as xr

__all__ = ["cached_analysis", "code_hash", "save_chapter", "JobLog"]


@functools.lru_cache(maxsize=1)
def code_hash(n: int = 12) -> str:
    """SHA-256 of every ``fairnotes/**/*.py`` file (path and bytes), in path order."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:n]


def weights_files(values: Any) -> dict[str, str]:
    """``{path: sha256}`` of every ``weights=PATH`` named in a model spec among ``values`` (nested): a checkpoint
    changed in place is then a new analysis, as it is a new job (:func:`fairnotes.models.key_kwargs`)."""
    import re

    from ..models._weights import file_sha256
    found: dict[str, str] = {}

    def walk(v: Any) -> None:
        if isinstance(v, str):
            for path in re.findall(r"(?:^|[:,])weights=([^,]+)", v):
                found[path] = file_sha256(path)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(values)
    return found


class JobLog:
    """Collects the cache keys of the jobs an analysis used (kept in the result's ``jobs`` attribute)."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {}

    def add(self, job: str, cfg: Any) -> None:
        from ..results import config_hash
        key = cfg.key() if callable(getattr(cfg, "key", None)) else config_hash(cfg)
        self.keys.setdefault(job, [])
        if key not in self.keys[job]:
            self.keys[job].append(key)


def cached_analysis(params: Any, compute: Callable[[Any], xr.Dataset], *, refresh: bool = False,
                    store: str | Path | None = None) -> xr.Dataset:
    """``compute(params)``, read from the cache when the same parameters ran on the same code.

    The result's attributes carry full provenance: the chapter, its parameters (YAML) and their
    hash, the code hash, git commit, versions, date, host, wall time, and whatever ``compute`` put
    there (e.g. ``jobs``, the cache keys of every job it used). They are set *after* ``compute``,
    so nothing it does can overwrite them.
    """
    from .._paths import cache_dir
    from ..results import config_dict, config_hash, load, provenance, read_cached, save

    chapter = type(params).chapter or type(params).__module__.rsplit(".", 1)[-1]
    files = weights_files(config_dict(params))
    key = config_hash({"params": config_dict(params), "code": code_hash(), **({"weights": files} if files else {})})
    root = Path(store) if store is not None else cache_dir("results")
    path = root / f"analysis.{chapter}" / f"{key}.nc"
    ds = None if refresh else read_cached(path, f"cached {chapter} analysis")
    if ds is not None:
        return ds
    t0 = time.perf_counter()
    ds = compute(params)
    ds.attrs = {**ds.attrs, **provenance(params, chapter=chapter, code_hash=code_hash(), analysis_key=key,
                                         wall_time_s=round(time.perf_counter() - t0, 3))}
    save(ds, path)
    ds = load(path)  # what a warm run reads, so the first run and every later one see the same types
    ds.attrs["cache"] = f"miss {path}"
    return ds


def save_chapter(chapter: str, ds: xr.Dataset, claims: xr.Dataset | None = None) -> dict[str, Path]:
    """Save a chapter's analysis and claims into its run folder (``analysis.nc``, ``claims.nc``), atomically.

    The scoreboard reads ``claims.nc`` of every chapter's book run.
    """
    from ..results import save
    from ..runner import results_dir
    out = results_dir(chapter)
    paths = {"analysis": save(ds, out / "analysis.nc")}
    if claims is not None:
        claims = claims.copy()
        claims.attrs = {k: v for k, v in ds.attrs.items() if k != "cache"} | dict(claims.attrs)
        paths["claims"] = save(claims, out / "claims.nc")
    return paths
