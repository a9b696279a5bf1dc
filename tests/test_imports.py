"""Imports flow one way: lower layers (data, models, metrics, ...) → jobs → chapters.

Read from the source with ``ast`` (imports inside functions included, since a lazy import is still
a dependency), so nothing here imports the package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "fairnotes"
# what a job may build on: the layers below the jobs
LOWER = {"data", "models", "metrics", "heads", "augment", "results", "_paths", "_torch", "progress"}  # progress: stdlib only


def _name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The ``fairnotes`` modules that module ``name`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    path = FILES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out |= {f"{module}.{a.name}" if f"{module}.{a.name}" in FILES else module for a in node.names}
    return {m for m in out if m == "fairnotes" or m.startswith("fairnotes.")}


GRAPH = {name: _imports(name) for name in FILES}


def _layer(module: str) -> str:
    """``fairnotes.jobs.train`` → ``jobs``; ``fairnotes._torch`` → ``_torch``; the package itself → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _reachable(start: str, within: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for m in GRAPH.get(todo.pop(), ()):
            if m in within and m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_the_walk_sees_the_package():
    assert {"fairnotes.jobs.train", "fairnotes.jobs.contrastive", "fairnotes.jobs.features",
            "fairnotes._torch"} <= set(FILES)
    assert "fairnotes.jobs.contrastive" in GRAPH["fairnotes.jobs.train"]  # lazy imports are seen
    assert "fairnotes.data" in GRAPH["fairnotes.jobs._subset"]


@pytest.mark.parametrize("name", sorted(n for n in FILES if _layer(n) == "jobs"))
def test_jobs_import_only_jobs_and_the_layers_below(name):
    upward = sorted(m for m in GRAPH[name] if _layer(m) not in LOWER | {"jobs"})
    assert not upward, f"{name} imports {upward}; a job may import only fairnotes.jobs.* and {sorted(LOWER)}"


@pytest.mark.parametrize("name", sorted(n for n in FILES if _layer(n) in LOWER))
def test_lower_layers_import_no_layer_above(name):
    # the package root is allowed (results reads fairnotes.__version__)
    upward = sorted(m for m in GRAPH[name] if m != "fairnotes" and _layer(m) not in LOWER)
    assert not upward, f"{name} imports {upward}, a layer above it"


def test_no_import_cycle_among_the_jobs():
    jobs = {n for n in FILES if _layer(n) == "jobs" and n != "fairnotes.jobs"}
    cycles = sorted(n for n in jobs if n in _reachable(n, jobs))
    assert not cycles, f"these job modules import themselves through others: {cycles}"
    # the pair that used to: train builds on contrastive (pretrain=), contrastive needs nothing of train
    assert "fairnotes.jobs.train" not in _reachable("fairnotes.jobs.contrastive", jobs)
