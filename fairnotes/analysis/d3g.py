"""D3G (Hickmon 2024, arXiv 2412.12165): do demographically diverse supports make a vision-language classifier
fairer across groups? The chapter's parameters, its run, claims and glue.

D3G classifies with ``normalise(w·text + (1−w)·mean image)`` per class, the images generated across demographic
groups ("a photo of a <race/gender/age> <class>"); the paper sweeps w on the test set. On the laptop the LiT model
stands in for CLIP and EmojiProf (ground-truth profession, gender presentation, skin tone, art style) for IdenProf;
"generated" supports are EmojiProf images of the requested cell from other art styles (:mod:`._d3g_jobs`).

The settings (:func:`settings`), each a row of ``setting``:

- ``table``: D3G's Table 3 layout — tasks ``profession`` and ``skin_tone`` (race7's analog) × prompt strategies
  (the demographic mix of the supports) × standard (one image per prompt) and average-image (every support style);
- ``mix``: the dose-response of the supports' demographic mix (profession task);
- ``stereotype``: a generator that returns a light-skinned man instead of the requested cell with probability p;
- ``planted``: LiT trained with the tone phrases of the darkest tones dropped from a share of the captions
  (``LitConfig.tone_drop``), the skin-tone task with balanced supports.

Every per-group number is fairlearn's (:func:`fairnotes.metrics.by_group`) with intervals from resampling test
images within group and seeds (:func:`._d3g_core.summarize_setting`); w is chosen on a held-out art style, and the
paper's test-set tuning is measured beside it; :func:`._d3g_core.null_tuning` is the protocol audit's null.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import xarray as xr

from ._claims import above, below, claims_dataset, Claim
from ._common import paper_claim
from ._params import ChapterParams, ParamError
from ._store import JobLog, cached_analysis

__all__ = ["Params", "run", "settings", "claims", "glue_values", "claim_keys", "answer", "STRATEGIES", "NULL_SIZES", "NULL_ACCURACY"]

#: the prompt strategies of each task (D3G's columns): the demographic mix of each class's supports
STRATEGIES = {"profession": ("plain", "tones", "genders", "balanced"),
              "skin_tone": ("plain", "professions", "genders", "balanced")}
METHODS = {1: "standard", 2: "average"}


def _method(k: int) -> str:
    """D3G's names: one image per prompt is "standard", more (averaged) "average"."""
    return "standard" if int(k) == 1 else "average"

#: the paper's race7 test groups (≈1,234 images; Latino, Southeast Asian and Indian 26–34 each — which is which
#: is not stated; the four others share the rest) and its standard-D3G per-group accuracies, for the null
NULL_SIZES = (286, 286, 286, 286, 26, 30, 34)
NULL_ACCURACY = (0.0892, 0.6642, 0.5274, 0.3268, 0.1154, 0.0882, 0.6061)

OURS = "this book (the paper reports no such figure)"


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (see ``book/d3g.md``).

    ``precision``: the frozen towers' (laptop: :class:`~fairnotes.zeroshot.lit.LitConfig`'s, so bf16 LiT models
    and their trunk features are cached apart; the projections train in float32) or the open_clip model's (paper).
    """

    chapter: ClassVar[str] = "d3g"
    seeds: tuple[int, ...] = (0, 1, 2)
    n_supports: int = 12
    mixes: tuple[str, ...] = ("plain", "genders", "one-gender", "balanced", "skewed-1-2", "skewed-6")
    stereotype_ps: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    planted_drops: tuple[float, ...] = (0.0, 0.5, 0.9)
    planted_tones: tuple[str, ...] = ("5", "6")
    null_changed: float = 0.3
    null_sims: int = 2000
    n_boot: int = 1000
    lit_holdout_seed: int = 0
    lit_epochs: int = 30
    lit_image_size: int = 128
    precision: Literal["fp32", "bf16"] = "fp32"
    # paper profile (model other than "lit"): an open_clip model on a data set with demographic attributes
    model: str = "lit"
    pretrained: str | None = "openai"
    dataset: str = "attribute-folder"  # IdenProf with the paper's attribute CSV, or "fairface"
    data_root: str | None = None
    attributes: str | None = None  # the attribute CSV (attribute-folder; default data_root/attributes.csv)
    validation_split: str = "train"  # where w is chosen (IdenProf has train and test)
    test_split: str = "test"  # FairFace: "val"
    paper_tasks: tuple[str, ...] = ("classes", "race")  # "classes" = the data set's labels; else an attribute
    group_attributes: tuple[str, ...] = ("race", "gender")
    strategies: tuple[str, ...] = ("none", "race7", "race4", "gender", "age")
    images_per_prompt: tuple[int, ...] = (1, 5)  # 1 = D3G's standard, 5 = its average image
    templates: str = "photo"
    pipeline: str = "sdxl-d3g"
    generation_steps: int | None = None
    generation_size: int | None = None
    generated_folder: str | None = None
    support_size: int = 224

    @property
    def laptop(self) -> bool:
        return self.model == "lit"

    def __post_init__(self) -> None:
        from ._d3g_jobs import TONES, mix_weights
        problems = []
        if not self.laptop:
            from ..zeroshot import demographic_strategies
            bad = sorted(set(self.strategies) - set(demographic_strategies()))
            if bad:
                problems.append(f"strategies {bad} unknown; valid: {', '.join(demographic_strategies())}")
            if self.validation_split == self.test_split:
                problems.append("validation_split must differ from test_split: w is never chosen on the test split")
            if not self.images_per_prompt or min(self.images_per_prompt) < 1:
                problems.append("images_per_prompt must be positive integers")
        if not self.seeds:
            problems.append("seeds is empty")
        for m in self.mixes:
            try:
                mix_weights("profession", m)
            except ValueError as e:
                problems.append(str(e))
        if any(not 0 <= x <= 1 for x in (*self.stereotype_ps, *self.planted_drops)):
            problems.append("stereotype_ps and planted_drops must lie in [0, 1]")
        bad = sorted(set(self.planted_tones) - set(TONES[1:]))
        if bad:
            problems.append(f"planted_tones {bad} unknown; valid: {', '.join(TONES[1:])}")
        if self.n_supports < 1 or self.n_boot < 10:
            problems.append("n_supports must be ≥ 1 and n_boot ≥ 10")
        if problems:
            raise ParamError("; ".join(problems) + " (chapter 'd3g')")

    def lit_config(self, seed: int | None = None, tone_drop: float = 0.0) -> Any:
        from ..zeroshot.lit import LitConfig
        s = self.seeds[0] if seed is None else seed
        return LitConfig(epochs=self.lit_epochs, image_size=self.lit_image_size, seed=s,
                         holdout_seed=self.lit_holdout_seed, tone_drop=float(tone_drop),
                         tone_drop_tones=tuple(self.planted_tones), progress=False, precision=self.precision)


def settings(p: Params) -> list[dict]:
    """Every setting of the chapter, in order (see the module doc)."""
    out = []
    for task, strategies in STRATEGIES.items():
        for st in strategies:
            for k, method in METHODS.items():
                out.append(dict(name=f"{task}/{st}/{method}", experiment="table", task=task, mix=st, per_prompt=k,
                                stereotype_p=0.0, tone_drop=0.0))
    have = {s["name"] for s in out}
    for m in p.mixes:
        name = f"profession/{m}/average"
        if name not in have:
            out.append(dict(name=name, experiment="mix", task="profession", mix=m, per_prompt=2, stereotype_p=0.0,
                            tone_drop=0.0))
    for sp in p.stereotype_ps:
        if sp > 0:
            out.append(dict(name=f"profession/balanced/average/stereotype-{sp:g}", experiment="stereotype",
                            task="profession", mix="balanced", per_prompt=2, stereotype_p=float(sp), tone_drop=0.0))
    for d in p.planted_drops:
        out.append(dict(name=f"planted-{d:g}/skin_tone/balanced/average", experiment="planted", task="skin_tone",
                        mix="balanced", per_prompt=2, stereotype_p=0.0, tone_drop=float(d)))
    return out


def run(p: Params, *, refresh: bool = False, progress: bool | None = None) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code): :func:`._d3g_core.summarize_setting` of each
    setting stacked along ``setting`` (coords ``experiment``, ``task``, ``mix``, ``per_prompt``, ``stereotype_p``,
    ``tone_drop``), and the null simulation (``null_gain_tuned`` / ``null_gain_heldout`` over ``sim``)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


def _groups(emb: xr.Dataset, task: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from ._d3g_jobs import task_view
    tv = task_view(emb, task)
    m = tv["mask"]
    return tv["y"][m], {"skin_tone": emb["skin_tone"].values[m], "gender": emb["gender"].values[m]}


def _paper_compute(p: Params, *, progress: bool | None = None) -> xr.Dataset:
    """The paper profile: every (task, strategy, images per prompt) of :class:`Params` on the user's data."""
    from .. import data
    from ..zeroshot import create_embedder
    from ._d3g_core import null_tuning, summarize_setting
    from ._d3g_paper import paper_combined, task_labels
    kw = {"root": p.data_root, **({"attributes": p.attributes} if p.attributes else {})}
    val, test = data.load(p.dataset, p.validation_split, **kw), data.load(p.dataset, p.test_split, **kw)
    emb = create_embedder(p.model, p.pretrained, precision=p.precision)
    parts, names = [], []
    for task in p.paper_tasks:
        for strategy in p.strategies:
            for k in p.images_per_prompt:
                combined, mask = [], None
                for seed in p.seeds:
                    c, mask = paper_combined(emb, val, test, task, strategy, k, 1000 * int(seed), pipeline=p.pipeline,
                                             templates=p.templates, generated_folder=p.generated_folder,
                                             generation_steps=p.generation_steps, generation_size=p.generation_size,
                                             support_size=p.support_size, progress=progress)
                    combined.append(c)
                y = task_labels(test, task)[0][mask]
                groups = {a: test.attributes[a].astype(str).to_numpy()[mask] for a in p.group_attributes}
                ds = summarize_setting(combined, y, groups, n_boot=p.n_boot, seed=0)
                summary_attrs = dict(ds.attrs)
                ds.attrs = {}
                name = f"{task}/{strategy}/{_method(k)}"
                names.append((name, task, strategy, k))
                parts.append(ds.expand_dims(setting=[name]))
    out = xr.concat(parts, dim="setting", data_vars="all", coords="minimal", compat="override", join="outer")
    out = out.assign_coords(experiment=("setting", ["table"] * len(names)), task=("setting", [n[1] for n in names]),
                            mix=("setting", [n[2] for n in names]), per_prompt=("setting", [n[3] for n in names]),
                            stereotype_p=("setting", [0.0] * len(names)), tone_drop=("setting", [0.0] * len(names)))
    null = null_tuning(NULL_SIZES, NULL_ACCURACY, changed=p.null_changed, n_sims=p.null_sims, seed=0)
    out["null_gain_tuned"], out["null_gain_heldout"] = null["gain_tuned"], null["gain_heldout"]
    out.attrs.update({k: v for k, v in summary_attrs.items() if k != "n_test"})
    out.attrs.update(profile=p.profile, model=p.model, dataset=p.dataset, seeds=[int(s) for s in p.seeds],
                     null_sizes=list(NULL_SIZES), null_changed=float(p.null_changed), null_sims=int(p.null_sims),
                     source=test.source, **_paper_claim_settings(p))
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        out.attrs["precision_asked"] = p.precision
    return out


def _paper_claim_settings(p: Params) -> dict[str, str]:
    """The settings the claims read in the paper profile (as ``claim_<key>`` attrs: netCDF keeps no dicts)."""
    race = next((t for t in p.paper_tasks if t != "classes"), p.paper_tasks[0])
    k1, kmax = min(p.images_per_prompt), max(p.images_per_prompt)
    diverse = next((s for s in p.strategies if s != "none"), "none")
    return {"claim_race7": f"{race}/none/{_method(k1)}", "claim_profession": f"classes/none/{_method(k1)}",
            "claim_balanced": f"{race}/{diverse}/{_method(kmax)}", "claim_group": p.group_attributes[0]}


def _compute(p: Params, *, progress: bool | None = None) -> xr.Dataset:
    if not p.laptop:
        return _paper_compute(p, progress=progress)
    from ._d3g_core import null_tuning, summarize_setting
    from ._d3g_jobs import combine_pairs, emojiprof_embeddings, mix_weights, pair_predictions, task_view
    from .muse import W_GRID
    log = JobLog()
    sets = settings(p)
    ws = list(W_GRID)
    by_drop: dict[float, list[xr.Dataset]] = {}
    from ._muse_jobs import train_lit
    drops = sorted({s["tone_drop"] for s in sets})
    train_lit([p.lit_config(seed, d) for d in drops for seed in p.seeds])  # on $FAIRNOTES_EXECUTOR, if set
    for d in drops:
        embs = []
        for seed in p.seeds:
            cfg = p.lit_config(seed, d)
            log.add("fairnotes.zeroshot.lit", cfg)
            embs.append(emojiprof_embeddings(cfg, progress=progress))
        by_drop[d] = embs
    parts = []
    from ..progress import report
    for k, s in enumerate(sets, 1):
        report("D3G: settings", k=k, n=len(sets), model=s["name"])
        embs = by_drop[s["tone_drop"]]
        w = mix_weights(s["task"], s["mix"], n_professions=embs[0].sizes["profession_class"])
        combined = []
        for seed, emb in zip(p.seeds, embs):
            pairs = pair_predictions(emb, s["task"], w, ws, n_supports=p.n_supports, per_prompt=s["per_prompt"],
                                     seed=seed, stereotype_p=s["stereotype_p"])
            combined.append(combine_pairs(pairs, ws, int(task_view(emb, s["task"])["mask"].sum())))
        y, groups = _groups(embs[0], s["task"])
        ds = summarize_setting(combined, y, groups, n_boot=p.n_boot, seed=0)
        summary_attrs = dict(ds.attrs)
        ds.attrs = {}
        parts.append(ds.expand_dims(setting=[s["name"]]))
    out = xr.concat(parts, dim="setting", data_vars="all", coords="minimal", compat="override", join="outer")
    for k in ("experiment", "task", "mix", "per_prompt", "stereotype_p", "tone_drop"):
        out = out.assign_coords({k: ("setting", [s[k] for s in sets])})
    null = null_tuning(NULL_SIZES, NULL_ACCURACY, changed=p.null_changed, n_sims=p.null_sims, seed=0)
    out["null_gain_tuned"] = null["gain_tuned"]
    out["null_gain_heldout"] = null["gain_heldout"]
    out.attrs.update({k: v for k, v in summary_attrs.items() if k != "n_test"})
    out.attrs.update(profile=p.profile, model="lit", seeds=[int(s) for s in p.seeds], n_supports=int(p.n_supports),
                     null_sizes=list(NULL_SIZES), null_changed=float(p.null_changed), null_sims=int(p.null_sims),
                     planted_tones=list(p.planted_tones), jobs=str(log.keys), source=by_drop[0.0][0].attrs["source"]
                     if 0.0 in by_drop else "")
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        out.attrs["precision_asked"] = p.precision
    return out


# ------------------------------------------------------------------------------------------------ claims

#: the settings the claims read
RACE7 = "skin_tone/plain/standard"
PROFESSION = "profession/plain/standard"
BALANCED_TONE = "skin_tone/balanced/average"


def _v(ds: xr.Dataset, var: str, setting: str, entry: str | None = "heldout") -> tuple[float, float, float]:
    sel = {"setting": setting, **({"entry": entry} if entry else {})}
    return tuple(float(ds[f"{var}{x}"].sel(sel)) for x in ("", "_lower", "_upper"))  # type: ignore[return-value]


def claim_keys(ds: xr.Dataset) -> tuple[str, str, str, str]:
    """``(race7 setting, profession setting, diverse setting, group attribute)`` the claims read."""
    a = ds.attrs
    return (a.get("claim_race7", RACE7), a.get("claim_profession", PROFESSION), a.get("claim_balanced", BALANCED_TONE),
            a.get("claim_group", "skin_tone"))


def claims(ds: xr.Dataset) -> xr.Dataset:
    """D3G's gains, "does not hurt other groups", and ours, each decided by the shared rules on our intervals.

    The settings read: laptop :data:`RACE7`, :data:`PROFESSION`, :data:`BALANCED_TONE` and the skin-tone groups;
    paper profile the ``claim_*`` attrs of the run."""
    RACE7, PROFESSION, BALANCED_TONE, grp = claim_keys(ds)  # noqa: N806 - the laptop constants' names
    rows = []
    g = _v(ds, "gain", RACE7)
    tuned = float(ds["gain"].sel(setting=RACE7, entry="tuned"))
    rows.append(paper_claim("d3g.race7_gain", measure="gain in skin-tone accuracy (5 tones, race7's analog) of D3G "
                            "(plain tone supports, one image per prompt) over text-only, w on a held-out style",
                            ours=g[0], lower=g[1], upper=g[2], rule=above(0),
                            note=f"with w tuned on the test images, as the paper: {tuned:+.3f}"))
    g = _v(ds, "gain", PROFESSION)
    rows.append(paper_claim("d3g.profession_gain", measure="gain in profession accuracy (20 classes) of D3G (plain "
                            "supports, one image per prompt) over text-only, w on a held-out style",
                            ours=g[0], lower=g[1], upper=g[2], rule=above(0),
                            note="LiT's text side is at chance on professions, so the supports do nearly all of it"))
    c = _v(ds, f"{grp}_change_min", BALANCED_TONE)
    rows.append(paper_claim("d3g.no_harm", measure=f"smallest per-group ({grp}) change in accuracy, D3G (diverse "
                            f"supports, average image: {BALANCED_TONE}) minus text-only", ours=c[0], lower=c[1],
                            upper=c[2],
                            rule=above(-0.01), note="a group hurt by more than one point would contradict it"))
    d = _v(ds, f"delta_{grp}_difference", BALANCED_TONE)
    rows.append(Claim(id="d3g.diverse_narrows_gap", paper=OURS, statement="Demographically diverse supports narrow "
                      "the gap between the best- and the worst-recognised group", measure=f"change in the largest "
                      f"between-group ({grp}) accuracy difference (fairlearn), D3G ({BALANCED_TONE}) minus text-only, "
                      f"paired",
                      ours=d[0], lower=d[1], upper=d[2], rule=below(0)))
    i = (float(ds["inflation"].sel(setting=RACE7)), float(ds["inflation_lower"].sel(setting=RACE7)),
         float(ds["inflation_upper"].sel(setting=RACE7)))
    rows.append(Claim(id="d3g.test_tuning_inflates", paper=OURS, statement="Choosing w on the test set inflates "
                      "D3G's reported gain", measure="gain with w tuned on the test images minus with w chosen on a "
                      "held-out style (skin-tone task, plain supports, standard), paired", ours=i[0], lower=i[1],
                      upper=i[2], rule=above(0),
                      note=f"null simulation at the paper's group sizes: a method that does nothing gains "
                           f"{float(ds['null_gain_tuned'].mean()):+.3f} on average when w is tuned on the test set"))
    planted = [str(s) for s in ds["setting"].values if str(s).startswith("planted-") and
               float(ds["tone_drop"].sel(setting=s)) == float(ds["tone_drop"].max())]
    if planted and float(ds["tone_drop"].max()) > 0:
        d = _v(ds, "delta_skin_tone_difference", planted[0])
        rows.append(Claim(id="d3g.closes_planted_gap", paper=OURS, statement="D3G supports close a disparity planted "
                          "in the model's training captions", measure=f"change in the largest between-tone accuracy "
                          f"difference, D3G minus text-only, LiT trained with {float(ds['tone_drop'].max()):.0%} of "
                          f"the darkest tones' tone phrases dropped", ours=d[0], lower=d[1], upper=d[2],
                          rule=below(0)))
    return claims_dataset(rows, chapter="d3g")


def glue_values(ds: xr.Dataset) -> dict[str, Any]:
    """The numbers the prose quotes, all ``d3_*``."""
    out: dict[str, Any] = {"d3_n_seeds": int(ds.attrs.get("n_seeds", 0)), "d3_n_boot": int(ds.attrs.get("n_boot", 0)),
                           "d3_n_supports": int(ds.attrs.get("n_supports", 0))}
    race7, profession, balanced, grp = claim_keys(ds)
    for key, s in (("race7", race7), ("prof", profession), ("bal", balanced)):
        for var in ("accuracy",):
            for e in ("text", "heldout", "tuned"):
                v = _v(ds, var, s, e)
                out[f"d3_{key}_acc_{e}"], out[f"d3_{key}_acc_{e}_lo"], out[f"d3_{key}_acc_{e}_hi"] = v
        v = _v(ds, "gain", s)
        out[f"d3_{key}_gain"], out[f"d3_{key}_gain_lo"], out[f"d3_{key}_gain_hi"] = v
        out[f"d3_{key}_gain_tuned"] = float(ds["gain"].sel(setting=s, entry="tuned"))
        v = (float(ds["inflation"].sel(setting=s)), float(ds["inflation_lower"].sel(setting=s)),
             float(ds["inflation_upper"].sel(setting=s)))
        out[f"d3_{key}_inflation"], out[f"d3_{key}_inflation_lo"], out[f"d3_{key}_inflation_hi"] = v
        out[f"d3_{key}_w"] = float(ds["w_heldout"].sel(setting=s).mean())
        out[f"d3_{key}_w_tuned"] = float(ds["w_tuned"].sel(setting=s).mean())
        for k in ("difference", "worst"):
            for e in ("text", "heldout"):
                v = _v(ds, f"{grp}_{k}", s, e)
                out[f"d3_{key}_tone_{k}_{e}"], out[f"d3_{key}_tone_{k}_{e}_lo"], out[f"d3_{key}_tone_{k}_{e}_hi"] = v
            v = _v(ds, f"delta_{grp}_{k}", s)
            out[f"d3_{key}_delta_tone_{k}"], out[f"d3_{key}_delta_tone_{k}_lo"], out[f"d3_{key}_delta_tone_{k}_hi"] = v
    v = _v(ds, f"{grp}_change_min", balanced)
    out["d3_bal_change_min"], out["d3_bal_change_min_lo"], out["d3_bal_change_min_hi"] = v
    out["d3_null_tuned_mean"] = float(ds["null_gain_tuned"].mean())
    out["d3_null_tuned_q95"] = float(ds["null_gain_tuned"].quantile(0.95))
    out["d3_null_heldout_mean"] = float(ds["null_gain_heldout"].mean())
    out["d3_null_sims"] = int(ds.attrs.get("null_sims", 0))
    sizes = [int(x) for x in np.atleast_1d(ds.attrs.get("null_sizes", []))]
    out["d3_null_sizes"] = ", ".join(str(x) for x in sizes)
    out["d3_null_n"] = int(sum(sizes))
    out["d3_null_changed"] = float(ds.attrs.get("null_changed", math.nan))
    out["d3_answer"] = answer(ds)
    for s in ds["setting"].values:  # the dose-response: profession task, average image
        if str(ds["task"].sel(setting=s).values) == "profession" and int(ds["per_prompt"].sel(setting=s)) == 2 \
                and str(ds["experiment"].sel(setting=s).values) in ("table", "mix") and grp in ("skin_tone",):
            key = "d3_mix_" + str(ds["mix"].sel(setting=s).values).replace("-", "_")
            for var in ("skin_tone_difference", "skin_tone_worst", "accuracy"):
                v = _v(ds, var, str(s))
                short = var.replace("skin_tone_", "tone_")
                out[f"{key}_{short}"], out[f"{key}_{short}_lo"], out[f"{key}_{short}_hi"] = v
    c = claims(ds)
    for cid, verdict in zip(c["claim"].values, c["verdict"].values):
        out[f"d3_v_{str(cid).split('.', 1)[1]}"] = str(verdict)
    st = [str(s) for s in ds["setting"].values if ds["experiment"].sel(setting=s) == "stereotype"]
    if st:
        last = st[-1]
        v = _v(ds, "gain", last)
        out["d3_stereo_gain"], out["d3_stereo_gain_lo"], out["d3_stereo_gain_hi"] = v
        out["d3_stereo_p"] = float(ds["stereotype_p"].sel(setting=last))
    for s in ds["setting"].values:
        if ds["experiment"].sel(setting=s) == "planted":
            d = float(ds["tone_drop"].sel(setting=s))
            key = f"d3_planted_{int(round(d * 100))}"
            for e in ("text", "heldout"):
                v = _v(ds, "skin_tone_difference", str(s), e)
                out[f"{key}_diff_{e}"], out[f"{key}_diff_{e}_lo"], out[f"{key}_diff_{e}_hi"] = v
            v = _v(ds, "delta_skin_tone_difference", str(s))
            out[f"{key}_delta"], out[f"{key}_delta_lo"], out[f"{key}_delta_hi"] = v
    return out


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer from its numbers and verdicts (the race7 analog's gain, the gap between groups,
    the planted bias where there is one, and the protocol audit)."""
    from ._claims import AGREES, DISAGREES
    race7, _, balanced, grp = claim_keys(ds)
    c = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(c["claim"].values, c["verdict"].values)}
    g = _v(ds, "gain", race7)
    word = {AGREES: "raise", DISAGREES: "lower"}.get(verdict["d3g.race7_gain"], "do not measurably change")
    d = _v(ds, f"delta_{grp}_difference", balanced)
    gap = {AGREES: "narrow", DISAGREES: "widen"}.get(verdict["d3g.diverse_narrows_gap"], "do not measurably change")
    out = [f"Supports of the requested group {word} the accuracy of the race7 analog ({g[0]:+.3f} "
           f"[{g[1]:+.3f}, {g[2]:+.3f}]), and diverse supports {gap} the largest gap between groups "
           f"({d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}])."]
    planted = sorted((float(ds["tone_drop"].sel(setting=s)), str(s)) for s in ds["setting"].values
                     if str(ds["experiment"].sel(setting=s).values) == "planted")
    if len(planted) > 1:
        lo_d, lo_s = planted[0]
        hi_d, hi_s = planted[-1]
        t0, t1 = float(ds[f"{grp}_difference"].sel(setting=lo_s, entry="text")), \
            float(ds[f"{grp}_difference"].sel(setting=hi_s, entry="text"))
        dd = _v(ds, f"delta_{grp}_difference", hi_s)
        out.append(f"Dropping {hi_d:.0%} of the darkest tones' tone captions from the model's training widens "
                   f"text-only's gap between tones from {t0:.3f} to {t1:.3f}; D3G's supports change it by "
                   f"{dd[0]:+.3f} [{dd[1]:+.3f}, {dd[2]:+.3f}].")
    i = (float(ds["inflation"].sel(setting=race7)), float(ds["inflation_lower"].sel(setting=race7)),
         float(ds["inflation_upper"].sel(setting=race7)))
    out.append(f"Tuning w on the test images adds {i[0]:+.3f} [{i[1]:+.3f}, {i[2]:+.3f}] to the gain here; at the "
               f"paper's group sizes it manufactures {float(ds['null_gain_tuned'].mean()):+.3f} on average for a "
               f"method that does nothing.")
    return " ".join(out)
