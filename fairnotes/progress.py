"""What a chapter is doing, shown on the terminal while papermill runs it.

The notebook kernel is another process, and whatever it prints lands in the notebook (and so in the committed
``.ipynb``), not on the terminal. So progress travels on a tiny side channel instead:

- :func:`run_chapter <fairnotes.runner.run_chapter>` opens a :class:`Channel`: a temporary file named by
  ``FAIRNOTES_PROGRESS_FILE`` in the environment the kernel inherits;
- inside the kernel, package code calls :func:`report` (``report(stage="fashion-mnist: runs", k=3, n=45,
  model="cnn", seed=1)``, ``report(epoch=2, epochs=4)``, ...), which appends one JSON line to that file, or
  does nothing when the variable is unset (a notebook opened in Jupyter, a script, the tests);
- a thread of the parent process tails the file and draws one status line on stderr with :class:`StatusLine`::

      [prevalence] fashion-mnist: runs 12/45 · cnn seed 1 · epoch 3/4 · 4:12 elapsed · ~9:40 left

While a channel is open, the kernel's own progress bars are off (:func:`kernel_bars`): their output and
tqdm's "IProgress not found" warning are what used to clutter the committed notebooks.

The status line is drawn by hand rather than with tqdm: it is one line of text built from a few fields
that arrive from another process (stage, job k of n, model, seed, epoch, cell), with an estimate of the time
left from the mean duration of the stage's jobs *trained* so far (jobs served from the cache are not
counted), and it has to print plain, throttled lines when stderr is not a terminal (CI, ``make book | tee``);
tqdm's bar, rate and ETA model (one counter, one rate) fits none of that.

Events (one JSON object a line; every field optional): ``t`` (``time.time()``, added by :func:`report`),
``stage`` with ``k``/``n`` (job k of n of a stage starts; with ``done=True`` it ended, ``cached=True`` when
the cache served it), ``model``, ``seed``, ``epoch``/``epochs`` (the running job's epoch), ``what`` (free
text, e.g. a feature extraction). A stage ends with the ``done`` event of its job n, or when a cell ends.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

__all__ = ["ENV", "report", "active", "kernel_bars", "read_events", "StatusLine", "Channel", "fmt_seconds"]

ENV = "FAIRNOTES_PROGRESS_FILE"
_FIELDS = ("stage", "k", "n", "model", "seed", "epoch", "epochs", "cached", "done", "what")
_JOB = ("model", "seed", "epoch", "epochs", "cached", "what")  # forgotten when a new job starts

# what the kernel inherits while a channel is open, besides ENV: no Hugging Face bars ("Loading weights"),
# and no tqdm "IProgress not found" warning (ipywidgets is not installed; tqdm.auto warns on import)
_KERNEL_WARNINGS = "ignore:IProgress not found"
# the kernel's own log (on the terminal) at ERROR: drops ipykernel's "running over TCP without encryption"
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
# seconds between plain status lines when stderr is not a terminal (a new stage prints at once)
PLAIN_EVERY_S = 15.0


def active() -> bool:
    """True inside a kernel started by ``fairnotes run`` / ``fairnotes book`` (a channel is open)."""
    return bool(os.environ.get(ENV))


def kernel_bars(enable: bool | None) -> bool | None:
    """What a tqdm bar should do: off under ``fairnotes run`` (its progress goes to the terminal), else ``enable``.

    Both ``None`` (the configs' default) and ``True`` (the job loops' default) resolve off there: the
    notebook is the committed record, and the terminal already shows the progress.
    """
    return False if active() else enable


def report(stage: str | None = None, *, k: int | None = None, n: int | None = None, model: str | None = None,
           seed: int | None = None, epoch: int | None = None, epochs: int | None = None,
           cached: bool | None = None, done: bool | None = None, what: str | None = None) -> None:
    """Tell the terminal what runs now (one JSON line to ``$FAIRNOTES_PROGRESS_FILE``); a no-op without it.

    ``stage`` + ``k``/``n``: job k of n (1-based) starts; add ``done=True`` (and ``cached``) when it ends.
    ``epoch``/``epochs``: the running job starts that epoch. Never raises.
    """
    path = os.environ.get(ENV)
    if not path:
        return
    values = {"stage": stage, "k": k, "n": n, "model": model, "seed": seed, "epoch": epoch, "epochs": epochs,
              "cached": cached, "done": done, "what": what}
    event = {"t": time.time(), **{key: v for key, v in values.items() if v is not None}}
    try:
        line = json.dumps(event, default=str) + "\n"
        with open(path, "a", encoding="utf-8") as f:  # one write of one line: appends do not interleave
            f.write(line)
    except (OSError, TypeError, ValueError):
        pass


def read_events(path: str | Path, offset: int = 0) -> tuple[list[dict], int]:
    """The complete JSON lines of ``path`` after byte ``offset``, and the offset after the last of them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    events = []
    for raw in data[:end].splitlines():
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events, offset + end


def fmt_seconds(s: float) -> str:
    """``252`` → ``4:12``; ``4000`` → ``1:06:40``."""
    s = max(0, int(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class StatusLine:
    """One status line built from :func:`report` events and the parent's cell counter, drawn on ``stream``.

    On a terminal the line is redrawn in place (carriage return); otherwise a plain line is printed whenever
    the stage (or, between stages, the cell) changes, and at most every ``interval`` seconds otherwise.
    ``clock`` is ``time.time`` (the events' ``t`` comes from the kernel's clock on the same machine).
    """

    def __init__(self, chapter: str, stream: TextIO | None = None, *, tty: bool | None = None,
                 clock: Callable[[], float] = time.time, interval: float = PLAIN_EVERY_S,
                 width: int | None = None) -> None:
        self.chapter = chapter
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty, self.clock, self.interval, self.width = tty, clock, interval, width
        try:  # "·" and "…" where the stream can write them (a C-locale CI log may not)
            "·…".encode(getattr(self.stream, "encoding", None) or "utf-8")
            self._sep, self._dots = " · ", "…"
        except (LookupError, UnicodeEncodeError):
            self._sep, self._dots = " | ", "..."
        self.start = clock()
        self.cells: tuple[int, int] | None = None
        self.state: dict[str, Any] = {}
        self._durations: list[float] = []  # seconds of the current stage's trained (not cached) jobs
        self._done = 0  # jobs of the current stage that ended
        self._job_start: float | None = None
        self._last_text = ""
        self._last_phase: Any = None
        self._last_write = float("-inf")
        self._drawn = 0  # characters of the line now on the terminal
        self._lock = threading.RLock()

    # --- state -------------------------------------------------------------------------------------------
    def cell(self, k: int, n: int) -> None:
        """Code cell k of n starts: whatever the previous cell was running has ended."""
        with self._lock:
            self.cells = (k, n)
            self._end_stage()
            self.refresh()

    def event(self, ev: dict) -> None:
        with self._lock:
            t = float(ev.get("t", self.clock()))
            st = self.state
            stage = ev.get("stage")
            if stage is not None and ev.get("k") is not None:
                k = int(ev["k"])
                new_stage = stage != st.get("stage") or k < int(st.get("k") or 0)
                if new_stage:
                    self._end_stage()
                    st["stage"] = stage
                if ev.get("done"):
                    if self._job_start is not None and not ev.get("cached"):
                        self._durations.append(max(0.0, t - self._job_start))
                    self._done, self._job_start = max(self._done, k), None
                else:
                    if not new_stage and self._job_start is not None and k > int(st.get("k") or 0):
                        # job k started without a "done" for the previous one: it ended now
                        self._durations.append(max(0.0, t - self._job_start))
                        self._done = max(self._done, k - 1)
                    if k != st.get("k") or self._job_start is None:
                        for key in _JOB:
                            st.pop(key, None)
                    self._job_start = t
                st["k"] = k
                if ev.get("n") is not None:
                    st["n"] = int(ev["n"])
            for key in _FIELDS:
                if key in ("stage", "k", "n", "done") or key not in ev:
                    continue
                if key in ("model", "seed") and stage is None and st.get("stage") and st.get("model") is not None:
                    continue  # an epoch event of the job keeps the job's own name (the model spec)
                st[key] = ev[key]
            if ev.get("done") and st.get("n") is not None and int(st.get("k") or 0) >= int(st["n"]):
                self._end_stage()  # the stage's last job ended
            self.refresh()

    def _end_stage(self) -> None:
        self.state.clear()
        self._durations, self._done, self._job_start = [], 0, None

    # --- text --------------------------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds left in the current stage: the mean trained job's duration × the jobs not yet ended, less
        the time the running job has had (at most one mean); ``None`` before a trained job ended."""
        n = self.state.get("n")
        if n is None or not self._durations:
            return None
        mean = sum(self._durations) / len(self._durations)
        left = mean * max(0, int(n) - self._done)
        if self._job_start is not None:
            left -= min(mean, max(0.0, self.clock() - self._job_start))
        return max(0.0, left)

    def text(self) -> str:
        with self._lock:
            st = self.state
            parts: list[str] = []
            if st.get("stage"):
                head = str(st["stage"])
                if st.get("k") is not None and st.get("n") is not None:
                    head += f" {st['k']}/{st['n']}"
                parts.append(head)
            elif self.cells is not None:
                parts.append(f"cell {self.cells[0]}/{self.cells[1]}")
            if st.get("what"):
                parts.append(str(st["what"]))
            if st.get("model") is not None:
                job = str(st["model"]) + (f" seed {st['seed']}" if st.get("seed") is not None else "")
                parts.append(job + (" (cached)" if st.get("cached") else ""))
            if st.get("epoch") is not None:
                parts.append(f"epoch {st['epoch']}" + (f"/{st['epochs']}" if st.get("epochs") else ""))
            parts.append(f"{fmt_seconds(self.clock() - self.start)} elapsed")
            if st.get("stage") and st.get("n") is not None:
                eta = self.eta()
                parts.append(f"estimating{self._dots}" if eta is None else f"~{fmt_seconds(eta)} left")
            return f"[{self.chapter}] " + self._sep.join(parts)

    def _phase(self) -> Any:
        return ("stage", self.state["stage"]) if self.state.get("stage") else ("cell", self.cells)

    # --- drawing -----------------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Draw the line if it is due (see the class doc); ``force`` draws it anyway."""
        with self._lock:
            if self.cells is None and not self.state:
                return  # nothing started yet
            text, now, phase = self.text(), self.clock(), self._phase()
            if self.tty:
                if force or (text != self._last_text and now - self._last_write >= 0.1) or phase != self._last_phase:
                    self._draw(text, now, phase)
            elif force or phase != self._last_phase or now - self._last_write >= self.interval:
                self._draw(text, now, phase)

    def _draw(self, text: str, now: float, phase: Any) -> None:
        try:
            if self.tty:
                width = self.width or shutil.get_terminal_size((100, 24)).columns
                text = text[:max(10, width - 1)]
                self.stream.write("\r" + text + " " * max(0, self._drawn - len(text)))
                self._drawn = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass
        self._last_text, self._last_write, self._last_phase = text, now, phase

    def close(self) -> None:
        """Clear the terminal line (so what follows starts clean); plain output needs nothing."""
        with self._lock:
            if self.tty and self._drawn:
                try:
                    self.stream.write("\r" + " " * self._drawn + "\r")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
                self._drawn = 0


class Channel:
    """The parent's side of the channel, around one papermill run (a context manager).

    On entry: a temporary events file, ``$FAIRNOTES_PROGRESS_FILE`` and the kernel's quiet settings in
    ``os.environ`` (the kernel inherits them), and with ``show`` a thread that tails the file into a
    :class:`StatusLine` on ``stream``. On exit, whatever happened: the thread stopped, the line cleared,
    the environment restored and the file removed. ``show=False`` draws nothing at all.
    Pass :meth:`papermill_kwargs` to ``papermill.execute_notebook`` for the cell counter.
    """

    def __init__(self, chapter: str, *, show: bool = True, stream: TextIO | None = None, poll: float = 0.25,
                 interval: float | None = None) -> None:
        self.chapter, self.show, self.poll = chapter, show, poll
        every = PLAIN_EVERY_S if interval is None else interval
        self.line = StatusLine(chapter, stream, interval=every) if show else None
        self.path: Path | None = None
        self._offset = 0
        self._cells = 0
        self._cell = 0
        self._env: dict[str, str | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Channel:
        fd, name = tempfile.mkstemp(prefix="fairnotes-progress-", suffix=".jsonl")
        os.close(fd)
        self.path = Path(name)
        warnings = os.environ.get("PYTHONWARNINGS")
        self._set_env({ENV: name,
                       "HF_HUB_DISABLE_PROGRESS_BARS": os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                       "PYTHONWARNINGS": f"{warnings},{_KERNEL_WARNINGS}" if warnings else _KERNEL_WARNINGS})
        if self.line is not None:
            self._thread = threading.Thread(target=self._tail, name="fairnotes-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self.line is not None:
                self.line.close()
        finally:
            for key, value in self._env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if self.path is not None:
                self.path.unlink(missing_ok=True)

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._env[key] = os.environ.get(key)
            os.environ[key] = value

    def papermill_kwargs(self) -> dict[str, Any]:
        """nbclient hooks that count the code cells, and the kernel's quiet log level."""
        return {"on_notebook_start": self._notebook_start, "on_cell_start": self._cell_start,
                "extra_arguments": list(KERNEL_ARGUMENTS)}

    def drain(self) -> None:
        """Feed the events written so far to the status line (thread-safe)."""
        if self.line is None or self.path is None:
            return
        with self._lock:
            events, self._offset = read_events(self.path, self._offset)
            for ev in events:
                try:
                    self.line.event(ev)
                except (TypeError, ValueError):  # a malformed event is skipped, not the ones after it
                    continue

    def _tail(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.drain()
                self.line.refresh()
            except Exception:  # noqa: BLE001 - the status line must never break a run
                pass
        try:
            self.drain()
        except Exception:  # noqa: BLE001
            pass

    def _notebook_start(self, notebook: Any = None, **_: Any) -> None:
        try:
            self._cells = sum(1 for c in notebook.cells if c.cell_type == "code" and c.source.strip())
        except Exception:  # noqa: BLE001
            self._cells = 0

    def _cell_start(self, cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        try:
            if cell is None or cell.cell_type != "code" or not cell.source.strip():
                return
            self._cell += 1
            if self.line is not None:
                self.drain()  # the previous cell's last events belong to the previous cell
                self.line.cell(self._cell, max(self._cells, self._cell))
        except Exception:  # noqa: BLE001
            pass
