"""The terminal status line of `fairnotes run`: kernel events → a file → one line on stderr."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from fairnotes import progress
from fairnotes.progress import ENV, Channel, StatusLine, kernel_bars, read_events, report
from toy_book import myst_chapter


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def channel_file(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    path.touch()
    monkeypatch.setenv(ENV, str(path))
    return path


# --- the channel --------------------------------------------------------------------------------------------

def test_report_is_a_noop_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report("x: runs", k=1, n=2)
    assert list(tmp_path.iterdir()) == []


def test_events_round_trip(channel_file):
    report("fashion-mnist: runs", k=3, n=45, model="cnn:width=8", seed=1)
    report(epoch=2, epochs=4, model="cnn", seed=1)
    report("fashion-mnist: runs", k=3, n=45, done=True, cached=False)
    events, offset = read_events(channel_file)
    assert [{k: v for k, v in e.items() if k != "t"} for e in events] == [
        {"stage": "fashion-mnist: runs", "k": 3, "n": 45, "model": "cnn:width=8", "seed": 1},
        {"model": "cnn", "seed": 1, "epoch": 2, "epochs": 4},
        {"stage": "fashion-mnist: runs", "k": 3, "n": 45, "done": True, "cached": False}]
    assert all(isinstance(e["t"], float) for e in events)
    assert offset == channel_file.stat().st_size
    # a line still being written is left for the next read
    with open(channel_file, "a") as f:
        f.write('{"stage": "half')
    assert read_events(channel_file, offset) == ([], offset)
    with open(channel_file, "a") as f:
        f.write('way", "k": 1}\nnot json\n')
    events, end = read_events(channel_file, offset)
    assert events == [{"stage": "halfway", "k": 1}] and end == channel_file.stat().st_size


def test_kernel_bars_are_off_under_a_channel(monkeypatch, channel_file):
    from fairnotes import _torch
    assert kernel_bars(None) is False and kernel_bars(True) is False
    bar = _torch.progress(range(3), enable=None, desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.delenv(ENV)
    assert kernel_bars(None) is None and kernel_bars(True) is True and kernel_bars(False) is False
    assert not _torch.progress(range(3), enable=True, desc="x").disable


def test_progress_is_not_in_the_train_key():
    from fairnotes.jobs.train import TrainConfig
    keys = {TrainConfig(progress=p).key() for p in (None, True, False)}
    assert keys == {"dc14a2d1d1c4"}  # the default TrainConfig's key before the status line existed


# --- the status line ----------------------------------------------------------------------------------------

def _line(clock, **kw):
    out = io.StringIO()
    return StatusLine("prevalence", out, clock=clock, **kw), out


def test_status_text_and_time_left():
    clock = Clock(1000.0)
    line, _ = _line(clock, tty=False)
    line.cell(3, 21)
    assert line.text() == "[prevalence] cell 3/21 · 0:00 elapsed"
    stage = "fashion-mnist: runs"
    line.event({"t": 1000.0, "stage": stage, "k": 1, "n": 4, "model": "cnn:width=8", "seed": 0})
    clock.t = 1005.0
    line.event({"t": 1005.0, "model": "cnn", "seed": 0, "epoch": 2, "epochs": 4})  # train's epoch event
    assert line.text() == ("[prevalence] fashion-mnist: runs 1/4 · cnn:width=8 seed 0 · epoch 2/4 · 0:05 elapsed"
                           " · estimating…")
    line.event({"t": 1060.0, "stage": stage, "k": 1, "n": 4, "done": True, "cached": False})  # 60 s trained
    line.event({"t": 1060.0, "stage": stage, "k": 2, "n": 4, "model": "mlp", "seed": 0})
    line.event({"t": 1060.5, "stage": stage, "k": 2, "n": 4, "done": True, "cached": True})  # not counted
    clock.t = 1060.5
    assert line.text() == "[prevalence] fashion-mnist: runs 2/4 · mlp seed 0 (cached) · 1:00 elapsed · ~2:00 left"
    line.event({"t": 1061.0, "stage": stage, "k": 3, "n": 4, "model": "mlp", "seed": 1})
    clock.t = 1071.0  # 2 jobs left × 60 s, less the 10 s job 3 has had
    assert line.text() == "[prevalence] fashion-mnist: runs 3/4 · mlp seed 1 · 1:11 elapsed · ~1:50 left"
    clock.t = 1200.0  # a job running past the mean counts one mean at most
    assert line.text().endswith("3:20 elapsed · ~1:00 left")
    line.event({"t": 1200.0, "stage": stage, "k": 3, "n": 4, "done": True})
    line.event({"t": 1200.0, "stage": stage, "k": 4, "n": 4, "model": "mlp", "seed": 2})
    line.event({"t": 1201.0, "stage": stage, "k": 4, "n": 4, "done": True, "cached": True})
    clock.t = 1201.0
    assert line.text() == "[prevalence] cell 3/21 · 3:21 elapsed"  # the stage's last job ended


def test_a_job_start_ends_the_previous_one_and_a_cell_ends_the_stage():
    clock = Clock(0.0)
    line, _ = _line(clock, tty=False)
    line.cell(1, 2)
    line.event({"t": 0.0, "stage": "MuSE: seeds", "k": 1, "n": 3, "seed": 0})
    line.event({"t": 1.0, "model": "LiT projections", "seed": 0, "epoch": 1, "epochs": 30})  # names the job
    line.event({"t": 30.0, "stage": "MuSE: seeds", "k": 2, "n": 3, "seed": 1})
    clock.t = 30.0
    assert line.text() == "[prevalence] MuSE: seeds 2/3 · 0:30 elapsed · ~1:00 left"
    line.event({"t": 31.0, "model": "LiT projections", "seed": 1, "epoch": 1, "epochs": 30})
    assert "LiT projections seed 1 · epoch 1/30" in line.text()
    line.cell(2, 2)
    assert line.text() == "[prevalence] cell 2/2 · 0:30 elapsed"
    # no stage: a lone training run still shows its model and epoch
    line.event({"t": 31.0, "model": "resnet20", "seed": 0, "epoch": 3, "epochs": 10})
    assert line.text() == "[prevalence] cell 2/2 · resnet20 seed 0 · epoch 3/10 · 0:30 elapsed"


def test_plain_output_is_throttled_but_shows_every_stage():
    clock = Clock(0.0)
    line, out = _line(clock, tty=False, interval=15.0)
    line.cell(1, 3)
    assert out.getvalue() == "[prevalence] cell 1/3 · 0:00 elapsed\n"
    for k in range(1, 41):  # a burst of jobs in one stage: one line
        clock.t += 0.1
        line.event({"t": clock.t, "stage": "digits: runs", "k": k, "n": 40, "model": "mlp", "seed": k})
        line.event({"t": clock.t, "model": "mlp", "seed": k, "epoch": 1, "epochs": 2})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("[prevalence] digits: runs 1/40 · mlp seed 1")
    clock.t = 14.0
    line.refresh()
    assert len(out.getvalue().splitlines()) == 2
    clock.t = 19.5  # 15 s after the last line
    line.refresh()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("[prevalence] digits: runs 40/40 · mlp seed 40 · epoch 1/2 · 0:19")
    line.event({"t": 19.6, "stage": "digits: remedies", "k": 1, "n": 2, "model": "focal", "seed": 0})
    assert out.getvalue().splitlines()[3].startswith("[prevalence] digits: remedies 1/2 · focal seed 0")
    assert "\r" not in out.getvalue()
    line.close()
    assert len(out.getvalue().splitlines()) == 4


def test_terminal_output_redraws_one_line():
    clock = Clock(0.0)
    line, out = _line(clock, tty=True, width=200)
    line.cell(1, 3)
    clock.t = 1.0
    line.event({"t": 1.0, "stage": "digits: runs", "k": 1, "n": 2, "model": "mlp", "seed": 0})
    clock.t = 2.0
    line.cell(2, 3)  # shorter than the line before: padded over it
    text = out.getvalue()
    assert "\n" not in text
    assert text.startswith("\r[prevalence] cell 1/3 · 0:00 elapsed\r[prevalence] digits: runs 1/2")
    last = text.rsplit("\r", 1)[1]
    assert last.startswith("[prevalence] cell 2/3 · 0:02 elapsed ") and not last.strip().endswith("left")
    line.close()
    assert out.getvalue().endswith("\r" + " " * len(last.rstrip()) + "\r")  # the line wiped


def test_channel_cleans_up_even_when_interrupted(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    err = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with Channel("toy", stream=err, poll=0.01) as ch:
            path = ch.path
            assert path.exists() and os.environ[ENV] == str(path)
            assert os.environ["PYTHONWARNINGS"] == "default,ignore:IProgress not found"
            report("toy: runs", k=1, n=1, model="cnn", seed=0)
            raise KeyboardInterrupt
    assert not path.exists() and ENV not in os.environ and os.environ["PYTHONWARNINGS"] == "default"
    assert "[toy] toy: runs 1/1 · cnn seed 0" in err.getvalue()  # the last events are drawn before closing


# --- the emitters -------------------------------------------------------------------------------------------

def test_sweep_reports_jobs_and_epochs(channel_file, tmp_path, capsys, one_torch_thread):
    from fairnotes.jobs import sweep, train
    base = train.TrainConfig(dataset="digits", epochs=2, batch_size=32, lr=0.05, train_per_class=6, augment="none",
                             device="cpu", profile="tiny")
    kw = dict(models=["mlp:width=8", "cnn:width=4"], seeds=[3], store=tmp_path / "store")
    sweep.run(base, **kw)  # progress=True, the chapters' default: the bar is off under a channel
    assert capsys.readouterr().err == ""
    events, offset = read_events(channel_file)
    plain = [{k: v for k, v in e.items() if k != "t"} for e in events]
    stage = "digits: runs"
    assert plain == [
        {"stage": stage, "k": 1, "n": 2, "model": "mlp:width=8", "seed": 3},
        {"model": "mlp", "seed": 3, "epoch": 1, "epochs": 2},
        {"model": "mlp", "seed": 3, "epoch": 2, "epochs": 2},
        {"stage": stage, "k": 1, "n": 2, "done": True, "cached": False},
        {"stage": stage, "k": 2, "n": 2, "model": "cnn:width=4", "seed": 3},
        {"model": "cnn", "seed": 3, "epoch": 1, "epochs": 2},
        {"model": "cnn", "seed": 3, "epoch": 2, "epochs": 2},
        {"stage": stage, "k": 2, "n": 2, "done": True, "cached": False}]
    sweep.run(base, **kw)  # from the cache: k advances, no epochs
    again = [{k: v for k, v in e.items() if k != "t"} for e in read_events(channel_file, offset)[0]]
    assert [e.get("done") for e in again] == [None, True, None, True]
    assert all(e["cached"] for e in again if e.get("done"))
    line = StatusLine("prevalence", io.StringIO(), tty=False)
    for e in events:
        line.event(e)
        if e.get("epoch") == 2 and e["model"] == "cnn":
            assert "digits: runs 2/2 · cnn:width=4 seed 3 · epoch 2/2" in line.text()
            assert "left" in line.text()  # the first job's duration gives the estimate


# --- end to end ---------------------------------------------------------------------------------------------

CHAPTER = myst_chapter('Toy', '''\

    ```{code-cell} ipython3
    :tags: [parameters]
    profile = "laptop"
    ```

    ```{code-cell} ipython3
    import contextlib
    import io
    import os
    import time

    from fairnotes import _torch
    from fairnotes.progress import report

    noise = io.StringIO()  # what the kernel itself would print (the runner may tidy the notebook afterwards)
    with contextlib.redirect_stderr(noise):
        from tqdm.auto import tqdm  # warns "IProgress not found" in a kernel without ipywidgets, unless told not to
        for _ in _torch.progress(range(3), enable=None, desc="kernel bar"):
            time.sleep(0.01)
    print("kernel stderr", repr(noise.getvalue()))
    report("toy: runs", k=1, n=3, model="cnn", seed=0)
    report(model="cnn", seed=0, epoch=1, epochs=2)
    time.sleep(0.3)
    report("toy: runs", k=1, n=3, done=True, cached=False)
    report("toy: runs", k=2, n=3, model="mlp", seed=0)
    report("toy: runs", k=2, n=3, done=True, cached=True)
    report("toy: runs", k=3, n=3, model="vit", seed=0)
    report("toy: runs", k=3, n=3, done=True, cached=False)
    print("events", os.environ["FAIRNOTES_PROGRESS_FILE"])
    ```
    ''')


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "toy.md").write_text(CHAPTER)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: papermill_runs/toy/laptop\n")
    return tmp_path


def _outputs(nb_path: Path) -> list[dict]:
    nb = json.loads(nb_path.read_text())
    return [o for c in nb["cells"] for o in c.get("outputs", [])]


def test_run_chapter_shows_progress_on_stderr_only(book, capfd, monkeypatch):
    from fairnotes.runner import run_chapter
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)  # capfd is no terminal: every update as a plain line
    rep = run_chapter("toy", root=book, progress=True)
    err = capfd.readouterr().err
    print(err)  # the terminal output, for the record (pytest -s)
    lines = err.splitlines()
    assert lines[0].startswith("[toy] cell 1/3 · 0:0")
    assert "[toy] toy: runs 1/3 · cnn seed 0 · 0:0" in err
    assert "[toy] toy: runs 1/3 · cnn seed 0 · epoch 1/2 · 0:0" in err
    assert "[toy] toy: runs 2/3 · mlp seed 0 (cached) · 0:0" in err
    assert "[toy] toy: runs 3/3 · vit seed 0 · 0:0" in err and "~0:00 left" in err  # 0.3 s a job
    assert lines[-1].startswith("[toy] cell 3/3 · 0:0")  # the stage ended with its last job
    assert "Kernel is running over TCP" not in err  # the kernel's own log is quiet
    outputs = _outputs(rep.notebook)
    assert outputs and {o.get("name") for o in outputs} == {"stdout"}  # no stderr at all
    text = "".join("".join(o["text"]) for o in outputs)
    assert "kernel stderr ''" in text  # no bar, no IProgress warning: not printed, rather than tidied away
    events_file = Path(text.split("events ")[1].split()[0])
    assert events_file.name.startswith("fairnotes-progress-") and not events_file.exists()
    assert ENV not in os.environ


def test_run_chapter_without_progress_is_quiet(book, capfd):
    from fairnotes.runner import run_chapter
    rep = run_chapter("toy", root=book, progress=False)
    out, err = capfd.readouterr()
    # no status line, no papermill bar, no kernel log (a late line from another test's kernel is not ours)
    ours = [ln for ln in err.splitlines() if ln.startswith(("[toy]", "Executing", "[IPKernelApp]"))]
    assert out == "" and not ours, err
    assert "kernel stderr ''" in "".join("".join(o["text"]) for o in _outputs(rep.notebook))  # still no bars


def test_book_command_shows_chapters_status_and_the_time_table(book, monkeypatch):
    from click.testing import CliRunner

    from fairnotes.cli import main
    monkeypatch.setenv("FAIRNOTES_ROOT", str(book))
    res = CliRunner().invoke(main, ["book", "--profile", "tiny", "--no-build"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "== chapter 1/1: toy (tiny)" in out
    assert "[toy] toy: runs 1/3 · cnn seed 0 · 0:0" in out  # the stage's first line, not a terminal: plain
    assert out.index("== chapter 1/1") < out.index("[toy] toy: runs") < out.index("toy: ok in")
    assert "chapter          status   seconds" in out and "\ntoy              ok" in out
    assert (book / "papermill_runs" / "toy" / "tiny.ipynb").exists()
