"""Execute chapter notebooks with papermill, keeping the last good run, and build the book.

A chapter is a MyST notebook ``book/<chapter>.md`` with a cell tagged ``parameters``.
Its profiles (``laptop`` is the default; ``tiny`` for tests; ``paper`` for GPUs) are parameter
sets in ``book/profiles.yaml``. A run writes ``papermill_runs/<chapter>/<run>.ipynb`` and the
small results the notebook saves under ``papermill_runs/<chapter>/<run>/``.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._paths import repo_root

__all__ = ["ChapterError", "ChapterUsageError", "chapters", "parameters", "profile_parameters", "run_chapter", "build_book",
           "results_dir", "PROFILES"]

PROFILES = ("laptop", "tiny", "paper")
RESERVED = ("profile",)


class _QuietPapermill(logging.Filter):
    """Drop papermill's parameter-inference warnings: :func:`parameters` reads the cell itself and
    :func:`run_chapter` rejects unknown names before executing."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Unable to parse line") or msg.startswith("Passed unknown parameter"))


for _name in ("papermill", "papermill.translators", "papermill.parameterize"):
    logging.getLogger(_name).addFilter(_QuietPapermill())


class ChapterError(RuntimeError):
    """A chapter could not run: bad parameters, or the notebook raised (its failed copy is kept)."""


class ChapterUsageError(ChapterError):
    """The request itself is wrong (unknown chapter, profile or parameter, a parameter of the wrong type):
    raised before any kernel starts; the command line exits with status 2."""


def chapters(root: Path | None = None) -> list[str]:
    """Chapters in book order: the ``papermill_runs/<chapter>/...`` entries of ``_toc.yml``."""
    root = root or repo_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "file" and isinstance(v, str) and v.startswith("papermill_runs/"):
                    name = v.split("/")[1]
                    if name not in found:
                        found.append(name)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return found


def _source(chapter: str, root: Path) -> Path:
    src = root / "book" / f"{chapter}.md"
    if not src.exists():
        known = sorted(p.stem for p in (root / "book").glob("*.md") if _is_chapter(p))
        raise ChapterUsageError(f"unknown chapter {chapter!r}; chapters: {', '.join(known)}")
    return src


def _is_chapter(path: Path) -> bool:
    return "parameters" in path.read_text() and path.read_text().startswith("---")


def _read_notebook(src: Path):
    import jupytext
    return jupytext.read(src)


def parameters(chapter: str, root: Path | None = None) -> dict[str, dict]:
    """The chapter's parameters: ``{name: {"default": value, "help": comment}}``, in cell order.

    Read from the cell tagged ``parameters`` with :mod:`ast` (papermill's own inference
    cannot parse values such as ``{"a": 1}`` or ``"cnn:width=8"``).
    """
    import ast
    import io
    import tokenize

    root = root or repo_root()
    nb = _read_notebook(_source(chapter, root))
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ChapterError(f"chapter {chapter!r} has no cell tagged 'parameters'")
    source = cells[0].source
    comments = {tok.start[0]: tok.string.lstrip("# ").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    out: dict[str, dict] = {}
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    default = ast.literal_eval(node.value)
                except (ValueError, SyntaxError):
                    default = ast.get_source_segment(source, node.value)
                out[t.id] = {"default": default, "help": comments.get(node.lineno, "")}
    return out


def profile_parameters(chapter: str, profile: str, root: Path | None = None) -> dict:
    """Parameter overrides that define ``profile`` for ``chapter`` (from ``book/profiles.yaml``)."""
    if profile not in PROFILES:
        raise ChapterUsageError(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
    root = root or repo_root()
    path = root / "book" / "profiles.yaml"
    table = yaml.safe_load(path.read_text()) if path.exists() else {}
    return dict((table.get(chapter) or {}).get(profile) or {})


def _check_types(chapter: str, values: dict) -> None:
    """Check names and types against the chapter's ``fairnotes.analysis`` parameters, before any kernel starts."""
    from .analysis import ParamError, check_params
    try:
        check_params(chapter, values)
    except ParamError as e:
        raise ChapterUsageError(str(e)) from None


def results_dir(chapter: str) -> Path:
    """Where a chapter notebook saves its small results (set by :func:`run_chapter`).

    Outside a ``fairnotes run`` (e.g. opened in Jupyter) it is ``papermill_runs/<chapter>/interactive``.
    """
    env = os.environ.get("FAIRNOTES_RESULTS_DIR")
    path = Path(env) if env else repo_root() / "papermill_runs" / chapter / "interactive"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class RunReport:
    chapter: str
    notebook: Path
    seconds: float
    ok: bool
    error: str = ""


def run_chapter(chapter: str, *, profile: str = "laptop", params: dict | None = None,
                param_file: str | Path | None = None, name: str | None = None,
                out_dir: str | Path | None = None, root: Path | None = None,
                progress: bool = True) -> RunReport:
    """Execute ``book/<chapter>.md`` into ``<out_dir>/<chapter>/<name>.ipynb``.

    Parameters are merged in this order (later wins): notebook defaults, the profile's set,
    ``param_file`` (YAML mapping), ``params``. An unknown name is a :class:`ChapterError` naming it.
    The new notebook replaces the old one only if it ran to the end; otherwise it is kept as
    ``<name>.failed.ipynb`` and the last good run stays in place.

    ``progress``: a status line on stderr (chapter, cell, job k of n, model, seed, epoch, time elapsed and
    left; see :mod:`fairnotes.progress`); ``False`` prints nothing. Either way the kernel's own progress bars
    are off, so none end up in the notebook.
    """
    import papermill

    from .progress import Channel

    root = Path(root or repo_root())
    src = _source(chapter, root)
    merged = profile_parameters(chapter, profile, root)
    if param_file is not None:
        loaded = yaml.safe_load(Path(param_file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ChapterUsageError(f"{param_file} must hold a YAML mapping of parameter names to values")
        merged.update(loaded)
    merged.update(params or {})
    known = parameters(chapter, root)
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise ChapterUsageError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                                f"for chapter {chapter!r}; valid: {', '.join(sorted(known))}")
    if "profile" in known:
        merged["profile"] = profile
    _check_types(chapter, merged)

    name = name or profile
    out = Path(out_dir or root / "papermill_runs") / chapter
    out.mkdir(parents=True, exist_ok=True)
    final, failed = out / f"{name}.ipynb", out / f"{name}.failed.ipynb"
    running = out / f".{name}.running.ipynb"
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    staging.chmod(0o755)
    # the kernel inherits where to save results and which book it belongs to; both are restored afterwards
    env_before = {k: os.environ.get(k) for k in ("FAIRNOTES_RESULTS_DIR", "FAIRNOTES_ROOT")}
    os.environ["FAIRNOTES_RESULTS_DIR"] = str(staging)
    os.environ["FAIRNOTES_ROOT"] = str(root)
    t0 = time.perf_counter()
    try:
        # the kernel reports to a status line on stderr instead of its own bars (none with progress=False);
        # the channel's temp file and environment are gone when this block ends, however it ends
        with Channel(chapter, show=progress) as channel:
            papermill.execute_notebook(_read_notebook(src), str(running), parameters=merged, cwd=str(root),
                                       kernel_name="python3", progress_bar=False, **channel.papermill_kwargs())
    except Exception as e:  # noqa: BLE001 - any failure keeps the failed copy and the last good run
        if running.exists():
            os.replace(running, failed)
        shutil.rmtree(staging, ignore_errors=True)
        detail = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', e)}"
        raise ChapterError(f"chapter {chapter!r} failed ({detail}); the failed notebook is {failed}, "
                           f"the last good run (if any) is untouched") from e
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    _strip_volatile(running)
    results = out / name
    if any(staging.iterdir()):
        old = out / f".{name}.old"
        if results.exists():
            os.replace(results, old)
        os.replace(staging, results)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rmdir()
    os.replace(running, final)
    failed.unlink(missing_ok=True)
    return RunReport(chapter, final, seconds, True)


def _strip_volatile(path: Path) -> None:
    """Tidy an executed notebook before it is kept: drop per-run noise that makes committed notebooks churn
    (kernel cwd in papermill metadata) or that no reader needs (progress bars and tqdm's IProgress warning on
    stderr: :func:`_drop_terminal_noise`), and show the run's parameters once, folded (:func:`_fold_parameters`)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    pm = nb.metadata.get("papermill", {})
    pm.pop("input_path", None)
    pm.pop("output_path", None)
    _fold_parameters(nb)
    _drop_terminal_noise(nb)
    nbformat.write(nb, path)


PARAMETERS_PROMPT = "Parameters of this run"


def _assignments(source: str) -> dict[str, str] | None:
    """``{name: source of its value}`` for each top-level ``name = value`` of a cell (``None``: not Python)."""
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    out: dict[str, str] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and node.value is not None:
                out[t.id] = ast.get_source_segment(source, node.value) or ""
    return out


def _trailing_comments(source: str) -> dict[str, str]:
    """``{name: its line's comment}`` for the top-level assignments of a cell that end in a comment."""
    import ast
    import io
    import tokenize
    try:
        comments = {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                    if tok.type == tokenize.COMMENT}
        tree = ast.parse(source)
    except (SyntaxError, tokenize.TokenError):
        return {}
    return {t.id: comments[node.end_lineno] for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name) and node.end_lineno in comments}


def _same_value(a: str, b: str) -> bool:
    import ast
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError, TypeError):
        return a.strip() == b.strip()


def _fold_parameters(nb) -> None:
    """Show a run's parameters once: papermill's ``injected-parameters`` cell is rewritten to assign every
    parameter its value in this run (names in the ``parameters`` cell's order; a first comment names those that
    differ from the chapter's defaults) and folded under "Parameters of this run"; the ``parameters`` cell (the
    defaults) is tagged ``remove-cell``. Re-running the notebook top to bottom gives the same values."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = lambda tag: next((c for c in code if tag in c.metadata.get("tags", [])), None)  # noqa: E731
    defaults_cell, injected_cell = tagged("parameters"), tagged("injected-parameters")
    if injected_cell is None:
        return
    injected = _assignments(injected_cell.source)
    defaults = _assignments(defaults_cell.source) if defaults_cell is not None else {}
    if injected is None or defaults is None:
        return
    names = list(defaults) + [k for k in injected if k not in defaults]
    changed = [k for k in names if k in injected and (k not in defaults or not _same_value(injected[k], defaults[k]))]
    head = (f"# {PARAMETERS_PROMPT}; changed from the chapter's defaults: {', '.join(changed)}" if changed
            else f"# {PARAMETERS_PROMPT}: the chapter's defaults")
    lines = [head]
    helps = _trailing_comments(defaults_cell.source) if defaults_cell is not None else {}
    for k in names:
        value = injected.get(k, defaults.get(k, ""))
        note = f"  {helps[k]}" if k in helps else ""
        if k in changed:
            old = defaults.get(k)
            note = ("  # not a parameter of the chapter" if old is None else
                    f"  # default: {old}" if "\n" not in old and len(old) <= 40 else "  # changed")
        lines.append(f"{k} = {value}{note}")
    injected_cell.source = "\n".join(lines) + "\n"
    tags = injected_cell.metadata.setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    injected_cell.metadata["mystnb"] = {**injected_cell.metadata.get("mystnb", {}),
                                        "code_prompt_show": PARAMETERS_PROMPT,
                                        "code_prompt_hide": f"Hide the {PARAMETERS_PROMPT[0].lower()}{PARAMETERS_PROMPT[1:]}"}
    if defaults_cell is not None:
        tags = defaults_cell.metadata.setdefault("tags", [])
        if "remove-cell" not in tags:
            tags.append("remove-cell")


# Terminal noise on stderr, matched narrowly: tqdm progress bars (redrawn with "\r"; known or unknown total),
# tqdm's "IProgress not found" warning (with the source line Python prints under it), and debugpy's
# frozen-modules notice that the kernel transport forwards. Anything else on stderr stays.
_TQDM_BAR = (r"^[^\r\n]*?\d{1,3}%\|[^|\r\n]*\| *[\d.]+[kMGTPEZY]?/[\d.?]+[kMGTPEZY]? \[[^\]\r\n]*\] *$"
             r"|^[^\r\n]*?\b\d+(?:\.\d+)?[kMGTPEZY]?[a-zA-Z/]* \[\d+:\d\d(?::\d\d)?, [^\]\r\n]*\] *$")
_TQDM_WARNING = (r"^[^\n]*TqdmWarning: IProgress not found\. Please update jupyter and ipywidgets\.[^\n]*\n"
                 r"(?:  from \.autonotebook import tqdm as notebook_tqdm\n)?")
_DEBUGPY = (r"^\d+\.\d+s - (?:Debugger warning: It seems that frozen modules are being used, which may"
            r"|make the debugger miss breakpoints\. Please pass -Xfrozen_modules=off"
            r"|to python to disable frozen modules\."
            r"|Note: Debugging will proceed\. Set PYDEVD_DISABLE_FILE_VALIDATION=1 to disable this validation\.)"
            r" *(?:\n|$)")


def _strip_noise(text: str) -> str:
    """``text`` without progress bars, tqdm's IProgress warning and debugpy's frozen-modules notice."""
    import re
    text = re.sub(_DEBUGPY, "", re.sub(_TQDM_WARNING, "", text, flags=re.M), flags=re.M)
    out = []
    for line in text.split("\n"):
        parts = line.split("\r")
        kept = [p for p in parts if p and not re.match(_TQDM_BAR, p)]
        if len(kept) < len([p for p in parts if p]) and not kept:
            out.append(None)  # a line of progress bars only: gone, with its newline
        else:
            out.append("\r".join(kept) if len(parts) > 1 else line)
    last = len(out) - 1
    return "".join(line + ("\n" if i < last else "") for i, line in enumerate(out) if line is not None)


def _drop_terminal_noise(nb) -> None:
    """Remove terminal noise from stderr outputs; an output left blank is dropped."""
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        keep = []
        for out in cell.outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _strip_noise(out.get("text", ""))
                if not text.strip():
                    continue
                out["text"] = text
            keep.append(out)
        cell.outputs = keep


def build_book(root: Path | None = None, *, out: Path | None = None, strict: bool = True) -> Path:
    """Build the HTML book from the executed notebooks with Jupyter Book 1.

    ``strict`` turns warnings into errors (``-W -n --keep-going``). The HTML lands in
    ``<out or root>/_build/html``; the offline Vega bundle is written to ``<root>/_static`` first. Chapters with
    other runs than the book's own get, under them, a generated page listing those runs and the run notebooks
    (:func:`fairnotes.runs.write_book_pages`: ``<root>/_generated/``, passed as ``--toc``); with none, the
    book builds from ``_toc.yml`` as it is.
    """
    from .runs import write_book_pages
    from .viz import write_bundle
    root = Path(root or repo_root())
    write_bundle(root / "_static")
    toc = write_book_pages(root)  # the chapters' other runs: pages and a toc listing them (None: there are none)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root)]
    if toc is not None:
        cmd += ["--toc", str(toc)]
    if out is not None:
        cmd += ["--path-output", str(out)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    sys.stdout.write(proc.stdout[-5000:])
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-20000:])
        raise ChapterError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return Path(out or root) / "_build" / "html" / "index.html"
