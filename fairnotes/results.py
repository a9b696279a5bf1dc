"""Results as ``xr.Dataset``: atomic netCDF storage, provenance, and a config-hash cache.

>>> import xarray as xr
>>> from fairnotes import results
>>> results.config_hash({"dataset": "digits", "seed": 0})
'...'
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr
import yaml

__all__ = ["save", "load", "config_dict", "config_hash", "provenance", "cached", "cache_path", "read_cached",
           "job_name"]

_ENGINE = "h5netcdf"


def config_dict(cfg: Any) -> dict:
    """A plain, JSON-able dict of a config (dataclass, mapping or object with ``__dict__``)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        d = dataclasses.asdict(cfg)
    elif isinstance(cfg, dict):
        d = dict(cfg)
    else:
        d = dict(vars(cfg))
    return json.loads(json.dumps(d, sort_keys=True, default=_jsonable))


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, (Path, np.ndarray)):
        return str(x) if isinstance(x, Path) else x.tolist()
    if isinstance(x, (set, frozenset, tuple)):
        return list(x)
    return str(x)


def config_hash(cfg: Any, n: int = 12) -> str:
    """Short SHA-256 of the canonical JSON of ``cfg``: equal configs share a hash, key order ignored."""
    blob = json.dumps(config_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(mod: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(mod)
    except PackageNotFoundError:
        return "not installed"


def provenance(cfg: Any = None, **extra: Any) -> dict[str, str | int | float]:
    """Attributes that say how a result was made: config (YAML) and hash, versions, commit, date, host.

    ``extra`` (seed, device, wall_time_s, ...) is added as is.
    """
    from . import __version__
    attrs: dict[str, Any] = {
        "fairnotes_version": __version__,
        "git_commit": _git_commit(),
        "torch_version": _version("torch"),
        "timm_version": _version("timm"),
        "python_version": platform.python_version(),
        "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if cfg is not None:
        attrs["config"] = yaml.safe_dump(config_dict(cfg), sort_keys=True)
        attrs["config_hash"] = config_hash(cfg)
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def _clean_attrs(attrs: dict) -> dict:
    """netCDF attributes must be str / number / 1-D arrays; stringify the rest, drop None."""
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = int(v)
        elif isinstance(v, (dict, list, tuple)) and not (isinstance(v, (list, tuple)) and v and
                                                          all(isinstance(i, (int, float)) for i in v)):
            v = json.dumps(v, default=_jsonable)
        elif not isinstance(v, (str, int, float, np.number, np.ndarray)):
            v = str(v)
        out[k] = v
    return out


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to netCDF at ``path`` atomically: a temp file in the same folder, then a rename.

    A crash mid-write leaves the previous file (if any) untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = ds.copy()
    ds.attrs = _clean_attrs(ds.attrs)
    for v in ds.variables.values():
        v.attrs = _clean_attrs(v.attrs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary shared files
    try:
        ds.to_netcdf(tmp, engine=_ENGINE, invalid_netcdf=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | Path) -> xr.Dataset:
    """Read a netCDF result fully into memory (the file is closed on return).

    A list or dict attribute that :func:`save` had to write as JSON text comes back as a list or dict, so a result
    read from the cache behaves as the one just computed."""
    with xr.open_dataset(path, engine=_ENGINE) as ds:
        ds = ds.load()
    ds.attrs = {k: _list_attr(v) for k, v in ds.attrs.items()}
    return ds


def _list_attr(v: Any) -> Any:
    if isinstance(v, str) and ((v.startswith("[") and v.endswith("]")) or (v.startswith("{") and v.endswith("}"))):
        try:
            out = json.loads(v)
        except ValueError:
            return v
        return out if isinstance(out, (list, dict)) else v
    return v


def job_name(job: Callable) -> str:
    """``package.module.function`` minus the ``fairnotes.jobs.`` prefix, used as the cache folder."""
    name = f"{job.__module__}.{job.__qualname__}"
    return name.removeprefix("fairnotes.jobs.").removesuffix(".run")


def cached(job: Callable[[Any], xr.Dataset], cfg: Any, *, store: str | Path | None = None,
           refresh: bool = False) -> xr.Dataset:
    """Return ``job(cfg)``, from ``store`` when a result with the same config hash is there.

    The result is stored as ``<store>/<job name>/<key>.nc`` (default store:
    ``$FAIRNOTES_CACHE/results``), where the key is ``cfg.key()`` when the config defines one
    (fields that do not change the numbers, such as progress bars, left out) or else
    :func:`config_hash`. A missing or unreadable file is recomputed (with a
    warning if it was unreadable); ``refresh=True`` always recomputes.
    """
    path = cache_path(job, cfg, store=store)
    ds = None if refresh else read_cached(path, "cached result")
    if ds is not None:
        return ds
    t0 = time.perf_counter()
    ds = job(cfg)
    ds.attrs = {**provenance(cfg, wall_time_s=round(time.perf_counter() - t0, 3)), **ds.attrs}
    save(ds, path)
    ds.attrs["cache"] = f"miss {path}"
    return ds


def cache_path(job: Callable, cfg: Any, *, store: str | Path | None = None) -> Path:
    """Where :func:`cached` keeps ``job(cfg)``: ``<store>/<job name>/<key>.nc``."""
    from ._paths import cache_dir
    root = Path(store) if store is not None else cache_dir("results")
    key = cfg.key() if callable(getattr(cfg, "key", None)) else config_hash(cfg)
    return root / job_name(job) / f"{key}.nc"


def read_cached(path: str | Path, what: str = "cached file") -> xr.Dataset | None:
    """The Dataset at ``path`` (``attrs["cache"]`` set to ``"hit ..."``), or ``None`` when it is missing
    or unreadable — the latter with a warning, since the caller then recomputes it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        ds = load(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is recomputed, never fatal
        warnings.warn(f"{what} {path} is unreadable ({e.__class__.__name__}: {e}); recomputing", stacklevel=3)
        return None
    ds.attrs["cache"] = f"hit {path}"
    return ds
