"""The data chapter's two computed pieces: which subsets the later chapters train on, and EmojiProf's twins.

The data chapter has no ``Params``/``run``/``claims`` (it tests no claim); these functions keep its
notebook thin.

- :func:`training_subsets`: one row per group of training runs of every chapter with an analysis
  module, for a profile, read from that chapter's parameters (``book/profiles.yaml`` over the
  notebook's defaults, checked by its ``Params``): data set, training images per class, long tail,
  test set, seeds, epochs.
- :func:`emoji_twins`: the EmojiProf images drawn identically for two forms.
- :func:`determinism`: what changes when a run is repeated on another machine, from the committed
  ``benchmarks/determinism.json`` (written by ``benchmarks/determinism.py``).

Torch-free.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["training_subsets", "emoji_twins", "determinism", "precision_glue", "scene_tables", "COLUMNS"]

#: the columns of :func:`training_subsets` (every cell a string)
COLUMNS = ("chapter", "runs", "data set", "training images per class", "long tail", "test set", "seeds", "epochs")

FULL = "full"
NONE = "–"


def _params(chapter: str, profile: str) -> Any:
    from . import profile_params
    return profile_params(chapter, profile)


def _per_class(n: Any) -> str:
    return "all" if n is None else str(int(n))


def _seeds(seeds: Any) -> str:
    return ", ".join(str(int(s)) for s in seeds) if len(seeds) else NONE


def _specs(specs: Any) -> str:
    return ", ".join(str(s) for s in specs)


def _row(chapter: str, runs: str, dataset: str, per_class: str, seeds: str, epochs: Any, *, long_tail: str = NONE,
         test: str = FULL) -> dict[str, str]:
    return dict(zip(COLUMNS, (chapter, runs, dataset, per_class, long_tail, test, seeds, str(epochs))))


def _prevalence(p: Any) -> list[dict[str, str]]:
    from ._common import per_dataset
    rows, ch = [], "prevalence"

    def trained(name: str) -> list[str]:  # models, then the capacity sweep where it applies (no repeats)
        return list(dict.fromkeys([*p.models, *(p.capacity if name in p.capacity_datasets else ())]))

    for name in p.datasets:
        rows.append(_row(ch, f"{len(trained(name))} models: {_specs(trained(name))}", name,
                         _per_class(per_dataset(p.train_per_class, name)), _seeds(p.seeds),
                         per_dataset(p.epochs, name)))
    first = p.datasets[0]
    # the longer runs and the full-data run (parameters added with issue 13; absent in older Params)
    budget = [m for m in dict.fromkeys(getattr(p, "budget_models", ())) if m in trained(first)]
    if budget and getattr(p, "budget_seeds", ()):
        rows.append(_row(ch, f"trained longer: {_specs(budget)}", first,
                         _per_class(per_dataset(p.train_per_class, first)), _seeds(p.budget_seeds), p.budget_epochs))
    full = getattr(p, "full_data_model", None)
    if full and getattr(p, "full_data_seeds", ()) and full in trained(first):
        rows.append(_row(ch, f"on the whole training set: {full}", first, "all", _seeds(p.full_data_seeds),
                         p.full_data_epochs))
    if p.imagenet_models:
        rows.append(_row(ch, f"published weights, evaluated only: {_specs(p.imagenet_models)}", "imagenet",
                         "none (not trained)", NONE, NONE, test="full validation split"))
    return rows


def _representation(p: Any) -> list[dict[str, str]]:
    from ._common import per_dataset
    rows, ch = [], "representation"
    for name in p.datasets:
        rows.append(_row(ch, f"backbones: {_specs(p.backbones)}" + (" (and an ETF-head twin of each)" if p.etf else ""),
                         name, _per_class(per_dataset(p.train_per_class, name)), _seeds(p.seeds),
                         per_dataset(p.epochs, name)))
        if p.pretrained_model:
            rows.append(_row(ch, f"{p.pretrained_model}, published weights, frozen: heads fitted on", name,
                             _per_class(p.pretrained_train_per_class), NONE, "none (frozen)"))
    name = p.long_tail_dataset
    n_max = per_dataset(p.train_per_class, name) or 1000  # as the chapter: 1000 when the data set trains on all
    tail = max(1, round(n_max / p.long_tail_ratio))
    rows.append(_row(ch, f"long-tailed: {p.backbones[0]}", name, f"{n_max} (first class) to {tail} (last class)",
                     _seeds(p.seeds[:1]), per_dataset(p.epochs, name),
                     long_tail=f"ratio {p.long_tail_ratio:g}, exponential"))
    return rows


def _prediction_bias(p: Any) -> list[dict[str, str]]:
    ch = "prediction_bias"
    classes = ", ".join(str(c) for c in p.diversity_classes)
    return [_row(ch, f"tracked runs: {p.model}", p.dataset, _per_class(p.train_per_class), _seeds(p.seeds), p.epochs),
            _row(ch, f"diversity experiment: {p.model}, a control and {_n(len(p.diversity_targets), 'treatment')}",
                 f"{p.dataset}, classes {classes}", _per_class(p.train_per_class), _seeds(p.diversity_seeds),
                 p.diversity_epochs,
                 test=f"those classes' test images (a treatment replaces {p.diversity_fraction:.0%} of one "
                      f"label's images, training and test)")]


def _remedies(p: Any) -> list[dict[str, str]]:
    from .remedies import CONTROLS
    specs = list(dict.fromkeys(s for s in p.remedies if s != "baseline"))
    controls = [s for s in specs if s.partition(":")[0].strip() in CONTROLS]
    what = f"{p.model}: the baseline and {_n(len(specs) - len(controls), 'remedy', 'remedies')}" + \
        (f" and {_n(len(controls), 'control')} ({_specs(controls)})" if controls else "") + ", paired by seed"
    rows = [_row("remedies", what, p.dataset, _per_class(p.train_per_class), _seeds(p.seeds), p.epochs)]
    long = list(dict.fromkeys(s for s in p.long_remedies if s != "baseline"))
    if p.long_epochs is not None and p.long_epochs > p.epochs and long:
        rows.append(_row("remedies", f"long budget, {p.model}: the baseline and {_specs(long)}, paired by seed",
                         p.dataset, _per_class(p.train_per_class), _seeds(p.seeds), p.long_epochs))
    return rows


def _muse(p: Any) -> list[dict[str, str]]:
    if p.laptop:
        cfg = p.lit_config()
        return [_row("muse", f"LiT projections (frozen towers), one per seed; {cfg.holdout_fraction:.0%} of the "
                     f"base emoji held out (the classes)", f"emoji captions ({', '.join(cfg.styles)})",
                     "all captions of the other emoji", _seeds(p.seeds), cfg.epochs,
                     test=f"held-out emoji in {', '.join(p.query_styles)} (w chosen on "
                          f"{', '.join(p.validation_styles)}; supports from {', '.join(p.support_styles)})")]
    return [_row("muse", f"{p.model} ({p.pretrained}), published weights, not trained", p.dataset,
                 "none (not trained)", NONE, NONE,
                 test=f"test split (w chosen on {p.validation_split}; generation seeds {_seeds(p.seeds)})")]


def _d3g(p: Any) -> list[dict[str, str]]:
    if not p.laptop:
        return [_row("d3g", f"{p.model} ({p.pretrained}), published weights, not trained", p.dataset,
                     "none (not trained)", NONE, NONE,
                     test=f"{p.test_split} split (w chosen on {p.validation_split}; generation seeds {_seeds(p.seeds)})")]
    cfg = p.lit_config()
    rows = [_row("d3g", "LiT projections (frozen towers), one per seed (the MuSE chapter's runs)",
                 f"emoji captions ({', '.join(cfg.styles)})", "all captions of the other emoji", _seeds(p.seeds),
                 cfg.epochs, test="EmojiProf, every style as test in turn (supports from two others)")]
    drops = [d for d in p.planted_drops if d > 0]
    if drops:
        rows.append(_row("d3g", f"planted bias: LiT again with {', '.join(f'{d:.0%}' for d in drops)} of the "
                         f"tone phrases of tones {', '.join(p.planted_tones)} dropped",
                         f"emoji captions ({', '.join(cfg.styles)})", "all captions of the other emoji",
                         _seeds(p.seeds), cfg.epochs, test="EmojiProf, skin-tone task"))
    return rows


def _multilabel(p: Any) -> list[dict[str, str]]:
    return [_row("multilabel", f"linear multi-label heads (softmax and BCE) on frozen {p.backbone} features",
                 p.dataset, _per_class(p.max_per_class) + " (web-skewed scenes)", _seeds(p.seeds), p.epochs,
                 test="balanced scenes in the other art styles")]


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


_BUILDERS = {"prevalence": _prevalence, "representation": _representation, "prediction_bias": _prediction_bias,
             "remedies": _remedies, "multilabel": _multilabel, "muse": _muse,
             "d3g": _d3g}


def training_subsets(profile: str) -> Any:
    """What each chapter trains on under ``profile``: a ``pandas.DataFrame`` with :data:`COLUMNS`.

    One row per group of runs (a chapter's sweep on one data set, its longer runs, its long-tailed
    run...), in book order; every cell is a string. ``training images per class`` is the balanced
    subset's size drawn per seed (``all``: the whole training split); a long-tailed subset gives the
    first and last class's counts. Either is at most: a class with fewer images keeps them all. ``test set`` is
    ``full`` (the whole test split) unless said otherwise; ``–`` means not applicable.
    """
    import pandas as pd

    from . import CHAPTERS
    missing = [ch for ch in CHAPTERS if ch not in _BUILDERS]
    if missing:
        raise NotImplementedError(f"training_subsets has no row builder for chapter(s) {', '.join(missing)}")
    rows = [r for ch in CHAPTERS for r in _BUILDERS[ch](_params(ch, profile))]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def emoji_twins(prof: Any) -> dict[str, str | int]:
    """EmojiProf images drawn identically for two forms (byte-equal images with different labels).

    ``prof``: an EmojiProf :class:`~fairnotes.data.ImageSet` (``images``, ``attributes`` with
    ``style``, ``profession``, ``gender``). Returns the data chapter's glue values:
    ``emoji_twin_styles`` (the styles with twins, sorted, or "none"), ``emoji_twin_professions``
    (how many professions have twins) and ``emoji_twin_forms`` (the forms involved, "a and b", or "none").
    """
    import pandas as pd

    a = prof.attributes
    twin = pd.Series([np.asarray(im).tobytes() for im in prof.images]).duplicated(keep=False).to_numpy()
    twins = a[twin]
    return {"emoji_twin_styles": ", ".join(sorted(set(twins["style"].astype(str)))) or "none",
            "emoji_twin_professions": int(twins["profession"].nunique()),
            "emoji_twin_forms": " and ".join(sorted(set(twins["gender"].astype(str)))) or "none"}


#: the variants of ``benchmarks/determinism.py`` the prose names (the JSON's keys)
_REFERENCE, _AGAIN, _SEED = "reference", "reference again", "another seed (scale)"


def determinism(path: Any = None) -> tuple[Any, dict[str, Any]]:
    """The re-run experiment of ``benchmarks/determinism.py``: a table (one row per variant: what changed, whether
    the run is bit-identical to the reference, the first epoch whose training loss differs, the share of test
    predictions that changed, the largest change of one class's accuracy, the change of the best−worst gap and of
    overall accuracy, wall seconds of one run) and glue values ``det_*``.

    ``path`` defaults to ``benchmarks/determinism.json`` under the book's root. Raises ``FileNotFoundError``
    naming the script that writes it.
    """
    import json
    from pathlib import Path

    import pandas as pd

    from .._paths import repo_root
    f = Path(path) if path is not None else repo_root() / "benchmarks" / "determinism.json"
    if not f.exists():
        raise FileNotFoundError(f"{f} not found: run `python benchmarks/determinism.py` to write it")
    rep = json.loads(f.read_text())
    rows = rep["variants"]
    table = pd.DataFrame([{
        "variant": name, "bit-identical": "yes" if r["bit_identical"] else "no",
        "loss differs from epoch": "–" if r["first_epoch_loss_differs"] is None else str(r["first_epoch_loss_differs"]),
        "test predictions changed": f"{r['predictions_changed']:.1%}",
        "largest class change": f"{r['max_class_accuracy_change']:.3f}",
        "gap change": f"{r['gap_change']:+.3f}", "overall accuracy change": f"{r['overall_accuracy_change']:+.4f}",
        "wall (s)": f"{float(r['wall_s']):.0f}"} for name, r in rows.items()]).set_index("variant")
    machine = [n for n in rows if n not in (_REFERENCE, _AGAIN, _SEED)]
    changed = [n for n in machine if not rows[n]["bit_identical"]]
    pred = [float(rows[n]["predictions_changed"]) for n in changed]
    glue = {"det_run": rep["run"], "det_date": rep["date"][:10], "det_cpus": int(rep.get("cpus", 0)),
            "det_same_machine": "bit-identical" if rows[_AGAIN]["bit_identical"] else "not bit-identical",
            "det_n_variants": len(machine), "det_n_changed": len(changed),
            "det_changed": "; ".join(changed) or "none",
            "det_identical": "; ".join(n for n in machine if rows[n]["bit_identical"]) or "none",
            "det_pred_changed_min": min(pred) if pred else 0.0, "det_pred_changed_max": max(pred) if pred else 0.0,
            "det_seed_pred_changed": float(rows[_SEED]["predictions_changed"]),
            "det_seed_gap_change": abs(float(rows[_SEED]["gap_change"])),
            "det_max_gap_change": max((abs(float(rows[n]["gap_change"])) for n in changed), default=0.0)}
    return table, glue


def precision_glue(path: Any = None) -> dict[str, Any]:
    """Glue values ``prec_*`` of ``benchmarks/bench_precision.py`` (``precision_bf16_vs_fp32`` in
    ``benchmarks/results.json``): does bf16 training change the per-class accuracies the book reports? The classes
    whose paired interval excludes 0, the most changed class with its interval, the change of the best–worst gap
    with its interval and the gap's seed-to-seed spread, the epoch-time ratio, the verdict and what the laptop profile
    therefore uses. Raises ``FileNotFoundError`` naming the script when the entry is missing."""
    import json
    from pathlib import Path

    from .._paths import repo_root
    f = Path(path) if path is not None else repo_root() / "benchmarks" / "results.json"
    rep = json.loads(f.read_text()).get("precision_bf16_vs_fp32") if f.exists() else None
    if rep is None:
        raise FileNotFoundError(f"{f} has no precision_bf16_vs_fp32: run `python benchmarks/bench_precision.py`")
    per = rep["per_class"]
    moved = [c for c, r in per.items() if not r["covers_0"]]
    top = max(per, key=lambda c: abs(per[c]["mean_delta"]))
    gap = rep["gap"]
    within = bool(rep["met"])
    return {"prec_n_seeds": len(rep["seeds"]), "prec_model": rep["model"], "prec_dataset": rep["dataset"],
            "prec_n_classes": len(per), "prec_n_moved": len(moved), "prec_moved": ", ".join(moved) or "none",
            "prec_top_class": top, "prec_top_delta": per[top]["mean_delta"], "prec_top_lo": per[top]["ci"][0],
            "prec_top_hi": per[top]["ci"][1], "prec_gap_delta": gap["mean_delta"], "prec_gap_lo": gap["ci"][0],
            "prec_gap_hi": gap["ci"][1], "prec_gap_spread": gap["seed_spread_fp32"],
            "prec_speedup": rep["epoch_time_s"]["fp32"] / rep["epoch_time_s"]["bf16"],
            "prec_verdict": "within noise" if within else "not within noise",
            "prec_profile": "bf16" if within else "fp32", "prec_date": rep["date"][:10]}


def scene_tables(n: dict[str, int] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """The emoji-scenes card: the share of each skin tone and of each gender per split (tables, splits as columns),
    and glue values ``sc_*`` (scenes per split; the training share of the default and lightest tones; the training
    share of the stereotyped gender among the gendered scenes of the stereotyped professions). ``n`` overrides the
    scenes per split (tests)."""
    import pandas as pd

    from .. import data
    from ..data._scenes import STEREOTYPES
    sets = {s: data.load("emoji-scenes", s, **({"n": n[s]} if n and s in n else {})) for s in ("train", "val", "test")}
    card = data.scene_card(sets)
    marg = card[card["profession"] == "all"]
    tables = [marg[marg["attribute"] == a].pivot(index="value", columns="split", values="share")
              .reindex(columns=list(sets)).rename_axis(a.replace("_", " ")).round(3) for a in ("skin_tone", "gender")]
    tr = sets["train"].attributes
    tone = tr["skin_tone"].astype(str)
    st = dict(STEREOTYPES)
    prof, gender = tr["profession"].astype(str), tr["gender"].astype(str)
    gendered = prof.isin(list(st)) & gender.isin(["man", "woman"])
    glue = {"sc_n_train": len(sets["train"]), "sc_n_val": len(sets["val"]), "sc_n_test": len(sets["test"]),
            "sc_train_light": float(tone.isin(["none", "1-2"]).mean()),
            "sc_train_dark": float(tone.isin(["5", "6"]).mean()),
            "sc_train_stereotyped": float((gender[gendered] == prof[gendered].map(st)).mean()),
            "sc_n_stereotyped": len(st)}
    return tables[0], tables[1], glue


# ------------------------------------------------------------------------------------------------ the short answer

#: a data set is called balanced when its largest training class has at most this many times the images of its
#: smallest (the chapter's question: does every class have about the same amount of data?)
BALANCE_LIMIT = 1.1


def answer(cards: Any, prof: Any = None) -> str:
    """The data chapter's short answer to "are the data sets balanced?", from ``cards``
    (:func:`fairnotes.data.cards`: ``n_images`` and ``imbalance`` per data set) and, when given, EmojiProf
    (``prof``, an :class:`~fairnotes.data.ImageSet`: how many images each profession × form × tone × style cell
    holds, and the twins of :func:`emoji_twins`). The wording follows the numbers: a data set whose ``imbalance``
    exceeds :data:`BALANCE_LIMIT` is named as not balanced."""
    names = [str(n) for n in cards["dataset"].values]
    imb = {n: float(cards["imbalance"].sel(dataset=n)) for n in names}
    worst = max(imb, key=imb.get)
    n_images = int(cards["n_images"].sum())
    off = [n for n in names if imb[n] > BALANCE_LIMIT]
    what = f"{len(names)} data set{'s' if len(names) != 1 else ''} ({n_images:,} images)"
    if not off:
        out = [f"Yes: in all {what} the largest training class has at most {imb[worst]:.3f} times the images of the "
               f"smallest (in {worst}), within the {BALANCE_LIMIT:g} we call balanced, so a class's accuracy there "
               f"says how hard the class is, not how often it was seen."]
    else:
        out = [f"No: of the {what}, {', '.join(f'{n} ({imb[n]:.3f})' for n in off)} "
               f"{'has' if len(off) == 1 else 'have'} a largest training class more than {BALANCE_LIMIT:g} times the "
               f"smallest, so there a class's accuracy mixes how hard it is with how often it was seen."]
    if prof is not None:
        a = prof.attributes
        cols = ["profession", "gender", "skin_tone", "style"]
        n_cells = int(np.prod([a[c].nunique() for c in cols]))
        filled = len(a.groupby(cols, observed=True).size())
        fill = (f"EmojiProf fills all {n_cells:,} cells of profession × form × skin tone × style" if filled == n_cells
                else f"EmojiProf fills {filled:,} of its {n_cells:,} cells of profession × form × skin tone × style")
        tw = emoji_twins(prof)
        twins = ("; no two forms are drawn identically" if tw["emoji_twin_professions"] == 0 else
                 f"; but in {tw['emoji_twin_styles']} {tw['emoji_twin_professions']} "
                 f"profession{'s draw' if tw['emoji_twin_professions'] != 1 else ' draws'} two forms "
                 f"({tw['emoji_twin_forms']}) identically, so there the gender cannot be seen")
        out.append(f"{fill} ({len(prof):,} images){twins}.")
    return " ".join(out)
