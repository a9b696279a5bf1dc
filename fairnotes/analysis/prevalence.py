"""Chapter "How unequal are classes?" (``book/prevalence.md``): the spread of per-class accuracy on balanced data.

For every data set: a sweep of models × seeds (cached training runs), the disparity of per-class
accuracy with test-image bootstrap intervals, a binomial noise-floor test per run, agreement of the
class rankings across seeds and across architectures, the capacity sweep, and each run's overall
accuracy against its best–worst gap. Optionally, pretrained ImageNet classifiers evaluated only.

Is the disparity an undertraining artefact? On the first data set, the ``budget_models`` train
``budget_epochs`` on the same subset (the disparity of every epoch, from the runs' histories), and
``full_data_model`` trains ``full_data_epochs`` on the whole training set. Both look only at models the
main sweep trains on that data set (others are skipped), so a one-model re-run stays as quick as before.

>>> from fairnotes.analysis import prevalence
>>> p = prevalence.Params(datasets=("digits",), models=("mlp", "cnn:width=8"), capacity=(), seeds=(0,))
>>> prevalence.architectures(p, "digits")
['mlp', 'cnn:width=8']
>>> ds = prevalence.run(p)                              # doctest: +SKIP
>>> prevalence.claims(ds)["verdict"].values             # doctest: +SKIP

:func:`summarize` is pure and torch-free: it turns the stacked sweeps into every number of the chapter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ._claims import AGREES, CANNOT_TELL, DISAGREES, Claim, above, below, claims_dataset, near, significant
from ._common import paper_claim, per_dataset, rerun_band, seed_interval, short_name, spearman_ci
from ._params import ChapterParams
from ._store import JobLog, cached_analysis

__all__ = ["Params", "run", "base_config", "architectures", "budget_specs", "budget_configs", "full_data_spec",
           "full_data_base", "full_data_configs", "summarize", "stack_histories", "budget_summary",
           "full_data_summary", "undertraining_answer", "claims", "glue_values", "tables", "describe", "curves",
           "spearman_matrices", "best_worst_examples", "NOISE_RULE", "CAPACITY_RULE", "BUDGET_RULE",
           "STRONG_AGREEMENT", "FULL_DATA_TARGETS", "SECTIONS", "CLAIM_IDS"]

#: a spread is "beyond sampling noise" when the noise-floor test rejects at this level (every seed)
NOISE_RULE = significant(0.01)
#: "more capacity narrows the gap": the paired change in gap, largest minus smallest model, lies below 0
CAPACITY_RULE = below(0)
#: Kendall's W above this is conventionally read as strong agreement
STRONG_AGREEMENT = 0.7
PAPER_FIGURE = "cui2024_imagenet_resnet50"
#: "the gap survives longer training": (gap at the last epoch − gap at the main run's epoch count) of the long
#: runs, a t-interval over seeds, lies within ±0.05
BUDGET_RULE = near(0, margin=0.05)
#: which way a gap that moved beyond the band went: below 0 = narrows, above = widens
_DIRECTION_RULE = below(0)
#: the budget curves' worst-k mean: the worst 10 % of classes, at least 3 (as fairnotes.summary.by_model)
WORST_FRACTION, WORST_MIN = 0.1, 3
#: overall test accuracy a small CNN reaches when trained on the whole training set ("well trained"), per data
#: set; a data set not listed has no target and the chapter says so
FULL_DATA_TARGETS = {"fashion-mnist": 0.92}
#: the one paper claim tested again on the full-data model, and our own claim on the long runs
CONVERGED_ID, BUDGET_ID = "cui.balanced_disparity:converged", "budget.gap_survives"
OURS = "ours (test of the paper's premise)"

#: the notebook's section headings (each claim names the one that shows its evidence)
SECTIONS = {"spread": "The spread of per-class accuracy", "noise": "Is the spread more than sampling noise?",
            "agreement": "Are the same classes hard for every model?",
            "capacity": "Capacity, accuracy and disparity",
            "undertraining": "Is the disparity an undertraining artefact?", "paper": "What we found beside the paper"}

#: the claims this chapter tests (keys of :data:`fairnotes.reference.PAPER_CLAIMS`), short glue names
CLAIM_IDS = {"cui.balanced_disparity": "balanced_disparity", "cui.across_architectures": "across_architectures",
             "cui.across_datasets": "across_datasets", "cui.across_capacity": "across_capacity",
             "cui.shared_hard_classes": "shared_hard_classes", CONVERGED_ID: "balanced_disparity_converged",
             BUDGET_ID: "gap_survives"}

_CAPACITY_WORDS = {AGREES: "narrows", DISAGREES: "widens", CANNOT_TELL: "does not clearly change"}
_CAPACITY_PHRASES = {"narrows": "the gap narrows", "widens": "the gap widens",
                     "does not clearly change": "no clear change in the gap"}
_STRING_VARS = ("best_class", "worst_class", "best_model", "capacity_smallest", "capacity_largest", "capacity_word")
_BUDGET_STATS = ("gap", "std", "worst_k_mean", "overall_accuracy")


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (see ``book/prevalence.md`` for each one's meaning).

    ``precision`` reaches every training run (the main sweep, the long runs, the full-data runs: all derive from
    :func:`base_config`); the ImageNet evaluation-only runs stay fp32 (``EvalConfig`` has no precision option).
    """

    chapter: ClassVar[str] = "prevalence"
    datasets: tuple[str, ...] = ("fashion-mnist", "mnist-5k", "digits")
    models: tuple[str, ...] = ("mlp", "cnn", "resnet8", "vit:embed_dim=64,depth=4,num_heads=2,patch_size=4")
    capacity: tuple[str, ...] = ("cnn:width=4", "cnn:width=8", "cnn:width=16", "cnn")
    capacity_datasets: tuple[str, ...] = ("fashion-mnist",)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int | dict[str, int] = field(default_factory=lambda: {"fashion-mnist": 4, "mnist-5k": 6, "digits": 30})
    train_per_class: int | dict[str, int | None] | None = field(default_factory=lambda: {"fashion-mnist": 1000})
    batch_size: int = 128
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.05
    augment: str = "crop"
    precision: Literal["fp32", "bf16"] = "fp32"
    pretrained: bool = False
    n_boot: int = 1000
    imagenet_models: tuple[str, ...] = ()
    imagenet_root: str | None = None
    budget_models: tuple[str, ...] = ("cnn",)
    budget_epochs: int = 30
    budget_seeds: tuple[int, ...] = (0, 1, 2)
    full_data_model: str = "cnn"
    full_data_epochs: int = 20
    full_data_seeds: tuple[int, ...] = (0,)


# ----------------------------------------------------------------------------------------------- jobs

def base_config(p: Params, dataset: str):
    """The :class:`~fairnotes.jobs.train.TrainConfig` every run on ``dataset`` starts from (``model`` is a
    placeholder; :func:`fairnotes.jobs.sweep.configs` sets model and seed)."""
    from ..jobs import train
    return train.TrainConfig(
        dataset=dataset, epochs=per_dataset(p.epochs, dataset), batch_size=p.batch_size, optimizer=p.optimizer,
        lr=p.lr, weight_decay=p.weight_decay, augment=p.augment,
        train_per_class=per_dataset(p.train_per_class, dataset), pretrained=p.pretrained, profile=p.profile,
        model="mlp", precision=p.precision)


def architectures(p: Params, dataset: str) -> list[str]:
    """The model specs trained on ``dataset``: ``models``, then ``capacity`` where it applies, without repeats."""
    extra = p.capacity if dataset in p.capacity_datasets else ()
    return list(dict.fromkeys([*p.models, *extra]))


def imagenet_configs(p: Params) -> dict:
    """The evaluation-only runs of ``imagenet_models`` on ``imagenet_root``'s ``val`` folder, by spec: the published
    weights, or a local checkpoint named in the spec (``resnet50:weights=~/my.safetensors``)."""
    from ..jobs import evaluate, sweep
    out = {}
    for m in p.imagenet_models:
        name, kwargs = sweep.parse_model(m)
        out[m] = evaluate.EvalConfig(dataset="imagenet", split="val", model=name, model_kwargs=kwargs,
                                     pretrained=True, data_root=p.imagenet_root)
    return out


def budget_specs(p: Params) -> list[str]:
    """The ``budget_models`` trained longer: those the main sweep trains on the first data set (others skipped)."""
    trained = architectures(p, p.datasets[0])
    return [m for m in dict.fromkeys(p.budget_models) if m in trained] if p.budget_seeds else []


def budget_configs(p: Params) -> list:
    """The long runs: each of :func:`budget_specs` × ``budget_seeds`` on the first data set's subset, for
    ``budget_epochs`` (everything else as the main sweep's runs)."""
    from dataclasses import replace

    from ..jobs import sweep
    base = replace(base_config(p, p.datasets[0]), epochs=p.budget_epochs)
    return [replace(c, progress=False) for c in sweep.configs(base, models=budget_specs(p), seeds=p.budget_seeds)]


def full_data_spec(p: Params) -> str | None:
    """``full_data_model`` when the main sweep trains it on the first data set (and seeds are given), else None."""
    ok = p.full_data_seeds and p.full_data_model in architectures(p, p.datasets[0])
    return p.full_data_model if ok else None


def full_data_base(p: Params):
    """The first data set's base config on the whole training set, for ``full_data_epochs``."""
    from dataclasses import replace
    return replace(base_config(p, p.datasets[0]), train_per_class=None, epochs=p.full_data_epochs)


def full_data_configs(p: Params) -> list:
    """The full-data runs (what :func:`fairnotes.jobs.sweep.run` trains for them); empty when skipped."""
    from ..jobs import sweep
    spec = full_data_spec(p)
    return sweep.configs(full_data_base(p), models=[spec], seeds=p.full_data_seeds) if spec else []


def run(p: Params, *, refresh: bool = False, progress: bool = True) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code; the training runs are cached on their own)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


def _compute(p: Params, *, progress: bool = True) -> xr.Dataset:
    from .. import results
    from ..jobs import sweep

    log = JobLog()
    sweeps = {}
    for name in p.datasets:
        base, specs = base_config(p, name), architectures(p, name)
        for cfg in sweep.configs(base, models=specs, seeds=p.seeds):
            log.add("train", cfg)
        sweeps[name] = sweep.run(base, models=specs, seeds=list(p.seeds), progress=progress)
    first = p.datasets[0]
    budget = None
    if budget_specs(p):
        from ..jobs import train
        specs = [s for s in budget_specs(p) for _ in p.budget_seeds]
        runs = {}
        for spec, cfg in zip(specs, budget_configs(p)):
            log.add("train", cfg)
            runs[(spec, cfg.seed)] = results.cached(train.run, cfg)
        budget = stack_histories(runs)
    full, n_train = None, None
    if full_data_spec(p):
        from dataclasses import replace

        from ..jobs import train
        cfgs = full_data_configs(p)
        for cfg in cfgs:
            log.add("train", cfg)
        full = sweep.run(full_data_base(p), models=[full_data_spec(p)], seeds=list(p.full_data_seeds),
                         progress=progress)
        n_train = int(results.cached(train.run, replace(cfgs[0], progress=False)).attrs["n_train"])  # cache hit
    imagenet = {}
    if p.imagenet_models:
        from ..jobs import evaluate
        for m, cfg in imagenet_configs(p).items():
            log.add("evaluate", cfg)
            imagenet[m] = results.cached(evaluate.run, cfg)
    ds = summarize(sweeps, models=p.models, capacity=p.capacity, capacity_datasets=p.capacity_datasets,
                   n_boot=p.n_boot, imagenet=imagenet, budget=budget,
                   budget_short_epochs=per_dataset(p.epochs, first), full_data=full, full_data_n_train=n_train,
                   full_data_epochs=p.full_data_epochs)
    ds.attrs["jobs"] = log.keys
    return ds


# ----------------------------------------------------------------------------------------- summary

def summarize(sweeps: Mapping[str, xr.Dataset], *, models: Sequence[str], capacity: Sequence[str] = (),
              capacity_datasets: Sequence[str] = (), n_boot: int = 1000, n_sim: int = 2000,
              confidence: float = 0.95, seed: int = 0,
              imagenet: Mapping[str, xr.Dataset] | None = None, budget: xr.Dataset | None = None,
              budget_short_epochs: int | None = None, full_data: xr.Dataset | None = None,
              full_data_n_train: int | None = None, full_data_epochs: int | None = None) -> xr.Dataset:
    """Every number of the chapter from the stacked sweeps (:func:`fairnotes.jobs.sweep.run`), one per data set.

    Dims ``dataset``, ``model`` (every spec trained on some data set: ``models`` first), ``seed``, ``label``
    (padded with NaN / "" for data sets with fewer classes), ``model_other``; ``imagenet_model`` when
    ``imagenet`` is given. Variables:

    - from :func:`fairnotes.summary.by_model` per data set: ``accuracy`` (+ bounds, ``accuracy_seed_std``,
      ``accuracy_by_seed``), each of :data:`fairnotes.summary.STATS` with ``_lower``/``_upper``,
      ``best_class``/``worst_class``, ``noise_p_value``/``noise_observed``/``noise_null_upper`` (per seed),
      ``seed_kendall_w``/``seed_p_value``, ``overall_accuracy`` (+ ``_std``), ``n_params``;
    - ``trained`` (dataset × model), ``architecture`` (model: in ``models``), ``in_capacity`` (model),
      ``capacity_dataset`` (dataset), ``display_name`` (model), coord ``class_name`` (dataset × label);
    - ``noise_p_max`` (largest noise-floor p over seeds) and ``beyond_noise`` (:data:`NOISE_RULE` agrees);
    - per run: ``run_overall_accuracy``, ``run_gap``, ``run_std``, ``train_time_s`` (dataset × model × seed),
      and per data set ``acc_gap_spearman`` with a Fisher-z interval (runs treated as independent points);
    - across the architectures of ``models`` (at least two): ``models_kendall_w`` with a test-image bootstrap
      interval (:func:`fairnotes.metrics.rank_agreement_ci` on the first seed's predictions),
      ``models_friedman_p`` (Friedman test, same seed), ``spearman`` (model × model_other, on the
      seed-mean per-class accuracy);
    - ``best_model``: the most accurate of ``models`` per data set;
    - capacity (data sets in ``capacity_datasets`` with at least two ``capacity`` models):
      ``capacity_smallest``/``capacity_largest`` (by parameter count), ``capacity_delta_gap`` (largest −
      smallest, paired by seed and test image, :func:`fairnotes.summary.paired_deltas`) with bounds,
      ``capacity_word`` (:data:`CAPACITY_RULE`: narrows / widens / does not clearly change);
    - ImageNet: ``imagenet_<stat>`` for mean, best, worst, gap, std, gini (dim ``imagenet_model``);
    - the long runs on the first data set (``budget``: :func:`stack_histories` of them; ``budget_short_epochs`` =
      the main sweep's epochs there): :func:`budget_summary` (dims ``budget_model``, ``budget_seed``, ``epoch``),
      ``budget_display_name``, and ``budget_short_run_gap`` / ``budget_short_run_accuracy`` (budget_model: the
      main sweep's run of the same model, mean of its seeds; NaN if it has none);
    - the full-data run(s) (``full_data``: a one-model sweep on the first data set's whole training set):
      :func:`full_data_summary` (``full_*``; dim ``full_seed``).
    """
    from .. import summary
    from ..metrics import disparity, rank_agreement, rank_agreement_ci

    if not sweeps:
        raise ValueError("summarize needs at least one data set's sweep")
    names = [str(n) for n in sweeps]
    models, capacity = [str(m) for m in models], [str(m) for m in capacity]
    trained = {n: [str(m) for m in sw["model"].values] for n, sw in sweeps.items()}
    all_models = [m for m in dict.fromkeys([*models, *capacity, *(m for ms in trained.values() for m in ms)])
                  if any(m in ms for ms in trained.values())]
    labels = sorted({int(v) for sw in sweeps.values() for v in sw["label"].values})
    seeds = list(dict.fromkeys(int(s) for sw in sweeps.values() for s in sw["seed"].values))
    parts, class_names = [], []
    for name, sw in sweeps.items():
        s = summary.by_model(sw, n_boot=n_boot, n_sim=n_sim, confidence=confidence, seed=seed)
        part = s.drop_vars("class_name").reset_coords(drop=True)
        part = part.assign(trained=("model", np.ones(part.sizes["model"], bool)))
        part = part.assign(noise_p_max=part["noise_p_value"].max("seed"))
        part["beyond_noise"] = ("model", [NOISE_RULE.decide(math.nan, math.nan, float(v)) == AGREES
                                          for v in part["noise_p_max"].values])
        acc = sw["accuracy"].transpose("model", "seed", "label")
        part["run_overall_accuracy"] = sw["overall_accuracy"].transpose("model", "seed")
        part["run_gap"] = acc.max("label") - acc.min("label")
        part["run_std"] = acc.std("label")
        part["train_time_s"] = (sw["train_time_s"] if "train_time_s" in sw
                                else sw["overall_accuracy"] * np.nan).transpose("model", "seed")
        rho = spearman_ci(part["run_overall_accuracy"].values.ravel(), part["run_gap"].values.ravel(),
                          confidence=confidence)
        part["acc_gap_spearman"], part["acc_gap_spearman_lower"], part["acc_gap_spearman_upper"] = rho
        part["n_test"] = int(sw.sizes["sample"])
        arch = [m for m in models if m in trained[name]]
        candidates = arch or trained[name]
        part["best_model"] = candidates[int(np.argmax(part["overall_accuracy"].sel(model=candidates).values))]
        part = part.reindex(model=all_models, label=labels, seed=seeds,
                            fill_value={**{v: "" for v in _STRING_VARS}, "trained": False, "beyond_noise": False})
        part = part.merge(_across_models(sw, s, arch, all_models, n_boot=n_boot, confidence=confidence, seed=seed,
                                         rank_agreement=rank_agreement, rank_agreement_ci=rank_agreement_ci))
        cap = [m for m in capacity if m in trained[name]] if name in capacity_datasets else []
        part = part.merge(_capacity(sw, s, cap, n_boot=n_boot, confidence=confidence, seed=seed))
        parts.append(part)
        cn = dict(zip((int(v) for v in sw["label"].values), (str(c) for c in sw["class_name"].values)))
        class_names.append([cn.get(lab, "") for lab in labels])
    ds = xr.concat(parts, dim=pd.Index(names, name="dataset"), data_vars="all", coords="minimal",
                   compat="override")
    for v in _STRING_VARS:
        ds[v] = ds[v].astype(str)
    ds = ds.assign_coords(class_name=(("dataset", "label"), np.array(class_names, dtype=str)))
    ds["architecture"] = ("model", np.array([m in models for m in all_models]))
    ds["in_capacity"] = ("model", np.array([m in capacity for m in all_models]))
    ds["capacity_dataset"] = ("dataset", np.array([n in capacity_datasets for n in names]))
    ds["display_name"] = ("model", np.array(_display_names(all_models), dtype=str))
    if imagenet:
        ms = [str(m) for m in imagenet]
        d = [disparity(e) for e in imagenet.values()]
        for stat in ("mean", "best", "worst", "gap", "std", "gini"):
            ds[f"imagenet_{stat}"] = ("imagenet_model", [float(x[stat]) for x in d])
        ds = ds.assign_coords(imagenet_model=ms)
    attrs = {"confidence": confidence, "n_boot": int(n_boot), "n_sim": int(n_sim), "seed": int(seed),
             "noise_alpha": NOISE_RULE.threshold, "agreement_seed": int(seeds[0]),
             "ci_method": summary.CI_METHOD}
    if budget is not None:
        if budget_short_epochs is None:
            raise ValueError("summarize needs budget_short_epochs (the main sweep's epochs) with budget runs")
        part = budget_summary(budget, short_epochs=budget_short_epochs, confidence=confidence)
        specs = [str(m) for m in part["budget_model"].values]
        part["budget_display_name"] = ("budget_model", np.array(_display_names(specs), dtype=str))
        main = ds.sel(dataset=names[0])
        for var, src in (("budget_short_run_gap", "run_gap"), ("budget_short_run_accuracy", "run_overall_accuracy")):
            part[var] = ("budget_model", [float(main[src].sel(model=m).mean()) if m in trained[names[0]]
                                          else math.nan for m in specs])
        ds = ds.merge(part.reindex(label=labels))
        attrs["budget_rule"] = BUDGET_RULE.words()
    if full_data is not None:
        part = full_data_summary(full_data, dataset=names[0], n_train=full_data_n_train, epochs=full_data_epochs,
                                 n_boot=n_boot, n_sim=n_sim, confidence=confidence, seed=seed)
        ds = ds.merge(part.reindex(label=labels))
    ds.attrs = attrs
    return ds


def stack_histories(runs: Mapping[tuple[str, int], xr.Dataset]) -> xr.Dataset:
    """The per-epoch histories of training runs keyed by (model spec, seed), stacked.

    Returns ``per_class_accuracy`` (budget_model × budget_seed × epoch × label), ``test_accuracy`` and
    ``train_loss`` (budget_model × budget_seed × epoch), ``train_time_s`` (budget_model × budget_seed, from each
    run's ``wall_time_s``), ``n_train`` (of the first run), coord ``class_name``. Every run must have the same
    epochs and labels.
    """
    if not runs:
        raise ValueError("stack_histories needs at least one run")
    specs = list(dict.fromkeys(str(m) for m, _ in runs))
    seeds = list(dict.fromkeys(int(s) for _, s in runs))
    first = next(iter(runs.values()))

    def grab(var: str, *dims: str) -> np.ndarray:
        return np.array([[np.asarray(runs[(m, s)][var].transpose(*dims).values, float) for s in seeds]
                         for m in specs])

    missing = [(m, s) for m in specs for s in seeds if (m, s) not in runs]
    if missing:
        raise ValueError(f"stack_histories needs every (model, seed) pair; missing {missing}")
    times = [[float(runs[(m, s)].attrs.get("wall_time_s", math.nan)) for s in seeds] for m in specs]
    return xr.Dataset(
        {"per_class_accuracy": (("budget_model", "budget_seed", "epoch", "label"), grab("per_class_accuracy", "epoch",
                                                                                        "label")),
         "test_accuracy": (("budget_model", "budget_seed", "epoch"), grab("test_accuracy", "epoch")),
         "train_loss": (("budget_model", "budget_seed", "epoch"), grab("train_loss", "epoch")),
         "train_time_s": (("budget_model", "budget_seed"), np.array(times)),
         "n_train": int(first.attrs.get("n_train", -1))},
        coords={"budget_model": specs, "budget_seed": seeds, "epoch": first["epoch"].values,
                "label": first["label"].values, "class_name": ("label", first["class_name"].values.astype(str))})


def _budget_word(lower: float, upper: float) -> str:
    """stays (within the band of :data:`BUDGET_RULE`), narrows / widens (wholly outside it), or unclear."""
    v = BUDGET_RULE.decide(lower, upper)
    if v == AGREES:
        return "stays"
    if v == DISAGREES:
        return "narrows" if _DIRECTION_RULE.decide(lower, upper) == AGREES else "widens"
    return "unclear"


def budget_summary(history: xr.Dataset, *, short_epochs: int, confidence: float = 0.95) -> xr.Dataset:
    """The disparity of every epoch of the long runs (:func:`stack_histories`), and how much the gap moved.

    Per run and epoch (budget_model × budget_seed × epoch), from the per-class accuracy on the full test set:
    ``budget_gap``, ``budget_std`` (population, over classes), ``budget_worst_k_mean`` (the worst
    :data:`WORST_FRACTION` of classes, at least :data:`WORST_MIN`), ``budget_overall_accuracy`` (the run's
    test accuracy) and ``budget_worst_class``; each numeric one also as ``_mean``, ``_min`` and ``_max`` over
    seeds (budget_model × epoch). ``budget_mean_worst_class``: the worst class of the seed-mean per-class
    accuracy; ``budget_per_class_accuracy`` (with ``label``).

    The change: ``budget_ref_epoch`` = min(``short_epochs``, last epoch), ``budget_delta_gap_by_seed`` = gap at
    the last epoch − gap at ``budget_ref_epoch`` per seed, ``budget_delta_gap`` with a t-interval over seeds
    (:func:`~fairnotes.analysis.seed_interval`; NaN bounds with one seed), ``budget_word`` (stays / narrows /
    widens / unclear by :data:`BUDGET_RULE`).
    """
    from ..metrics._disparity import disparity_stats

    h = history.transpose("budget_model", "budget_seed", "epoch", "label")
    pca = np.asarray(h["per_class_accuracy"].values, float)
    names = np.asarray(h["class_name"].values, dtype=str)
    st, worst_idx, _ = disparity_stats(pca, WORST_FRACTION, WORST_MIN)
    epochs = [int(e) for e in h["epoch"].values]
    last, ref = max(epochs), min(int(short_epochs), max(epochs))
    dims = ("budget_model", "budget_seed", "epoch")
    out = xr.Dataset(coords={"budget_model": h["budget_model"].values, "budget_seed": h["budget_seed"].values,
                             "epoch": epochs, "label": h["label"].values})
    values = {"gap": st["gap"], "std": st["std"], "worst_k_mean": st["worst_k_mean"],
              "overall_accuracy": np.asarray(h["test_accuracy"].values, float)}
    for name in _BUDGET_STATS:
        out[f"budget_{name}"] = (dims, values[name])
        v = out[f"budget_{name}"]
        out[f"budget_{name}_mean"] = v.mean("budget_seed")
        out[f"budget_{name}_min"] = v.min("budget_seed")
        out[f"budget_{name}_max"] = v.max("budget_seed")
    out["budget_worst_class"] = (dims, np.where(st["n_classes"] > 0, names[worst_idx], "").astype(str))
    mean_st, mean_worst, _ = disparity_stats(pca.mean(axis=1), WORST_FRACTION, WORST_MIN)
    out["budget_mean_worst_class"] = (("budget_model", "epoch"),
                                      np.where(mean_st["n_classes"] > 0, names[mean_worst], "").astype(str))
    out["budget_per_class_accuracy"] = ((*dims, "label"), pca)
    gap = out["budget_gap"]
    delta = gap.sel(epoch=last) - gap.sel(epoch=ref)
    out["budget_delta_gap_by_seed"] = delta.drop_vars("epoch", errors="ignore")
    iv = [seed_interval(row, confidence=confidence) for row in delta.transpose("budget_model", "budget_seed").values]
    for i, suffix in enumerate(("", "_lower", "_upper")):
        out[f"budget_delta_gap{suffix}"] = ("budget_model", [x[i] for x in iv])
    out["budget_word"] = ("budget_model", np.array([_budget_word(x[1], x[2]) for x in iv], dtype=str))
    out["budget_ref_epoch"], out["budget_last_epoch"], out["budget_short_epochs"] = ref, last, int(short_epochs)
    out["budget_train_time_s"] = h["train_time_s"] if "train_time_s" in h else gap.isel(epoch=0, drop=True) * np.nan
    out["budget_n_train"] = int(h["n_train"]) if "n_train" in h else -1
    out["budget_worst_k"] = int(max(math.ceil(WORST_FRACTION * len(names)), min(WORST_MIN, len(names))))
    return out


def full_data_summary(sweep: xr.Dataset, *, dataset: str, n_train: int | None = None, epochs: int | None = None,
                      n_boot: int = 1000, n_sim: int = 2000, confidence: float = 0.95, seed: int = 0) -> xr.Dataset:
    """:func:`fairnotes.summary.by_model` of the full-data run(s) (a one-model sweep), as ``full_*`` variables.

    ``full_accuracy`` (+ ``_lower``/``_upper``, label), each of :data:`fairnotes.summary.STATS` with bounds,
    ``full_best_class``/``full_worst_class``, ``full_noise_p_value`` (full_seed) and ``full_noise_p_max``,
    ``full_overall_accuracy`` (mean of seeds) and ``full_overall_accuracy_by_seed``, ``full_train_time_s``,
    ``full_model``, ``full_epochs``, ``full_n_train``, ``full_n_params``, and ``full_target``: the overall accuracy
    a well-trained small CNN reaches on ``dataset`` (:data:`FULL_DATA_TARGETS`; NaN when none is known).
    """
    from .. import summary

    if sweep.sizes["model"] != 1:
        raise ValueError(f"full_data_summary needs a one-model sweep; got models {list(sweep['model'].values)}")
    model = str(sweep["model"].values[0])
    s = summary.by_model(sweep, n_boot=n_boot, n_sim=n_sim, confidence=confidence, seed=seed)
    r = s.isel(model=0, drop=True).drop_vars("class_name", errors="ignore").rename(seed="full_seed")
    out = xr.Dataset(coords={"label": r["label"].values, "full_seed": r["full_seed"].values})
    for v in ("accuracy", "accuracy_lower", "accuracy_upper", "accuracy_by_seed", *summary.STATS,
              *(f"{k}_{b}" for k in summary.STATS for b in ("lower", "upper")), "noise_p_value", "overall_accuracy"):
        out[f"full_{v}"] = r[v]
    out["full_best_class"], out["full_worst_class"] = (str(r["best_class"].values), str(r["worst_class"].values))
    out["full_noise_p_max"] = r["noise_p_value"].max("full_seed")
    sw = sweep.isel(model=0, drop=True).rename(seed="full_seed")
    out["full_overall_accuracy_by_seed"] = sw["overall_accuracy"]
    out["full_train_time_s"] = sw["train_time_s"] if "train_time_s" in sw else sw["overall_accuracy"] * np.nan
    out["full_model"] = model
    out["full_epochs"] = int(epochs) if epochs is not None else -1
    out["full_n_train"] = int(n_train) if n_train is not None else -1
    out["full_n_params"] = int(sw["n_params"]) if "n_params" in sw else -1
    out["full_target"] = float(FULL_DATA_TARGETS.get(dataset, math.nan))
    return out.drop_vars([c for c in out.coords if c not in ("label", "full_seed")])


def _across_models(sw, s, arch, all_models, *, n_boot, confidence, seed, rank_agreement,
                   rank_agreement_ci) -> xr.Dataset:
    """Agreement of the architectures' class rankings on one data set (NaN when fewer than two)."""
    k = len(all_models)
    out = xr.Dataset({"spearman": (("model", "model_other"), np.full((k, k), np.nan))},
                     coords={"model": all_models, "model_other": all_models})
    for v in ("models_kendall_w", "models_kendall_w_lower", "models_kendall_w_upper", "models_friedman_p"):
        out[v] = np.nan
    if len(arch) < 2:
        return out
    first = sw.isel(seed=0)
    ci = rank_agreement_ci(sw["target"].values, first["prediction"].sel(model=arch).values, raters=arch,
                           over="model", n_boot=n_boot, confidence=confidence, seed=seed)
    ra = rank_agreement(s["accuracy_by_seed"].isel(seed=0, drop=True).sel(model=arch).reset_coords(drop=True),
                        over="model")
    mean = rank_agreement(s["accuracy"].sel(model=arch).reset_coords(drop=True), over="model")
    out["models_kendall_w"] = float(ci["kendall_w"])
    out["models_kendall_w_lower"] = float(ci["kendall_w_lower"])
    out["models_kendall_w_upper"] = float(ci["kendall_w_upper"])
    out["models_friedman_p"] = float(ra["p_value"])
    out["spearman"] = mean["spearman"].reset_coords(drop=True).reindex(model=all_models, model_other=all_models)
    return out


def _capacity(sw, s, cap, *, n_boot, confidence, seed) -> xr.Dataset:
    """The paired change in gap from the smallest to the largest capacity model (NaN / "" if not applicable)."""
    from .. import summary
    out = xr.Dataset({"capacity_smallest": "", "capacity_largest": "", "capacity_word": "",
                      "capacity_delta_gap": np.nan, "capacity_delta_gap_lower": np.nan,
                      "capacity_delta_gap_upper": np.nan})
    if len(cap) < 2:
        return out
    order = sorted(cap, key=lambda m: float(s["n_params"].sel(model=m)))  # stable: list order breaks ties
    small, large = order[0], order[-1]
    pd_ = summary.paired_deltas(sw.sel(model=cap), dim="model", reference=small, n_boot=n_boot,
                                confidence=confidence, seed=seed)
    d = pd_.sel(model=large)
    lo, hi = float(d["delta_gap_lower"]), float(d["delta_gap_upper"])
    out["capacity_smallest"], out["capacity_largest"] = small, large
    out["capacity_delta_gap"], out["capacity_delta_gap_lower"], out["capacity_delta_gap_upper"] = (
        float(d["delta_gap"]), lo, hi)
    out["capacity_word"] = _CAPACITY_WORDS[CAPACITY_RULE.decide(lo, hi)]
    return out


def _display_names(specs: Sequence[str]) -> list[str]:
    """Readable, distinct names of the specs for tables, legends and prose (:func:`fairnotes.viz.display_names`)."""
    from ..viz import display_names
    return display_names(specs)


# ------------------------------------------------------------------------------------------ reading ds

def _str(x: Any) -> str:
    return str(np.asarray(x).item() if hasattr(x, "values") else x)


def _f(x: Any) -> float:
    return float(np.asarray(x))


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _datasets(ds: xr.Dataset) -> list[str]:
    return [str(v) for v in ds["dataset"].values]


def _arch(ds: xr.Dataset, name: str | None = None) -> list[str]:
    """The specs of ``models`` (trained on ``name``, when given)."""
    keep = ds["architecture"].values.astype(bool)
    if name is not None:
        keep &= ds["trained"].sel(dataset=name).values.astype(bool)
    return [str(m) for m, k in zip(ds["model"].values, keep) if k]


def _trained(ds: xr.Dataset, name: str) -> list[str]:
    return [str(m) for m, k in zip(ds["model"].values, ds["trained"].sel(dataset=name).values) if k]


def _cap(ds: xr.Dataset, name: str) -> list[str]:
    if not bool(ds["capacity_dataset"].sel(dataset=name)):
        return []
    cap = [m for m in _trained(ds, name) if bool(ds["in_capacity"].sel(model=m))]
    return sorted(cap, key=lambda m: float(ds["n_params"].sel(dataset=name, model=m)))  # smallest first


def _short(ds: xr.Dataset, spec: str) -> str:
    return str(ds["display_name"].sel(model=spec).values) if spec in ds["model"].values else spec


def _capacity_pairs(ds: xr.Dataset) -> list[tuple[str, str]]:
    """(data set, model) of every capacity model trained on a capacity data set."""
    return [(n, m) for n in _datasets(ds) for m in _cap(ds, n)]


# ------------------------------------------------------------------------------------------ claims

def claims(ds: xr.Dataset) -> xr.Dataset:
    """The paper's claims this chapter tests, with our measure and verdict (those we cannot compute are left out)."""
    rows = []
    names = _datasets(ds)
    main = names[0]
    best = _str(ds["best_model"].sel(dataset=main))
    b = ds.sel(dataset=main, model=best)
    rows.append(paper_claim(
        "cui.balanced_disparity",
        measure=f"best−worst class gap of the most accurate model ({_short(ds, best)}) on {main}, with its "
                f"test-image interval; p = the largest noise-floor p over its {ds.sizes['seed']} seeds (does the "
                f"spread differ beyond what sampling noise would give?)",
        ours=_f(b["gap"]), lower=_f(b["gap_lower"]), upper=_f(b["gap_upper"]), p_value=_f(b["noise_p_max"]),
        rule=NOISE_RULE, section=SECTIONS["noise"]))
    arch = _arch(ds, main)
    if len(arch) >= 2:
        sub = ds.sel(dataset=main, model=arch)
        m = arch[int(np.argmin(sub["gap"].values))]
        rows.append(paper_claim(
            "cui.across_architectures",
            measure=f"smallest best−worst gap among the {len(arch)} architectures on {main} "
                    f"({_short(ds, m)}), with its interval; p = the largest noise-floor p over every architecture "
                    f"and seed",
            ours=_f(sub["gap"].sel(model=m)), lower=_f(sub["gap_lower"].sel(model=m)),
            upper=_f(sub["gap_upper"].sel(model=m)), p_value=_f(sub["noise_p_max"].max()),
            rule=NOISE_RULE, section=SECTIONS["noise"]))
    if len(names) >= 2:
        per = {n: _str(ds["best_model"].sel(dataset=n)) for n in names}
        gaps = {n: _f(ds["gap"].sel(dataset=n, model=m)) for n, m in per.items()}
        n_min = min(gaps, key=gaps.get)
        r = ds.sel(dataset=n_min, model=per[n_min])
        rows.append(paper_claim(
            "cui.across_datasets",
            measure=f"smallest best−worst gap of the most accurate model over the {len(names)} data sets "
                    f"({_short(ds, per[n_min])} on {n_min}), with its interval; p = the largest, over data sets, "
                    f"of that model's largest noise-floor p over seeds",
            ours=gaps[n_min], lower=_f(r["gap_lower"]), upper=_f(r["gap_upper"]),
            p_value=max(_f(ds["noise_p_max"].sel(dataset=n, model=m)) for n, m in per.items()),
            rule=NOISE_RULE, section=SECTIONS["noise"]))
    pairs = _capacity_pairs(ds)
    if len({m for _, m in pairs}) >= 2:
        gaps = {(n, m): _f(ds["gap"].sel(dataset=n, model=m)) for n, m in pairs}
        n_min, m_min = min(gaps, key=gaps.get)
        r = ds.sel(dataset=n_min, model=m_min)
        rows.append(paper_claim(
            "cui.across_capacity",
            measure=f"smallest best−worst gap along the capacity sweep ({_short(ds, m_min)} on {n_min}), with "
                    f"its interval; p = the largest noise-floor p over every capacity model and seed",
            ours=gaps[(n_min, m_min)], lower=_f(r["gap_lower"]), upper=_f(r["gap_upper"]),
            p_value=max(_f(ds["noise_p_max"].sel(dataset=n, model=m)) for n, m in pairs),
            rule=NOISE_RULE, section=SECTIONS["capacity"]))
    if len(arch) >= 2:
        a = ds.sel(dataset=main)
        rows.append(paper_claim(
            "cui.shared_hard_classes",
            measure=f"Kendall's W of the class rankings of the {len(arch)} architectures on {main} (seed "
                    f"{ds.attrs.get('agreement_seed', 0)}), with a test-image bootstrap interval",
            ours=_f(a["models_kendall_w"]), lower=_f(a["models_kendall_w_lower"]),
            upper=_f(a["models_kendall_w_upper"]), rule=above(STRONG_AGREEMENT), section=SECTIONS["agreement"],
            note=f"{STRONG_AGREEMENT:g} is the conventional line for strong agreement of Kendall's W "
                 f"(1 = identical rankings, 0 = none); the paper gives no figure"))
    rows += _undertraining_claims(ds, main)
    return claims_dataset(rows, chapter="prevalence")


def _undertraining_claims(ds: xr.Dataset, main: str) -> list[Claim]:
    """The paper's balanced-disparity claim again on the full-data model; ours on the long runs."""
    rows = []
    if "full_gap" in ds:
        n, model = int(ds["full_n_train"]), _str(ds["full_model"])
        target = _f(ds["full_target"])
        rows.append(paper_claim(
            "cui.balanced_disparity", id=CONVERGED_ID,
            measure=f"best−worst class gap of {short_name(model)} well-trained on all {n:,} {main} training "
                    f"images ({_epochs(int(ds['full_epochs']))}; overall accuracy {_f(ds['full_overall_accuracy']):.3f}"
                    + (f", target ≥ {target:g}" if math.isfinite(target) else "") + "), with its interval; p = the "
                    f"largest noise-floor p over its {ds.sizes['full_seed']} seed(s) (does the spread outlast "
                    f"convergence?)",
            ours=_f(ds["full_gap"]), lower=_f(ds["full_gap_lower"]), upper=_f(ds["full_gap_upper"]),
            p_value=_f(ds["full_noise_p_max"]), rule=NOISE_RULE, section=SECTIONS["undertraining"]))
    if "budget_gap" in ds:
        ref, last, m = int(ds["budget_ref_epoch"]), int(ds["budget_last_epoch"]), BUDGET_RULE.margin
        for i, spec in enumerate(str(x) for x in ds["budget_model"].values):
            b = ds.sel(budget_model=spec)
            rows.append(Claim(
                id=BUDGET_ID if i == 0 else f"{BUDGET_ID}:{spec}", paper=OURS,
                statement=f"The class disparity is no artefact of brief training: training the same model much "
                          f"longer on the same images moves its best−worst gap by less than {m:g}",
                measure=f"{_str(b['budget_display_name'])} on {main} ({int(ds['budget_n_train']):,} training "
                        f"images): best−worst gap after epoch {last} minus after epoch {ref} of the same "
                        f"{last}-epoch runs, mean of {ds.sizes['budget_seed']} seed(s) with a t-interval over seeds",
                ours=_f(b["budget_delta_gap"]), lower=_f(b["budget_delta_gap_lower"]),
                upper=_f(b["budget_delta_gap_upper"]), rule=BUDGET_RULE, section=SECTIONS["undertraining"],
                note=f"the cosine learning-rate schedule spans all {last} epochs, so epoch {ref} of these runs is not "
                     f"the {int(ds['budget_short_epochs'])}-epoch run of the main sweep; one seed gives no interval"))
    return rows


# ------------------------------------------------------------------------------------------ glue

_NOT_TESTED = {
    "across_architectures": "not tested (needs two or more architectures)",
    "across_datasets": "not tested (needs two or more data sets)",
    "across_capacity": "not tested (needs two or more capacity models on a capacity data set)",
    "shared_hard_classes": "not tested (needs two or more architectures)",
    "balanced_disparity": "not tested",
    "balanced_disparity_converged": "not tested (no full-data model in this run)",
    "gap_survives": "not tested (no long runs in this run)",
}


def undertraining_answer(converged: str | None, budget_word: str | None, *, reached: bool | None = None,
                         last: int | None = None, ref: int | None = None) -> str:
    """The chapter's plain answer to "is the disparity an undertraining artefact?", from the verdicts.

    ``converged``: the verdict of the balanced-disparity claim on the full-data model (None: not tested);
    ``budget_word``: stays / narrows / widens / unclear for the long runs (None: none); ``reached``: whether the
    full-data model reached its accuracy target (None: no target). No trailing full stop.
    """
    m = f"{BUDGET_RULE.margin:g}"
    longer = f"training {last} epochs instead of {ref}"
    clause = {"stays": f"{longer} leaves the gap within ±{m}",
              "narrows": f"{longer} narrows the gap by more than {m}, so part of the short runs' gap is undertraining",
              "widens": f"{longer} widens the gap by more than {m}",
              "unclear": f"whether {longer} moves the gap by more than {m}, the seeds cannot tell",
              None: ""}[budget_word]
    if converged == AGREES:
        head = "No — the disparity survives convergence: the full-data model's spread is beyond sampling noise"
    elif converged == CANNOT_TELL:
        head = "Not shown at this scale — the full-data model's spread cannot be told from sampling noise"
    elif converged is None:
        head = {"stays": "Not on this evidence", "narrows": "In part", "widens": "No", "unclear": "We cannot tell",
                None: "Not tested in this run"}[budget_word]
        clause = f"{clause} (no full-data model was trained)" if clause else clause
    else:
        raise ValueError(f"unknown verdict {converged!r} for the converged claim")
    caveat = ("; but the full-data model fell short of its accuracy target, so it is not fully trained either"
              if reached is False else "")
    return head + (f"; {clause}" if clause else "") + caveat


def glue_values(ds: xr.Dataset) -> dict[str, float | int | str]:
    """The numbers and words the chapter's prose quotes (``{glue:text}`` names)."""
    from ..reference import paper_figure

    names = _datasets(ds)
    main = names[0]
    best = _str(ds["best_model"].sel(dataset=main))
    b = ds.sel(dataset=main, model=best)
    out: dict[str, float | int | str] = {
        "main_dataset": main, "best_model": _short(ds, best), "best_model_acc": _f(b["overall_accuracy"]),
        "best_class": _str(b["best_class"]), "worst_class": _str(b["worst_class"]), "best_acc": _f(b["best"]),
        "worst_acc": _f(b["worst"]), "gap": _f(b["gap"]), "gap_lo": _f(b["gap_lower"]),
        "gap_hi": _f(b["gap_upper"]), "best_noise_p": _f(b["noise_p_max"]),
        "gap_rerun": _f(b["gap_rerun"]), "best_model_acc_rerun": rerun_band(b["run_overall_accuracy"].values),
        "n_runs": int(ds["trained"].sum()) * ds.sizes["seed"],
        "train_minutes": float(np.nansum(ds["train_time_s"].values)) / 60,
        "n_seeds": int(ds.sizes["seed"]), "n_boot": int(ds.attrs.get("n_boot", 0)),
        "noise_n_sim": int(ds.attrs.get("n_sim", 0)), "noise_alpha": float(NOISE_RULE.threshold),
        "strong_w": STRONG_AGREEMENT,
    }
    gaps = [_f(ds["gap"].sel(dataset=n, model=m)) for n in names for m in _arch(ds, n)]
    out["min_gap_all"], out["max_gap_all"] = (min(gaps), max(gaps)) if gaps else (math.nan, math.nan)

    pairs = [(n, m) for n in names for m in _trained(ds, n)]
    beyond = [(n, m) for n, m in pairs if bool(ds["beyond_noise"].sel(dataset=n, model=m))]
    exceptions = [f"{_short(ds, m)} on {n} (p up to {_f(ds['noise_p_max'].sel(dataset=n, model=m)):.2f})"
                  for n, m in pairs if (n, m) not in beyond]
    out["noise_n_beyond"], out["noise_n_pairs"] = len(beyond), len(pairs)
    out["noise_exceptions"] = (
        f"The exceptions — {'; '.join(exceptions)} — are models whose classes are not distinguishably unequal "
        f"on this test set." if exceptions else "There are no exceptions.")

    w = ds["models_kendall_w"].values
    fp = ds["models_friedman_p"].values
    fin = np.isfinite(w)
    out["w_models_min"] = float(w[fin].min()) if fin.any() else math.nan
    out["w_models_max"] = float(w[fin].max()) if fin.any() else math.nan
    out["w_models_pmax"] = float(np.nanmax(fp)) if np.isfinite(fp).any() else math.nan
    sw = np.concatenate([ds["seed_kendall_w"].sel(dataset=n, model=_trained(ds, n)).values for n in names])
    out["w_seeds_min"] = float(np.nanmin(sw)) if np.isfinite(sw).any() else math.nan
    out["w_seeds_max"] = float(np.nanmax(sw)) if np.isfinite(sw).any() else math.nan
    a = ds.sel(dataset=main)
    out["w_main"], out["w_main_lo"], out["w_main_hi"] = (
        _f(a["models_kendall_w"]), _f(a["models_kendall_w_lower"]), _f(a["models_kendall_w_upper"]))
    out["agreement_seed"] = int(ds.attrs.get("agreement_seed", 0))

    out["acc_gap_corr_main"] = _f(a["acc_gap_spearman"])
    out["acc_gap_corr_main_lo"] = _f(a["acc_gap_spearman_lower"])
    out["acc_gap_corr_main_hi"] = _f(a["acc_gap_spearman_upper"])

    cap_names = [n for n in names if _str(ds["capacity_word"].sel(dataset=n))]
    c = ds.sel(dataset=cap_names[0]) if cap_names else None
    if c is not None:
        small, large = _str(c["capacity_smallest"]), _str(c["capacity_largest"])
        gs = _f(c["gap"].sel(model=small))
        out |= {"cap_dataset": cap_names[0], "cap_small": _short(ds, small), "cap_large": _short(ds, large),
                "cap_small_params": int(_f(c["n_params"].sel(model=small))),
                "cap_large_params": int(_f(c["n_params"].sel(model=large))),
                "cap_gap_small": gs, "cap_gap_large": _f(c["gap"].sel(model=large)),
                "cap_delta": _f(c["capacity_delta_gap"]), "cap_delta_lo": _f(c["capacity_delta_gap_lower"]),
                "cap_delta_hi": _f(c["capacity_delta_gap_upper"]), "cap_word": _str(c["capacity_word"]),
                "cap_change": _CAPACITY_PHRASES[_str(c["capacity_word"])],
                "cap_gap_ratio": _f(c["gap"].sel(model=large)) / gs if gs > 0 else math.nan}
    else:
        out |= {"cap_dataset": "(no capacity sweep in this run)", "cap_small": "–", "cap_large": "–",
                "cap_small_params": 0, "cap_large_params": 0, "cap_gap_small": math.nan, "cap_gap_large": math.nan,
                "cap_delta": math.nan, "cap_delta_lo": math.nan, "cap_delta_hi": math.nan,
                "cap_word": "not measured", "cap_change": "no capacity sweep in this run", "cap_gap_ratio": math.nan}

    ks = sorted({int((ds["class_name"].sel(dataset=n).values != "").sum()) for n in names})
    out["n_classes_text"] = str(ks[0]) if len(ks) == 1 else f"{ks[0]}–{ks[-1]}"
    ref = paper_figure(PAPER_FIGURE)
    out["paper_setting"] = str(ref["setting"])
    out["paper_best"], out["paper_worst"] = float(ref["best"]), float(ref["worst"])
    out["paper_gap"] = float(ref["best"]) - float(ref["worst"])

    found = claims(ds)
    got = {str(k): str(v) for k, v in zip(found["claim"].values, found["verdict"].values)}
    for key, short in CLAIM_IDS.items():
        out[f"verdict_{short}"] = got.get(key, _NOT_TESTED[short])
    out |= _budget_glue(ds) | _full_glue(ds, main)
    reached = None if not math.isfinite(_f(out["full_target"])) else out["full_reached"] == "yes"
    out["undertraining_answer"] = undertraining_answer(
        got.get(CONVERGED_ID), out["budget_word"] if "budget_gap" in ds else None, reached=reached,
        last=out["budget_epochs"], ref=out["budget_ref_epoch"])
    return out


def _budget_glue(ds: xr.Dataset) -> dict[str, float | int | str]:
    """The first long-run model's numbers at the reference and the last epoch (placeholders when none)."""
    out: dict[str, float | int | str] = {"budget_margin": BUDGET_RULE.margin}
    stats = ("gap", "std", "worst_k_mean", "overall_accuracy")
    if "budget_gap" not in ds:
        out |= {"budget_model_name": "–", "budget_epochs": 0, "budget_ref_epoch": 0, "budget_short_epochs": 0,
                "budget_n_seeds": 0, "budget_n_train": 0, "budget_worst_k": WORST_MIN, "budget_worst_class_last": "–",
                "budget_delta": math.nan, "budget_delta_lo": math.nan, "budget_delta_hi": math.nan,
                "budget_word": "not measured", "budget_change": "was not measured (no long runs in this run)",
                "budget_short_run_gap": math.nan, "budget_gap_last_min": math.nan, "budget_gap_last_max": math.nan}
        for st in stats:
            out[f"budget_{st}_ref"] = out[f"budget_{st}_last"] = math.nan
        return out
    b = ds.isel(budget_model=0)
    ref, last = int(ds["budget_ref_epoch"]), int(ds["budget_last_epoch"])
    word = _str(b["budget_word"])
    m = f"{BUDGET_RULE.margin:g}"
    out |= {"budget_model_name": _str(b["budget_display_name"]), "budget_epochs": last, "budget_ref_epoch": ref,
            "budget_short_epochs": int(ds["budget_short_epochs"]), "budget_n_seeds": int(ds.sizes["budget_seed"]),
            "budget_n_train": int(ds["budget_n_train"]), "budget_worst_k": int(ds["budget_worst_k"]),
            "budget_worst_class_last": _str(b["budget_mean_worst_class"].sel(epoch=last)),
            "budget_delta": _f(b["budget_delta_gap"]), "budget_delta_lo": _f(b["budget_delta_gap_lower"]),
            "budget_delta_hi": _f(b["budget_delta_gap_upper"]), "budget_word": word,
            "budget_change": {"stays": f"stays within ±{m} of its epoch-{ref} value",
                              "narrows": f"narrows by more than {m}", "widens": f"widens by more than {m}",
                              "unclear": f"may or may not move by more than {m}: the seeds cannot tell"}[word],
            "budget_short_run_gap": _f(b["budget_short_run_gap"]),
            "budget_gap_last_min": _f(b["budget_gap_min"].sel(epoch=last)),
            "budget_gap_last_max": _f(b["budget_gap_max"].sel(epoch=last))}
    for st in stats:
        out[f"budget_{st}_ref"] = _f(b[f"budget_{st}_mean"].sel(epoch=ref))
        out[f"budget_{st}_last"] = _f(b[f"budget_{st}_mean"].sel(epoch=last))
    return out


def _full_glue(ds: xr.Dataset, main: str) -> dict[str, float | int | str]:
    """The full-data model's numbers, its accuracy against the target, and the same model on the subset."""
    keys = ("full_acc", "full_target", "full_gap", "full_gap_lo", "full_gap_hi", "full_noise_p", "full_best_acc",
            "full_worst_acc", "full_subset_gap", "full_subset_acc", "full_subset_worst_acc", "full_subset_worst_full")
    if "full_gap" not in ds:
        return {k: math.nan for k in keys} | {
            "full_model_name": "–", "full_epochs": 0, "full_n_train": 0, "full_n_seeds": 0, "full_best_class": "–",
            "full_worst_class": "–", "full_subset_worst_class": "–", "full_reached": "not measured",
            "full_target_sentence": "No full-data model was trained in this run (`full_data_model` must be one of "
                                    "the main sweep's models on the first data set)."}
    model, acc, target = _str(ds["full_model"]), _f(ds["full_overall_accuracy"]), _f(ds["full_target"])
    n, epochs = int(ds["full_n_train"]), int(ds["full_epochs"])
    names = [str(c) for c in ds["class_name"].sel(dataset=main).values]

    def class_acc(var: str, name: str, **sel: Any) -> float:
        return _f(ds[var].sel(**sel).isel(label=names.index(name))) if name in names else math.nan

    out: dict[str, float | int | str] = {
        "full_model_name": _short(ds, model), "full_epochs": epochs, "full_n_train": n,
        "full_n_seeds": int(ds.sizes["full_seed"]), "full_acc": acc, "full_target": target,
        "full_gap": _f(ds["full_gap"]), "full_gap_lo": _f(ds["full_gap_lower"]),
        "full_gap_hi": _f(ds["full_gap_upper"]),
        "full_noise_p": _f(ds["full_noise_p_max"]), "full_best_class": _str(ds["full_best_class"]),
        "full_worst_class": _str(ds["full_worst_class"]), "full_best_acc": _f(ds["full_best"]),
        "full_worst_acc": _f(ds["full_worst"])}
    trained = model in _trained(ds, main)
    sub = ds.sel(dataset=main, model=model) if trained else None
    worst = _str(sub["worst_class"]) if trained else "–"
    out |= {"full_subset_gap": _f(sub["gap"]) if trained else math.nan,
            "full_subset_acc": _f(sub["overall_accuracy"]) if trained else math.nan,
            "full_subset_worst_class": worst,
            "full_subset_worst_acc": class_acc("accuracy", worst, dataset=main, model=model) if trained else math.nan,
            "full_subset_worst_full": class_acc("full_accuracy", worst)}
    run = (f"{_short(ds, model)} trained {_epochs(epochs)} on all {n:,} training images reaches an overall test "
           f"accuracy of {acc:.3f}")
    if math.isfinite(target):
        reached = acc >= target
        out["full_reached"] = "yes" if reached else "no"
        out["full_target_sentence"] = (
            f"{run}, {'which meets' if reached else 'short of'} the ≥ {target:g} that small CNNs reach on {main}"
            + (": it counts as well trained." if reached else
               ": better trained than the main sweep's models, but not fully trained."))
    else:
        out["full_reached"] = "no target"
        out["full_target_sentence"] = f"{run} (this chapter sets no accuracy target for {main})."
    return out


# ------------------------------------------------------------------------------------------ tables

def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits) if math.isfinite(float(x)) else math.nan


def tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Every table the chapter shows: ``disparity:<data set>``, ``noise``, ``agreement``, ``capacity``,
    ``runs``, ``budget_curve``, ``budget_runs``, ``full_data``, ``by_dataset``, ``beside_paper`` and, with
    ImageNet models, ``imagenet`` (the budget and full-data tables are empty when those runs were skipped)."""
    from ..reference import paper_figure
    from ..summary import STATS
    from ..viz import disparity_table

    names = _datasets(ds)
    out: dict[str, pd.DataFrame] = {}
    cols = [*STATS, *[f"{k}_{b}" for k in STATS for b in ("lower", "upper")], "best_class", "worst_class"]
    for n in names:
        arch = _arch(ds, n) or _trained(ds, n)
        sub = ds[cols].sel(dataset=n, model=arch).reset_coords(drop=True)
        sub = sub.assign_coords(model=[_short(ds, m) for m in arch])
        out[f"disparity:{n}"] = disparity_table(sub)

    rows = []
    for n in names:
        for m in _trained(ds, n):
            r = ds.sel(dataset=n, model=m)
            rows.append({"data set": n, "model": _short(ds, m),
                         "observed std": _r(r["noise_observed"].mean(), 4),
                         "noise-only 95th pct": _r(r["noise_null_upper"].mean(), 4),
                         "largest p-value over seeds": _r(r["noise_p_max"], 4),
                         f"beyond noise (p < {NOISE_RULE.threshold:g}, every seed)":
                             "yes" if bool(r["beyond_noise"]) else "no"})
    out["noise"] = pd.DataFrame(rows).set_index(["data set", "model"])

    rows = []
    seed0 = ds.attrs.get("agreement_seed", 0)
    for n in names:
        for m in _trained(ds, n):
            rows.append({"data set": n, "model": _short(ds, m),
                         "W across seeds": _r(ds["seed_kendall_w"].sel(dataset=n, model=m))})
        a = ds.sel(dataset=n)
        if math.isfinite(_f(a["models_kendall_w"])):
            rows.append({"data set": n, "model": "(all architectures)", "W across seeds": math.nan,
                         f"W across models (seed {seed0})": _r(a["models_kendall_w"]),
                         "W lower": _r(a["models_kendall_w_lower"]), "W upper": _r(a["models_kendall_w_upper"]),
                         "p (Friedman)": float(f"{_f(a['models_friedman_p']):.3g}")})
    out["agreement"] = pd.DataFrame(rows).reindex(
        columns=["data set", "model", "W across seeds", f"W across models (seed {seed0})", "W lower", "W upper",
                 "p (Friedman)"]).set_index(["data set", "model"])

    rows = []
    for n, m in _capacity_pairs(ds):
        r = ds.sel(dataset=n, model=m)
        rows.append({"data set": n, "model": _short(ds, m), "parameters": int(_f(r["n_params"])),
                     "gap": _r(r["gap"]), "gap lower": _r(r["gap_lower"]), "gap upper": _r(r["gap_upper"]),
                     "std": _r(r["std"]), "accuracy": _r(r["overall_accuracy"])})
    out["capacity"] = pd.DataFrame(rows, columns=["data set", "model", "parameters", "gap", "gap lower",
                                                  "gap upper", "std", "accuracy"])

    rows = []
    for n in names:
        for m in _trained(ds, n):
            for s in ds["seed"].values:
                r = ds.sel(dataset=n, model=m, seed=s)
                rows.append({"data set": n, "model": _short(ds, m), "seed": int(s),
                             "overall accuracy": _r(r["run_overall_accuracy"], 4), "gap": _r(r["run_gap"], 4),
                             "std": _r(r["run_std"], 4)})
    out["runs"] = pd.DataFrame(rows)
    out |= _undertraining_tables(ds)

    rows = []
    for n in names:
        a = ds.sel(dataset=n)
        arch = _arch(ds, n)
        best = _str(a["best_model"])
        g = a["gap"].sel(model=arch).values if arch else np.array([math.nan])
        row = {"data set": n, "most accurate model": _short(ds, best),
               "its accuracy": _r(a["overall_accuracy"].sel(model=best)),
               "its gap": _r(a["gap"].sel(model=best)),
               "gap range across architectures": f"{np.nanmin(g):.3f}–{np.nanmax(g):.3f}",
               "architectures beyond noise": f"{int(a['beyond_noise'].sel(model=arch).sum()) if arch else 0} "
                                             f"of {len(arch)}",
               "W across architectures [95% CI]": (
                   f"{_f(a['models_kendall_w']):.2f} [{_f(a['models_kendall_w_lower']):.2f}, "
                   f"{_f(a['models_kendall_w_upper']):.2f}]" if math.isfinite(_f(a["models_kendall_w"])) else "–"),
               "Spearman(accuracy, gap) over runs": _r(a["acc_gap_spearman"], 2)}
        if any(_str(w) for w in ds["capacity_word"].values):
            row["capacity: largest − smallest gap [95% CI]"] = (
                f"{_f(a['capacity_delta_gap']):+.3f} [{_f(a['capacity_delta_gap_lower']):+.3f}, "
                f"{_f(a['capacity_delta_gap_upper']):+.3f}] ({_str(a['capacity_word'])})"
                if _str(a["capacity_word"]) else "–")
        rows.append(row)
    out["by_dataset"] = pd.DataFrame(rows).set_index("data set")

    ref = paper_figure(PAPER_FIGURE)
    rows = [{"source": f"reported by the paper — {ref['setting']}", "best class": ref["best"],
             "worst class": ref["worst"], "gap": round(ref["best"] - ref["worst"], 3), "gap 95% CI": ""}]
    for n in names:
        best = _str(ds["best_model"].sel(dataset=n))
        r = ds.sel(dataset=n, model=best)
        rows.append({"source": f"ours — {n}, {_short(ds, best)} ({ds.sizes['seed']} seeds)",
                     "best class": _r(r["best"]), "worst class": _r(r["worst"]), "gap": _r(r["gap"]),
                     "gap 95% CI": f"{_f(r['gap_lower']):.3f}–{_f(r['gap_upper']):.3f}"})
    if "full_gap" in ds:
        rows.append({"source": f"ours — {names[0]}, {_short(ds, _str(ds['full_model']))} on all "
                               f"{int(ds['full_n_train']):,} training images ({_epochs(int(ds['full_epochs']))}, "
                               f"{ds.sizes['full_seed']} seed{'s' if ds.sizes['full_seed'] > 1 else ''})",
                     "best class": _r(ds["full_best"]), "worst class": _r(ds["full_worst"]), "gap": _r(ds["full_gap"]),
                     "gap 95% CI": f"{_f(ds['full_gap_lower']):.3f}–{_f(ds['full_gap_upper']):.3f}"})
    out["beside_paper"] = pd.DataFrame(rows).set_index("source")

    if "imagenet_model" in ds.dims:
        out["imagenet"] = pd.DataFrame(
            {s: ds[f"imagenet_{s}"].values.round(3) for s in ("mean", "best", "worst", "gap", "std", "gini")},
            index=pd.Index([str(m) for m in ds["imagenet_model"].values], name="model"))
    return out


_BUDGET_COLUMNS = ["model", "seed", "epoch", "overall accuracy", "gap", "std", "worst-k mean", "worst class"]
_CURVE_COLUMNS = ["model", "epoch", "statistic", "value", "seed min", "seed max", "series"]


def _undertraining_tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """``budget_runs`` (one row per long run and epoch), ``budget_curve`` (seed mean and range of gap, std and
    worst-k mean per epoch, long form for a line chart) and ``full_data`` (per-class accuracy with intervals)."""
    out = {}
    rows, curve = [], []
    if "budget_gap" in ds:
        k = int(ds["budget_worst_k"])
        labels = {"gap": "gap", "std": "std", "worst_k_mean": f"worst-{k} mean"}
        several = ds.sizes["budget_model"] > 1
        for spec in ds["budget_model"].values:
            b = ds.sel(budget_model=spec)
            name = _str(b["budget_display_name"])
            for e in ds["epoch"].values:
                for s in ds["budget_seed"].values:
                    r = b.sel(epoch=e, budget_seed=s)
                    rows.append({"model": name, "seed": int(s), "epoch": int(e),
                                 "overall accuracy": _r(r["budget_overall_accuracy"], 4), "gap": _r(r["budget_gap"], 4),
                                 "std": _r(r["budget_std"], 4), "worst-k mean": _r(r["budget_worst_k_mean"], 4),
                                 "worst class": _str(r["budget_worst_class"])})
                for st, label in labels.items():
                    r = b.sel(epoch=e)
                    curve.append({"model": name, "epoch": int(e), "statistic": label,
                                  "value": _r(r[f"budget_{st}_mean"], 4), "seed min": _r(r[f"budget_{st}_min"], 4),
                                  "seed max": _r(r[f"budget_{st}_max"], 4),
                                  "series": f"{name}: {label}" if several else label})
    out["budget_runs"] = pd.DataFrame(rows, columns=_BUDGET_COLUMNS)
    out["budget_curve"] = pd.DataFrame(curve, columns=_CURVE_COLUMNS)

    full = pd.DataFrame(columns=["accuracy", "lower", "upper"])
    if "full_gap" in ds:
        main = _datasets(ds)[0]
        model = _str(ds["full_model"])
        keep = ds["class_name"].sel(dataset=main).values != ""
        f = ds[["full_accuracy", "full_accuracy_lower", "full_accuracy_upper"]].isel(label=keep)
        col = f"all {int(ds['full_n_train']):,} images, {_epochs(int(ds['full_epochs']))}"
        full = pd.DataFrame({col: f["full_accuracy"].values.round(3),
                             "95% CI lower": f["full_accuracy_lower"].values.round(3),
                             "95% CI upper": f["full_accuracy_upper"].values.round(3)},
                            index=pd.Index([str(c) for c in ds["class_name"].sel(dataset=main).values[keep]],
                                           name="class"))
        if model in _trained(ds, main):
            sub = ds["accuracy"].sel(dataset=main, model=model).isel(label=keep)
            full["main run (same model)"] = sub.values.round(3)
    out["full_data"] = full
    return out


# ------------------------------------------------------------------------------------------ for charts

def curves(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Per-class accuracy with bounds of the architectures on ``name`` (display names on ``model``)."""
    arch = _arch(ds, name) or _trained(ds, name)
    sub = ds[["accuracy", "accuracy_lower", "accuracy_upper"]].sel(dataset=name, model=arch)
    sub = sub.isel(label=sub["class_name"].values != "")  # labels padded for data sets with more classes
    sub = sub.drop_vars([c for c in sub.coords if c not in ("model", "label", "class_name")])
    return sub.assign_coords(model=[_short(ds, m) for m in arch])


def spearman_matrices(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Per data set with two or more architectures: their Spearman matrix of per-class accuracy (seed mean)."""
    out = {}
    for n in _datasets(ds):
        arch = _arch(ds, n)
        if len(arch) < 2:
            continue
        short = [_short(ds, m) for m in arch]
        rho = ds["spearman"].sel(dataset=n, model=arch, model_other=arch).reset_coords(drop=True)
        out[n] = rho.assign_coords(model=short, model_other=short).rename("spearman")
    return out


def best_worst_examples(ds: xr.Dataset, name: str, *, per_class: int = 10) -> dict[str, Any]:
    """Test images of the best and the worst class of ``name``'s most accurate model, with a caption."""
    from .. import data

    best = _str(ds["best_model"].sel(dataset=name))
    r = ds.sel(dataset=name, model=best)
    test = data.load(name, "test")
    cls = list(test.class_names)
    pick = [cls.index(_str(r["best_class"])), cls.index(_str(r["worst_class"]))]
    shown = test.subset(np.flatnonzero(np.isin(test.labels, pick)))
    caption = (f"**{name}** — best class *{cls[pick[0]]}* ({_f(r['best']):.3f}), worst class *{cls[pick[1]]}* "
               f"({_f(r['worst']):.3f}), model {_short(ds, best)}")
    return {"images": shown.images, "labels": shown.labels, "class_names": shown.class_names,
            "per_class": per_class, "caption": caption}


def _precision_text(precision: str) -> str:
    """``", precision `bf16` (…)"`` for a recipe sentence; nothing for fp32 (the book's)."""
    if precision == "fp32":
        return ""
    return (f", precision `{precision}` (bf16 autocast where the CPU/GPU has it, else fp32: each run's "
            f"`precision_ran` says which)")


def describe(p: Params, ds: xr.Dataset) -> str:
    """The run's setting in one Markdown paragraph (shown under the chapter's introduction)."""
    g = glue_values(ds)
    wall = ds.attrs.get("wall_time_s")
    took = f"the analysis took {float(wall) / 60:.1f} minutes when computed" if wall is not None else ""
    cap = (f"capacity sweep {', '.join(p.capacity)} on {', '.join(p.capacity_datasets)}" if p.capacity
           else "no capacity sweep")
    first = p.datasets[0]
    longer = (f"{', '.join(budget_specs(p))} for {_epochs(p.budget_epochs)} on the same {first} images (seeds "
              f"{list(p.budget_seeds)})" if budget_specs(p) else "no long runs")
    full = (f"{full_data_spec(p)} for {_epochs(p.full_data_epochs)} on the whole {first} training set (seeds "
            f"{list(p.full_data_seeds)})" if full_data_spec(p) else "no full-data model")
    return (f"**Profile `{p.profile}`.** Data: {', '.join(p.datasets)} (test sets in full; training images per "
            f"class: {p.train_per_class}). Models: {', '.join(p.models)}; {cap}. Seeds {list(p.seeds)}; epochs "
            f"{p.epochs}; {p.optimizer} lr {p.lr}, weight decay {p.weight_decay}, augmentation `{p.augment}`"
            f"{_precision_text(p.precision)}. "
            f"Undertraining check: {longer}; {full}. "
            f"{g['n_runs']} training runs took {g['train_minutes']:.1f} CPU-minutes when trained"
            + (f"; {took} (cached runs are reused)" if took else "")
            + f". Intervals are {float(ds.attrs.get('confidence', 0.95)):.0%} bias-corrected t-intervals over "
            f"test images and seeds ({p.n_boot} bootstrap replicates of each).")


# ------------------------------------------------------------------------------------------ the short answer

def _ans_ci(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    from ._common import ci_text
    return ci_text(v, lo, hi, fmt)


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer to "how unequal are classes?", in one to three sentences whose wording follows
    the verdicts: ``cui.balanced_disparity`` (the most accurate model on the first data set), its converged twin
    (the full-data model, when it ran) and ``cui.shared_hard_classes`` (when two or more architectures ran); each
    number with its 95 % interval."""
    found = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(found["claim"].values, found["verdict"].values)}
    main = _datasets(ds)[0]
    best = _str(ds["best_model"].sel(dataset=main))
    b = ds.sel(dataset=main, model=best)
    gap, p = _ans_ci(_f(b["gap"]), _f(b["gap_lower"]), _f(b["gap_upper"])), _f(b["noise_p_max"])
    who = f"on {main} the most accurate model ({_short(ds, best)}) has a best–worst class gap of {gap}"
    if verdict["cui.balanced_disparity"] == AGREES:
        out = [f"Unequal beyond sampling noise, even on balanced data: {who}, a spread beyond the binomial noise floor "
               f"for every seed (largest p {p:.2g})."]
    else:  # a test: it agrees or cannot tell
        out = [f"Not shown at this scale: {who}, but for at least one seed this test set cannot tell the spread from "
               f"sampling noise (largest noise-floor p {p:.2g})."]
    if CONVERGED_ID in verdict:
        full = (f"A well-trained model, {_short(ds, _str(ds['full_model']))} on all {int(ds['full_n_train']):,} "
                f"training images, has a gap of "
                f"{_ans_ci(_f(ds['full_gap']), _f(ds['full_gap_lower']), _f(ds['full_gap_upper']))}")
        out.append(f"{full}, still beyond sampling noise." if verdict[CONVERGED_ID] == AGREES else
                   f"{full}, which its test set cannot tell from sampling noise.")
    if "cui.shared_hard_classes" in verdict:
        a = ds.sel(dataset=main)
        w = _ans_ci(_f(a["models_kendall_w"]), _f(a["models_kendall_w_lower"]), _f(a["models_kendall_w_upper"]),
                    ".2f")
        line = f"strong-agreement line {STRONG_AGREEMENT:g}"
        out.append({AGREES: f"The architectures agree on which classes are hard (Kendall's W {w}, above the {line}).",
                    DISAGREES: f"The architectures do not agree on which classes are hard (Kendall's W {w}, below "
                               f"the {line})."}.get(
            verdict["cui.shared_hard_classes"],
            f"Whether the architectures agree on which classes are hard, this run cannot tell (Kendall's W {w}, an "
            f"interval across the {line})."))
    return " ".join(out)
