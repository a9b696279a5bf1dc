"""Chapter "representation": is per-class unfairness in the classifier or in the features?

Every head is fitted on the same frozen features of each trained backbone (and of a frozen
pretrained model); the chapter compares the heads' best–worst gaps *paired* with the trained
classifier's (same seeds, same test images), asks whether the heads agree on which classes are
hard (Kendall's W over distinct heads), and contrasts the classifier's weight norms on balanced
and on long-tailed training data.

>>> from fairnotes.analysis import representation as chapter
>>> ds = chapter.run(chapter.Params(profile="tiny", datasets=("digits",)))   # doctest: +SKIP
>>> chapter.claims(ds)["verdict"].values                                     # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ._claims import above, claims_dataset, near
from ._common import paper_claim, per_dataset, spearman_ci
from ._params import ChapterParams
from ._store import JobLog, cached_analysis

__all__ = ["Params", "run", "stack_heads", "distinct_heads", "summarize", "claims", "glue_values", "head_tables",
           "tables", "chart_frames", "ETF_HEAD", "GAP_MARGIN", "NORM_MARGIN", "W_THRESHOLD"]

#: the head of the backbone trained under a fixed simplex-ETF classifier (a separate run per seed)
ETF_HEAD = "fixed ETF (trained with it)"
#: the smallest change of the best–worst gap we call meaningful
GAP_MARGIN = 0.05
#: with ~10 classes a Spearman interval is wide: only |rho| beyond this is distinguishable from none
NORM_MARGIN = 0.5
#: "the heads agree": Kendall's W above this
W_THRESHOLD = 0.7

SEC_HEADS = "Every head on the same features"
SEC_AGREE = "Do the hardest classes stay hardest?"
SEC_NORMS = "Weight norms: balanced against long-tailed"


@dataclass(frozen=True)
class Params(ChapterParams):
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
    knn_k: int = 10
    taus: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    etf: bool = True
    pretrained_model: str = "efficientnet_lite0"
    pretrained_train_per_class: int | None = 1000
    long_tail_dataset: str = "fashion-mnist"
    long_tail_ratio: float = 10.0
    n_boot: int = 500


def run(p: Params, *, refresh: bool = False, progress: bool = True) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code; the jobs are cached on their own)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


# ---------------------------------------------------------------------------------------------- jobs


def _base_config(p: Params, name: str) -> Any:
    from ..jobs import train
    return train.TrainConfig(dataset=name, model="mlp", epochs=per_dataset(p.epochs, name), batch_size=p.batch_size,
                             optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay, augment=p.augment,
                             train_per_class=per_dataset(p.train_per_class, name), profile=p.profile)


def _probe_run(p: Params, cfg: Any, seed: int, log: JobLog) -> xr.Dataset:
    from ..jobs import probe
    log.add("train", cfg)
    log.add("probe.heads", probe.HeadsConfig(source=cfg, knn_k=[p.knn_k], taus=[float(t) for t in p.taus],
                                             seed=int(seed)))
    return probe.on_run(cfg, knn_k=p.knn_k, taus=p.taus, seed=seed)


def _compute(p: Params, *, progress: bool = False) -> xr.Dataset:
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .. import results
    from ..jobs import probe, sweep, train

    log, settings = JobLog(), {}
    bar = tqdm(total=len(p.datasets) * (len(p.backbones) + bool(p.pretrained_model)) + 1, desc="representation",
               unit="setting", disable=not progress)
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
            ds = probe.on_pretrained(p.pretrained_model, name, train_per_class=p.pretrained_train_per_class,
                                     knn_k=p.knn_k)
            log.add("probe.heads", probe.HeadsConfig(source=p.pretrained_model, dataset=name,
                                                     train_per_class=p.pretrained_train_per_class, knn_k=[p.knn_k]))
            settings[_setting_name(name, p.pretrained_model, True)] = stack_heads(
                [ds], [0], dataset=name, backbone=p.pretrained_model, pretrained=True)
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
                    long_tail_ratio=p.long_tail_ratio)
    out.attrs.update(jobs=log.keys, datasets=", ".join(p.datasets), backbones=", ".join(p.backbones),
                     seeds=", ".join(map(str, p.seeds)),
                     train_per_class_text=", ".join(f"{name}: {per_dataset(p.train_per_class, name) or 'all'}"
                                                    for name in p.datasets),
                     knn_k=int(p.knn_k), taus=", ".join(f"{t:g}" for t in p.taus), etf=int(p.etf),
                     pretrained_model=p.pretrained_model,
                     pretrained_train_per_class=str(p.pretrained_train_per_class),
                     long_tail_dataset=lt_name, long_tail_backbone=p.backbones[0],
                     profile_name=p.profile)
    return out


def _setting_name(dataset: str, backbone: str, pretrained: bool = False) -> str:
    return f"{dataset} / {backbone}" + (" (pretrained, frozen)" if pretrained else "")


# ------------------------------------------------------------------------------------------ pure parts


def stack_heads(per_seed: Sequence[xr.Dataset], seeds: Sequence[int], *, etf: Sequence[xr.Dataset] | None = None,
                dataset: str = "", backbone: str = "", pretrained: bool = False) -> xr.Dataset:
    """The heads of one backbone, stacked ``head × seed × sample`` (the shape summaries read).

    ``per_seed``: one :func:`fairnotes.heads.evaluate_heads` result per seed (same test images);
    ``etf``: per seed, the test result of the backbone trained under a fixed simplex ETF (head
    :data:`ETF_HEAD`). ``weight_norm`` (the trained classifier's, seed ``seeds[0]``) is kept.
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
    param = [float(v) for v in first["head_param"].values]
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
    out.attrs.update(dataset=dataset, backbone=backbone, pretrained=int(pretrained))
    return out


def distinct_heads(heads: Sequence[str], family: Sequence[str], param: Sequence[float],
                   taus: Sequence[float]) -> list[str]:
    """The heads that are different classifiers: one τ-normalised head (τ = 1 if run, else the middle τ).

    Six rescalings of one weight matrix would otherwise count as six raters agreeing with each other.
    """
    tau = chosen_tau(taus)
    return [h for h, f, t in zip(heads, family, param) if f != "tau_norm" or np.isclose(t, tau)]


def chosen_tau(taus: Sequence[float]) -> float:
    """τ = 1.0 if among ``taus``, else the middle one of the sorted ``taus`` (NaN when none)."""
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
        for suffix in ("", "_lower", "_upper"):
            per_head[stat + suffix] = bm[stat + suffix].values
    for stat in ("gap", "worst", "mean"):
        for suffix in ("", "_lower", "_upper"):
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
                   n_classes=sw.sizes["label"])
    return {"heads": heads, "per_head": per_head, "scalars": scalars, "reference": ref}


def summarize(settings: Mapping[str, xr.Dataset], *, main: str | None = None, taus: Sequence[float] = (1.0,),
              n_boot: int = 500, seed: int = 0, long_tail: xr.Dataset | None = None,
              long_tail_balanced: xr.Dataset | None = None, long_tail_n_max: int = 1000,
              long_tail_ratio: float = 10.0) -> xr.Dataset:
    """Every number of the chapter from the stacked heads (:func:`stack_heads`) of each setting.

    Returns dims ``setting`` (data set / backbone) and ``head`` (every head of any setting; NaN
    where a setting lacks it), and ``label`` (classes of the long-tailed data set):

    - per setting × head, from :func:`fairnotes.summary.by_model`: ``overall_accuracy``, ``mean``
      (balanced accuracy), ``worst``, ``worst_class``, ``gap``, ``std`` with ``_lower``/``_upper``;
      from :func:`fairnotes.summary.paired_deltas` against the setting's ``reference`` head (the
      trained classifier; the linear probe on pretrained features): ``delta_gap``, ``delta_worst``,
      ``delta_mean`` with paired bounds; ``in_agreement``: the head counts as a rater for W;
    - per setting: ``kendall_w`` (+ bounds, distinct heads, seed 0, :func:`~fairnotes.metrics.rank_agreement_ci`),
      ``mean_spearman``; ``rho_norm_accuracy`` (+ Fisher bounds): Spearman of the classifier's weight
      norm with its per-class accuracy (seed 0);
    - long-tailed contrast (``long_tail``: the heads of the long-tailed run, seed 0;
      ``long_tail_balanced``: the balanced twin's stacked heads): per head ``long_tail_accuracy``,
      ``long_tail_mean``, ``long_tail_worst``; per label ``norm_balanced``, ``accuracy_balanced``,
      ``norm_long_tail``, ``accuracy_long_tail``, ``train_images_long_tail`` (from
      :func:`fairnotes.data.long_tail_counts`); ``n_train_long_tail`` (their sum),
      ``rho_long_tail_frequency`` and ``rho_long_tail_accuracy`` (+ bounds).
    """
    from .. import data

    names = list(settings)
    if not names:
        raise ValueError("summarize needs at least one setting")
    main = names[0] if main is None else main
    if main not in names:
        raise ValueError(f"main setting {main!r} is not among {names}")
    parts = {s: _setting_summary(settings[s], taus=taus, n_boot=n_boot, seed=seed) for s in names}
    heads = list(dict.fromkeys(h for s in names for h in parts[s]["heads"]))
    if long_tail is not None:
        heads += [str(h) for h in long_tail["head"].values if str(h) not in heads]
    family = {}
    for s in names:
        family |= dict(zip(parts[s]["heads"], (str(f) for f in settings[s]["head_family"].values)))
    if long_tail is not None:
        family |= {str(h): str(f) for h, f in zip(long_tail["head"].values, long_tail["head_family"].values)}
    ns, nh = len(names), len(heads)
    out = xr.Dataset(coords={"setting": names, "head": heads, "head_family": ("head", [family[h] for h in heads]),
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
    out.attrs.update(main_setting=main, tau_agreement=chosen_tau(taus), n_boot=int(n_boot),
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


def _head_of(s: xr.Dataset, family: str) -> str | None:
    got = [str(h) for h, f, ok in zip(s["head"].values, s["head_family"].values, s["present"].values)
           if str(f) == family and bool(ok)]
    return got[0] if got else None


def _delta(s: xr.Dataset, head: str, stat: str = "gap") -> tuple[float, float, float]:
    r = s.sel(head=head)
    return tuple(float(r[f"delta_{stat}{x}"]) for x in ("", "_lower", "_upper"))


def claims(ds: xr.Dataset) -> xr.Dataset:
    """The chapter's claims, on the first data set and backbone (seeds pooled by paired bootstrap)."""
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
    rows.append(paper_claim(
        "cui.heads_agree", measure=f"Kendall's W over {int(s['n_heads_agreement'])} distinct heads ({m}, first seed)",
        ours=float(s["kendall_w"]),
        lower=float(s["kendall_w_lower"]), upper=float(s["kendall_w_upper"]), rule=above(W_THRESHOLD),
        section=SEC_AGREE, note=f"one τ-normalised head (τ = {float(ds.attrs['tau_agreement']):g}); "
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
    on = s.isel(head=np.flatnonzero(s["present"].values))
    i_min = int(np.nanargmin(on["gap"].values))
    out: dict[str, Any] = {
        "rep_main": str(ds.attrs["main_setting"]), "rep_n_heads": int(on.sizes["head"]),
        "rep_classifier_gap": float(s["gap"].sel(head="classifier")),
        "rep_classifier_gap_lo": float(s["gap_lower"].sel(head="classifier")),
        "rep_classifier_gap_hi": float(s["gap_upper"].sel(head="classifier")),
        "rep_min_head": str(on["head"].values[i_min]), "rep_min_gap": float(on["gap"].values[i_min]),
        "rep_min_gap_lo": float(on["gap_lower"].values[i_min]), "rep_min_gap_hi": float(on["gap_upper"].values[i_min]),
        "rep_min_worst_over_heads": float(on["worst"].min()), "rep_max_worst_over_heads": float(on["worst"].max()),
        "w_main": float(s["kendall_w"]), "w_main_lo": float(s["kendall_w_lower"]),
        "w_main_hi": float(s["kendall_w_upper"]), "w_n_heads": int(s["n_heads_agreement"]),
        "w_tau": float(ds.attrs["tau_agreement"]),
        "agree_w_min": float(ds["kendall_w"].min()), "agree_w_lo_min": float(ds["kendall_w_lower"].min()),
        "rho_bal": float(s["rho_norm_accuracy"]), "rho_bal_lo": float(s["rho_norm_accuracy_lower"]),
        "rho_bal_hi": float(s["rho_norm_accuracy_upper"]),
    }
    for key, family in (("knn", "knn"), ("etf", "etf"), ("linear", "linear"), ("crt", "crt"), ("ncm", "ncm")):
        head = _head_of(s, family)
        d = _delta(s, head) if head else (math.nan,) * 3
        out |= {f"d_{key}": d[0], f"d_{key}_lo": d[1], f"d_{key}_hi": d[2], f"d_{key}_text": _ci(*d)}
    if "rho_long_tail_frequency" in ds:
        for key, name in (("rho_lt_freq", "frequency"), ("rho_lt_acc", "accuracy")):
            v = ds[f"rho_long_tail_{name}"]
            out |= {key: float(v), f"{key}_lo": float(ds[f"{v.name}_lower"]), f"{key}_hi": float(ds[f"{v.name}_upper"])}
        acc = ds["long_tail_accuracy"]
        taus = [str(h) for h, f in zip(ds["head"].values, ds["head_family"].values)
                if f == "tau_norm" and np.isfinite(float(acc.sel(head=h)))]
        best = max(taus, key=lambda h: float(acc.sel(head=h))) if taus else "classifier"
        out |= {"lt_classifier_acc": float(acc.sel(head="classifier")), "lt_best_tau_acc": float(acc.sel(head=best)),
                "lt_best_tau_head": best, "n_train_long_tail": int(ds["n_train_long_tail"]),
                "n_train_long_tail_seen": int(ds["n_train_long_tail_seen"]),
                "lt_ratio": float(ds.attrs["long_tail_ratio"]), "lt_n_max": int(ds.attrs["long_tail_n_max"])}
    found = claims(ds)
    for cid, v in zip(found["claim"].values, found["verdict"].values):
        out[f"verdict_{str(cid).replace('.', '_')}"] = str(v)
    out["profile_text"] = _profile_text(ds)
    return out


def _profile_text(ds: xr.Dataset) -> str:
    a = ds.attrs
    minutes = float(a.get("wall_time_s", math.nan)) / 60
    etf = "plus the same backbones trained under a fixed simplex-ETF classifier, " if int(a.get("etf", 0)) else ""
    pre = (f"and frozen ImageNet {a['pretrained_model']} features ({a['pretrained_train_per_class']} training images "
           "per class). " if a.get("pretrained_model") else "")
    return (f"**Profile `{a.get('profile_name', '?')}`.** Data: {a.get('datasets', '')} (full test sets; training "
            f"images per class {a.get('train_per_class_text', '')}). Backbones: {a.get('backbones', '')} trained from "
            f"scratch (seeds {a.get('seeds', '')}; the same runs as the prevalence chapter), {etf}{pre}"
            f"Heads: linear probe, cRT, {a.get('knn_k', '?')}-NN (cosine), nearest class mean, the trained classifier "
            f"and its τ-normalised versions (τ ∈ {a.get('taus', '')}). Long-tailed contrast: "
            f"{a.get('long_tail_dataset', '')} with imbalance {float(a.get('long_tail_ratio', math.nan)):g}. "
            f"Intervals: 95% bootstrap over test images ({int(a.get('n_boot', 0))} replicates; paired over seeds and "
            f"images for differences between heads). The analysis took {minutes:.1f} minutes to compute.")


def head_tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Per setting: each head's accuracy, worst class, gap [CI] and Δgap against the reference head [paired CI]."""
    out = {}
    for name in ds["setting"].values:
        s = ds.sel(setting=name)
        s = s.isel(head=np.flatnonzero(s["present"].values))
        ref = str(ds["reference"].sel(setting=name).values)
        ref_words = "classifier" if ref == "classifier" else f"{ref} probe" if ref == "linear" else ref
        rows = [{"accuracy": round(float(r["overall_accuracy"]), 3),
                 "worst class": f"{r['worst_class'].values} ({float(r['worst']):.3f})",
                 "gap [95% CI]": _ci(float(r["gap"]), float(r["gap_lower"]), float(r["gap_upper"])),
                 f"Δgap vs {ref_words} [paired 95% CI]": "(reference)" if h == ref else
                 _ci(float(r["delta_gap"]), float(r["delta_gap_lower"]), float(r["delta_gap_upper"]))}
                for h in s["head"].values for r in [s.sel(head=h)]]
        out[str(name)] = pd.DataFrame(rows, index=pd.Index([str(h) for h in s["head"].values], name="head"))
    return out


def tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Every other table the chapter shows."""
    from ..reference import paper_figure
    agree = pd.DataFrame({
        "data set": ds["dataset"].values, "backbone": ds["backbone"].values,
        "distinct heads": ds["n_heads_agreement"].values.astype(int),
        "Kendall's W [95% CI]": [_ci(*(float(ds[v].sel(setting=s)) for v in ("kendall_w", "kendall_w_lower",
                                                                              "kendall_w_upper")))
                                 for s in ds["setting"].values],
        "mean Spearman": ds["mean_spearman"].values.round(3),
        "rho(weight norm, class accuracy) [95% CI]": [
            _ci(*(float(ds[v].sel(setting=s)) for v in ("rho_norm_accuracy", "rho_norm_accuracy_lower",
                                                         "rho_norm_accuracy_upper")), digits=2)
            for s in ds["setting"].values]}).set_index(["data set", "backbone"])
    out = {"agreement": agree}
    main = _main(ds)
    ours = pd.DataFrame({"top-1 % balanced (ours, mean of seeds)": (main["overall_accuracy"] * 100).values.round(1)},
                        index=pd.Index([str(h) for h in ds["head"].values], name="head"))
    if "long_tail_accuracy" in ds:
        ours["top-1 % long-tailed (ours, one seed)"] = (ds["long_tail_accuracy"] * 100).values.round(1)
        lt = ds["long_tail_accuracy"].notnull()
        out["long_tail_heads"] = pd.DataFrame(
            {"accuracy": ds["long_tail_accuracy"].values, "balanced accuracy": ds["long_tail_mean"].values,
             "worst class": ds["long_tail_worst"].values},
            index=pd.Index([str(h) for h in ds["head"].values], name="head"))[lt.values].round(3)
    out["ours_accuracy"] = ours.dropna(how="all").astype(object).fillna("–")
    kang = paper_figure("kang2020_imagenet_lt")
    out["kang"] = pd.DataFrame([{"head": k, "top-1 % (ImageNet-LT, reported by Kang et al.)": v}
                                for k, v in kang.items() if k not in ("paper", "setting")]).set_index("head")
    return out


def chart_frames(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Frames for the charts: ``delta_gap`` (main setting, one row per head but the reference) and ``norms``."""
    s = _main(ds)
    keep = s["present"].values & (s["head"].values != str(s["reference"].values))
    out = {"delta_gap": pd.DataFrame({"head": s["head"].values[keep].astype(str),
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
