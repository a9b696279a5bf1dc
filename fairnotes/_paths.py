"""Where fairnotes keeps caches (never committed)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$FAIRNOTES_CACHE`` (default ``~/.cache/fairnotes``) joined with ``parts``; created on demand."""
    root = Path(os.environ.get("FAIRNOTES_CACHE", Path.home() / ".cache" / "fairnotes"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The book's root: ``$FAIRNOTES_ROOT`` or the nearest parent of the cwd holding ``_toc.yml``."""
    if "FAIRNOTES_ROOT" in os.environ:
        return Path(os.environ["FAIRNOTES_ROOT"])
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / "_toc.yml").exists() and (p / "book").is_dir():
            return p
    here = Path(__file__).resolve().parent.parent
    if (here / "_toc.yml").exists():
        return here
    raise FileNotFoundError("cannot find the book's root (a folder with _toc.yml and book/); "
                            "run from the repository or set FAIRNOTES_ROOT")
