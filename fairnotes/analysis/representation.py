"""Chapter "representation": is per-class unfairness in the classifier or in the features?

Every head is fitted on the same frozen features of each trained backbone (and of a frozen
pretrained model); the chapter compares the heads' best–worst gaps *paired* with the trained
classifier's (same seeds, same test images), asks whether the heads agree on which classes are
hard (Kendall's W over distinct heads), and contrasts the classifier's weight norms on balanced
and on long-tailed training data. The same heads also read the frozen features of a *well-trained*
backbone, the prevalence chapter's full-data run (read through the job cache), paired against its
own classifier: is a head that narrows the gap of a briefly trained backbone only making up for an
undertrained classifier?

No head setting is chosen on the test set: τ of τ-normalisation (and k of kNN, when several are
given) is chosen per run on ``val_per_class`` held-out training images per class
(:func:`fairnotes.jobs.probe.on_run`), and the chapter reads the head ``tau_norm(selected)``; a run
that trained on all its training images has none, and keeps τ = 1 (said so per setting).

>>> from fairnotes.analysis import representation as chapter
>>> ds = chapter.run(chapter.Params(profile="tiny", datasets=("digits",)))   # doctest: +SKIP
>>> chapter.claims(ds)["verdict"].values                                     # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ._claims import above, claims_dataset, near
from ._common import paper_claim, per_dataset, spearman_ci
from ._params import ChapterParams
from ._store import JobLog, cached_analysis

__all__ = ["Params", "run", "well_trained_configs", "stack_heads", "distinct_heads", "summarize", "claims",
           "glue_values", "head_tables", "tables", "chart_frames", "ETF_HEAD", "GAP_MARGIN", "NORM_MARGIN",
           "W_THRESHOLD", "WELL_TRAINED_ID"]

#: the head of the backbone trained under a fixed simplex-ETF classifier (a separate run per seed)
ETF_HEAD = "fixed ETF (trained with it)"
#: the smallest change of the best–worst gap we call meaningful
GAP_MARGIN = 0.05
#: with ~10 classes a Spearman interval is wide: only |rho| beyond this is distinguishable from none
NORM_MARGIN = 0.5
#: "the heads agree": Kendall's W above this
W_THRESHOLD = 0.7
#: the re-trained-head claim tested again on the prevalence chapter's well-trained (full-data) backbone
WELL_TRAINED_ID = "cui.retrain_keeps_gap:well-trained"

SEC_HEADS = "Every head on the same features"
SEC_AGREE = "Do the hardest classes stay hardest?"
SEC_NORMS = "Weight norms: balanced against long-tailed"
SEC_WELL = "A well-trained backbone"


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (see ``book/representation.md``).

    ``precision`` trains the backbones (and their ETF twins) and extracts the frozen ``pretrained_model``
    features; the trained backbones' features for the heads are extracted in fp32, and the well-trained
    backbone is the prevalence chapter's run in its own profile (fp32).
    """

    chapter: ClassVar[str] = "representation"
    datasets: tuple[str, ...] = ("fashion-mnist", "mnist-5k")
    backbones: tuple[str, ...] = ("cnn", "resnet8")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int | dict[str, int] = field(default_factory=lambda: {"fashion-mnist": 4, "mnist-5k": 6, "digits": 30})
    train_per_class: int | dict[str, int] | None = field(default_factory=lambda: {"fashion-mnist": 1000})
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.05
    augment: str = "crop"
    precision: Literal["fp32", "bf16"] = "fp32"
    knn_k: int = 10
    taus: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    etf: bool = True
    pretrained_model: str = "efficientnet_lite0"
    pretrained_train_per_class: int | None = 1000
    long_tail_dataset: str = "fashion-mnist"
    long_tail_ratio: float = 10.0
    n_boot: int = 500
    val_per_class: int | None = 500
    well_trained: bool = True


def run(p: Params, *, refresh: bool = False, progress: bool = True) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code; the jobs are cached on their own)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


# ---------------------------------------------------------------------------------------------- jobs


def _base_config(p: Params, name: str) -> Any:
    from ..jobs import train
    return train.TrainConfig(dataset=name, model="mlp", epochs=per_dataset(p.epochs, name), batch_size=p.batch_size,
                             optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay, augment=p.augment,
                             train_per_class=per_dataset(p.train_per_class, name), profile=p.profile,
                             precision=p.precision)


def _probe_run(p: Params, cfg: Any, seed: int, log: JobLog) -> xr.Dataset:
    from ..jobs import probe
    log.add("train", cfg)
    log.add("probe.heads", probe.HeadsConfig(source=cfg, knn_k=[p.knn_k], taus=[float(t) for t in p.taus],
                                             seed=int(seed), val_per_class=p.val_per_class))
    return probe.on_run(cfg, knn_k=p.knn_k, taus=p.taus, seed=seed, val_per_class=p.val_per_class)


def well_trained_configs(p: Params) -> tuple[str | None, list, str]:
    """The prevalence chapter's full-data run(s) of the same profile: ``(spec, configs, why_not)``.

    ``configs`` are exactly :func:`fairnotes.analysis.prevalence.full_data_configs` of that chapter's
    parameters in ``p.profile`` (so the job cache's runs are read, never retrained), read as
    :func:`fairnotes.analysis.remedies.difficulty_runs` reads its sweep; empty, with ``why_not``
    saying why, when ``well_trained`` is off, that chapter trains no full-data model, or trains it on
    another data set than this chapter's first.
    """
    from . import prevalence, profile_params
    if not p.well_trained:
        return None, [], "not asked for (`well_trained = False`)"
    pp = profile_params("prevalence", p.profile)
    spec = prevalence.full_data_spec(pp)
    if spec is None:
        return None, [], f"the prevalence chapter's {p.profile} profile trains no full-data model"
    if pp.datasets[0] != p.datasets[0]:
        return None, [], (f"the prevalence chapter's {p.profile} profile trains its full-data model on "
                          f"{pp.datasets[0]}, not on {p.datasets[0]}")
    return spec, prevalence.full_data_configs(pp), ""


def _well_trained_backbone(spec: str, cfg: Any) -> str:
    """``cnn, all images, 20 epochs``: the backbone of the well-trained setting, named from its config."""
    n = "all images" if cfg.train_per_class is None else f"{cfg.train_per_class} images per class"
    return f"{spec}, {n}, {cfg.epochs} epoch{'' if cfg.epochs == 1 else 's'}"


def _compute(p: Params, *, progress: bool = False) -> xr.Dataset:
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .. import results
    from ..jobs import probe, sweep, train

    log, settings = JobLog(), {}
    wt_spec, wt_cfgs, wt_missing = well_trained_configs(p)
    bar = tqdm(total=len(p.datasets) * (len(p.backbones) + bool(p.pretrained_model)) + 1 + bool(wt_cfgs),
               desc="representation", unit="setting", disable=not progress)
    for name in p.datasets:
        for bb in p.backbones:
            runs, twins = [], []
            for seed in p.seeds:
                cfg = sweep.configs(_base_config(p, name), models=[bb], seeds=[seed])[0]
                runs.append(_probe_run(p, cfg, seed, log))
                if p.etf:
                    twin = replace(cfg, head="etf", progress=False)
                    log.add("train", twin)
                    twins.append(results.cached(train.run, twin))
            sw = stack_heads(runs, p.seeds, etf=twins or None, dataset=name, backbone=bb)
            settings[_setting_name(name, bb)] = sw
            bar.update()
        if p.pretrained_model:
            prec = {"precision": p.precision} if p.precision != "fp32" else {}  # fp32: the call as it always was
            ds = probe.on_pretrained(p.pretrained_model, name, train_per_class=p.pretrained_train_per_class,
                                     knn_k=p.knn_k, **prec)
            log.add("probe.heads", probe.HeadsConfig(source=p.pretrained_model, dataset=name,
                                                     train_per_class=p.pretrained_train_per_class, knn_k=[p.knn_k],
                                                     precision=p.precision))
            settings[_setting_name(name, p.pretrained_model, True)] = stack_heads(
                [ds], [0], dataset=name, backbone=p.pretrained_model, pretrained=True)
            bar.update()

    # the well-trained backbone: the prevalence chapter's full-data run(s), its own classifier the reference; it
    # trained on every training image, so no τ can be chosen on held-out ones (τ = 1, said so); no ETF twin
    wt_name, wt_attrs = None, {"well_trained_missing": wt_missing}
    if wt_cfgs:
        wt_seeds = [int(c.seed) for c in wt_cfgs]
        runs = [_probe_run(p, c, c.seed, log) for c in wt_cfgs]
        backbone = _well_trained_backbone(wt_spec, wt_cfgs[0])
        wt_name = _setting_name(wt_cfgs[0].dataset, backbone)
        settings[wt_name] = stack_heads(runs, wt_seeds, dataset=wt_cfgs[0].dataset, backbone=backbone)
        wt_attrs.update(well_trained_model=wt_spec, well_trained_epochs=int(wt_cfgs[0].epochs),
                        well_trained_n_train=int(runs[0].attrs.get("n_train", -1)),
                        well_trained_seeds=", ".join(map(str, wt_seeds)))
        bar.update()

    # the long-tailed contrast: the same backbone and budget; class c keeps long_tail_counts(n_max, ρ, K)[c] images
    lt_name = p.long_tail_dataset
    n_max = per_dataset(p.train_per_class, lt_name) or 1000
    cfg0 = sweep.configs(_base_config(p, lt_name), models=[p.backbones[0]], seeds=[p.seeds[0]])[0]
    lt = _probe_run(p, replace(cfg0, train_imbalance=p.long_tail_ratio, train_per_class=n_max), p.seeds[0], log)
    balanced = settings.get(_setting_name(lt_name, p.backbones[0]))
    if balanced is None:  # the long-tailed data set is not among `datasets`: its balanced twin, seed 0
        balanced = stack_heads([_probe_run(p, cfg0, p.seeds[0], log)], p.seeds[:1], dataset=lt_name,
                               backbone=p.backbones[0])
    bar.update()
    bar.close()
    out = summarize(settings, main=_setting_name(p.datasets[0], p.backbones[0]), taus=p.taus, n_boot=p.n_boot,
                    long_tail=lt, long_tail_balanced=balanced, long_tail_n_max=n_max,
                    long_tail_ratio=p.long_tail_ratio, well_trained=wt_name)
    out.attrs.update(wt_attrs)
    out.attrs.update(jobs=log.keys, datasets=", ".join(p.datasets), backbones=", ".join(p.backbones),
                     seeds=", ".join(map(str, p.seeds)),
                     train_per_class_text=", ".join(f"{name}: {per_dataset(p.train_per_class, name) or 'all'}"
                                                    for name in p.datasets),
                     knn_k=int(p.knn_k), taus=", ".join(f"{t:g}" for t in p.taus), etf=int(p.etf),
                     val_per_class=-1 if p.val_per_class is None else int(p.val_per_class),
                     pretrained_model=p.pretrained_model,
                     pretrained_train_per_class=str(p.pretrained_train_per_class),
                     long_tail_dataset=lt_name, long_tail_backbone=p.backbones[0],
                     profile_name=p.profile)
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        out.attrs["precision_asked"] = p.precision
    return out


def _setting_name(dataset: str, backbone: str, pretrained: bool = False) -> str:
    return f"{dataset} / {backbone}" + (" (pretrained, frozen)" if pretrained else "")


# ------------------------------------------------------------------------------------------ pure parts


def stack_heads(per_seed: Sequence[xr.Dataset], seeds: Sequence[int], *, etf: Sequence[xr.Dataset] | None = None,
                dataset: str = "", backbone: str = "", pretrained: bool = False) -> xr.Dataset:
    """The heads of one backbone, stacked ``head × seed × sample`` (the shape summaries read).

    ``per_seed``: one :func:`fairnotes.heads.evaluate_heads` result per seed (same test images);
    ``etf``: per seed, the test result of the backbone trained under a fixed simplex ETF (head
    :data:`ETF_HEAD`). ``weight_norm`` (the trained classifier's, seed ``seeds[0]``) is kept, and so
    is what the held-out training images chose: ``val_balanced_accuracy`` (head × seed),
    ``tau_selected`` and ``knn_k_selected`` (seed; NaN when nothing was chosen), attrs ``validation``
    (how, or why not) and ``val_min_per_class`` (fewest held-out images of a class over the seeds;
    0: none, the fallback τ = 1; -1: no selection asked for).
    """
    if len(per_seed) != len(seeds) or (etf is not None and len(etf) != len(seeds)):
        raise ValueError(f"need one result per seed ({len(seeds)}); got {len(per_seed)} and "
                         f"{None if etf is None else len(etf)}")
    first = per_seed[0]
    target = first["target"].values
    heads = [str(h) for h in first["head"].values]
    for d in list(per_seed[1:]) + list(etf or []):
        if not np.array_equal(d["target"].values, target):
            raise ValueError("every seed (and the ETF runs) must predict the same test images in the same order")
    pred = np.stack([d["prediction"].sel(head=heads).values for d in per_seed], axis=1)
    family = [str(f) for f in first["head_family"].values]
    # a selected head's τ or k may differ between seeds: it is in tau_selected / knn_k_selected instead
    param = [math.nan if f.endswith("_selected") else float(v) for f, v in zip(family, first["head_param"].values)]
    if etf:
        pred = np.concatenate([pred, np.stack([r["prediction"].values for r in etf])[None]])
        heads, family, param = heads + [ETF_HEAD], family + ["etf"], param + [math.nan]
    out = xr.Dataset({"prediction": (("head", "seed", "sample"), pred.astype(np.int64)),
                      "target": ("sample", target.astype(np.int64))},
                     coords={"head": heads, "head_family": ("head", family), "head_param": ("head", param),
                             "seed": [int(s) for s in seeds], "label": first["label"].values,
                             "class_name": ("label", [str(c) for c in first["class_name"].values])})
    out["overall_accuracy"] = (out["prediction"] == out["target"]).mean("sample")
    if "weight_norm" in first:
        out["weight_norm"] = ("label", first["weight_norm"].values)
    if "val_balanced_accuracy" in first:
        val = np.stack([d["val_balanced_accuracy"].sel(head=heads[:first.sizes["head"]]).values for d in per_seed], 1)
        if etf:
            val = np.concatenate([val, np.full((1, len(seeds)), math.nan)])
        out["val_balanced_accuracy"] = (("head", "seed"), val.astype(float))
    for var, attr in (("tau_selected", "tau_selected"), ("knn_k_selected", "knn_k_selected")):
        out[var] = ("seed", np.array([float(d.attrs.get(attr, math.nan)) for d in per_seed]))
    asked = "val_per_class" in first.attrs
    n_val = min(int(d.attrs.get("n_val_min_per_class", 0)) for d in per_seed) if asked else -1
    out.attrs.update(dataset=dataset, backbone=backbone, pretrained=int(pretrained),
                     validation=str(first.attrs.get("validation", "")), val_min_per_class=n_val,
                     val_per_class=int(first.attrs.get("val_per_class", -1)),
                     validation_missing=str(first.attrs.get("validation_missing", "")))
    return out


def distinct_heads(heads: Sequence[str], family: Sequence[str], param: Sequence[float],
                   taus: Sequence[float]) -> list[str]:
    """The heads that are different classifiers: one τ-normalised head and one kNN head.

    Six rescalings of one weight matrix would otherwise count as six raters agreeing with each other.
    The τ-normalised head is ``tau_norm(selected)`` (τ chosen on held-out training images) when the
    heads have it, else the one at :func:`chosen_tau` (fixed in advance, never by test accuracy);
    likewise ``knn(selected)`` replaces the kNN candidates when there is one.
    """
    family = [str(f) for f in family]
    if "tau_norm_selected" in family:
        drop_tau = lambda f, t: f == "tau_norm"  # noqa: E731
    else:
        tau = chosen_tau(taus)
        drop_tau = lambda f, t: f == "tau_norm" and not np.isclose(t, tau)  # noqa: E731
    drop_knn = "knn_selected" in family
    return [h for h, f, t in zip(heads, family, param) if not drop_tau(f, t) and not (drop_knn and f == "knn")]


def chosen_tau(taus: Sequence[float]) -> float:
    """The τ fixed in advance when no held-out images choose one: 1.0 (Kang et al.'s default) if among
    ``taus``, else the middle one of the sorted ``taus`` (NaN when none)."""
    ts = sorted(float(t) for t in taus)
    if not ts:
        return math.nan
    return 1.0 if any(np.isclose(t, 1.0) for t in ts) else ts[len(ts) // 2]


def _per_class_accuracy(pred: np.ndarray, target: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array([float((pred[target == c] == c).mean()) for c in labels])


def _setting_summary(sw: xr.Dataset, *, taus: Sequence[float], n_boot: int, seed: int) -> dict[str, Any]:
    from .. import summary
    from ..metrics import rank_agreement_ci

    heads = [str(h) for h in sw["head"].values]
    ref = "classifier" if "classifier" in heads else "linear" if "linear" in heads else heads[0]
    bm = summary.by_model(sw.rename({"head": "model"}), n_boot=n_boot, seed=seed)
    pdl = summary.paired_deltas(sw, dim="head", reference=ref, n_boot=n_boot, seed=seed)
    per_head = {"overall_accuracy": bm["overall_accuracy"].values, "worst_class": bm["worst_class"].values}
    for stat in ("mean", "worst", "gap", "std"):
        for suffix in ("", "_lower", "_upper", "_rerun"):
            per_head[stat + suffix] = bm[stat + suffix].values
    for stat in ("gap", "worst", "mean"):
        for suffix in ("", "_lower", "_upper", "_rerun"):
            per_head[f"delta_{stat}{suffix}"] = pdl[f"delta_{stat}{suffix}"].values
    rater = distinct_heads(heads, sw["head_family"].values, sw["head_param"].values, taus)
    per_head["in_agreement"] = np.array([h in rater for h in heads])
    w = rank_agreement_ci(sw["target"].values, sw["prediction"].sel(head=rater).isel(seed=0).values,
                          raters=rater, over="head", n_boot=n_boot, seed=seed)
    scalars = {k: float(w[k]) for k in ("kendall_w", "kendall_w_lower", "kendall_w_upper", "mean_spearman",
                                         "mean_spearman_lower", "mean_spearman_upper")}
    rho = (math.nan,) * 3
    if "weight_norm" in sw and "classifier" in heads:
        acc0 = _per_class_accuracy(sw["prediction"].sel(head="classifier").isel(seed=0).values, sw["target"].values,
                                   sw["label"].values)
        rho = spearman_ci(sw["weight_norm"].values, acc0)
    scalars.update(rho_norm_accuracy=rho[0], rho_norm_accuracy_lower=rho[1], rho_norm_accuracy_upper=rho[2],
                   n_heads_agreement=len(rater), n_seeds=sw.sizes["seed"], n_test=sw.sizes["sample"],
                   n_classes=sw.sizes["label"], val_min_per_class=float(sw.attrs.get("val_min_per_class", -1)),
                   val_per_class=float(sw.attrs.get("val_per_class", -1)))
    per_head["val_balanced_accuracy"] = (sw["val_balanced_accuracy"].mean("seed").values
                                         if "val_balanced_accuracy" in sw else np.full(len(heads), math.nan))
    per_seed = {v: dict(zip(sw["seed"].values.tolist(), sw[v].values.tolist())) if v in sw else {}
                for v in ("tau_selected", "knn_k_selected")}
    return {"heads": heads, "per_head": per_head, "scalars": scalars, "reference": ref, "per_seed": per_seed,
            "validation": str(sw.attrs.get("validation", "")),
            "validation_missing": str(sw.attrs.get("validation_missing", ""))}


def summarize(settings: Mapping[str, xr.Dataset], *, main: str | None = None, taus: Sequence[float] = (1.0,),
              n_boot: int = 500, seed: int = 0, long_tail: xr.Dataset | None = None,
              long_tail_balanced: xr.Dataset | None = None, long_tail_n_max: int = 1000,
              long_tail_ratio: float = 10.0, well_trained: str | None = None) -> xr.Dataset:
    """Every number of the chapter from the stacked heads (:func:`stack_heads`) of each setting.

    Returns dims ``setting`` (data set / backbone) and ``head`` (every head of any setting; NaN
    where a setting lacks it), and ``label`` (classes of the long-tailed data set):

    - per setting × head, from :func:`fairnotes.summary.by_model`: ``overall_accuracy``, ``mean``
      (balanced accuracy), ``worst``, ``worst_class``, ``gap``, ``std`` with ``_lower``/``_upper``;
      from :func:`fairnotes.summary.paired_deltas` against the setting's ``reference`` head (the
      trained classifier; the linear probe on pretrained features): ``delta_gap``, ``delta_worst``,
      ``delta_mean`` with paired bounds; ``in_agreement``: the head counts as a rater for W;
    - per setting × head: ``val_balanced_accuracy`` (mean over seeds of the score on the held-out
      training images that chose τ and k; NaN for heads not chosen that way);
    - per setting × seed: ``tau_selected``, ``knn_k_selected`` (NaN: nothing chosen); per setting
      ``validation`` (how they were chosen, or why not) and ``val_min_per_class`` (fewest held-out
      images of a class; 0: none, so τ = 1 fixed; -1: selection not asked for);
    - per setting: ``kendall_w`` (+ bounds, distinct heads, seed 0, :func:`~fairnotes.metrics.rank_agreement_ci`),
      ``mean_spearman``; ``rho_norm_accuracy`` (+ Fisher bounds): Spearman of the classifier's weight
      norm with its per-class accuracy (seed 0);
    - long-tailed contrast (``long_tail``: the heads of the long-tailed run, seed 0;
      ``long_tail_balanced``: the balanced twin's stacked heads): per head ``long_tail_accuracy``,
      ``long_tail_mean``, ``long_tail_worst``; per label ``norm_balanced``, ``accuracy_balanced``,
      ``norm_long_tail``, ``accuracy_long_tail``, ``train_images_long_tail`` (from
      :func:`fairnotes.data.long_tail_counts`); ``n_train_long_tail`` (their sum),
      ``rho_long_tail_frequency`` and ``rho_long_tail_accuracy`` (+ bounds); per head
      ``long_tail_val_accuracy``; attrs ``long_tail_tau_selected``, ``long_tail_validation``;
    - ``well_trained`` (per setting): the setting named by ``well_trained`` (a well-trained backbone,
      summarised like every other setting but kept out of the agreement table and of the smallest W
      over settings); attr ``well_trained_setting`` ("" when there is none).
    """
    from .. import data

    names = list(settings)
    if not names:
        raise ValueError("summarize needs at least one setting")
    main = names[0] if main is None else main
    if main not in names:
        raise ValueError(f"main setting {main!r} is not among {names}")
    if well_trained is not None and (well_trained not in names or well_trained == main):
        raise ValueError(f"the well-trained setting {well_trained!r} must be one of {names} other than the main one")
    parts = {s: _setting_summary(settings[s], taus=taus, n_boot=n_boot, seed=seed) for s in names}
    heads = list(dict.fromkeys(h for s in names for h in parts[s]["heads"]))
    if long_tail is not None:
        heads += [str(h) for h in long_tail["head"].values if str(h) not in heads]
    family, param = {}, {}
    for s in names:
        family |= dict(zip(parts[s]["heads"], (str(f) for f in settings[s]["head_family"].values)))
        param |= dict(zip(parts[s]["heads"], (float(v) for v in settings[s]["head_param"].values)))
    if long_tail is not None:
        family |= {str(h): str(f) for h, f in zip(long_tail["head"].values, long_tail["head_family"].values)}
        param |= {str(h): math.nan if str(f).endswith("_selected") else float(v) for h, f, v in
                  zip(long_tail["head"].values, long_tail["head_family"].values, long_tail["head_param"].values)
                  if str(h) not in param}
    ns, nh = len(names), len(heads)
    out = xr.Dataset(coords={"setting": names, "head": heads, "head_family": ("head", [family[h] for h in heads]),
                             "head_param": ("head", np.array([param[h] for h in heads], dtype=float)),
                             "dataset": ("setting", [str(settings[s].attrs.get("dataset", "")) for s in names]),
                             "backbone": ("setting", [str(settings[s].attrs.get("backbone", "")) for s in names])})
    for var in parts[names[0]]["per_head"]:
        kind = parts[names[0]]["per_head"][var].dtype.kind
        fill = "" if kind in "OUS" else False if kind == "b" else math.nan
        arr = np.full((ns, nh), fill, dtype=object if kind in "OUS" else bool if kind == "b" else float)
        for i, s in enumerate(names):
            for h, v in zip(parts[s]["heads"], parts[s]["per_head"][var]):
                arr[i, heads.index(h)] = str(v) if kind in "OUS" else v
        out[var] = (("setting", "head"), arr)
    out["present"] = (("setting", "head"), np.array([[h in parts[s]["heads"] for h in heads] for s in names]))
    for var in parts[names[0]]["scalars"]:
        out[var] = ("setting", np.array([parts[s]["scalars"][var] for s in names], dtype=float))
    out["reference"] = ("setting", np.array([parts[s]["reference"] for s in names], dtype=object))
    out["pretrained"] = ("setting", np.array([bool(settings[s].attrs.get("pretrained", 0)) for s in names]))
    out["well_trained"] = ("setting", np.array([s == well_trained for s in names]))
    for var in ("validation", "validation_missing"):
        out[var] = ("setting", np.array([parts[s][var] for s in names], dtype=object))
    seeds = sorted({int(x) for s in names for x in settings[s]["seed"].values})
    out = out.assign_coords(seed=seeds)
    for var in ("tau_selected", "knn_k_selected"):
        out[var] = (("setting", "seed"), np.array([[parts[s]["per_seed"][var].get(x, math.nan) for x in seeds]
                                                   for s in names], dtype=float))
    out.attrs.update(main_setting=main, well_trained_setting=well_trained or "", tau_agreement=chosen_tau(taus),
                     n_boot=int(n_boot),
                     gap_ci="95% bootstrap over test images (seed-mean accuracy)",
                     delta_ci="95% paired bootstrap over seeds and test images")
    if long_tail is not None:
        out = _long_tail(out, long_tail, long_tail_balanced, n_max=long_tail_n_max, ratio=long_tail_ratio,
                         counts_of=data.long_tail_counts)
    return out


def _long_tail(out: xr.Dataset, lt: xr.Dataset, balanced: xr.Dataset | None, *, n_max: int, ratio: float,
               counts_of: Any) -> xr.Dataset:
    heads = list(out["head"].values)
    for var, values in (("long_tail_accuracy", lt["overall_accuracy"]), ("long_tail_mean", lt["balanced_accuracy"]),
                        ("long_tail_worst", lt["accuracy"].min("label"))):
        arr = np.full(len(heads), math.nan)
        for h, v in zip(lt["head"].values, values.values):
            arr[heads.index(str(h))] = float(v)
        out[var] = ("head", arr)
    labels = lt["label"].values
    counts = np.asarray(counts_of(int(n_max), float(ratio), len(labels)), dtype=np.int64)
    norm_lt, acc_lt = lt["weight_norm"].values, lt["accuracy"].sel(head="classifier").values
    out = out.assign_coords(label=labels, class_name=("label", [str(c) for c in lt["class_name"].values]))
    out["norm_long_tail"] = ("label", norm_lt.astype(float))
    out["accuracy_long_tail"] = ("label", acc_lt.astype(float))
    out["train_images_long_tail"] = ("label", counts)
    out["n_train_long_tail"] = int(counts.sum())
    out["n_train_long_tail_seen"] = int(lt.attrs.get("n_train", -1))
    arr = np.full(len(heads), math.nan)
    if "val_balanced_accuracy" in lt:
        for h, v in zip(lt["head"].values, lt["val_balanced_accuracy"].values):
            arr[heads.index(str(h))] = float(v)
    out["long_tail_val_accuracy"] = ("head", arr)
    out.attrs.update(long_tail_tau_selected=float(lt.attrs.get("tau_selected", math.nan)),
                     long_tail_validation=str(lt.attrs.get("validation", "")),
                     long_tail_validation_missing=str(lt.attrs.get("validation_missing", "")),
                     long_tail_val_per_class=int(lt.attrs.get("val_per_class", -1)),
                     long_tail_val_min_per_class=int(lt.attrs.get("n_val_min_per_class", 0)))
    for name, y in (("frequency", counts), ("accuracy", acc_lt)):
        r = spearman_ci(norm_lt, y)
        out[f"rho_long_tail_{name}"], out[f"rho_long_tail_{name}_lower"], out[f"rho_long_tail_{name}_upper"] = r
    if balanced is not None:
        if not np.array_equal(balanced["label"].values, labels):
            raise ValueError("the balanced and long-tailed runs must share their labels")
        out["norm_balanced"] = ("label", balanced["weight_norm"].values.astype(float))
        out["accuracy_balanced"] = ("label", _per_class_accuracy(
            balanced["prediction"].sel(head="classifier").isel(seed=0).values, balanced["target"].values, labels))
    out.attrs.update(long_tail_ratio=float(ratio), long_tail_n_max=int(n_max))
    return out


# ---------------------------------------------------------------------------------------------- claims


def _main(ds: xr.Dataset) -> xr.Dataset:
    return ds.sel(setting=str(ds.attrs["main_setting"]))


def _well(ds: xr.Dataset) -> xr.Dataset | None:
    """The well-trained backbone's setting (None when it was not run)."""
    name = str(ds.attrs.get("well_trained_setting", ""))
    return ds.sel(setting=name) if name and name in ds["setting"].values else None


def _grid(ds: xr.Dataset) -> xr.Dataset:
    """The chapter's own settings (data sets × backbones, pretrained): the well-trained backbone left out."""
    if "well_trained" not in ds:
        return ds
    return ds.isel(setting=np.flatnonzero(~ds["well_trained"].values.astype(bool)))


def _head_of(s: xr.Dataset, family: str) -> str | None:
    got = [str(h) for h, f, ok in zip(s["head"].values, s["head_family"].values, s["present"].values)
           if str(f) == family and bool(ok)]
    return got[0] if got else None


def _distinct(s: xr.Dataset) -> xr.Dataset:
    """The setting's heads that are different classifiers (τ-norm: the one chosen on held-out images)."""
    return s.isel(head=np.flatnonzero(s["present"].values & s["in_agreement"].values))


def _tau_head(s: xr.Dataset) -> str | None:
    """The τ-normalised head the chapter reads: ``tau_norm(selected)``, else the one fixed in advance."""
    on = _distinct(s)
    got = [str(h) for h, f in zip(on["head"].values, on["head_family"].values)
           if str(f) in ("tau_norm_selected", "tau_norm")]
    return got[0] if got else None


def _g(v: float) -> str:
    return f"{v:g}"


def _selection_words(ds: xr.Dataset, setting: str) -> str:
    """How the setting's τ (and k) were set: chosen on held-out training images, or not, and why ("": no τ head)."""
    s = ds.sel(setting=setting)
    head = _tau_head(s)
    if head is None:
        return ""
    if head != "tau_norm(selected)":
        return f"τ = {_g(float(s['head_param'].sel(head=head)))}, fixed in advance (no held-out images asked for)"
    pairs = [(int(x), float(t)) for x, t in zip(s["seed"].values, s["tau_selected"].values) if math.isfinite(t)]
    ks = [(int(x), float(k)) for x, k in zip(s["seed"].values, s["knn_k_selected"].values) if math.isfinite(k)]
    seeds = ", ".join(str(x) for x, _ in pairs)
    which = f"τ = {', '.join(_g(t) for _, t in pairs)} (seed{'s' if len(pairs) > 1 else ''} {seeds})"
    if ks:
        which += f", k = {', '.join(_g(k) for _, k in ks)}"
    n, asked = int(s["val_min_per_class"]), int(s["val_per_class"])
    if n > 0:
        few = "" if n >= asked else f" (the smallest class has {n})"
        return f"{which}, chosen by balanced accuracy on {asked} held-out training images per class{few}"
    why = str(s["validation_missing"].values) or "no held-out images"
    return f"{which}: Kang et al.'s default, not chosen, because {why}"


def _not_selected(ds: xr.Dataset) -> list[str]:
    """The settings (and the long-tailed run) whose τ could not be chosen: no held-out training images."""
    out = [str(x) for x in ds["setting"].values
           if _tau_head(ds.sel(setting=x)) == "tau_norm(selected)" and int(ds["val_min_per_class"].sel(setting=x)) < 1]
    a = ds.attrs
    if "long_tail_val_min_per_class" in a and int(a["long_tail_val_min_per_class"]) < 1 and \
            int(a.get("long_tail_val_per_class", -1)) > 0:
        out.append(f"the long-tailed {a.get('long_tail_dataset', '')} run".replace("  ", " "))
    return out


def _delta(s: xr.Dataset, head: str, stat: str = "gap") -> tuple[float, float, float]:
    r = s.sel(head=head)
    return tuple(float(r[f"delta_{stat}{x}"]) for x in ("", "_lower", "_upper"))


def claims(ds: xr.Dataset) -> xr.Dataset:
    """The chapter's claims, on the first data set and backbone (seeds pooled by paired bootstrap); the
    re-trained-head claim again (:data:`WELL_TRAINED_ID`) on the well-trained backbone, if it was run."""
    s = _main(ds)
    m, n = str(ds.attrs["main_setting"]), int(s["n_seeds"])
    gap_note = f"{GAP_MARGIN:g} is the smallest change of the best–worst gap we call meaningful"
    rows = []
    for key, family, what in (("cui.knn_keeps_gap", "knn", None), ("cui.etf_keeps_gap", "etf", None),
                              ("cui.retrain_keeps_gap", "linear", "linear probe")):
        head = _head_of(s, family)
        if head is None:
            continue  # e.g. etf=False
        d, lo, hi = _delta(s, head)
        note = gap_note + ("; the ETF backbone is trained separately (same data and seeds), paired by seed"
                           if family == "etf" else "")
        rows.append(paper_claim(key, measure=f"Δgap, {what or head} − classifier ({m}, {n} seeds, paired)", ours=d,
                                lower=lo, upper=hi, rule=near(0, margin=GAP_MARGIN), section=SEC_HEADS, note=note))
    wt = _well(ds)
    if wt is not None and _head_of(wt, "linear") and str(wt["reference"].values) == "classifier":
        d, lo, hi = _delta(wt, _head_of(wt, "linear"))
        nw = int(wt["n_seeds"])
        acc = float(wt["overall_accuracy"].sel(head="classifier"))
        rows.append(paper_claim(
            "cui.retrain_keeps_gap", id=WELL_TRAINED_ID, ours=d, lower=lo, upper=hi,
            measure=f"Δgap, linear probe − classifier (well-trained backbone {wt['setting'].values}; overall "
                    f"accuracy {acc:.3f}; {nw} seed{'s' if nw > 1 else ''}, paired)",
            rule=near(0, margin=GAP_MARGIN), section=SEC_WELL,
            note=gap_note + "; the prevalence chapter's full-data run, read from the job cache" +
            ("; one seed: the interval covers the test images only" if nw == 1 else "")))
    rows.append(paper_claim(
        "cui.heads_agree", measure=f"Kendall's W over {int(s['n_heads_agreement'])} distinct heads ({m}, first seed)",
        ours=float(s["kendall_w"]),
        lower=float(s["kendall_w_lower"]), upper=float(s["kendall_w_upper"]), rule=above(W_THRESHOLD),
        section=SEC_AGREE, note=f"one τ-normalised head: {_selection_words(ds, m) or 'none'}; "
        "interval: bootstrap over test images"))
    rows.append(paper_claim(
        "cui.norms_do_not_explain", measure=f"Spearman rho, weight norm vs class accuracy (balanced, {m}, one seed)",
        ours=float(s["rho_norm_accuracy"]), lower=float(s["rho_norm_accuracy_lower"]),
        upper=float(s["rho_norm_accuracy_upper"]), rule=near(0, margin=NORM_MARGIN), section=SEC_NORMS,
        note=f"margin {NORM_MARGIN:g}: with {int(s['n_classes'])} classes only a strong correlation is "
             "distinguishable from none; Fisher-z interval"))
    if "rho_long_tail_frequency" in ds:
        rows.append(paper_claim(
            "kang.norms_track_frequency", measure=f"Spearman rho, weight norm vs training images per class "
            f"(long-tailed ρ = {float(ds.attrs['long_tail_ratio']):g}, one seed)",
            ours=float(ds["rho_long_tail_frequency"]), lower=float(ds["rho_long_tail_frequency_lower"]),
            upper=float(ds["rho_long_tail_frequency_upper"]), rule=above(0), section=SEC_NORMS,
            note="Fisher-z interval"))
    return claims_dataset(rows, chapter="representation")


# ------------------------------------------------------------------------------------- glue and tables


def _ci(v: float, lo: float, hi: float, digits: int = 3) -> str:
    if not math.isfinite(v):
        return "–"
    f = f"{{:.{digits}f}}"
    return f.format(v) + (f" [{f.format(lo)}, {f.format(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else "")


def glue_values(ds: xr.Dataset) -> dict[str, float | int | str]:
    """Every number and verdict the chapter's prose quotes."""
    s = _main(ds)
    on = _distinct(s)  # the "best head" is found among different classifiers, τ chosen on held-out images
    i_min = int(np.nanargmin(on["gap"].values))
    m = str(ds.attrs["main_setting"])
    out: dict[str, Any] = {
        "rep_main": m, "rep_n_heads": int(s["present"].sum()), "rep_n_distinct": int(on.sizes["head"]),
        "rep_classifier_gap": float(s["gap"].sel(head="classifier")),
        "rep_classifier_gap_lo": float(s["gap_lower"].sel(head="classifier")),
        "rep_classifier_gap_hi": float(s["gap_upper"].sel(head="classifier")),
        "rep_classifier_gap_rerun": float(s["gap_rerun"].sel(head="classifier")),
        "rep_min_head": str(on["head"].values[i_min]), "rep_min_gap": float(on["gap"].values[i_min]),
        "rep_min_gap_lo": float(on["gap_lower"].values[i_min]), "rep_min_gap_hi": float(on["gap_upper"].values[i_min]),
        "rep_min_worst_over_heads": float(on["worst"].min()), "rep_max_worst_over_heads": float(on["worst"].max()),
        "w_main": float(s["kendall_w"]), "w_main_lo": float(s["kendall_w_lower"]),
        "w_main_hi": float(s["kendall_w_upper"]), "w_n_heads": int(s["n_heads_agreement"]),
        "w_tau": float(ds.attrs["tau_agreement"]), "w_tau_text": _selection_words(ds, m) or "no τ-normalised head",
        "w_tau_head": _tau_head(s) or "–",
        "selection_text": "; ".join(f"{str(x)}: {w}" for x in ds["setting"].values
                                    for w in [_selection_words(ds, str(x))] if w) or "no τ-normalised head",
        "no_selection_text": ", ".join(_not_selected(ds)) or "none",
        "agree_w_min": float(_grid(ds)["kendall_w"].min()),
        "agree_w_lo_min": float(_grid(ds)["kendall_w_lower"].min()),
        "rho_bal": float(s["rho_norm_accuracy"]), "rho_bal_lo": float(s["rho_norm_accuracy_lower"]),
        "rho_bal_hi": float(s["rho_norm_accuracy_upper"]),
    }
    for key, family in (("knn", "knn"), ("etf", "etf"), ("linear", "linear"), ("crt", "crt"), ("ncm", "ncm")):
        head = _head_of(s, family)
        d = _delta(s, head) if head else (math.nan,) * 3
        out |= {f"d_{key}": d[0], f"d_{key}_lo": d[1], f"d_{key}_hi": d[2], f"d_{key}_text": _ci(*d),
                f"d_{key}_rerun": float(s["delta_gap_rerun"].sel(head=head)) if head else math.nan}
        gap = float(s["gap"].sel(head=head)) if head else math.nan
        # the share of the classifier's gap the head removes (negative: it widens the gap)
        share = -d[0] / out["rep_classifier_gap"] if head and out["rep_classifier_gap"] > 0 else math.nan
        out |= {f"gap_{key}": gap, f"share_{key}": share,
                f"gap_{key}_text": f"{gap:.3f}" if math.isfinite(gap) else "–",
                f"share_{key}_text": f"{share:.0%}" if math.isfinite(share) else "–"}
    if "rho_long_tail_frequency" in ds:
        for key, name in (("rho_lt_freq", "frequency"), ("rho_lt_acc", "accuracy")):
            v = ds[f"rho_long_tail_{name}"]
            out |= {key: float(v), f"{key}_lo": float(ds[f"{v.name}_lower"]), f"{key}_hi": float(ds[f"{v.name}_upper"])}
        acc = ds["long_tail_accuracy"]
        tau_head, tau_text = _long_tail_tau(ds)
        out |= {"lt_classifier_acc": float(acc.sel(head="classifier")),
                "lt_tau_acc": float(acc.sel(head=tau_head)) if tau_head else math.nan,
                "lt_tau_head": tau_head or "–", "lt_tau_text": tau_text,
                "lt_classifier_mean": float(ds["long_tail_mean"].sel(head="classifier")),
                "lt_tau_mean": float(ds["long_tail_mean"].sel(head=tau_head)) if tau_head else math.nan,
                "n_train_long_tail": int(ds["n_train_long_tail"]),
                "n_train_long_tail_seen": int(ds["n_train_long_tail_seen"]),
                "lt_ratio": float(ds.attrs["long_tail_ratio"]), "lt_n_max": int(ds.attrs["long_tail_n_max"])}
    found = claims(ds)
    for cid, v in zip(found["claim"].values, found["verdict"].values):
        out[_verdict_key(str(cid))] = str(v)
    out |= _well_glue(ds, found)
    out["profile_text"] = _profile_text(ds, out["wt_text"])
    return out


def _verdict_key(claim_id: str) -> str:
    """``verdict_cui_knn_keeps_gap``: a glue name (letters, digits, ``_``) for a claim's verdict."""
    return "verdict_" + "".join(c if c.isalnum() else "_" for c in claim_id)


def _well_glue(ds: xr.Dataset, found: xr.Dataset) -> dict[str, Any]:
    """``wt_*``: the well-trained backbone's numbers; NaN, "–" and "not run" (with ``wt_present`` 0) without it."""
    wt, a = _well(ds), ds.attrs
    out: dict[str, Any] = {"wt_present": int(wt is not None)}
    if wt is None:
        why = str(a.get("well_trained_missing", "")) or "no well-trained backbone among the settings"
        out |= {"wt_setting": "not run", "wt_text": f"not run in this profile: {why}", "wt_n_seeds": 0,
                "wt_classifier_acc": math.nan, "wt_classifier_acc_text": "–", "wt_classifier_gap": math.nan,
                "wt_classifier_gap_lo": math.nan, "wt_classifier_gap_hi": math.nan, "wt_classifier_gap_text": "–",
                "wt_tau_text": "–", "wt_w_text": "–", "wt_verdict": "not run"}
        for key in ("linear", "knn"):
            out |= {f"wt_d_{key}": math.nan, f"wt_d_{key}_lo": math.nan, f"wt_d_{key}_hi": math.nan,
                    f"wt_d_{key}_text": "–", f"wt_gap_{key}_text": "–"}
        return out
    name, nw = str(wt["setting"].values), int(wt["n_seeds"])
    cls = wt.sel(head="classifier") if bool(wt["present"].sel(head="classifier")) else None
    acc = float(cls["overall_accuracy"]) if cls is not None else math.nan
    gap = tuple(float(cls[v]) for v in ("gap", "gap_lower", "gap_upper")) if cls is not None else (math.nan,) * 3
    n_train, seeds = int(a.get("well_trained_n_train", -1)), str(a.get("well_trained_seeds", ""))
    what = "".join([f", {n_train:,} training images" if n_train > 0 else "",
                    f", seed{'s' if nw > 1 else ''} {seeds}" if seeds else ""])
    out |= {"wt_setting": name, "wt_n_seeds": nw,
            "wt_text": f"{name} (the prevalence chapter's full-data run{what}, read from the job cache)",
            "wt_classifier_acc": acc, "wt_classifier_acc_text": f"{acc:.3f}" if math.isfinite(acc) else "–",
            "wt_classifier_gap": gap[0], "wt_classifier_gap_lo": gap[1], "wt_classifier_gap_hi": gap[2],
            "wt_classifier_gap_text": _ci(*gap), "wt_tau_text": _selection_words(ds, name) or "no τ-normalised head",
            "wt_w_text": _ci(*(float(wt[v]) for v in ("kendall_w", "kendall_w_lower", "kendall_w_upper")), digits=2),
            "wt_verdict": str(found["verdict"].sel(claim=WELL_TRAINED_ID).values)
            if WELL_TRAINED_ID in found["claim"].values else "not tested (no linear probe or classifier)"}
    for key in ("linear", "knn"):
        head = _head_of(wt, key)
        d = _delta(wt, head) if head and cls is not None else (math.nan,) * 3
        g = float(wt["gap"].sel(head=head)) if head else math.nan
        out |= {f"wt_d_{key}": d[0], f"wt_d_{key}_lo": d[1], f"wt_d_{key}_hi": d[2], f"wt_d_{key}_text": _ci(*d),
                f"wt_gap_{key}_text": f"{g:.3f}" if math.isfinite(g) else "–"}
    return out


def _long_tail_tau(ds: xr.Dataset) -> tuple[str | None, str]:
    """The long-tailed run's τ-normalised head (chosen on held-out images if it can be) and how its τ was set."""
    acc, a = ds["long_tail_accuracy"], ds.attrs
    have = [str(h) for h, f in zip(ds["head"].values, ds["head_family"].values)
            if str(f) in ("tau_norm", "tau_norm_selected") and np.isfinite(float(acc.sel(head=h)))]
    if "tau_norm(selected)" in have:
        tau, n, asked = float(a["long_tail_tau_selected"]), int(a["long_tail_val_min_per_class"]), \
            int(a["long_tail_val_per_class"])
        if n > 0:
            few = "" if n >= asked else f" (the smallest class has {n})"
            return "tau_norm(selected)", (f"τ = {_g(tau)}, chosen by balanced accuracy on {asked} training images per "
                                          f"class that the long-tailed subset left out{few}")
        return "tau_norm(selected)", (f"τ = {_g(tau)}: Kang et al.'s default, not chosen, because "
                                      f"{a.get('long_tail_validation_missing') or 'no held-out images'}")
    tau = float(a.get("tau_agreement", math.nan))
    fixed = [h for h in have if np.isclose(float(ds["head_param"].sel(head=h)), tau)]
    if fixed:
        return fixed[0], f"τ = {_g(float(a['tau_agreement']))}, fixed in advance (no held-out images asked for)"
    return None, "no τ-normalised head"


def _profile_text(ds: xr.Dataset, well_text: str = "–") -> str:
    a = ds.attrs
    minutes = float(a.get("wall_time_s", math.nan)) / 60
    etf = "plus the same backbones trained under a fixed simplex-ETF classifier, " if int(a.get("etf", 0)) else ""
    pre = (f"and frozen ImageNet {a['pretrained_model']} features ({a['pretrained_train_per_class']} training images "
           "per class). " if a.get("pretrained_model") else "")
    return (f"**Profile `{a.get('profile_name', '?')}`.** Data: {a.get('datasets', '')} (full test sets; training "
            f"images per class {a.get('train_per_class_text', '')}). Backbones: {a.get('backbones', '')} trained from "
            f"scratch (seeds {a.get('seeds', '')}; the same runs as the prevalence chapter), {etf}{pre}"
            f"Heads: linear probe, cRT, {a.get('knn_k', '?')}-NN (cosine), nearest class mean, the trained classifier "
            f"and its τ-normalised versions (τ ∈ {a.get('taus', '')}; τ is chosen per run on "
            f"{_val_words(int(a.get('val_per_class', -1)))}, never on the test set). Long-tailed contrast: "
            f"{a.get('long_tail_dataset', '')} with imbalance {float(a.get('long_tail_ratio', math.nan)):g}. "
            f"Well-trained backbone: {well_text}. "
            + (f"Precision `{a['precision_asked']}` (bf16 autocast where the CPU/GPU has it, else fp32: each run's "
               f"`precision_ran` says which) for training the backbones and for the frozen ImageNet features; the "
               f"trained backbones' features for the heads, and the well-trained backbone, are fp32. "
               if a.get("precision_asked", "fp32") != "fp32" else "")
            + f"Intervals: 95% bootstrap over test images ({int(a.get('n_boot', 0))} replicates; paired over seeds and "
            f"images for differences between heads). The analysis took {minutes:.1f} minutes to compute.")


def _val_words(n: int) -> str:
    return (f"{n} held-out training images per class where the run left enough out (else fixed at 1)" if n > 0
            else "no held-out images (not asked for: fixed at 1, or the middle τ)")


def _role(s: xr.Dataset, head: str) -> str:
    """What a head's setting rests on, for the tables: chosen on held-out images, a candidate, or neither."""
    fam = str(s["head_family"].sel(head=head).values)
    selected = {"tau_norm": "tau_norm_selected", "knn": "knn_selected"}
    have = {str(f) for f, ok in zip(s["head_family"].values, s["present"].values) if ok}
    if fam in selected and selected[fam] in have:
        return "candidate (shown only; never chosen by test accuracy)"
    if fam == "tau_norm_selected":
        vals = ", ".join(_g(t) for t in s["tau_selected"].values if math.isfinite(t))
        return (f"τ = {vals} chosen on held-out training images" if int(s["val_min_per_class"]) > 0 else
                f"τ = {vals}, not chosen (no held-out images)")
    if fam == "knn_selected":
        vals = ", ".join(_g(k) for k in s["knn_k_selected"].values if math.isfinite(k))
        return (f"k = {vals} chosen on held-out training images" if int(s["val_min_per_class"]) > 0 else
                f"k = {vals}, not chosen (no held-out images)")
    if fam == "tau_norm" and bool(s["in_agreement"].sel(head=head)):
        return "τ fixed in advance"
    return ""


def head_tables(ds: xr.Dataset, *, well_trained: bool = False) -> dict[str, pd.DataFrame]:
    """Per setting: each head's accuracy, worst class, gap [CI] and Δgap against the reference head [paired CI].

    The chapter's own settings; with ``well_trained=True``, the well-trained backbone's instead (if run)."""
    out = {}
    flags = ds["well_trained"].values.astype(bool) if "well_trained" in ds else np.zeros(ds.sizes["setting"], bool)
    for name in ds["setting"].values[flags == well_trained]:
        s = ds.sel(setting=name)
        s = s.isel(head=np.flatnonzero(s["present"].values))
        ref = str(ds["reference"].sel(setting=name).values)
        ref_words = "classifier" if ref == "classifier" else f"{ref} probe" if ref == "linear" else ref
        rows = [{"accuracy": round(float(r["overall_accuracy"]), 3),
                 "worst class": f"{r['worst_class'].values} ({float(r['worst']):.3f})",
                 "gap [95% CI]": _ci(float(r["gap"]), float(r["gap_lower"]), float(r["gap_upper"])),
                 f"Δgap vs {ref_words} [paired 95% CI]": "(reference)" if h == ref else
                 _ci(float(r["delta_gap"]), float(r["delta_gap_lower"]), float(r["delta_gap_upper"])),
                 "held-out balanced accuracy": "–" if not math.isfinite(float(r["val_balanced_accuracy"])) else
                 f"{float(r['val_balanced_accuracy']):.3f}",
                 "setting chosen": _role(s, str(h)) or "–"}
                for h in s["head"].values for r in [s.sel(head=h)]]
        out[str(name)] = pd.DataFrame(rows, index=pd.Index([str(h) for h in s["head"].values], name="head"))
    return out


def tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Every other table the chapter shows."""
    from ..reference import paper_figure
    from ..viz import display_names
    grid = _grid(ds)
    agree = pd.DataFrame({
        "data set": grid["dataset"].values, "backbone": display_names(grid["backbone"].values),
        "distinct heads": grid["n_heads_agreement"].values.astype(int),
        "Kendall's W [95% CI]": [_ci(*(float(grid[v].sel(setting=s)) for v in ("kendall_w", "kendall_w_lower",
                                                                                "kendall_w_upper")))
                                 for s in grid["setting"].values],
        "mean Spearman": grid["mean_spearman"].values.round(3),
        "rho(weight norm, class accuracy) [95% CI]": [
            _ci(*(float(grid[v].sel(setting=s)) for v in ("rho_norm_accuracy", "rho_norm_accuracy_lower",
                                                           "rho_norm_accuracy_upper")), digits=2)
            for s in grid["setting"].values]}).set_index(["data set", "backbone"])
    out = {"agreement": agree}
    well = head_tables(ds, well_trained=True)
    if well:  # the well-trained backbone's heads (absent when it was not run)
        out["well_trained"] = next(iter(well.values()))
    main = _main(ds)
    ours = pd.DataFrame({"top-1 % balanced (ours, mean of seeds)": (main["overall_accuracy"] * 100).values.round(1)},
                        index=pd.Index([str(h) for h in ds["head"].values], name="head"))
    if "long_tail_accuracy" in ds:
        ours["top-1 % long-tailed (ours, one seed)"] = (ds["long_tail_accuracy"] * 100).values.round(1)
        lt = ds["long_tail_accuracy"].notnull()
        out["long_tail_heads"] = pd.DataFrame(
            {"accuracy": ds["long_tail_accuracy"].values, "balanced accuracy": ds["long_tail_mean"].values,
             "worst class": ds["long_tail_worst"].values,
             "held-out balanced accuracy": ds["long_tail_val_accuracy"].values},
            index=pd.Index([str(h) for h in ds["head"].values], name="head"))[lt.values].round(3)
    out["ours_accuracy"] = ours.dropna(how="all").astype(object).fillna("–")
    kang = paper_figure("kang2020_imagenet_lt")
    out["kang"] = pd.DataFrame([{"head": k, "top-1 % (ImageNet-LT, reported by Kang et al.)": v}
                                for k, v in kang.items() if k not in ("paper", "setting")]).set_index("head")
    return out


def chart_frames(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Frames for the charts: ``delta_gap`` (main setting, one row per head but the reference; a candidate τ or
    k, not chosen on held-out images, is labelled "(candidate)") and ``norms``."""
    s = _main(ds)
    keep = s["present"].values & (s["head"].values != str(s["reference"].values))
    labels = [h + (" (candidate)" if _role(s, h).startswith("candidate") else "")
              for h in s["head"].values[keep].astype(str)]
    out = {"delta_gap": pd.DataFrame({"head": labels,
                                      "Δgap vs classifier": s["delta_gap"].values[keep],
                                      "lower": s["delta_gap_lower"].values[keep],
                                      "upper": s["delta_gap_upper"].values[keep]})}
    if "norm_long_tail" in ds:
        names = [str(c) for c in ds["class_name"].values]
        parts = [pd.DataFrame({"training data": f"long-tailed (ρ = {float(ds.attrs['long_tail_ratio']):g})",
                               "class": names, "weight norm": ds["norm_long_tail"].values,
                               "class accuracy": ds["accuracy_long_tail"].values,
                               "training images": ds["train_images_long_tail"].values.astype(float)})]
        if "norm_balanced" in ds:
            parts.insert(0, pd.DataFrame({"training data": "balanced", "class": names,
                                          "weight norm": ds["norm_balanced"].values,
                                          "class accuracy": ds["accuracy_balanced"].values,
                                          "training images": math.nan}))
        out["norms"] = pd.concat(parts, ignore_index=True)
    return out


# ---------------------------------------------------------------------------------------------- the short answer


def _ans_ci(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    from ._common import ci_text
    return ci_text(v, lo, hi, fmt)


def _gap_change(verdict: str, d: tuple[float, float, float], noun: str = "the best–worst gap") -> str:
    """What a head does to the gap, in the words of its ``near(0, GAP_MARGIN)`` verdict."""
    from ._claims import AGREES, DISAGREES
    ci = _ans_ci(*d, fmt="+.3f")
    if verdict == AGREES:
        return f"leaves {noun} within ±{GAP_MARGIN:g} ({ci})"
    if verdict == DISAGREES:
        return f"{'narrows' if d[0] < 0 else 'widens'} {noun} by more than {GAP_MARGIN:g} ({ci})"
    return f"changes {noun} by {ci}, which this run cannot tell from a change within ±{GAP_MARGIN:g}"


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer to "the classifier or the representation?", in one to three sentences whose
    wording follows the verdicts: the re-trained linear probe and the kNN head against the jointly trained
    classifier (``cui.retrain_keeps_gap``, ``cui.knn_keeps_gap``), the re-trained probe again on the well-trained
    backbone (when it ran) and the heads' agreement on the hardest classes (``cui.heads_agree``); each number with
    its 95 % interval."""
    from ._claims import AGREES, DISAGREES
    found = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(found["claim"].values, found["verdict"].values)}
    s, m = _main(ds), str(ds.attrs["main_setting"])
    out, parts, narrowed = [], [], False
    for cid, family, who in (("cui.retrain_keeps_gap", "linear", "a linear probe re-trained on its frozen features"),
                             ("cui.knn_keeps_gap", "knn", "the kNN head")):
        if cid in verdict:
            d = _delta(s, _head_of(s, family))
            parts.append(f"{who} {_gap_change(verdict[cid], d, 'the best–worst gap' if not parts else 'it')}")
            narrowed |= verdict[cid] == DISAGREES and d[0] < 0
    if parts:
        vs = [verdict[c] for c in ("cui.retrain_keeps_gap", "cui.knn_keeps_gap") if c in verdict]
        tail = (": there the disparity is in the representation, as the paper says" if all(v == AGREES for v in vs)
                else ": there part of the disparity sits in the classifier, against the paper" if narrowed else "")
        out.append(f"Against the jointly trained classifier of the briefly trained {m} backbone, "
                   f"{' and '.join(parts)}{tail}.")
    if WELL_TRAINED_ID in verdict:
        wt = _well(ds)
        v = verdict[WELL_TRAINED_ID]
        tail = {AGREES: ", so after full training a re-trained classifier no longer changes the gap",
                DISAGREES: ", so even after full training the classifier changes the gap"}.get(v, "")
        out.append(f"On the well-trained backbone ({wt['setting'].values}) a re-trained linear probe "
                   f"{_gap_change(v, _delta(wt, _head_of(wt, 'linear')))}{tail}.")
    w = _ans_ci(float(s["kendall_w"]), float(s["kendall_w_lower"]), float(s["kendall_w_upper"]), ".2f")
    n = int(s["n_heads_agreement"])
    out.append({AGREES: f"Whichever of the {n} distinct heads reads the features, the same classes stay hardest "
                        f"(Kendall's W {w}, above {W_THRESHOLD:g}).",
                DISAGREES: f"The {n} distinct heads do not agree on which classes are hardest (Kendall's W {w}, "
                           f"below {W_THRESHOLD:g})."}.get(
        verdict["cui.heads_agree"], f"Whether the {n} distinct heads agree on which classes are hardest, this run "
                                    f"cannot tell (Kendall's W {w}, an interval across {W_THRESHOLD:g})."))
    return " ".join(out)
