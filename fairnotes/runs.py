"""The committed runs of the chapters besides the book's own (``papermill_runs/<chapter>/<name>.ipynb``).

A run is what ``fairnotes run CHAPTER --name NAME`` leaves behind: the executed notebook (papermill records its
parameters, start and end time in the notebook's metadata) and its results folder. :func:`list_runs` reads them
with :mod:`nbformat` alone (nothing is executed); ``fairnotes runs`` prints them and ``fairnotes book`` lists them
in the built book under their chapter.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ._paths import repo_root

__all__ = ["BOOK_RUN", "GENERATED", "Run", "book_toc", "format_duration", "format_value", "list_runs", "runs_page",
           "write_book_pages"]

BOOK_RUN = "laptop"  # the book's own run of every chapter (``_toc.yml`` points at it)
SKIP = ("interactive",)  # a chapter opened in Jupyter saves here; not a run


@dataclass
class Run:
    chapter: str
    name: str
    path: Path
    parameters: dict[str, Any] = field(default_factory=dict)  # what papermill injected (the run's overrides)
    changed: dict[str, Any] = field(default_factory=dict)  # effective values that differ from the book's run
    profile: str = ""
    start: datetime | None = None
    end: datetime | None = None
    duration: float | None = None  # seconds
    ok: bool = True
    error: str = ""

    @property
    def date(self) -> datetime | None:
        return self.start or self.end

    @property
    def results(self) -> Path:
        """The run's results folder (may be absent when the notebook saved nothing)."""
        return self.path.with_suffix("")

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"

    def date_text(self) -> str:
        return self.date.strftime("%Y-%m-%d %H:%M UTC") if self.date else "–"

    def changed_text(self, sep: str = ", ") -> str:
        return sep.join(f"{k}={format_value(v)}" for k, v in self.changed.items()) or "(none)"


def format_value(value: Any) -> str:
    """A parameter value as Python would write it (``["a", "b"]``, ``None``, ``3``)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _norm(value: Any) -> Any:
    """Compare as JSON does (tuples are lists once papermill has stored them)."""
    return json.loads(json.dumps(value, default=str))


def book_parameters(chapter: str, root: Path | None = None) -> dict[str, Any] | None:
    """The chapter's effective parameters in the book's own run: defaults, then the ``laptop`` profile's set
    (``None`` when the chapter has no source under ``book/``)."""
    from .runner import ChapterError, parameters, profile_parameters
    try:
        values = {k: v["default"] for k, v in parameters(chapter, root).items()}
        values.update(profile_parameters(chapter, BOOK_RUN, root))
    except (ChapterError, FileNotFoundError):
        return None
    if "profile" in values:
        values["profile"] = BOOK_RUN
    return values


def _chapter_dirs(base: Path, root: Path) -> list[Path]:
    from .runner import chapters
    try:
        order = chapters(root)
    except (FileNotFoundError, OSError):
        order = []
    dirs = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")] if base.is_dir() else []
    return sorted(dirs, key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))


def _read(chapter: str, path: Path, book: dict[str, Any] | None) -> Run:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    pm = dict(nb.metadata.get("papermill") or {})
    injected = dict(pm.get("parameters") or {})
    if book is None:
        changed = dict(injected)
    else:
        effective = {**book, **injected}
        changed = {k: v for k, v in effective.items() if k not in book or _norm(v) != _norm(book[k])}
    failed = [c for c in nb.cells if (c.get("metadata", {}).get("papermill") or {}).get("status") == "failed"]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    exc = pm.get("exception")
    ok = not exc and not failed and not errors
    error = ""
    if errors:
        error = f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"
    elif not ok:
        error = "papermill recorded an exception"
    return Run(chapter=chapter, name=path.stem, path=path, parameters=injected, changed=changed,
               profile=str(injected.get("profile", "")), start=_time(pm.get("start_time")), end=_time(pm.get("end_time")),
               duration=float(pm["duration"]) if pm.get("duration") is not None else None, ok=ok, error=error)


def list_runs(root: Path | None = None, chapter: str | None = None) -> list[Run]:
    """Every run under ``<root>/papermill_runs/<chapter>/*.ipynb`` but the book's own (``laptop``), failed copies
    (``*.failed.ipynb``), runs in progress (dot-files) and ``interactive``: in book order, then by date and name."""
    root = Path(root or repo_root())
    out: list[Run] = []
    for d in _chapter_dirs(root / "papermill_runs", root):
        if chapter is not None and d.name != chapter:
            continue
        nbs = [p for p in d.glob("*.ipynb") if not p.name.startswith(".") and not p.name.endswith(".failed.ipynb")
               and p.stem != BOOK_RUN and p.stem not in SKIP]
        if not nbs:
            continue
        book = book_parameters(d.name, root)
        runs = [_read(d.name, p, book) for p in nbs]
        out += sorted(runs, key=lambda r: (r.date is None, r.date or datetime.min, r.name))
    return out


# ------------------------------------------------------------------------------------------ the built book

GENERATED = "_generated"  # at the book root (git-ignored, rewritten by every build): runs pages and their toc


def _chapter_title(chapter: str, root: Path) -> str:
    """The first heading of the book's own run of the chapter (or of its source), else the chapter's name."""
    import nbformat
    for path in (root / "papermill_runs" / chapter / f"{BOOK_RUN}.ipynb", root / "book" / f"{chapter}.md"):
        if not path.exists():
            continue
        if path.suffix == ".ipynb":
            texts = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
        else:
            texts = [path.read_text(encoding="utf-8")]
        for text in texts:
            for line in text.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return chapter


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell and a code span."""
    return text.replace("`", "'").replace("|", "\\|").replace("\n", " ")


def runs_page(chapter: str, runs: list[Run], root: Path | None = None) -> str:
    """The MyST page listing a chapter's other runs: name (linked to its notebook), date, duration, status,
    profile and the parameters changed from the book's run."""
    root = Path(root or repo_root())
    title = _chapter_title(chapter, root)
    rows = ["| run | date | duration | status | profile | parameters changed from the book's run |",
            "|---|---|---|---|---|---|"]
    for r in runs:
        changed = ", ".join(f"`{_cell(f'{k} = {format_value(v)}')}`" for k, v in r.changed.items()) or "(none)"
        rows.append(f"| {{doc}}`{_cell(r.name)} </papermill_runs/{chapter}/{r.name}>` | {r.date_text()} | "
                    f"{format_duration(r.duration)} | {r.status} | {_cell(r.profile) or '–'} | {changed} |")
    return "\n".join([
        "% Generated by `fairnotes book` (fairnotes.runs.write_book_pages) from papermill_runs/: do not edit.",
        "",
        f"# Other runs: {title}",
        "",
        f"The book shows {{doc}}`its own run of this chapter </papermill_runs/{chapter}/{BOOK_RUN}>` (profile "
        f"`{BOOK_RUN}`). These runs of the same notebook, with other parameters, are kept in "
        f"`papermill_runs/{chapter}/`; each was made with `fairnotes run {chapter} --name NAME -p PARAMETER VALUE …`. "
        "Dates are papermill's start times; the parameters are those papermill injected, compared with the "
        "book's run.",
        "",
        *rows,
        "",
    ])


def book_toc(root: Path, runs: list[Run]) -> dict:
    """``_toc.yml`` with, under each chapter that has other runs, a section for its runs page and, under that,
    one per run notebook."""
    import yaml
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    by_chapter: dict[str, list[Run]] = {}
    for r in runs:
        by_chapter.setdefault(r.chapter, []).append(r)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            f = node.get("file")
            for key, value in list(node.items()):
                if key != "file":
                    walk(value)
            if isinstance(f, str) and f.startswith("papermill_runs/") and f.split("/")[-1] == BOOK_RUN:
                chapter = f.split("/")[1]
                if chapter in by_chapter:
                    node.setdefault("sections", []).append({
                        "file": f"{GENERATED}/runs/{chapter}", "title": "Other runs",
                        "sections": [{"file": f"papermill_runs/{chapter}/{r.name}", "title": f"Run {r.name} ({chapter})"}
                                     for r in by_chapter[chapter]]})
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return toc


def write_book_pages(root: Path | None = None) -> Path | None:
    """Write ``<root>/_generated/``: a runs page per chapter of the book that has other runs, and a copy of
    ``_toc.yml`` listing them (returned, for ``jupyter-book build --toc``). With no other runs, remove the folder
    and return ``None``: the book builds from ``_toc.yml`` as is."""
    import shutil

    import yaml

    from .runner import chapters
    root = Path(root or repo_root())
    gen = root / GENERATED
    shutil.rmtree(gen, ignore_errors=True)
    in_book = set(chapters(root))
    runs = [r for r in list_runs(root) if r.chapter in in_book]
    if not runs:
        return None
    (gen / "runs").mkdir(parents=True)
    for chapter in dict.fromkeys(r.chapter for r in runs):
        page = runs_page(chapter, [r for r in runs if r.chapter == chapter], root)
        (gen / "runs" / f"{chapter}.md").write_text(page, encoding="utf-8")
    path = gen / "_toc.yml"
    path.write_text("# Generated by `fairnotes book` from _toc.yml and papermill_runs/: do not edit.\n"
                    + yaml.safe_dump(book_toc(root, runs), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
