"""Chapter "remedies": what each remedy does to each class, paired against the baseline seed by seed.

Every remedy (:mod:`fairnotes.jobs.remedies`) is trained with the baseline's seeds, so a remedy's
seed ``s`` and the baseline's seed ``s`` share the training images and the initial weights; every
change (remedy − baseline) comes with a paired 95 % interval over seeds *and* test images
(:func:`fairnotes.summary.paired_deltas`).

The classes are ranked hard → easy by the *first chapter's jobs* (``prevalence``), read through the
job cache: the mean per-class accuracy of every architecture of that chapter on the same data set
except this chapter's own model, over that chapter's seeds. Ranking by the baseline's own test
accuracy would favour "the hard classes improve" (a class that is low by test noise rises under any
remedy), so there is no such fallback: missing runs are trained. The groups are
:func:`fairnotes.metrics.difficulty_groups`' (hard = the ⌊K/3⌋ lowest, easy = the ⌊K/3⌋ highest).

A class is *hurt* / *helped* by a remedy when its change is below / above 0 at a false-discovery rate
of 5 % across the K classes of that remedy (Benjamini–Hochberg on the two-sided p-values of the
per-class changes: ``hurt_fdr`` / ``helped_fdr`` of :func:`fairnotes.summary.paired_deltas`),
*unclear* otherwise. Direction words of the summary statistics come from the shared rules
(:mod:`fairnotes.analysis._claims`).

*The long budget.* Mixup and CutMix are known to need long schedules, so with ``long_epochs`` above
``epochs`` the baseline and ``long_remedies`` (Mixup and CutMix by default) are trained again for
``long_epochs`` epochs (the same model, seeds, data and settings: ``base_config`` with only
``epochs`` changed) and paired against that long baseline with the same machinery and the same
hard / easy groups; its numbers are the ``long_*`` variables on dim ``long_remedy``
(:func:`long_summary`, :func:`long_view`).

``baseline-probe`` is a control, not a remedy: the same linear probe as ``simclr-probe`` on the
baseline run's own frozen features. ``simclr-probe`` − ``baseline-probe`` (a second
:func:`~fairnotes.summary.paired_deltas` with that reference, on the same resamples) isolates what
SimCLR's features change from what swapping the jointly trained head for a probe changes.

>>> from fairnotes.analysis import remedies
>>> p = remedies.Params(profile="tiny", dataset="digits")
>>> ds = remedies.run(p)                                  # doctest: +SKIP
>>> remedies.claims(ds)["verdict"].values                 # doctest: +SKIP
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
import xarray as xr

from ._claims import AGREES, CANNOT_TELL, DISAGREES, above, below, claims_dataset, significant, verdict_counts
from ._common import paper_claim
from ._params import ChapterParams, ParamError
from ._store import JobLog, cached_analysis

__all__ = ["Params", "DIFFICULTY_CHAPTERS", "STAT_TITLES", "VERDICT_COLOURS", "CONTROLS", "LONG_KINDS", "run",
           "base_config", "long_base_config", "has_long_budget", "check_specs", "difficulty_runs", "summarize",
           "long_summary", "long_view", "train_minutes", "class_verdict", "direction", "claims", "glue_values",
           "tables", "profile_text", "class_forest"]

#: chapters whose jobs may rank the classes (the parameter ``difficulty_chapter``)
DIFFICULTY_CHAPTERS = ("prevalence",)

#: the paired statistics (``fairnotes.summary.DELTA_STATS``) and their titles in tables and charts
STAT_TITLES = {"mean": "balanced accuracy", "worst": "worst class", "gap": "gap", "std": "std", "gini": "Gini"}

#: the colour of each per-class verdict in the forest plot (the prose says red = hurt)
VERDICT_COLOURS = {"hurt": "#d62728", "helped": "#1f77b4", "unclear": "#9e9e9e"}

#: augmentation remedies whose per-class harm DropMix's claim is about
AUGMENTATIONS = ("mixup", "cutmix", "randaugment", "trivialaugment")

#: entries that are controls, not remedies (left out of "the remedies" counts and the best-gap pick)
CONTROLS = ("baseline-probe",)

# notebook sections that show the evidence of each claim
SECTION_SPREAD = "Overall, worst class, and spread"
SECTION_CLASSES = "Every class, paired"
SECTION_GROUPS = "Hard and easy thirds"
SECTION_LONG = "Mixup and CutMix at a long budget"

NOT_TESTED = "not tested (remedy not in this run)"
NOT_TESTED_LONG = "not tested (no long-budget runs: long_epochs is null or not above epochs)"

#: the paper claim "makes per-class accuracy more even" of each remedy kind, at either budget (Δ gap, below(0))
FAIRER_CLAIMS = {"mixup": "cui.mixup_fairer", "cutmix": "cui.cutmix_fairer"}

#: the remedy kinds the long-budget prose and glue quote (``rm_long_<kind>_*``), NaN when not run
LONG_KINDS = ("mixup", "cutmix")

_DEFAULT_REMEDIES = ("mixup", "cutmix", "label-smoothing", "randaugment", "trivialaugment", "reweight", "focal",
                     "baseline-probe", "simclr-finetune:epochs=8", "simclr-probe:epochs=8")


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (``profile`` is inherited).

    ``precision`` reaches every ``TrainConfig`` (the baseline, each remedy, the long budget, the fine-tuning of
    ``simclr-finetune`` and the run ``baseline-probe`` reads); the SimCLR (contrastive) pre-training of
    ``simclr-finetune`` / ``simclr-probe`` has no precision option and runs fp32, and the ``difficulty_chapter``'s
    runs that rank the classes are that chapter's own (its profile: fp32).
    """

    chapter: ClassVar[str] = "remedies"
    dataset: str = "fashion-mnist"
    model: str = "cnn:width=16"
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 4
    train_per_class: int | None = 1000
    batch_size: int = 128
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.05
    augment: str = "crop"
    precision: Literal["fp32", "bf16"] = "fp32"
    remedies: tuple[str, ...] = _DEFAULT_REMEDIES
    long_epochs: int | None = 30
    long_remedies: tuple[str, ...] = ("mixup", "cutmix")
    difficulty_chapter: Literal["prevalence"] = "prevalence"
    n_boot: int = 1000

    def __post_init__(self) -> None:
        if self.difficulty_chapter not in DIFFICULTY_CHAPTERS:  # also when built directly, unchecked
            raise ParamError(f"parameter 'difficulty_chapter' must be one of "
                             f"{', '.join(map(repr, DIFFICULTY_CHAPTERS))}; got {self.difficulty_chapter!r} "
                             f"(chapter 'remedies')")
        check_specs(self)  # a bad remedy spec is a usage error, before any kernel or training


def check_specs(p: Params) -> None:
    """Every spec of ``remedies`` and ``long_remedies`` parses (:func:`fairnotes.jobs.remedies.parse`, torch-free);
    otherwise a :class:`ParamError` naming the parameter, the bad spec and the valid choices."""
    from ..jobs.remedies import parse
    for name in ("remedies", "long_remedies"):
        for spec in getattr(p, name):
            try:
                parse(str(spec))
            except ValueError as e:
                raise ParamError(f"parameter {name!r}: {e} (chapter 'remedies')") from e


def has_long_budget(p: Params) -> bool:
    """Whether the long-budget part runs: ``long_epochs`` above ``epochs`` and at least one long remedy."""
    return p.long_epochs is not None and p.long_epochs > p.epochs and len(p.long_remedies) > 0


# ---------------------------------------------------------------------------------------------------------------
# jobs


def run(p: Params, *, refresh: bool = False, progress: bool = True) -> xr.Dataset:
    """Every number of the chapter (see :func:`summarize`), cached by parameters and code."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


def base_config(p: Params) -> Any:
    """The baseline's ``TrainConfig`` (seed 0); the remedies change it (:func:`fairnotes.jobs.remedies.plan`)."""
    from ..jobs import sweep, train
    name, kwargs = sweep.parse_model(p.model)
    return train.TrainConfig(dataset=p.dataset, model=name, model_kwargs=kwargs, epochs=p.epochs,
                             batch_size=p.batch_size, optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
                             augment=p.augment, train_per_class=p.train_per_class, profile=p.profile,
                             progress=False, precision=p.precision)


def long_base_config(p: Params) -> Any:
    """The long baseline's ``TrainConfig``: :func:`base_config` with ``epochs = long_epochs`` and nothing else
    changed; ``None`` when the long part does not run (:func:`has_long_budget`)."""
    import dataclasses
    return dataclasses.replace(base_config(p), epochs=p.long_epochs) if has_long_budget(p) else None


def difficulty_runs(p: Params, *, log: JobLog | None = None, progress: bool = True) -> xr.Dataset:
    """The ``difficulty_chapter``'s sweep of ``p.dataset`` (same profile), without this chapter's model.

    Read through the job cache; runs that are not cached are trained. Raises ``ValueError`` when
    that chapter has no other architecture to rank with.
    """
    from . import prevalence, profile_params
    from ..jobs import sweep
    if p.difficulty_chapter not in DIFFICULTY_CHAPTERS:
        raise ParamError(f"parameter 'difficulty_chapter' must be one of {', '.join(map(repr, DIFFICULTY_CHAPTERS))}"
                         f"; got {p.difficulty_chapter!r}")
    pp = profile_params("prevalence", p.profile)
    base = prevalence.base_config(pp, p.dataset)
    own = sweep.parse_model(p.model)
    others = [m for m in prevalence.architectures(pp, p.dataset) if sweep.parse_model(m) != own]
    if not others:
        raise ValueError(f"chapter {p.difficulty_chapter!r} ({p.profile} profile) has no architecture on "
                         f"{p.dataset!r} other than {p.model!r} to rank the classes with")
    if log is not None:
        from ..jobs import train
        from ..results import job_name
        for cfg in sweep.configs(base, models=others, seeds=pp.seeds):
            log.add(job_name(train.run), cfg)
    out = sweep.run(base, models=others, seeds=pp.seeds, progress=progress)
    out.attrs["chapter"] = p.difficulty_chapter
    return out


def _log_remedy_jobs(log: JobLog, base: Any, runs: xr.Dataset, seeds: Sequence[int]) -> None:
    """The cache keys of every job behind ``runs`` (:func:`fairnotes.jobs.remedies.run` of ``base``)."""
    import dataclasses

    from ..jobs import contrastive, remedies as rem, train
    from ..results import job_name
    for spec in (str(s) for s in runs["remedy"].values):
        for seed in seeds:
            cfg = rem.plan(base, spec, seed)  # cheap; "reweight" re-reads the baseline's held-out accuracy
            pre = getattr(cfg, "pretrain", None)
            if pre:
                log.add(job_name(contrastive.run), contrastive.ContrastiveConfig(**pre, progress=False))
            probe = isinstance(cfg, rem.LinearProbeConfig)
            log.add(job_name(rem.linear_probe if probe else train.run),
                    cfg if probe else dataclasses.replace(cfg, progress=False))


def _compute(p: Params, *, progress: bool = True) -> xr.Dataset:
    from ..jobs import remedies as rem
    check_specs(p)  # a bad spec (of remedies or long_remedies) fails before any training
    log = JobLog()
    ranking = difficulty_runs(p, log=log, progress=progress)
    base = base_config(p)
    runs = rem.run(base, remedies=p.remedies, seeds=p.seeds, progress=progress)
    _log_remedy_jobs(log, base, runs, p.seeds)
    long_runs = None
    if has_long_budget(p):
        base_long = long_base_config(p)
        long_runs = rem.run(base_long, remedies=p.long_remedies, seeds=p.seeds, progress=progress)
        _log_remedy_jobs(log, base_long, long_runs, p.seeds)
    ds = summarize(runs, ranking, n_boot=p.n_boot, long_runs=long_runs,
                   long_epochs=p.long_epochs if long_runs is not None else None)
    ds.attrs["jobs"] = log.keys
    ds.attrs.update(profile=p.profile, dataset=p.dataset, model=p.model, seeds=", ".join(map(str, p.seeds)),
                    epochs=int(p.epochs), train_per_class=str(p.train_per_class), optimizer=p.optimizer,
                    lr=float(p.lr), augment=p.augment, difficulty_chapter=p.difficulty_chapter)
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        ds.attrs["precision_asked"] = p.precision
    return ds


# ---------------------------------------------------------------------------------------------------------------
# the numbers (pure, torch-free)


def class_verdict(hurt_fdr: bool, helped_fdr: bool) -> str:
    """``"hurt"`` / ``"helped"`` when the class's change is below / above 0 at a 5 % false-discovery rate across
    the remedy's classes (:func:`fairnotes.summary.paired_deltas`' ``hurt_fdr`` / ``helped_fdr``), else
    ``"unclear"``."""
    if bool(hurt_fdr) and bool(helped_fdr):
        raise ValueError("a class cannot be both hurt and helped")
    return "hurt" if bool(hurt_fdr) else "helped" if bool(helped_fdr) else "unclear"


def direction(lower: float, upper: float) -> str:
    """``"decreased"`` / ``"increased"`` / ``"no clear change"``: ``below(0)`` / ``above(0)`` on the interval."""
    if below(0).decide(lower, upper) == AGREES:
        return "decreased"
    return "increased" if above(0).decide(lower, upper) == AGREES else "no clear change"


def train_minutes(runs: xr.Dataset) -> float:
    """Minutes the runs took when trained: every run's training, plus each seed's distinct pre-trainings once
    (a SimCLR pre-training shared by the probe and the fine-tune counts once)."""
    pre = np.asarray(runs["pretrain_time_s"].transpose("remedy", "seed").values, dtype=float)
    shared = sum(sum(set(pre[:, j][np.isfinite(pre[:, j])].tolist()) - {0.0}) for j in range(pre.shape[1]))
    return (float(np.nansum(runs["train_time_s"].values)) + float(shared)) / 60


def _verdicts(d: xr.Dataset, dim: str = "remedy") -> xr.DataArray:
    """``class_verdict`` of every entry × label of a :func:`~fairnotes.summary.paired_deltas` result."""
    hurt, helped = d["hurt_fdr"].transpose(dim, "label").values, d["helped_fdr"].transpose(dim, "label").values
    return xr.DataArray(np.array([[class_verdict(a, b) for a, b in zip(r_h, r_p)] for r_h, r_p in zip(hurt, helped)],
                                 dtype=str).reshape(hurt.shape), dims=(dim, "label"),
                        attrs={"description": "hurt / helped: the change is below / above 0 at a 5 % false-discovery "
                                              "rate across the remedy's classes (Benjamini-Hochberg)"})


def long_summary(long_runs: xr.Dataset, groups: dict[str, list[int]], *, epochs: int, n_boot: int = 1000,
                 seed: int = 0) -> xr.Dataset:
    """The long budget's numbers: :func:`fairnotes.summary.paired_deltas` of ``long_runs`` (the long baseline
    first) with the short budget's hard / easy ``groups``, plus ``verdict``, ``train_minutes`` and coords
    ``kind`` / ``description``, every variable prefixed ``long_`` and dim ``remedy`` renamed ``long_remedy``
    (so it sits beside the short budget's in one Dataset). Attrs ``long_epochs`` (= ``epochs``),
    ``long_reference``, ``long_n_seeds``, ``long_n_test``. Pure and torch-free."""
    from .. import summary
    d = summary.paired_deltas(long_runs, groups=groups, n_boot=n_boot, seed=seed)
    d["verdict"] = _verdicts(d)
    d["train_minutes"] = ((), train_minutes(long_runs), {"description": "minutes of training behind the long runs"})
    specs = [str(s) for s in d["remedy"].values]
    d = d.assign_coords(kind=("remedy", [s.partition(":")[0].strip() for s in specs]),
                        description=("remedy", [str(x) for x in long_runs["description"].values]))
    out = d.rename({**{v: f"long_{v}" for v in d.data_vars}, "remedy": "long_remedy", "kind": "long_kind",
                    "description": "long_description"})
    out.attrs = {"long_epochs": int(epochs), "long_reference": str(d.attrs["reference"]),
                 "long_n_seeds": int(d.attrs["n_seeds"]), "long_n_test": int(d.attrs["n_test"])}
    return out


def long_view(ds: xr.Dataset) -> xr.Dataset | None:
    """The long budget's part of the chapter's Dataset shaped like the short one (prefix ``long_`` dropped, dim
    ``remedy``, attrs ``reference`` and ``epochs``, with the short budget's ``difficulty`` / ``difficulty_rank``),
    so the same claim, glue and table code reads it; ``None`` when the long part did not run."""
    if "long_remedy" not in ds.dims:
        return None
    names = [str(v) for v in ds.data_vars if str(v).startswith("long_")]
    sub = ds[names + ["difficulty", "difficulty_rank"]]
    sub = sub.rename({**{n: n[len("long_"):] for n in names}, "long_remedy": "remedy", "long_kind": "kind",
                      "long_description": "description"})
    sub.attrs = {"reference": str(ds.attrs["long_reference"]), "epochs": int(ds.attrs["long_epochs"]),
                 "n_seeds": int(ds.attrs.get("long_n_seeds", 0)), "n_test": int(ds.attrs.get("long_n_test", 0))}
    return sub


def summarize(runs: xr.Dataset, ranking: xr.Dataset | xr.DataArray, *, n_boot: int = 1000, seed: int = 0,
              long_runs: xr.Dataset | None = None, long_epochs: int | None = None) -> xr.Dataset:
    """Every number of the chapter from the remedies' runs and the ranking runs.

    ``runs``: :func:`fairnotes.jobs.remedies.run`'s result (``prediction`` remedy × seed × sample,
    ``target``, ``train_time_s``, ``pretrain_time_s``, coords ``description``); the first remedy is
    the reference (the baseline). ``ranking``: per-class ``accuracy`` of the ranking runs (any dims
    besides ``label``, e.g. model × seed), averaged into one accuracy per class.

    Returns :func:`fairnotes.summary.paired_deltas`' Dataset (dims ``remedy``, ``label``, ``group`` =
    hard, easy) plus ``difficulty_accuracy``, ``difficulty`` (hard / medium / easy), ``difficulty_rank``
    (0 = hardest; ties by label) over ``label``; ``verdict`` (remedy × label: hurt / helped /
    unclear, from ``hurt_fdr`` / ``helped_fdr``); ``train_minutes``; coords ``kind`` (the remedy's name without
    settings) and ``description``; attrs ``ranked_by``. With a ``baseline-probe`` entry also
    ``delta_gap_vs_probe`` and ``delta_mean_vs_probe`` (remedy; with ``_lower`` / ``_upper``): each entry minus
    the first baseline-probe, from :func:`~fairnotes.summary.paired_deltas` with that reference (the same
    resamples, so per replicate it is the difference of the two entries' deltas from the baseline); attrs
    ``probe_reference``.

    ``long_runs`` (the long budget's :func:`fairnotes.jobs.remedies.run`, trained for ``long_epochs``): adds
    :func:`long_summary`'s ``long_*`` variables (dim ``long_remedy``), paired against the long baseline, with the
    same hard / easy groups.
    """
    from .. import summary
    from ..metrics import difficulty_groups

    acc = ranking["accuracy"] if isinstance(ranking, xr.Dataset) else ranking
    other = [d for d in acc.dims if d != "label"]
    diff_acc = acc.mean(other) if other else acc
    labels = np.asarray(runs["label"].values)
    if not np.array_equal(np.asarray(diff_acc["label"].values), labels):
        raise ValueError(f"the ranking runs' labels {diff_acc['label'].values.tolist()} differ from the remedies' "
                         f"{labels.tolist()}: they must be the same data set")
    if labels.size < 3:
        raise ValueError(f"hard and easy groups need at least 3 classes; got {labels.size}")
    groups = difficulty_groups(diff_acc.assign_coords(label=labels))
    rank = np.empty(labels.size, dtype=np.int64)
    rank[np.lexsort((labels, diff_acc.values))] = np.arange(labels.size)
    members = {g: [int(lb) for lb in labels[np.argsort(rank)] if groups.sel(label=lb).item() == g]
               for g in ("hard", "easy")}
    ds = summary.paired_deltas(runs, groups=members, n_boot=n_boot, seed=seed)
    ds["difficulty_accuracy"] = ("label", np.asarray(diff_acc.values, dtype=float),
                                 {"description": "mean per-class accuracy of the ranking runs"})
    ds["difficulty"] = ("label", np.asarray(groups.values, dtype=str),
                        {"description": groups.attrs.get("description", "")})
    ds["difficulty_rank"] = ("label", rank, {"description": "0 = hardest (lowest ranking accuracy; ties by label)"})
    ds["verdict"] = _verdicts(ds)
    ds["train_minutes"] = ((), train_minutes(runs), {"description": "minutes of training behind the runs"})
    specs = [str(s) for s in ds["remedy"].values]
    controls = [s for s in specs if s.partition(":")[0].strip() == "baseline-probe"]
    if controls:
        vs = summary.paired_deltas(runs, reference=controls[0], n_boot=n_boot, seed=seed)
        for stat in ("gap", "mean"):
            for b in ("", "_lower", "_upper"):
                ds[f"delta_{stat}_vs_probe{b}"] = ("remedy", vs[f"delta_{stat}{b}"].values,
                                                   {"description": f"{stat} minus {controls[0]}'s"} if not b else {})
        ds.attrs["probe_reference"] = controls[0]
    ds = ds.assign_coords(kind=("remedy", [s.partition(":")[0].strip() for s in specs]),
                          description=("remedy", [str(d) for d in runs["description"].values]))
    models = [str(m) for m in acc["model"].values] if "model" in acc.dims else []
    n_seeds = acc.sizes.get("seed", 1)
    who = f"{len(models)} other architecture{'s' if len(models) != 1 else ''}" + \
        (f" ({', '.join(models)})" if models else "")
    chapter = ranking.attrs.get("chapter", "")
    ds.attrs["ranked_by"] = (f"the mean per-class accuracy of {who} × {n_seeds} seed{'s' if n_seeds != 1 else ''}"
                             + (f" in chapter {chapter!r}" if chapter else ""))
    ds.attrs["ranking_models"] = ", ".join(models)
    if long_runs is not None:
        if long_epochs is None:
            raise ValueError("long_runs need long_epochs (the epochs they were trained for)")
        if not np.array_equal(np.asarray(long_runs["label"].values), labels):
            raise ValueError(f"the long runs' labels {long_runs['label'].values.tolist()} differ from the remedies' "
                             f"{labels.tolist()}: they must be the same data set")
        long = long_summary(long_runs, members, epochs=long_epochs, n_boot=n_boot, seed=seed)
        ds = ds.merge(long, compat="no_conflicts", combine_attrs="override")
        ds.attrs.update(long.attrs)
    return ds


# ---------------------------------------------------------------------------------------------------------------
# claims and glue


def _specs(ds: xr.Dataset) -> list[str]:
    ref = str(ds.attrs.get("reference", ds["remedy"].values[0]))
    return [str(s) for s in ds["remedy"].values if str(s) != ref]


def _remedy_specs(ds: xr.Dataset) -> list[str]:
    """The entries that are remedies (no reference, no :data:`CONTROLS`)."""
    return [s for s in _specs(ds) if s.partition(":")[0].strip() not in CONTROLS]


def _of(ds: xr.Dataset, kind: str) -> list[str]:
    kinds = dict(zip([str(s) for s in ds["remedy"].values], [str(k) for k in ds["kind"].values]))
    return [s for s in _specs(ds) if kinds[s] == kind]


def _ident(key: str, spec: str, same: Sequence[str], kind: str, suffix: bool) -> str:
    """``key``; ``key:kind`` with ``suffix``; ``key:spec`` when several specs share the kind."""
    if len(same) > 1:
        return f"{key}:{spec}"
    return f"{key}:{kind}" if suffix else key


def _triple(ds: xr.Dataset, var: str, **sel: Any) -> tuple[float, float, float]:
    return tuple(float(ds[f"{var}{b}"].sel(**sel)) for b in ("", "_lower", "_upper"))  # type: ignore[return-value]


def _delta(key: str, ds: xr.Dataset, spec: str, stat: str, rule: Any, *, id: str, measure: str, section: str,
           note: str = "", **sel: Any) -> Any:
    v, lo, hi = _triple(ds, f"delta_{stat}", remedy=spec, **sel)
    return paper_claim(key, measure=measure, ours=v, lower=lo, upper=hi, rule=rule, section=section, note=note,
                       id=id)


def _claim_rows(ds: xr.Dataset) -> list[tuple[str, Any, dict]]:
    """``(glue slug, Claim, extra glue values)`` for every claim whose remedy ran."""
    rows: list[tuple[str, Any, dict]] = []
    ref = str(ds.attrs.get("reference", "baseline"))
    for key, kind in (*((k, kind) for kind, k in FAIRER_CLAIMS.items()),
                      ("cui.representation_learning_fairer", "simclr-probe"),
                      ("cui.representation_learning_fairer", "simclr-finetune")):
        same = _of(ds, kind)
        for spec in same:
            rows.append((_slug(kind) if spec == same[0] else _slug(spec), _delta(
                key, ds, spec, "gap", below(0), id=_ident(key, spec, same, kind, key.endswith("learning_fairer")),
                measure=f"Δ gap between the best and the worst class, {spec} − {ref}", section=SECTION_SPREAD), {}))
    rows += _vs_probe_rows(ds)
    same = _of(ds, "reweight")
    n_hard = int((ds["difficulty"] == "hard").sum())
    for spec in same:
        tag = "reweight" if spec == same[0] else _slug(spec)
        rows.append((f"{tag}_hard", _delta(
            "cui.reweight_lifts_hard", ds, spec, "group", above(0), group="hard",
            id=_ident("cui.reweight_lifts_hard", spec, same, "reweight", False), section=SECTION_GROUPS,
            measure=f"Δ mean accuracy of the {n_hard} hardest classes (by chapter 1), {spec} − {ref}"), {}))
        rows.append((f"{tag}_easy", _delta(
            "cui.reweight_hurts_easy", ds, spec, "group", below(0), group="easy",
            id=_ident("cui.reweight_hurts_easy", spec, same, "reweight", False), section=SECTION_GROUPS,
            measure=f"Δ mean accuracy of the {n_hard} easiest classes (by chapter 1), {spec} − {ref}"), {}))
        rows.append((f"{tag}_gain", _delta(
            "cui.reweight_no_gain", ds, spec, "mean", below(0.01),
            id=_ident("cui.reweight_no_gain", spec, same, "reweight", False), section=SECTION_SPREAD,
            measure=f"Δ balanced accuracy, {spec} − {ref}",
            note="'no gain' read as: any gain is smaller than 0.01"), {}))
    from ..summary import FDR_Q
    k, q = int(ds.sizes["label"]), f"{FDR_Q:.0%}".replace("%", " %")
    for kind in AUGMENTATIONS:
        same = _of(ds, kind)
        for spec in same:
            n_hurt, p_min, names = _hurt_at_fdr(ds, spec)
            slug = f"aug_{_slug(kind) if spec == same[0] else _slug(spec)}"
            rows.append((slug, paper_claim(
                "lee.augmentation_hurts_some", measure=f"classes hurt at a {q} false-discovery rate across the {k} "
                f"classes, {spec} − {ref} (p: the smallest Benjamini-Hochberg adjusted p of a class that fell)",
                ours=n_hurt, p_value=p_min, rule=significant(FDR_Q), section=SECTION_CLASSES,
                id=_ident("lee.augmentation_hurts_some", spec, same, kind, True),
                note=f"Benjamini–Hochberg across the K = {k} classes (two-sided p of each class's paired change, "
                     f"the t of its interval); only classes whose change is negative count"),
                {f"rm_c_{slug}_classes": ", ".join(names) or "none"}))
    return rows + _long_claim_rows(ds)


def _long_claim_rows(ds: xr.Dataset) -> list[tuple[str, Any, dict]]:
    """The long budget's claims: for each long remedy of a kind in :data:`FAIRER_CLAIMS`, the same paper claim and
    rule as at the short budget (Δ gap below 0), against the long baseline; id ``<key>:long`` (``<key>:long:<spec>``
    when several specs share the kind), glue slug ``<kind>_long``."""
    view = long_view(ds)
    if view is None:
        return []
    ref, epochs = view.attrs["reference"], view.attrs["epochs"]
    rows: list[tuple[str, Any, dict]] = []
    for kind, key in FAIRER_CLAIMS.items():
        same = _of(view, kind)
        for spec in same:
            rows.append((f"{_slug(kind) if spec == same[0] else _slug(spec)}_long", _delta(
                key, view, spec, "gap", below(0), id=f"{key}:long" + (f":{spec}" if len(same) > 1 else ""),
                measure=f"Δ gap between the best and the worst class, {spec} − {ref}, both trained for {epochs} "
                        f"epochs (the long budget)", section=SECTION_LONG), {}))
    return rows


def _hurt_at_fdr(ds: xr.Dataset, spec: str) -> tuple[int, float, list[str]]:
    """For one entry: the number of classes hurt at a 5 % false-discovery rate (``hurt_fdr``), the smallest
    BH-adjusted p among the classes whose change is negative (1 when none is), and the hurt classes' names, hardest
    first."""
    e = ds.sel(remedy=spec)
    centre = (e["delta_accuracy_lower"].values + e["delta_accuracy_upper"].values) / 2  # the sign hurt_fdr uses
    fell = centre < 0
    p_adj = np.asarray(e["delta_accuracy_p_adjusted"].values, dtype=float)
    p_min = float(np.nanmin(p_adj[fell])) if fell.any() and np.isfinite(p_adj[fell]).any() else 1.0
    hurt = np.asarray(e["hurt_fdr"].values, dtype=bool)
    names = [str(ds["class_name"].values[i]) for i in np.argsort(ds["difficulty_rank"].values) if hurt[i]]
    return int(hurt.sum()), p_min, names


def _vs_probe_rows(ds: xr.Dataset) -> list[tuple[str, Any, dict]]:
    """The controlled representation-learning claim: Δ gap, simclr-probe − baseline-probe (same probe settings)."""
    from ..jobs.remedies import parse  # torch-free
    ctl = str(ds.attrs.get("probe_reference", ""))
    if "delta_gap_vs_probe" not in ds or not ctl:
        return []
    key = "cui.representation_learning_fairer"
    same = [s for s in _of(ds, "simclr-probe") if parse(s)[1]["C"] == parse(ctl)[1]["C"]]
    return [("simclr_vs_probe" if spec == same[0] else f"{_slug(spec)}_vs_probe", _delta(
        key, ds, spec, "gap_vs_probe", below(0), id=f"{key}:vs-probe" + (f":{spec}" if len(same) > 1 else ""),
        measure=f"Δ gap between the best and the worst class, {spec} − {ctl} (the same linear probe on the "
                f"baseline's own frozen features: what SimCLR's features change)", section=SECTION_SPREAD,
        note="per resample, the difference of the two entries' paired changes from the baseline"), {})
        for spec in same]


def claims(ds: xr.Dataset) -> xr.Dataset:
    """The papers' claims about the remedies that ran, each with our paired measure and its verdict."""
    return claims_dataset([c for _, c, _ in _claim_rows(ds)], chapter="remedies")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


#: the verdict glue keys the notebook's prose quotes (``rm_v_<slug>``), present even when not tested
VERDICT_SLUGS = ("mixup", "cutmix", "simclr_probe", "simclr_finetune", "simclr_vs_probe", "reweight_hard",
                 "reweight_easy", "reweight_gain", *(f"aug_{k}" for k in AUGMENTATIONS),
                 *(f"{_slug(k)}_long" for k in LONG_KINDS))
#: remedies whose changes the prose quotes (``rm_<slug>_d<stat>``), NaN when not run
PROSE_KINDS = ("mixup", "cutmix", "randaugment", "trivialaugment", "reweight", "focal", "label-smoothing",
               "baseline-probe", "simclr-finetune", "simclr-probe")


def glue_values(ds: xr.Dataset) -> dict[str, float | int | str]:
    """Every value the prose quotes, keyed ``rm_*``.

    Per remedy kind (first spec of that kind; NaN when it did not run): ``rm_<kind>_dgap``,
    ``_dmean``, ``_dhard``, ``_deasy``, each with ``_lo`` / ``_hi``. Per claim: ``rm_v_<slug>`` (its
    verdict, or "not tested …") and ``rm_c_<slug>`` with ``_lo`` / ``_hi`` (our measure), ``rm_p_<slug>`` (its
    p-value, NaN for an interval); ``rm_c_aug_<kind>_classes`` names the classes hurt at FDR 5 %.
    ``rm_n_remedies``, ``rm_n_hurting`` and ``rm_best_gap_*`` leave out the controls (:data:`CONTROLS`).
    Per kind also ``rm_<kind>_n_hurt`` / ``_n_helped`` (classes at FDR 5 %).

    The long budget (:func:`long_view`; NaN, "–" or :data:`NOT_TESTED_LONG` when it did not run):
    ``rm_long_epochs``, ``rm_long_note`` (a sentence saying what ran, or that nothing did),
    ``rm_long_n_runs``, ``rm_long_train_minutes``, ``rm_long_baseline_gap`` / ``_mean``; per kind of
    :data:`LONG_KINDS` ``rm_long_<kind>_dgap``, ``_dmean``, ``_dworst``, ``_dhard``, ``_deasy`` (each with
    ``_lo`` / ``_hi``), ``_n_hurt``, ``_n_helped``, ``_hurt_classes``, ``_helped_classes``; the claims'
    ``rm_v_<kind>_long`` etc. as above.
    """
    specs = _remedy_specs(ds)
    ref = str(ds.attrs.get("reference", "baseline"))
    out: dict[str, float | int | str] = {
        "rm_n_remedies": len(specs),
        "rm_train_minutes": float(ds["train_minutes"]),
        "rm_n_hurting": sum(bool((ds["verdict"].sel(remedy=s) == "hurt").any()) for s in specs),
        "rm_baseline_gap": float(ds["gap"].sel(remedy=ref)),
        "rm_baseline_mean": float(ds["mean"].sel(remedy=ref)),
        "rm_ranked_by": str(ds.attrs.get("ranked_by", "")),
        "rm_n_test": int(ds.attrs.get("n_test", 0)),
        "rm_n_boot": int(ds.attrs.get("n_boot", 0)),
    }
    a = ds.attrs
    tpc = str(a.get("train_per_class", ""))
    out |= {"rm_dataset": str(a.get("dataset", "")), "rm_model": str(a.get("model", "")),
            "rm_epochs": int(a.get("epochs", 0)), "rm_n_seeds": int(a.get("n_seeds", 0)),
            "rm_n_classes": int(ds.sizes["label"]),
            "rm_n_train": f"{int(tpc) * ds.sizes['label']:,}" if tpc.isdigit() else "all the"}
    out |= {"rm_reweight_heldout": _setting(ds, "reweight", "heldout_per_class"),
            "rm_simclr_epochs": _setting(ds, "simclr-probe", "epochs", _setting(ds, "simclr-finetune", "epochs"))}
    order = np.argsort(ds["difficulty_rank"].values)
    for g in ("hard", "medium", "easy"):
        names = [str(ds["class_name"].values[i]) for i in order if str(ds["difficulty"].values[i]) == g]
        out[f"rm_{g}_classes"] = ", ".join(names)
        out[f"rm_n_{g}"] = len(names)
    if specs:
        best = min(specs, key=lambda s: float(ds["delta_gap"].sel(remedy=s)))
        v, lo, hi = _triple(ds, "delta_gap", remedy=best)
        out |= {"rm_best_gap_remedy": best, "rm_best_gap_delta": v, "rm_best_gap_lo": lo, "rm_best_gap_hi": hi}
    for kind in PROSE_KINDS:
        out |= _kind_values(ds, kind, f"rm_{_slug(kind)}", _DELTAS)
    view = long_view(ds)
    for kind in LONG_KINDS:
        out |= _kind_values(view, kind, f"rm_long_{_slug(kind)}", (*_DELTAS, ("dworst", "delta_worst", {})),
                            classes=True)
    out |= _long_values(ds, view)
    for slug in VERDICT_SLUGS:  # every key the prose may quote, also for a claim that was not tested
        missing = NOT_TESTED_LONG if view is None and slug.endswith("_long") else NOT_TESTED
        out |= {f"rm_v_{slug}": missing, f"rm_c_{slug}": math.nan, f"rm_c_{slug}_lo": math.nan,
                f"rm_c_{slug}_hi": math.nan, f"rm_p_{slug}": math.nan} | \
            ({f"rm_c_{slug}_classes": "–"} if slug.startswith("aug_") else {})
    rows = _claim_rows(ds)
    for slug, c, extra in rows:
        out |= {f"rm_v_{slug}": c.verdict, f"rm_c_{slug}": c.ours, f"rm_c_{slug}_lo": c.lower,
                f"rm_c_{slug}_hi": c.upper, f"rm_p_{slug}": c.p_value, **extra}
    counts = verdict_counts(claims_dataset([c for _, c, _ in rows], chapter="remedies")) if rows else {}
    out |= {"rm_n_claims": len(rows), "rm_n_agrees": counts.get(AGREES, 0),
            "rm_n_disagrees": counts.get(DISAGREES, 0), "rm_n_cannot_tell": counts.get(CANNOT_TELL, 0)}
    return out


_DELTAS = (("dgap", "delta_gap", {}), ("dmean", "delta_mean", {}), ("dhard", "delta_group", {"group": "hard"}),
           ("deasy", "delta_group", {"group": "easy"}))


def _kind_values(ds: xr.Dataset | None, kind: str, prefix: str, deltas: Sequence[tuple[str, str, dict]], *,
                 classes: bool = False) -> dict[str, Any]:
    """``<prefix>_<name>`` (with ``_lo`` / ``_hi``) for each delta of the first spec of ``kind``, and the number of
    classes it hurts / helps at FDR 5 % (``_n_hurt`` / ``_n_helped``; with ``classes`` their names too); NaN /
    "–" when ``ds`` is None or no spec of ``kind`` ran."""
    same = _of(ds, kind) if ds is not None else []
    out: dict[str, Any] = {}
    for name, var, sel in deltas:
        v, lo, hi = _triple(ds, var, remedy=same[0], **sel) if same else (math.nan,) * 3
        out |= {f"{prefix}_{name}": v, f"{prefix}_{name}_lo": lo, f"{prefix}_{name}_hi": hi}
        if var != "delta_group":  # how far a re-run with the same seeds may move it (summary.DELTA_STATS)
            ok = same and f"{var}_rerun" in ds
            out[f"{prefix}_{name}_rerun"] = float(ds[f"{var}_rerun"].sel(remedy=same[0], **sel)) if ok else math.nan
    for word in ("hurt", "helped"):
        names = _classes_with(ds, same[0], word) if same else None
        out[f"{prefix}_n_{word}"] = len(names) if names is not None else math.nan
        if classes:
            out[f"{prefix}_{word}_classes"] = (", ".join(names) or "none") if names is not None else "–"
    return out


def _classes_with(ds: xr.Dataset, spec: str, word: str) -> list[str]:
    """The classes whose verdict under ``spec`` is ``word`` (hurt / helped / unclear), hardest first."""
    verdict = [str(v) for v in ds["verdict"].sel(remedy=spec).values]
    return [str(ds["class_name"].values[i]) for i in np.argsort(ds["difficulty_rank"].values) if verdict[i] == word]


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"


def _long_values(ds: xr.Dataset, view: xr.Dataset | None) -> dict[str, Any]:
    """The long budget's scalars (:func:`glue_values`), NaN and a "did not run" note without it."""
    if view is None:
        return {"rm_long_epochs": math.nan, "rm_long_n_runs": 0, "rm_long_train_minutes": math.nan,
                "rm_long_baseline_gap": math.nan, "rm_long_baseline_mean": math.nan,
                "rm_long_remedies": "none", "rm_long_note":
                    "No long-budget runs in this run: the parameter long_epochs is null or not above epochs, so the "
                    "table below is empty and the long-budget verdicts read \"not tested\"."}
    ref, epochs = view.attrs["reference"], int(view.attrs["epochs"])
    specs = _specs(view)
    n_runs = int(view.sizes["remedy"]) * int(view.attrs["n_seeds"])
    return {"rm_long_epochs": epochs, "rm_long_n_runs": n_runs,
            "rm_long_train_minutes": float(view["train_minutes"]),
            "rm_long_baseline_gap": float(view["gap"].sel(remedy=ref)),
            "rm_long_baseline_mean": float(view["mean"].sel(remedy=ref)),
            "rm_long_remedies": ", ".join(specs) or "none",
            "rm_long_note": f"The long budget: {_and([f'the {ref}', *specs])} trained again for "
                            f"{epochs} epochs instead of {ds.attrs.get('epochs', 'the short budget’s')} (the same "
                            f"model, seeds, training images and settings), {n_runs} runs that took "
                            f"{float(view['train_minutes']):.1f} minutes when trained; each remedy is paired with "
                            f"the {epochs}-epoch {ref}, seed by seed."}


def _setting(ds: xr.Dataset, kind: str, name: str, default: Any = "–") -> Any:
    """Setting ``name`` of the first remedy of ``kind`` (its spec's value or the remedy's default)."""
    from ..jobs.remedies import parse  # torch-free
    same = _of(ds, kind)
    return parse(same[0])[1][name] if same else default


def _controls_text(ds: xr.Dataset) -> str:
    n = len(_specs(ds)) - len(_remedy_specs(ds))
    return f" and {n} control{'s' if n != 1 else ''} ({', '.join(CONTROLS)})" if n else ""


def profile_text(ds: xr.Dataset) -> str:
    """The Markdown sentence that opens the chapter: what ran, at which scale, how long it took."""
    a = ds.attrs
    n = ds.sizes["remedy"]
    n_seeds = int(a.get("n_seeds", 0))
    return (f"**Profile `{a.get('profile', '')}`.** {a.get('model', '')} on {a.get('dataset', '')} "
            f"({a.get('train_per_class', '')} training images per class, the full test set of "
            f"{int(a.get('n_test', 0)):,} images), {a.get('epochs', '')} epochs, {a.get('optimizer', '')} lr "
            f"{a.get('lr', '')}, augmentation `{a.get('augment', '')}`"
            + (f", precision `{a['precision_asked']}` (bf16 autocast where the CPU/GPU has it, else fp32; the SimCLR "
               f"pre-training runs fp32)" if a.get("precision_asked", "fp32") != "fp32" else "")
            + f"; seeds {a.get('seeds', '')} for every remedy. "
            f"{len(_remedy_specs(ds))} remedies{_controls_text(ds)} plus the baseline = {n * n_seeds} runs, which took "
            f"{float(ds['train_minutes']):.1f} minutes when trained (the baseline is chapter 1's cached run when the "
            f"configuration is the same). Intervals: {a.get('ci_method', '')}, {int(a.get('n_boot', 0))} replicates."
            + _long_profile_text(ds))


def _long_profile_text(ds: xr.Dataset) -> str:
    view = long_view(ds)
    if view is None:
        return ""
    n = int(view.sizes["remedy"]) * int(view.attrs["n_seeds"])
    who = _and([f"the {view.attrs['reference']}", *_specs(view)])
    return (f" Long budget: {who} again at "
            f"{view.attrs['epochs']} epochs, {n} more runs ({float(view['train_minutes']):.1f} minutes when trained).")


# ---------------------------------------------------------------------------------------------------------------
# tables and the one chart the shared viz cannot colour as the prose says


def _fmt(v: float, lo: float, hi: float, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def tables(ds: xr.Dataset) -> dict[str, Any]:
    """Every table and chart frame of the notebook.

    ``remedies`` (what each does), ``values`` and ``deltas`` (formatted, 95 % CI), ``stat_deltas``
    (long: remedy × statistic change with bounds and direction), ``classes`` (long: remedy × class,
    hardest class first, with the verdict), ``groups`` (long: remedy × group), ``hurt`` (the classes
    each remedy hurts / helps at a 5 % false-discovery rate across its classes); the long budget beside the
    short one: ``long`` (baseline and long remedies; per budget balanced accuracy, gap, Δ gap and Δ worst
    class with 95 % CI, classes hurt / helped at FDR 5 %) and ``long_classes`` (``classes``' columns, each long
    remedy at both budgets, the budget in the remedy column); both empty when the long part did not run.
    """
    import pandas as pd

    specs = _specs(ds)
    all_specs = [str(s) for s in ds["remedy"].values]
    order = [int(i) for i in np.argsort(ds["difficulty_rank"].values)]
    names = [str(c) for c in ds["class_name"].values]
    verdict = {s: [str(v) for v in ds["verdict"].sel(remedy=s).values] for s in specs}
    out: dict[str, Any] = {"remedies": pd.DataFrame(
        {"remedy": all_specs, "what it does": [str(d) for d in ds["description"].values]}).set_index("remedy")}
    out["values"] = pd.DataFrame(
        [{"remedy": s, **{t: _fmt(*_triple(ds, st, remedy=s)) for st, t in STAT_TITLES.items()}} for s in all_specs]
    ).set_index("remedy")
    out["deltas"] = pd.DataFrame(
        [{"remedy": s, **{f"Δ {t}": _fmt(*_triple(ds, f"delta_{st}", remedy=s), signed=True)
                          for st, t in STAT_TITLES.items()}} for s in specs]).set_index("remedy")
    rows = []
    for s in specs:
        for st, t in STAT_TITLES.items():
            v, lo, hi = _triple(ds, f"delta_{st}", remedy=s)
            rows.append({"remedy": s, "statistic": t, "change": v, "lower": lo, "upper": hi,
                         "direction": direction(lo, hi)})
    out["stat_deltas"] = pd.DataFrame(rows, columns=["remedy", "statistic", "change", "lower", "upper", "direction"])
    out["classes"] = _class_frame(ds, specs)
    rows = []
    for s in specs:
        for g in [str(x) for x in ds["group"].values]:
            v, lo, hi = _triple(ds, "delta_group", remedy=s, group=g)
            rows.append({"remedy": s, "group": g, "Δ accuracy": v, "lower": lo, "upper": hi,
                         "direction": direction(lo, hi)})
    out["groups"] = pd.DataFrame(rows, columns=["remedy", "group", "Δ accuracy", "lower", "upper", "direction"])

    def listed(s: str, word: str) -> str:
        return ", ".join(names[i] for i in order if verdict[s][i] == word) or "none"

    out["hurt"] = pd.DataFrame(
        [{"remedy": s, "classes hurt": listed(s, "hurt"), "classes helped": listed(s, "helped")} for s in specs],
        columns=["remedy", "classes hurt", "classes helped"]).set_index("remedy")
    out["long"], out["long_classes"] = _long_tables(ds)
    return out


_CLASS_COLUMNS = ["remedy", "class", "Δ accuracy", "lower", "upper", "baseline accuracy", "difficulty", "verdict"]


def _class_frame(ds: xr.Dataset, specs: Sequence[str], label: Any = None) -> Any:
    """Long frame remedy × class (hardest first) of the per-class changes and verdicts; ``label(spec)`` names the
    remedy column's entries (default: the spec)."""
    import pandas as pd
    ref = str(ds.attrs.get("reference", ds["remedy"].values[0]))
    base_acc = ds["accuracy"].sel(remedy=ref).values
    names = [str(c) for c in ds["class_name"].values]
    rows = []
    for s in specs:
        verdict = [str(v) for v in ds["verdict"].sel(remedy=s).values]
        for i in (int(j) for j in np.argsort(ds["difficulty_rank"].values)):
            v, lo, hi = _triple(ds, "delta_accuracy", remedy=s, label=ds["label"].values[i])
            rows.append({"remedy": label(s) if label else s, "class": names[i], "Δ accuracy": v, "lower": lo,
                         "upper": hi, "baseline accuracy": float(base_acc[i]),
                         "difficulty": str(ds["difficulty"].values[i]), "verdict": verdict[i]})
    return pd.DataFrame(rows, columns=_CLASS_COLUMNS)


_LONG_MEASURES = ("balanced accuracy", "gap", "Δ gap [95% CI]", "Δ worst class [95% CI]", "classes hurt",
                  "classes helped")


def _budget_row(ds: xr.Dataset | None, spec: str) -> list[Any]:
    """One budget's cells of the long table for ``spec`` ("–" where it did not run or is the reference)."""
    if ds is None or spec not in [str(s) for s in ds["remedy"].values]:
        return ["–"] * len(_LONG_MEASURES)
    cells: list[Any] = [f"{float(ds['mean'].sel(remedy=spec)):.3f}", f"{float(ds['gap'].sel(remedy=spec)):.3f}"]
    if spec == str(ds.attrs.get("reference", ds["remedy"].values[0])):
        return cells + ["–"] * 4
    return cells + [_fmt(*_triple(ds, "delta_gap", remedy=spec), signed=True),
                    _fmt(*_triple(ds, "delta_worst", remedy=spec), signed=True),
                    len(_classes_with(ds, spec, "hurt")), len(_classes_with(ds, spec, "helped"))]


def _long_tables(ds: xr.Dataset) -> tuple[Any, Any]:
    """The long budget beside the short one: ``long`` (index = the reference and the long remedies; columns
    (budget, measure)) and ``long_classes`` (:func:`_class_frame` of each long remedy at the short budget, when it
    ran there, then at the long one; the remedy column says the budget). Both empty without a long part."""
    import pandas as pd
    view = long_view(ds)
    short = f"{ds.attrs['epochs']} epochs" if "epochs" in ds.attrs else "short budget"
    long = f"{view.attrs['epochs']} epochs" if view is not None else "long budget"
    columns = pd.MultiIndex.from_product([[short, long], list(_LONG_MEASURES)], names=["budget", ""])
    if view is None:
        return (pd.DataFrame([], columns=columns, index=pd.Index([], name="remedy")),
                pd.DataFrame([], columns=_CLASS_COLUMNS))
    specs = [str(view.attrs["reference"]), *_specs(view)]
    table = pd.DataFrame([_budget_row(ds, s) + _budget_row(view, s) for s in specs], columns=columns,
                         index=pd.Index(specs, name="remedy"))
    short_specs = set(_specs(ds))
    frames = [f for s in _specs(view) for f in
              ([_class_frame(ds, [s], lambda x: f"{x}, {short}")] if s in short_specs else [])
              + [_class_frame(view, [s], lambda x: f"{x}, {long}")]]
    return table, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame([], columns=_CLASS_COLUMNS)


def class_forest(frame: Any, **kwargs: Any) -> Any:
    """:func:`fairnotes.viz.forest` of ``tables(ds)["classes"]``, one panel per remedy, coloured by verdict with
    :data:`VERDICT_COLOURS` (hurt red, helped blue, unclear grey) whatever verdicts occur.

    ``viz.forest`` picks colours from the default palette in the order the values sort, which drew
    "hurt" orange; this sets an explicit scale on its layers. An empty frame (e.g. ``tables(ds)["long_classes"]``
    when the long budget did not run) gives a one-line Markdown note instead of an empty chart.
    """
    if len(frame) == 0:
        from IPython.display import Markdown
        return Markdown("*Nothing to draw: no runs for this chart in this run.*")
    import altair as alt

    from .. import viz
    opts = dict(facet="remedy", columns=3, title="Per-class change in test accuracy, remedy − baseline (95% CI)",
                tooltip=["remedy", "class", "Δ accuracy", "lower", "upper", "baseline accuracy", "difficulty"])
    chart = viz.forest(frame, "Δ accuracy", "class", "lower", "upper", color="verdict", **{**opts, **kwargs})
    scale = alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values()))
    layered = getattr(chart, "spec", chart)
    for layer in getattr(layered, "layer", []):
        enc = getattr(layer, "encoding", alt.Undefined)
        colour = getattr(enc, "color", alt.Undefined) if enc is not alt.Undefined else alt.Undefined
        if colour is not alt.Undefined:
            enc.color = alt.Color("verdict:N", title="verdict", scale=scale)
    return chart


# ------------------------------------------------------------------------------------------ the short answer

_ANSWER_NAMES = {"mixup": "Mixup", "cutmix": "CutMix", "randaugment": "RandAugment", "trivialaugment": "TrivialAugment"}


def _ans_ci(v: float, lo: float, hi: float, fmt: str = "+.3f") -> str:
    from ._common import ci_text
    return ci_text(v, lo, hi, fmt)


def _ans_first(verdict: dict[str, str], key: str, *, long: bool = False) -> str | None:
    """The first claim id of ``key`` (``key``, ``key:<spec>``; with ``long`` ``key:long``, ``key:long:<spec>``)."""
    for cid in verdict:
        rest = cid[len(key):] if cid.startswith(key) else None
        if rest is None or (rest and not rest.startswith(":")):
            continue
        if long == (rest == ":long" or rest.startswith(":long:")):
            return cid
    return None


def _ans_and(items: Sequence[str], word: str = "and") -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _ans_name(spec: str) -> str:
    """``"mixup:alpha=1.0"`` → ``"Mixup (alpha=1.0)"``."""
    kind, _, opts = spec.partition(":")
    return _ANSWER_NAMES.get(kind, kind) + (f" ({opts})" if opts else "")


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer to "whom do the remedies help, whom do they hurt?", in up to three sentences
    whose wording follows the verdicts: Mixup and CutMix on the best–worst gap (both budgets, where they ran), the
    augmentations that hurt some classes at a 5 % false-discovery rate, and re-weighting (hard classes, easy
    classes, overall); each change with its 95 % paired interval."""
    found = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(found["claim"].values, found["verdict"].values)}

    def ci(cid: str, fmt: str = "+.3f") -> str:
        r = found.sel(claim=cid)
        return _ans_ci(float(r["ours"]), float(r["lower"]), float(r["upper"]), fmt)

    def gap(cid: str, noun: str) -> str:
        return {AGREES: f"narrows {noun} ({ci(cid)})", DISAGREES: f"widens {noun} ({ci(cid)})"}.get(
            verdict[cid], f"does not measurably change {noun} ({ci(cid)})")

    out = []
    budgets = []
    for long, epochs in ((False, int(ds.attrs.get("epochs", 0))),
                         (True, int(long_view(ds).attrs["epochs"]) if long_view(ds) is not None else 0)):
        found_ids = [(name, _ans_first(verdict, key, long=long)) for name, key in
                     (("Mixup", "cui.mixup_fairer"), ("CutMix", "cui.cutmix_fairer"))]
        said = [f"{name} {gap(cid, 'the best–worst gap' if not budgets and i == 0 else 'it')}"
                for i, (name, cid) in enumerate((n, c) for n, c in found_ids if c)]
        if said:
            budgets.append(f"at {epochs} epochs {' and '.join(said)}")
    if budgets:
        text = "; ".join(budgets)
        out.append(f"{text[0].upper()}{text[1:]}.")
    aug = [(cid, cid.split(":", 1)[1]) for cid in verdict if cid.startswith("lee.augmentation_hurts_some:")]
    if aug:
        hurt = [(_ans_name(s), int(float(found["ours"].sel(claim=c)))) for c, s in aug if verdict[c] == AGREES]
        fine = [_ans_name(s) for c, s in aug if verdict[c] != AGREES]
        if hurt:
            n = [k for _, k in hurt]
            out.append((f"{hurt[0][0]} makes {n[0]} class{'es' if n[0] != 1 else ''}" if len(hurt) == 1 else
                        f"{_ans_and([h for h, _ in hurt])} make respectively {_ans_and([str(k) for k in n])} "
                        f"classes") + " significantly worse at a 5 % false-discovery rate"
                       + (f", while under {_ans_and(fine, 'or')} no class falls significantly" if fine else "") + ".")
        else:
            out.append(f"Under {_ans_and(fine, 'or')} no class falls significantly at a 5 % false-discovery rate.")
    hard, easy, gain = (_ans_first(verdict, k) for k in ("cui.reweight_lifts_hard", "cui.reweight_hurts_easy",
                                                         "cui.reweight_no_gain"))
    if hard and easy and gain:
        h = {AGREES: "lifts the hard classes", DISAGREES: "lowers the hard classes it weights up"}.get(
            verdict[hard], "does not measurably change the hard classes")
        e = {AGREES: "costs the easy ones", DISAGREES: "lifts the easy ones too"}.get(
            verdict[easy], "leaves the easy ones unchanged within the noise")
        g = {AGREES: "brings no overall gain", DISAGREES: "raises balanced accuracy by more than 0.01"}.get(
            verdict[gain], "may or may not raise balanced accuracy by 0.01")
        out.append(f"Re-weighting toward the hard classes {h} ({ci(hard)}), {e} ({ci(easy)}) and {g} (balanced "
                   f"accuracy {ci(gain)}).")
    return " ".join(out)
