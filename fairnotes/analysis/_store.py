"""A chapter's analysis, cached by the hash of its parameters and of the code it imports, with provenance.

The jobs a chapter calls are cached on their own (``fairnotes.results.cached``); this cache
holds the chapter's *summary* (bootstraps, tests, tables), so a warm re-run reads one file. The
key includes a hash of the source of every ``fairnotes`` module the chapter's analysis module
imports, directly or through others (:func:`import_closure`, read from the source, imports inside
functions included), and of the package's data files: a change to that code never serves a stale
analysis, while a change elsewhere (the runner, the charts, another chapter) does not throw the
chapter's analysis away. Analyses defined outside the package key on the whole package's code.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import time
from pathlib import Path
from typing import Any, Callable

import xarray as xr

__all__ = ["cached_analysis", "code_hash", "import_closure", "save_chapter", "JobLog"]

_PKG = Path(__file__).resolve().parents[1]  # the fairnotes package folder
_DATA_SUFFIXES = (".json", ".yaml", ".yml", ".csv")  # package data an analysis may read


def _hash_files(paths: list[Path], n: int) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(_PKG)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:n]


@functools.lru_cache(maxsize=1)
def code_hash(n: int = 12) -> str:
    """SHA-256 of every ``fairnotes/**/*.py`` file (path and bytes), in path order: which code this is."""
    return _hash_files(list(_PKG.rglob("*.py")), n)


def _module_file(name: str) -> Path | None:
    """The source file of module ``name`` if it is part of ``fairnotes`` (a package's ``__init__.py``)."""
    parts = name.split(".")
    if parts[0] != "fairnotes":
        return None
    base = _PKG.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path, name: str) -> set[str]:
    """Every module name an ``import`` statement anywhere in ``path`` may load (``from a import b``: ``a`` and
    ``a.b``, which counts only when ``a.b`` is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


@functools.lru_cache(maxsize=None)
def import_closure(module: str) -> tuple[str, ...]:
    """The ``fairnotes`` source files (relative paths, sorted) that importing ``module`` and calling its
    functions can execute: its imports, theirs, and so on, with every parent package's ``__init__.py``.

    Read from the source (:mod:`ast`), so imports inside functions count. Not seen: modules loaded by a
    name computed at run time (``importlib.import_module``); the one such place, ``analysis.module``, serves
    the runner and the comparison of runs, and a chapter that reads another chapter imports it by name
    (``tests/analysis/test_store.py`` checks this).
    """
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(m for m in _imported_names(path, name) if m.split(".")[0] == "fairnotes")
    return tuple(sorted(str(p.relative_to(_PKG)) for p in seen.values()))


def analysis_code_hash(*modules: str, n: int = 12) -> str:
    """Hash of the code ``modules`` run: their import closure plus the package's data files; the whole
    package's :func:`code_hash` if one of them is not part of ``fairnotes``."""
    if not modules or any(_module_file(m) is None for m in modules):
        return code_hash(n)
    files = {_PKG / f for m in modules for f in import_closure(m)}
    files |= {p for p in _PKG.rglob("*") if p.suffix in _DATA_SUFFIXES and p.is_file()}
    return _hash_files(list(files), n)


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
    """``compute(params)``, read from the cache when the same parameters ran on the same code (the code the
    analysis imports: :func:`analysis_code_hash`).

    The result's attributes carry full provenance: the chapter, its parameters (YAML) and their
    hash, the code hash, git commit, versions, date, host, wall time, and whatever ``compute`` put
    there (e.g. ``jobs``, the cache keys of every job it used). They are set *after* ``compute``,
    so nothing it does can overwrite them.
    """
    from .._paths import cache_dir
    from ..results import config_dict, config_hash, load, provenance, read_cached, save

    chapter = type(params).chapter or type(params).__module__.rsplit(".", 1)[-1]
    files = weights_files(config_dict(params))
    code = analysis_code_hash(type(params).__module__, getattr(compute, "__module__", None) or "")
    key = config_hash({"params": config_dict(params), "code": code, **({"weights": files} if files else {})})
    root = Path(store) if store is not None else cache_dir("results")
    path = root / f"analysis.{chapter}" / f"{key}.nc"
    ds = None if refresh else read_cached(path, f"cached {chapter} analysis")
    if ds is not None:
        return ds
    t0 = time.perf_counter()
    ds = compute(params)
    ds.attrs = {**ds.attrs, **provenance(params, chapter=chapter, code_hash=code_hash(), analysis_code_hash=code,
                                         analysis_key=key,
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
