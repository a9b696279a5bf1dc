"""The chapters' other runs: listed from papermill's metadata, on the terminal and in the built book; and the
tidying of executed notebooks (parameters shown once, folded; terminal noise dropped)."""
from __future__ import annotations


import nbformat
import pytest
import yaml
from click.testing import CliRunner

from fairnotes.cli import main
from fairnotes.runner import _drop_terminal_noise, _fold_parameters, _strip_noise, _strip_volatile
from fairnotes.runs import book_toc, list_runs, write_book_pages
from toy_book import myst_chapter

CHAPTER = myst_chapter('Toy chapter', '''\

    ```{code-cell} ipython3
    :tags: [parameters]
    profile = "laptop"  # laptop | tiny | paper
    models = ["mlp", "cnn"]
    value = 1  # how much
    ```
    ''')

DEFAULTS = 'profile = "laptop"  # laptop | tiny | paper\nmodels = ["mlp", "cnn"]\nvalue = 1  # how much\n'


def _notebook(params: dict, *, start="2026-11-30T03:46:57.875698+00:00", duration=27.9, exception=None):
    """An executed notebook as papermill leaves it: heading, parameters cell, injected cell, one output."""
    injected = "# Parameters\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in params.items())
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy chapter\n\nSome words."),
                nbformat.v4.new_code_cell(DEFAULTS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(value)", outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="1\n")])]
    nb.metadata["papermill"] = {"parameters": params, "start_time": start, "end_time": "2026-11-30T03:47:25+00:00",
                                "duration": duration, "exception": exception, "input_path": "/x/in.md",
                                "output_path": "/x/out.ipynb", "version": "2.7.0"}
    return nb


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "toy.md").write_text(CHAPTER)
    (tmp_path / "book" / "profiles.yaml").write_text("toy:\n  laptop: {value: 2}\n  tiny: {value: 0}\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: Toys\n    chapters:\n"
                                       "      - file: papermill_runs/toy/laptop\n      - file: book/references\n")
    runs = tmp_path / "papermill_runs" / "toy"
    runs.mkdir(parents=True)
    for name, params, start in [
            ("laptop", {"profile": "laptop", "value": 2}, "2026-11-30T01:00:00+00:00"),
            ("wide", {"profile": "laptop", "value": 2, "models": ["mlp", "cnn", "vit:depth=6"]},
             "2026-11-30T05:00:00+00:00"),
            ("tiny", {"profile": "tiny", "value": 0}, "2026-11-29T09:30:00+00:00"),
            ("broken.failed", {"profile": "laptop", "value": 9}, "2026-11-30T06:00:00+00:00"),
            (".next.running", {"profile": "laptop"}, "2026-11-30T07:00:00+00:00"),
            ("interactive", {}, "2026-11-30T08:00:00+00:00")]:
        nbformat.write(_notebook(params, start=start), runs / f"{name}.ipynb")
    (runs / "interactive").mkdir()
    return tmp_path


def test_list_runs_reads_papermill_metadata(book):
    runs = list_runs(book)
    assert [(r.chapter, r.name) for r in runs] == [("toy", "tiny"), ("toy", "wide")]  # by date; the rest skipped
    tiny, wide = runs
    assert tiny.parameters == {"profile": "tiny", "value": 0} and tiny.profile == "tiny"
    assert tiny.changed == {"profile": "tiny", "value": 0}  # against the book's run: defaults + laptop profile
    assert wide.changed == {"models": ["mlp", "cnn", "vit:depth=6"]}
    assert wide.date_text() == "2026-11-30 05:00 UTC" and wide.duration == pytest.approx(27.9)
    assert wide.ok and wide.status == "ok" and wide.results == book / "papermill_runs" / "toy" / "wide"
    assert list_runs(book, chapter="other") == []


def test_a_run_papermill_saw_fail_is_marked(book):
    nbformat.write(_notebook({"value": 3}, exception=True), book / "papermill_runs" / "toy" / "odd.ipynb")
    odd = [r for r in list_runs(book) if r.name == "odd"][0]
    assert not odd.ok and odd.status == "failed"


def test_book_pages_and_toc(book):
    toc_path = write_book_pages(book)
    assert toc_path == book / "_generated" / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    entry = toc["parts"][0]["chapters"][0]
    assert entry["file"] == "papermill_runs/toy/laptop"
    [page] = entry["sections"]
    assert page["file"] == "_generated/runs/toy" and page["title"] == "Other runs"
    assert page["sections"] == [{"file": "papermill_runs/toy/tiny", "title": "Run tiny (toy)"},
                                {"file": "papermill_runs/toy/wide", "title": "Run wide (toy)"}]
    assert toc["parts"][0]["chapters"][1] == {"file": "book/references"}  # the rest as in _toc.yml
    text = (book / "_generated" / "runs" / "toy.md").read_text()
    assert "# Other runs: Toy chapter" in text
    assert "{doc}`wide </papermill_runs/toy/wide>` | 2026-11-30 05:00 UTC | 28 s | ok | laptop |" in text
    assert '`models = ["mlp", "cnn", "vit:depth=6"]`' in text and "`value = 0`" in text
    assert text.index("tiny </papermill_runs") < text.index("wide </papermill_runs")


def test_no_other_runs_builds_the_book_as_is(book):
    write_book_pages(book)
    for name in ("wide", "tiny"):
        (book / "papermill_runs" / "toy" / f"{name}.ipynb").unlink()
    assert write_book_pages(book) is None
    assert not (book / "_generated").exists()  # nothing stale left for the build to pick up


def test_book_toc_leaves_chapters_without_runs_alone(book):
    toc = book_toc(book, [])
    assert toc == yaml.safe_load((book / "_toc.yml").read_text())


def test_runs_command(book, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_ROOT", str(book))
    res = CliRunner().invoke(main, ["runs"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:5] == ["chapter", "run", "date", "duration", "status"]
    assert lines[1].split()[:2] == ["toy", "tiny"] and "profile=\"tiny\", value=0" in lines[1]
    assert "toy" in lines[2] and "wide" in lines[2] and "2026-11-30 05:00 UTC" in lines[2] and "28 s" in lines[2]
    assert 'models=["mlp", "cnn", "vit:depth=6"]' in lines[2]
    res = CliRunner().invoke(main, ["runs", "--chapter", "nope"])
    assert res.exit_code == 0 and "no runs besides the book's own" in res.output


def test_runs_command_with_no_runs(tmp_path, monkeypatch, book):
    for name in ("wide", "tiny"):
        (book / "papermill_runs" / "toy" / f"{name}.ipynb").unlink()
    monkeypatch.setenv("FAIRNOTES_ROOT", str(book))
    res = CliRunner().invoke(main, ["runs"])
    assert res.exit_code == 0 and res.output.strip() == "no runs besides the book's own"


def _run_cells(nb) -> dict:
    """Execute the notebook's code cells top to bottom, as Jupyter would (outputs aside); return the names."""
    ns: dict = {}
    for c in nb.cells:
        if c.cell_type == "code" and not c.source.startswith("print"):
            exec(c.source, ns)
    return {k: v for k, v in ns.items() if not k.startswith("__")}


def test_parameters_are_shown_once_folded(tmp_path):
    nb = _notebook({"profile": "laptop", "value": 5, "models": ["cnn"]})
    before = _run_cells(nb)
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    _strip_volatile(path)
    nb = nbformat.read(path, as_version=4)
    defaults, injected = nb.cells[1], nb.cells[2]
    assert defaults.metadata["tags"] == ["parameters", "remove-cell"]
    assert injected.metadata["tags"] == ["injected-parameters", "hide-input"]
    assert injected.metadata["mystnb"]["code_prompt_show"] == "Parameters of this run"
    lines = injected.source.splitlines()
    assert lines[0] == "# Parameters of this run; changed from the chapter's defaults: models, value"
    assert lines[1:] == ['profile = "laptop"  # laptop | tiny | paper',  # every name, in the parameters cell's order
                         'models = ["cnn"]  # default: ["mlp", "cnn"]',
                         "value = 5  # default: 1"]
    assert _run_cells(nb) == before == {"profile": "laptop", "models": ["cnn"], "value": 5}  # same values
    assert "input_path" not in nb.metadata["papermill"] and "output_path" not in nb.metadata["papermill"]
    _strip_volatile(path)  # idempotent
    assert nbformat.read(path, as_version=4).cells[2].source == injected.source


def test_parameters_all_defaults():
    nb = _notebook({"profile": "laptop"})
    _fold_parameters(nb)
    assert nb.cells[2].source.splitlines()[0] == "# Parameters of this run: the chapter's defaults"
    assert _run_cells(nb) == {"profile": "laptop", "models": ["mlp", "cnn"], "value": 1}


def test_no_injected_cell_is_left_alone():
    nb = _notebook({})
    del nb.cells[2]
    _fold_parameters(nb)
    assert nb.cells[1].metadata["tags"] == ["parameters"]


BAR = "\rfashion-mnist: runs:  43%|████▎     | 9/21 [00:00<00:01, 10.06run/s, vit:embed_dim=64 seed 0]"
TQDM_WARNING = ("/x/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please "
                "update jupyter and ipywidgets. See https://ipywidgets.readthedocs.io/en/stable/user_install.html\n"
                "  from .autonotebook import tqdm as notebook_tqdm\n")
REAL = "/x/fairnotes/jobs/train.py:12: UserWarning: the held-out set is empty\n  warnings.warn(msg)\n"


def test_terminal_noise_is_dropped_real_warnings_stay():
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    cell = nbformat.v4.new_code_cell("run()", outputs=[
        stream("stderr", TQDM_WARNING), stream("stderr", BAR), stream("stderr", BAR + "\n"), stream("stderr", "\n"),
        stream("stderr", "\rLoading weights: 100%|██████████| 101/101 [00:00<00:00, 1672.15it/s]"),
        stream("stderr", "\r12it [00:01,  9.50it/s]"),
        stream("stderr", "0.00s - Debugger warning: It seems that frozen modules are being used, which may\n"
                         "0.00s - make the debugger miss breakpoints. Please pass -Xfrozen_modules=off\n"),
        stream("stderr", REAL), stream("stderr", REAL + BAR + "\n"), stream("stdout", "50%|█████| 1/2\n"),
        stream("stderr", "Traceback: 100% sure this is not a bar\n")])
    nb = nbformat.v4.new_notebook(cells=[cell])
    _drop_terminal_noise(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stderr", REAL), ("stderr", REAL), ("stdout", "50%|█████| 1/2\n"),  # stdout is never touched
        ("stderr", "Traceback: 100% sure this is not a bar\n")]


def test_strip_noise_keeps_text_around_bars():
    assert _strip_noise("before\n" + BAR + "\nafter\n") == "before\nafter\n"
    assert _strip_noise(REAL) == REAL


def test_build_book_passes_the_generated_toc_only_when_there_are_runs(book, monkeypatch):
    import subprocess

    import fairnotes.runner as runner
    import fairnotes.viz as viz
    calls = []
    monkeypatch.setattr(viz, "write_bundle", lambda folder: None)
    monkeypatch.setattr(runner.subprocess, "run",
                        lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    runner.build_book(book)
    assert calls[-1][-5:] == ["--toc", str(book / "_generated" / "_toc.yml"), "-W", "-n", "--keep-going"]
    for name in ("wide", "tiny"):
        (book / "papermill_runs" / "toy" / f"{name}.ipynb").unlink()
    runner.build_book(book)
    assert calls[-1][1:] == ["build", str(book), "-W", "-n", "--keep-going"]  # as before: _toc.yml itself
    assert not (book / "_generated").exists()
