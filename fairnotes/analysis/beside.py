"""Your run beside the book's: a chapter run with other models shows them next to the book's own models,
trained the book's way on *your* data, with the same statistics, intervals and verdicts, and guard rails.

A researcher runs ``fairnotes run prevalence -p models '[lcnet_050]' -p datasets '[mnist-5k]' --name lcnet``.
The chapter then calls :func:`compare`, which

1. finds the run's models that are not the book's (``book/profiles.yaml`` of the same profile gives the book's);
2. runs the chapter's own analysis for the *book's* models with the book's recipe on the run's data
   (:data:`ADAPTERS` says, per chapter, which parameters are data and which parts of the chapter are left out) —
   the training runs come from the shared job cache when the book has run them, else they are trained;
3. puts one row per (model, setting) side by side: overall accuracy with its interval, the chapter's headline
   disparity statistic with its interval, the smallest per-class test count, and the chapter's verdicts for each
   model (the chapter's :func:`claims` on that model alone);
4. states its guard rails as warnings (never applied silently): a model near chance or far below the book's
   baseline has a disparity that reflects its training, not the classes; a class with too few test images cannot
   pin its accuracy down to the width the chapter needs.

The thresholds are module constants, shown in the output. Written here (no library compares a user's model with a
reference suite under a chapter's own statistics); the statistics themselves are the chapters'.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import xarray as xr

from ._common import per_dataset, seed_interval
from ._params import ParamError

__all__ = ["ADAPTERS", "Adapter", "compare", "report", "warnings_of", "NEAR_CHANCE", "BELOW_BASELINE",
           "CLASS_HALF_WIDTH", "class_half_width"]

#: a model whose accuracy is within this many points of chance is "near chance"
NEAR_CHANCE = 0.10
#: a model this many points (or more) below the book's baseline (the median of the book's models on the same
#: setting) is "far below the book's baseline"
BELOW_BASELINE = 0.10
#: one class's accuracy should be known to ± this (95 % Wilson half-width at 50 %); fewer test images are flagged
CLASS_HALF_WIDTH = 0.10

YOURS, BOOK = "yours", "book"


def class_half_width(n: int, confidence: float = 0.95) -> float:
    """Half-width of the Wilson interval for one class's accuracy at 50 % with ``n`` test images (the widest)."""
    from scipy import stats
    if n <= 0:
        return math.inf
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return z * math.sqrt(0.25 / n + z * z / (4 * n * n)) / (1 + z * z / n)


@dataclass(frozen=True)
class Adapter:
    """How one chapter is compared.

    ``models``: the parameter naming the model(s) (a tuple or one string). ``book_params(book, yours)``: the book's
    parameters on your data (the parts of the chapter that do not compare models are switched off). ``rows(ds,
    model)``: one dict per setting (``setting``, ``accuracy`` and its bounds, ``disparity`` and its bounds,
    ``chance``, ``n_class_min``). ``model_claims(mod, ds, model)``: the chapter's claims on that model alone.
    ``disparity``: the headline statistic in words.
    """

    models: str
    book_params: Callable[[Any, Any], Any]
    rows: Callable[[xr.Dataset, str], list[dict]]
    model_claims: Callable[[Any, xr.Dataset, str], xr.Dataset]
    disparity: str
    accuracy: str = "overall accuracy"


def _models(p: Any, name: str) -> tuple[str, ...]:
    v = getattr(p, name)
    return (v,) if isinstance(v, str) else tuple(v)


def _display_name():
    from ..viz import display_name
    return display_name


def _f(x: Any) -> float:
    return float(np.asarray(x))


# ----------------------------------------------------------------------------------------------- chapters

def _class_counts(dataset: str, p: Any) -> int:
    """The smallest per-class test count of ``dataset`` (its test split as the chapter's jobs load it)."""
    from .. import data
    kw = {"root": p.data_root} if getattr(p, "data_root", None) else {}
    y = np.asarray(data.load(dataset, "test", **kw).labels)
    return int(np.bincount(y).min()) if y.size else 0


def _book_epochs(book: Any, yours: Any) -> Any:
    """The book's epochs per data set where it has them, yours for a data set the book does not train on."""
    names = yours.datasets
    return {n: per_dataset(book.epochs, n, per_dataset(yours.epochs, n)) for n in names}


def _prevalence_book(book: Any, yours: Any) -> Any:
    return dataclasses.replace(
        book, datasets=yours.datasets, train_per_class=yours.train_per_class, epochs=_book_epochs(book, yours),
        capacity=(), capacity_datasets=(), imagenet_models=(), imagenet_root=None, budget_models=(),
        budget_seeds=(), full_data_seeds=())


def _prevalence_rows(ds: xr.Dataset, model: str) -> list[dict]:
    out = []
    for name in ds["dataset"].values:
        one = ds.sel(dataset=name, model=model)
        if not bool(np.isfinite(one["overall_accuracy"])):
            continue  # e.g. a capacity model trained on another data set only
        acc, lo, hi = seed_interval(one["run_overall_accuracy"].values)
        out.append(dict(setting=str(name), accuracy=acc, accuracy_lower=lo, accuracy_upper=hi,
                        disparity=_f(one["gap"]), disparity_lower=_f(one["gap_lower"]),
                        disparity_upper=_f(one["gap_upper"]), chance=1 / ds.sizes["label"],
                        beyond_noise=bool(one["beyond_noise"]), dataset=str(name)))
    return out


def _prevalence_claims(mod: Any, ds: xr.Dataset, model: str) -> xr.Dataset:
    trained = [str(d) for d in ds["dataset"].values
               if bool(np.isfinite(ds["overall_accuracy"].sel(dataset=d, model=model)))]
    sub = ds.sel(model=[model], model_other=[model], dataset=trained)
    sub["best_model"] = ("dataset", np.array([model] * len(trained), dtype=object))
    return mod.claims(sub)


def _representation_book(book: Any, yours: Any) -> Any:
    return dataclasses.replace(book, datasets=yours.datasets, train_per_class=yours.train_per_class,
                               epochs=_book_epochs(book, yours), pretrained_model="", well_trained=False,
                               long_tail_dataset=yours.long_tail_dataset)


def _representation_head(ds: xr.Dataset) -> str:
    heads = [str(h) for h in ds["head"].values]
    return "classifier" if "classifier" in heads else heads[0]


def _representation_rows(ds: xr.Dataset, model: str) -> list[dict]:
    head, out = _representation_head(ds), []
    for s in ds["setting"].values:
        one = ds.sel(setting=s)
        if str(one["backbone"].values) != model:
            continue
        acc, lo, hi = _f(one["overall_accuracy"].sel(head=head)), math.nan, math.nan  # seeds pooled, no CI
        out.append(dict(setting=f"{one['dataset'].values} ({head})", accuracy=acc, accuracy_lower=lo,
                        accuracy_upper=hi, disparity=_f(one["gap"].sel(head=head)),
                        disparity_lower=_f(one["gap_lower"].sel(head=head)),
                        disparity_upper=_f(one["gap_upper"].sel(head=head)),
                        chance=1 / _f(one["n_classes"]), dataset=str(one["dataset"].values)))
    return out


def _representation_claims(mod: Any, ds: xr.Dataset, model: str) -> xr.Dataset:
    mine = [str(s) for s in ds["setting"].values if str(ds["backbone"].sel(setting=s).values) == model]
    sub = ds.copy()
    sub.attrs = {**ds.attrs, "main_setting": mine[0], "well_trained_setting": ""}
    return mod.claims(sub)


def _single_book(*data: str) -> Callable[[Any, Any], Any]:
    def make(book: Any, yours: Any) -> Any:
        return dataclasses.replace(book, **{k: getattr(yours, k) for k in data})
    return make


def _prediction_bias_rows(ds: xr.Dataset, model: str) -> list[dict]:
    per_seed = ds["accuracy_by_seed"].mean("label").values
    acc, lo, hi = seed_interval(per_seed)
    return [dict(setting=str(ds.attrs["dataset"]), accuracy=acc, accuracy_lower=lo, accuracy_upper=hi,
                 disparity=_f(ds["hard_bias"]), disparity_lower=_f(ds["hard_bias_lower"]),
                 disparity_upper=_f(ds["hard_bias_upper"]), chance=1 / ds.sizes["label"],
                 dataset=str(ds.attrs["dataset"]))]


def _remedies_rows(ds: xr.Dataset, model: str) -> list[dict]:
    ref = str(ds.attrs.get("reference", "baseline"))
    one = ds.sel(remedy=ref)
    return [dict(setting=f"{ds.attrs['dataset']} ({ref})", accuracy=_f(one["mean"]),
                 accuracy_lower=_f(one["mean_lower"]), accuracy_upper=_f(one["mean_upper"]),
                 disparity=_f(one["gap"]), disparity_lower=_f(one["gap_lower"]),
                 disparity_upper=_f(one["gap_upper"]), chance=1 / ds.sizes["label"],
                 dataset=str(ds.attrs["dataset"]))]


def _multilabel_rows(ds: xr.Dataset, model: str) -> list[dict]:
    out = []
    for loss in ds["loss"].values:
        one = ds.sel(loss=loss)
        out.append(dict(setting=f"{ds.attrs['dataset']} ({loss})", accuracy=_f(one["map"]),
                        accuracy_lower=_f(one["map_lower"]), accuracy_upper=_f(one["map_upper"]),
                        disparity=_f(one["person_gap_skin_tone"]),
                        disparity_lower=_f(one["person_gap_skin_tone_lower"]),
                        disparity_upper=_f(one["person_gap_skin_tone_upper"]), chance=math.nan,
                        n_class_min=int(ds["person_by_skin_tone_count"].min()), dataset=str(ds.attrs["dataset"])))
    return out


def _whole(mod: Any, ds: xr.Dataset, model: str) -> xr.Dataset:
    return mod.claims(ds)


def _clip_book(book: Any, yours: Any) -> Any:
    """MuSE and D3G: everything of your run (data, prompts, generator, seeds) but the book's CLIP model."""
    return dataclasses.replace(yours, model=book.model, pretrained=book.pretrained)


def _entry_row(ds: xr.Dataset, setting: str, entry: str, label: str, stat: str, **extra: Any) -> dict:
    one = ds.sel(setting=setting, entry=entry)
    return dict(setting=label, accuracy=_f(one["accuracy"]), accuracy_lower=_f(one["accuracy_lower"]),
                accuracy_upper=_f(one["accuracy_upper"]), disparity=_f(one[stat]),
                disparity_lower=_f(one[f"{stat}_lower"]), disparity_upper=_f(one[f"{stat}_upper"]),
                dataset=str(ds.attrs.get("dataset", "")), **extra)


def _muse_rows(ds: xr.Dataset, model: str) -> list[dict]:
    from .muse import claim_settings
    extra = dict(chance=1 / ds.sizes["label"], n_class_min=int(ds["class_support"].min()))
    settings = list(claim_settings(ds))
    out = [_entry_row(ds, settings[0], "text", "text only", "easy_hard", **extra)]
    out += [_entry_row(ds, s, "heldout", f"MuSE, {s} (w on validation)", "easy_hard", **extra) for s in settings]
    return out


def _d3g_rows(ds: xr.Dataset, model: str) -> list[dict]:
    from .d3g import claim_keys
    race7, profession, _, grp = claim_keys(ds)
    out = []
    for s in dict.fromkeys((race7, profession)):
        if s not in ds["setting"].values:
            continue
        extra = dict(chance=math.nan, n_class_min=int(ds[f"{grp}_count"].sel(setting=s).min()))
        out.append(_entry_row(ds, s, "text", f"{s}: text only", f"{grp}_difference", **extra))
        out.append(_entry_row(ds, s, "heldout", f"{s}: D3G (w on validation)", f"{grp}_difference", **extra))
    return out


#: the chapters with a model parameter, and how each is compared (MuSE and D3G: another open_clip model beside the
#: profile's CLIP model on the same data, prompts and generated supports; the laptop LiT reads only its emoji)
ADAPTERS: dict[str, Adapter] = {
    "prevalence": Adapter("models", _prevalence_book, _prevalence_rows, _prevalence_claims,
                          "best−worst class gap (test-image interval)"),
    "representation": Adapter("backbones", _representation_book, _representation_rows, _representation_claims,
                              "best−worst class gap of the trained classifier (test-image interval)"),
    "prediction_bias": Adapter("model", _single_book("dataset", "train_per_class"), _prediction_bias_rows, _whole,
                               "prediction bias of the hard classes (interval)"),
    "remedies": Adapter("model", _single_book("dataset", "train_per_class"), _remedies_rows, _whole,
                        "best−worst class gap of the baseline (interval)", accuracy="mean per-class accuracy"),
    "multilabel": Adapter("backbone", _single_book("dataset", "data_root", "eval_dataset", "eval_root",
                                                   "eval_split", "max_per_class", "group_attributes"),
                          _multilabel_rows, _whole, "person AP gap between skin tones (interval)", accuracy="mAP"),
    "muse": Adapter("model", _clip_book, _muse_rows, _whole,
                    "easy − hard class recall difference (interval)", accuracy="accuracy"),
    "d3g": Adapter("model", _clip_book, _d3g_rows, _whole,
                   "accuracy difference between the best and worst group (interval)", accuracy="accuracy"),
}


# ----------------------------------------------------------------------------------------------- compare

def _book_of(p: Any) -> Any:
    from . import profile_params
    return profile_params(p.chapter, p.profile)


def compare(p: Any, ds: xr.Dataset | None = None, *, progress: bool | None = None) -> xr.Dataset | None:
    """Your run's models beside the book's on your data, or ``None`` when the run uses only the book's models
    (or the chapter trains no models).

    ``p`` is the run's parameters, ``ds`` its analysis (computed when not given). The book's side is the chapter's
    own :func:`run` for the book's models and recipe on your data; it comes from the job cache where the book has
    trained those runs.
    """
    from . import module
    ad = ADAPTERS.get(p.chapter)
    if ad is None:
        return None
    mod = module(p.chapter)
    book = _book_of(p)
    book_models = _models(book, ad.models)
    yours = [m for m in _models(p, ad.models) if m not in book_models]
    if not yours:
        return None
    kw = {} if progress is None else {"progress": progress}
    try:
        q = ad.book_params(book, p)
    except ParamError as e:  # e.g. the laptop LiT model cannot classify another data set
        return xr.Dataset(attrs={"chapter": p.chapter, "unavailable": f"the book's {ad.models} "
                                 f"{', '.join(book_models)} cannot run on this run's data: {e}"})
    ds = mod.run(p, **kw) if ds is None else ds
    ds_book = mod.run(q, **kw)
    rows, verdicts = [], {}
    for source, data, models in ((YOURS, ds, yours), (BOOK, ds_book, book_models)):
        for m in models:
            for r in ad.rows(data, m):
                rows.append({**r, "model": m, "source": source})
            verdicts[m] = ad.model_claims(mod, data, m)
    counts: dict[str, int] = {}
    for r in rows:
        if "n_class_min" not in r:
            d = r["dataset"]
            if d not in counts:
                counts[d] = _class_counts(d, p)
            r["n_class_min"] = counts[d]
    return _assemble(p, ad, rows, verdicts, book_models, q)


def _assemble(p: Any, ad: Adapter, rows: list[dict], verdicts: dict[str, xr.Dataset], book_models: tuple,
              q: Any) -> xr.Dataset:
    n = len(rows)
    col = lambda k, dtype=float: np.array([r.get(k, math.nan) for r in rows], dtype=dtype)  # noqa: E731
    out = xr.Dataset(coords={"entry": np.arange(n), "model": ("entry", col("model", object)),
                             "source": ("entry", col("source", object)), "setting": ("entry", col("setting", object))})
    for k in ("accuracy", "accuracy_lower", "accuracy_upper", "disparity", "disparity_lower", "disparity_upper",
              "chance"):
        out[k] = ("entry", col(k))
    out["n_class_min"] = ("entry", col("n_class_min", int))
    out["class_half_width"] = ("entry", np.array([class_half_width(int(k)) for k in out["n_class_min"].values]))
    baseline = np.full(n, math.nan)
    for i, r in enumerate(rows):
        acc = [x["accuracy"] for x in rows if x["source"] == BOOK and x["setting"] == r["setting"]]
        baseline[i] = float(np.median(acc)) if acc else math.nan
    out["book_baseline"] = ("entry", baseline)
    mine = out["source"] == YOURS
    out["near_chance"] = mine & (out["accuracy"] < out["chance"] + NEAR_CHANCE)
    out["below_baseline"] = mine & (out["accuracy"] <= out["book_baseline"] - BELOW_BASELINE)
    out["small_classes"] = out["class_half_width"] > CLASS_HALF_WIDTH
    models = list(dict.fromkeys(r["model"] for r in rows)) or list(verdicts)
    claim_ids = list(dict.fromkeys(str(c) for v in verdicts.values() for c in v["claim"].values))
    table = np.full((len(models), len(claim_ids)), "", dtype=object)
    for i, m in enumerate(models):
        v = verdicts.get(m)
        for j, c in enumerate(claim_ids):
            if v is not None and c in v["claim"].values:
                table[i, j] = str(v["verdict"].sel(claim=c).values)
    out = out.assign_coords(verdict_model=models, claim=claim_ids)
    out["verdict"] = (("verdict_model", "claim"), table)
    out["verdict_source"] = ("verdict_model", np.array([BOOK if m in book_models else YOURS for m in models],
                                                      dtype=object))
    out.attrs.update(chapter=p.chapter, profile=p.profile, disparity=ad.disparity, accuracy=ad.accuracy,
                     models_parameter=ad.models, near_chance=NEAR_CHANCE, below_baseline=BELOW_BASELINE,
                     class_half_width=CLASS_HALF_WIDTH,
                     book_recipe="the book's models and training recipe (book/profiles.yaml, profile "
                                 f"{p.profile!r}) on this run's data")
    return out


def warnings_of(side: xr.Dataset) -> list[str]:
    """The guard rails, in words, one per flagged (model, setting) and one per small-class setting."""
    display_name = _display_name()
    out = []
    for i in side["entry"].values:
        e = side.sel(entry=i)
        name, setting = display_name(str(e["model"].values)), str(e["setting"].values)
        acc, base, chance = _f(e["accuracy"]), _f(e["book_baseline"]), _f(e["chance"])
        if bool(e["near_chance"]):
            out.append(f"{name} on {setting}: accuracy {acc:.3f} is within {NEAR_CHANCE:.2f} of chance "
                       f"({chance:.3f}) — its disparity reflects training, not the classes; train it longer "
                       f"before reading its gap.")
        elif bool(e["below_baseline"]):
            out.append(f"{name} on {setting}: {side.attrs['accuracy']} {acc:.3f} is {base - acc:.3f} below the "
                       f"book's baseline ({base:.3f}, the median of the book's models) — its disparity may reflect "
                       f"undertraining, not the classes.")
    seen = set()
    for i in side["entry"].values:
        e = side.sel(entry=i)
        setting = str(e["setting"].values)
        if bool(e["small_classes"]) and setting not in seen:
            seen.add(setting)
            out.append(f"{setting}: the smallest class has {int(e['n_class_min'])} test images, so one class's "
                       f"accuracy is known only to ±{_f(e['class_half_width']):.2f} (95 %); differences between "
                       f"classes smaller than that cannot be told from noise.")
    return out


def report(side: xr.Dataset | None):
    """What a chapter shows: the comparison table, the verdicts per model and the warnings (Markdown + HTML)."""
    from IPython.display import HTML, Markdown

    display_name = _display_name()
    if side is not None and "unavailable" in side.attrs:
        return Markdown(f"*Your run beside the book's: not possible here — {side.attrs['unavailable']}.*")
    if side is None:
        return Markdown("*This is the book's own run. Run the chapter with another model "
                        "(`fairnotes run <chapter> -p <model parameter> ...`) and it appears here beside the book's "
                        "models, trained the book's way on the same data, with the same statistics, intervals and "
                        "verdicts.*")
    import pandas as pd

    from ._common import ci_text as ci

    rows = []
    for i in side["entry"].values:
        e = side.sel(entry=i)
        flag = "near chance" if bool(e["near_chance"]) else "far below baseline" if bool(e["below_baseline"]) else ""
        rows.append({"model": display_name(str(e["model"].values)), "source": str(e["source"].values),
                     "setting": str(e["setting"].values),
                     side.attrs["accuracy"]: ci(_f(e["accuracy"]), _f(e["accuracy_lower"]), _f(e["accuracy_upper"])),
                     side.attrs["disparity"]: ci(_f(e["disparity"]), _f(e["disparity_lower"]),
                                                 _f(e["disparity_upper"])),
                     "smallest class (test n)": int(e["n_class_min"]), "warning": flag})
    table = pd.DataFrame(rows).to_html(index=False, escape=True, classes="fairnotes-table")
    verdicts = pd.DataFrame(side["verdict"].values.T, index=[str(c) for c in side["claim"].values],
                            columns=[f"{display_name(str(m))} ({s})" for m, s in
                                     zip(side["verdict_model"].values, side["verdict_source"].values)])
    warn = warnings_of(side)
    head = (f"<p><b>Your run beside the book's.</b> Rows marked <i>book</i> are {side.attrs['book_recipe']}. "
            f"Intervals 95 %.</p>")
    warn_html = "".join(f"<li>{w}</li>" for w in warn)
    body = head + table + "<p><b>The chapter's verdicts for each model</b> (its claims computed on that model "\
        "alone; blank: the claim needs several models or parts this run left out).</p>" + \
        verdicts.to_html(escape=True, classes="fairnotes-table") + \
        (f"<p><b>Guard rails</b> (stated, not applied):</p><ul>{warn_html}</ul>" if warn else
         "<p>No guard rail tripped: every model is within "
         f"{BELOW_BASELINE:.2f} of the book's baseline and every class has enough test images.</p>")
    return HTML(body)
