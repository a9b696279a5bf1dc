"""The teaching material of the chapters: every chapter opens with learning objectives and a short answer and ends
with 2–3 exercises, each one ``fairnotes run`` command whose parameters are real parameters of that chapter, of the
right type — and whose change actually runs (on the tiny profile, ``-k exercise``). The commands of the teaching
page are checked the same way (names and types, not run), and every glossary link points at a glossary term.

How an exercise runs here (the merge rule). The command names parameters for the book's (laptop) profile; the test
runs them on the ``tiny`` profile of ``book/profiles.yaml``, so that every exercise takes seconds:

1. start from the chapter's tiny profile (its notebook defaults with the ``tiny`` set on top);
2. every parameter of the exercise replaces the tiny value — that is the change under test — except the parameters
   of :data:`SIZE`, which only say how large a run is (seeds, epochs, replicates, images per class, image size).
   For those the tiny value stays, but a larger value of the exercise grows it by one step, so that the changed
   path still runs at tiny cost: a longer list keeps the tiny list and adds the exercise's first new item (seeds
   ``[0, 1, 2, 3, 4]`` on a tiny ``[0, 1]`` run as ``[0, 1, 2]``), a larger integer becomes the tiny value + 1; a
   smaller value or a shorter list is taken as it is (it is smaller already); anything else (a mapping, ``None``)
   keeps the tiny value — except ``None`` for :data:`NONE_SWITCHES_OFF` (``long_epochs: null`` skips the long
   budget), which is taken as it is.

The data chapter has no ``Params``/``run``: :func:`_run_data` runs what its notebook computes from the parameters
(cards, the sample draw, EmojiProf in the chosen styles and profession, the short answer). The scoreboard's run is
:func:`fairnotes.analysis.scoreboard.collect` of the run name; the runs it asks for first are stood in for by the
committed claims, copied under that name into a temporary book.
"""
from __future__ import annotations

import inspect
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from fairnotes import analysis, runner
from fairnotes.cli import _parse_value

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = runner.chapters(ROOT)
EMOJI_CHAPTERS = ("data", "multilabel", "muse", "d3g")  # chapters that read the emoji art (the emoji_packages fixture)

#: parameters that only set the size of a run (see the merge rule in the module docstring)
SIZE = frozenset({"seeds", "epochs", "n_boot", "budget_epochs", "budget_seeds", "full_data_epochs", "full_data_seeds",
                  "long_epochs", "diversity_seeds", "diversity_epochs", "lit_epochs", "lit_image_size", "null_sims",
                  "train_per_class", "val_per_class", "pretrained_train_per_class", "max_per_class", "image_size",
                  "samples_per_class", "cam_per_group", "track_every_steps", "batch_size"})
#: size parameters where ``None`` switches a part of the chapter off (so it is smaller, and taken as it is)
NONE_SWITCHES_OFF = frozenset({"long_epochs"})


# ------------------------------------------------------------------------------------------------ parsing

def _source(name: str) -> str:
    return (ROOT / "book" / f"{name}.md").read_text()


def _section(text: str, heading: str) -> str:
    """The text of the ``## <heading>`` section (up to the next ``## `` heading), "" when there is none."""
    m = re.search(rf"^## {re.escape(heading)}\s*$", text, flags=re.M)
    if not m:
        return ""
    rest = text[m.end():]
    nxt = re.search(r"^## ", rest, flags=re.M)
    return rest[: nxt.start()] if nxt else rest


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)


def _commands(text: str) -> list[str]:
    """Every ``fairnotes run`` line inside a ``bash`` block."""
    return [line.strip() for block in _bash_blocks(text) for line in block.splitlines()
            if line.strip().startswith("fairnotes run")]


def _parse(command: str) -> tuple[str, str | None, dict]:
    """``fairnotes run <chapter> --name <name> -p <param> <YAML value> ...`` → ``(chapter, name, params)``, the values
    read as the command line reads them (:func:`fairnotes.cli._parse_value`)."""
    argv = shlex.split(command)
    assert argv[:2] == ["fairnotes", "run"] and len(argv) >= 3, command
    chapter, name, params, i = argv[2], None, {}, 3
    while i < len(argv):
        if argv[i] == "--name":
            name, i = argv[i + 1], i + 2
        elif argv[i] == "-p":
            assert argv[i + 1] not in params, f"{command}: {argv[i + 1]} given twice"
            params[argv[i + 1]], i = _parse_value(argv[i + 2]), i + 3
        else:
            raise AssertionError(f"{command}: only --name and -p are used in the book's commands, got {argv[i]!r}")
    return chapter, name, params


def _defaults(chapter: str) -> dict:
    return {k: v["default"] for k, v in runner.parameters(chapter, ROOT).items()}


def _validate(chapter: str, params: dict) -> dict:
    """The runner's checks before any kernel starts — names against the parameters cell, types against the chapter's
    ``Params`` (:func:`fairnotes.analysis.check_params`) — and the laptop run's own checks (``Params.__post_init__``).
    Returns the checked values."""
    assert chapter in CHAPTERS, f"unknown chapter {chapter!r}"
    unknown = set(params) - set(runner.parameters(chapter, ROOT))
    assert not unknown, f"{chapter}: unknown parameter(s) {sorted(unknown)}"
    assert "profile" not in params, "the profile is chosen with --profile, not -p"
    checked = analysis.check_params(chapter, params)
    cls = analysis.params_class(chapter)
    if cls is not None:
        cls.from_mapping({**_defaults(chapter), **params})
    return checked


def _exercises(chapter: str) -> list[str]:
    """The chapter's exercises: the text of each ``{admonition}`` of its Exercises section."""
    sec = _section(_source(chapter), "Exercises")
    return re.findall(r"^::::\{admonition\}.*?^::::\s*$", sec, flags=re.M | re.S)


EXERCISES = [(ch, cmd) for ch in CHAPTERS for block in _exercises(ch) for cmd in _commands(block)]


def _id(item: tuple[str, str]) -> str:
    ch, cmd = item
    return f"{ch}-{_parse(cmd)[1]}"


# ------------------------------------------------------------------------------------------ the chapters' shape

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_ends_with_two_or_three_exercises(chapter):
    text = _source(chapter)
    blocks = _exercises(chapter)
    assert 2 <= len(blocks) <= 3, f"{chapter}: {len(blocks)} exercises"
    names = []
    for block in blocks:
        cmds = _commands(block)
        assert len(cmds) == 1 and len(_bash_blocks(block)) == 1, f"{chapter}: one command per exercise: {block[:80]}"
        ch, name, params = _parse(cmds[0])
        assert ch == chapter and name and params, cmds[0]
        names.append(name)
        assert re.search(r"^:::\{dropdown\} Solution\s*$.*?^:::\s*$", block, flags=re.M | re.S), \
            f"{chapter}: exercise without a hidden solution: {block[:80]}"
    assert len(set(names)) == len(names), f"{chapter}: two exercises write the same run {names}"
    after = text[text.index("## Exercises"):]
    assert not re.search(r"^## ", after[3:], flags=re.M), f"{chapter}: the exercises are not the last section"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_opens_with_objectives_and_a_short_answer(chapter):
    text = _source(chapter)
    objectives = text.find("{admonition} Learning objectives")
    assert objectives > 0, f"{chapter}: no learning objectives"
    assert objectives < text.index(":tags: [parameters]"), f"{chapter}: the objectives come after the parameters"
    items = re.findall(r"^- ", text[objectives: text.index("```", objectives + 10)], flags=re.M)
    assert 3 <= len(items) <= 4, f"{chapter}: {len(items)} objectives"
    first_section = re.search(r"^## ", text, flags=re.M).start()
    short = text.find("**The short answer.**")
    assert 0 < short < first_section, f"{chapter}: no short answer before the first section"


@pytest.mark.parametrize("chapter, command", EXERCISES, ids=[_id(e) for e in EXERCISES])
def test_exercise_command_is_valid(chapter, command):
    ch, name, params = _parse(command)
    checked = _validate(ch, params)
    cls = analysis.params_class(ch)
    book = cls().__dict__ if cls is not None else _defaults(ch)
    changed = [k for k, v in checked.items() if v != book[k]]
    assert changed, f"{command}: changes nothing from the book's run"


def test_teaching_page_commands_are_valid():
    text = _source("teaching")
    commands = _commands(text)
    seen = set()
    for command in commands:
        ch, name, params = _parse(command)
        _validate(ch, params)
        assert name, f"{command}: a lab run needs --name (it must not overwrite the book's run)"
        seen.add(ch)
    assert seen == set(CHAPTERS), f"chapters without a lab command: {sorted(set(CHAPTERS) - seen)}"


def _glossary_terms() -> set[str]:
    text = _source("glossary")
    block = re.search(r"^```\{glossary\}\n(.*?)^```", text, flags=re.M | re.S).group(1)
    return {line.strip().lower() for line in block.splitlines()
            if line.strip() and not line.startswith((" ", ":"))}


def test_glossary_links_point_at_glossary_terms():
    terms = _glossary_terms()
    required = ["balanced accuracy", "per-class accuracy", "best–worst gap", "gini", "coefficient of variation",
                "kendall's w", "spearman's rho", "bootstrap interval", "paired bootstrap", "binomial noise floor",
                "linear probe", "crt", "ncm", "knn", "etf", "τ-norm", "model prediction bias", "gp and gn", "mixup",
                "cutmix", "simclr", "re-weighting", "lit", "zero-shot classification", "prototype", "muse", "d3g",
                "map", "multi-label softmax", "bce", "demographic parity", "group gap", "stand-in"]
    assert not [t for t in required if t not in terms]
    missing = {}
    for path in sorted((ROOT / "book").glob("*.md")):
        for target in re.findall(r"\{term\}`([^`]*)`", path.read_text()):
            m = re.match(r"^(.*?)\s*<([^>]*)>$", target)
            name = (m.group(2) if m else target).strip().lower()
            if name not in terms:
                missing.setdefault(path.name, []).append(target)
    assert not missing, f"links to terms the glossary does not define: {missing}"


def test_back_matter_lists_glossary_and_teaching_before_references():
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = [p for p in toc["parts"] if p["caption"] == "Back matter"][0]
    files = [c["file"] for c in back["chapters"]]
    assert files.index("book/glossary") < files.index("book/references")
    assert files.index("book/teaching") < files.index("book/references")


# ------------------------------------------------------------------------------------------- the merge rule

def _grow(value, tiny):
    """A size parameter's value in the tiny run (see the module docstring)."""
    if isinstance(value, (list, tuple)) and isinstance(tiny, (list, tuple)):
        if len(value) <= len(tiny):
            return list(value)
        new = [x for x in value if x not in tiny]
        return list(tiny) + new[:1]
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(tiny, int) and not isinstance(tiny, bool):
        return value if value <= tiny else tiny + 1
    if isinstance(value, float) and isinstance(tiny, (int, float)) and not isinstance(tiny, bool):
        return value if value <= tiny else tiny
    return tiny


def tiny_parameters(chapter: str, exercise: dict) -> dict:
    """The exercise's parameters merged into the chapter's tiny profile by the merge rule."""
    tiny = runner.profile_parameters(chapter, "tiny", ROOT)
    base = {**_defaults(chapter), **tiny}
    out = dict(tiny)
    for k, v in exercise.items():
        if k not in SIZE:
            out[k] = v
        elif v is None and k in NONE_SWITCHES_OFF:
            out[k] = None
        else:
            out[k] = _grow(v, base.get(k))
    if "profile" in base:
        out["profile"] = "tiny"
    return out


def test_merge_rule_keeps_runs_tiny():
    tiny = runner.profile_parameters("prevalence", "tiny", ROOT)
    got = tiny_parameters("prevalence", {"seeds": [0, 1, 2, 3, 4], "capacity": ["cnn:width=4", "cnn:width=64"],
                                         "budget_epochs": 60, "full_data_seeds": []})
    assert got["seeds"] == [*tiny["seeds"], 2] and got["budget_epochs"] == tiny["budget_epochs"] + 1
    assert got["capacity"] == ["cnn:width=4", "cnn:width=64"] and got["full_data_seeds"] == []
    assert got["profile"] == "tiny" and got["models"] == tiny["models"]
    assert tiny_parameters("remedies", {"long_epochs": None})["long_epochs"] is None
    assert tiny_parameters("multilabel", {"epochs": 10})["epochs"] == runner.profile_parameters(
        "multilabel", "tiny", ROOT)["epochs"] + 1
    assert tiny_parameters("multilabel", {"epochs": 1})["epochs"] == 1
    assert tiny_parameters("prevalence", {"epochs": {"digits": 60}})["epochs"] == tiny["epochs"]


# ------------------------------------------------------------------------------------- the exercises, run

def _run_data(p: dict) -> str:
    """What the data notebook computes from its parameters: the cards, the sample draw of every data set, EmojiProf in
    the chosen styles (its counts, twins and the chosen profession's images) — and the short answer."""
    from fairnotes import data
    from fairnotes.analysis.data import answer, emoji_twins
    datasets = list(p["datasets"])
    cards = data.cards(datasets)
    assert [str(n) for n in cards["dataset"].values] == datasets
    for name in datasets:
        shown = data.load(name, "train").per_class(int(p["samples_per_class"]), seed=int(p["seed"])).materialize()
        assert len(shown) > 0
    prof = data.load("emojiprof", "test", styles=list(p["emoji_styles"]), download=True)
    assert set(prof.attributes["style"].astype(str)) == set(p["emoji_styles"])
    assert int(data.emojiprof_counts(prof).sum()) == len(prof)
    one = prof.subset(np.flatnonzero(prof.attributes["profession"] == p["emoji_profession"]))
    assert len(one) > 0, f"no EmojiProf image of {p['emoji_profession']!r}"
    emoji_twins(prof)
    return answer(cards, prof)


def _run_scoreboard(p: dict, tmp_path: Path) -> str:
    """The scoreboard of run ``p["run"]``, in a temporary book where every chapter's committed claims stand in for
    the runs of that name the exercise asks for first."""
    from fairnotes.analysis import scoreboard
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_toc.yml", book / "_toc.yml")
    copied = 0
    for ch in CHAPTERS:
        src = ROOT / "papermill_runs" / ch / "laptop" / "claims.nc"
        if src.exists():
            (book / "papermill_runs" / ch / p["run"]).mkdir(parents=True)
            shutil.copy(src, book / "papermill_runs" / ch / p["run"] / "claims.nc")
            copied += 1
    if not copied:
        pytest.skip("no chapter has committed claims")
    board = scoreboard.collect(book, run=p["run"])
    table = scoreboard.counts(board)
    assert int(table.loc["all chapters", "claims"]) == board.sizes["claim"]
    return scoreboard.answer(board)


#: exercises whose tiny run trains LiT and sweeps the MuSE/D3G grids (2–5 min each on 2 cores): run by
#: `make test-all`, not by CI's `make test` (the commands are still checked above, and their chapters run tiny in
#: tests/test_book.py)
HEAVY = ("muse", "d3g")


@pytest.mark.slow
@pytest.mark.parametrize("chapter, command", [pytest.param(*e, marks=pytest.mark.heavy) if e[0] in HEAVY else e
                                              for e in EXERCISES], ids=[_id(e) for e in EXERCISES])
def test_exercise_runs_on_the_tiny_profile(chapter, command, request, tmp_path, one_torch_thread):
    _, _, exercise = _parse(command)
    if chapter in EMOJI_CHAPTERS:  # link (or fetch) the emoji art into the tests' cache: decoded once per session
        request.getfixturevalue("emoji_packages")
    merged = tiny_parameters(chapter, exercise)
    if chapter == "data":
        text = _run_data({**_defaults("data"), **merged})
    elif chapter == "scoreboard":
        text = _run_scoreboard({**_defaults("scoreboard"), **merged}, tmp_path)
    else:
        mod = analysis.module(chapter)
        p = mod.Params.from_mapping(merged)
        for k in exercise:  # the exercise's change is in the run (sizes as merged)
            assert getattr(p, k) == mod.Params.check({k: merged[k]})[k]
        kw = {"progress": False} if "progress" in inspect.signature(mod.run).parameters else {}
        ds = mod.run(p, **kw)
        found = mod.claims(ds)
        assert found.sizes["claim"] >= 1
        assert set(str(v) for v in found["verdict"].values) <= set(analysis.VERDICTS)
        text = mod.answer(ds)
    assert isinstance(text, str) and text.endswith(".") and not re.search(r"\bnan\b", text)
