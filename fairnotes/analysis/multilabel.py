"""Multi-label softmax vs binary cross-entropy (arXiv 2107.09211): which treats demographic groups more equally?

The laptop profile is a controlled analog, named as such: scenes composed from emoji art
(:func:`fairnotes.data._scenes.compose_scenes`: a person of a profession, gender presentation and skin tone with
0–2 object emoji), trained on web-skewed scenes in two art styles and evaluated on balanced scenes in the two
others (as MR2 balances its faces). The budget does not allow end-to-end training: a linear multi-label head is
trained on *frozen* EfficientNet-Lite0 features (ImageNet weights) with each loss, from the same initial weights
and batches per seed (:func:`fairnotes.heads._multilabel.fit_multilabel_head`). Operating points are chosen on the
validation scenes: the top-k labels for softmax (its scores compete and sum to 1), a threshold per label for BCE
(its scores are independent) (:mod:`fairnotes.metrics._multilabel`).

Every rate per group comes with a 95 % interval from resampling test scenes within group and seeds
(:func:`fairnotes.metrics._resample.replicate_accuracy`), paired between the losses; the person-recall point
estimates are checked against fairlearn's MetricFrame (:func:`fairnotes.metrics.multilabel_by_group`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import xarray as xr

from ._claims import Claim, below, claims_dataset, near
from ._params import ChapterParams, ParamError
from ._store import cached_analysis

__all__ = ["Params", "run", "claims", "glue_values", "events", "EVENTS", "LOSSES"]

LOSSES = ("multilabel-softmax", "bce")
#: the per-image events whose rate is compared between groups: (name, what it is)
EVENTS = {"person": "recall of the label person (every scene shows one)",
          "profession": "recall of the scene's profession label",
          "wrong_gender": "the other gender's label predicted (scenes showing a man or a woman)",
          "stereotype": "the profession's stereotypical gender predicted for a counter-stereotypical person"}
OURS = "this book (the paper publishes no per-group table)"


@dataclass(frozen=True)
class Params(ChapterParams):
    """The notebook's parameters cell, one to one (see ``book/multilabel.md``).

    ``precision`` is the frozen backbone's, for the features the heads train on (``features.extract``); the
    heads train in float32 and the Grad-CAM maps run fp32.
    """

    chapter: ClassVar[str] = "multilabel"
    dataset: str = "emoji-scenes"
    backbone: str = "efficientnet_lite0"
    image_size: int = 96
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 100
    lr: float = 0.05
    weight_decay: float = 1e-4
    precision: Literal["fp32", "bf16"] = "fp32"
    max_per_class: int | None = None
    n_boot: int = 200
    cam_per_group: int = 6
    # paper profile: a multi-label folder (an OpenImages / Inclusive Images subset) and an evaluation folder (MR2)
    data_root: str | None = None
    eval_dataset: str | None = None  # None: the test split of ``dataset``
    eval_root: str | None = None
    eval_split: str = "test"
    group_attributes: tuple[str, ...] = ("skin_tone", "gender")

    def __post_init__(self) -> None:
        problems = []
        if not self.seeds:
            problems.append("seeds is empty")
        if self.epochs < 1 or self.lr <= 0 or self.n_boot < 10 or self.image_size < 32:
            problems.append("epochs ≥ 1, lr > 0, n_boot ≥ 10 and image_size ≥ 32 are needed")
        if problems:
            raise ParamError("; ".join(problems) + " (chapter 'multilabel')")


def run(p: Params, *, refresh: bool = False, progress: bool | None = None) -> xr.Dataset:
    """Every number of the chapter (cached by parameters and code)."""
    return cached_analysis(p, lambda q: _compute(q, progress=progress), refresh=refresh)


def _split(p: Params, split: str, progress: bool | None, *, dataset: str | None = None,
           root: str | None = None) -> tuple[np.ndarray, Any]:
    from .. import data
    from ..jobs import features
    dataset, root = dataset or p.dataset, root if dataset else p.data_root
    f = features.extract(p.backbone, dataset, split, image_size=p.image_size, max_per_class=p.max_per_class,
                         data_root=root, progress=progress, precision=p.precision)
    images = data.load(dataset, split, max_per_class=p.max_per_class, **({"root": root} if root else {}))
    if len(images) != f.sizes["sample"]:
        raise RuntimeError(f"{split}: {len(images)} scenes but {f.sizes['sample']} feature rows")
    return np.asarray(f["features"].values, np.float32), images


def events(images: Any, pred: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per event of :data:`EVENTS`: ``(applies, happened)`` per scene, from 0/1 predictions (scenes × labels)."""
    from ..data._scenes import STEREOTYPES
    names = list(images.meta["label_names"])
    a = images.attributes
    col = {n: i for i, n in enumerate(names)}
    n = len(a)
    rows = np.arange(n)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "person" in col:
        out["person"] = (np.ones(n, bool), pred[:, col["person"]] == 1)
    prof = a["profession"].astype(str).to_numpy() if "profession" in a else None
    if prof is not None and set(prof) <= set(col):
        out["profession"] = (np.ones(n, bool), pred[rows, [col[x] for x in prof]] == 1)
    if "gender" in a and {"man", "woman"} <= set(col):
        gender = a["gender"].astype(str).to_numpy()
        gendered = np.isin(gender, ["man", "woman"])
        other = np.where(gender == "man", col["woman"], col["man"])
        out["wrong_gender"] = (gendered, gendered & (pred[rows, other] == 1))
        if prof is not None:
            stereo = {str(k): str(v) for k, v in STEREOTYPES}
            st_gender = np.array([stereo.get(x, "") for x in prof])
            counter = gendered & (st_gender != "") & (gender != st_gender)
            st_col = np.array([col[g] if g in col else 0 for g in st_gender])
            out["stereotype"] = (counter, counter & (pred[rows, st_col] == 1))
    return out


def _compute(p: Params, *, progress: bool | None = None) -> xr.Dataset:
    from ..heads._multilabel import fit_multilabel_head, head_scores
    from ..metrics import (average_precision, predict_multilabel, threshold_operating_point,
                           topk_operating_point)
    from ..metrics._resample import replicate_accuracy, two_source_interval
    xtr, tr = _split(p, "train", progress)
    xva, va = _split(p, "val", progress)
    if p.eval_dataset:
        xte, te = _split(p, p.eval_split, progress, dataset=p.eval_dataset, root=p.eval_root)
    else:
        xte, te = _split(p, p.eval_split, progress)
    names = [str(n) for n in tr.meta["label_names"]]
    ytr, yva = (np.asarray(d.meta["multi_hot"], np.float32) for d in (tr, va))
    yte = _align(te, names)
    keep = ytr.sum(1) > 0
    scores, preds, ops, heads = {}, {}, {}, {}
    from ..progress import report
    jobs = [(loss, s) for loss in LOSSES for s in p.seeds]
    for k, (loss, s) in enumerate(jobs, 1):
        # one head per (loss, seed), reported to the terminal under `fairnotes run`
        report("multilabel: heads", k=k, n=len(jobs), model=loss, seed=int(s))
        h = fit_multilabel_head(xtr[keep], ytr[keep], loss=loss, epochs=p.epochs, lr=p.lr,
                                weight_decay=p.weight_decay, seed=int(s))
        sv, st = head_scores(h, xva, loss), head_scores(h, xte, loss)
        op = topk_operating_point(sv, yva, ks=tuple(range(1, min(5, len(names)) + 1))) \
            if loss == "multilabel-softmax" else threshold_operating_point(sv, yva)
        scores[loss, s], preds[loss, s], ops[loss, s], heads[loss, s] = st, predict_multilabel(st, op), op, h
    seeds = [int(s) for s in p.seeds]
    n_s, n = len(seeds), len(yte)
    ds = xr.Dataset(coords={"loss": list(LOSSES), "seed": seeds, "label_name": names})
    # mAP: per loss and seed, with image and seed replicates (the same draws for both losses: paired)
    ap = np.array([[average_precision(yte, scores[l, s])["ap"].values for s in seeds] for l in LOSSES])
    ds["ap"] = (("loss", "seed", "label_name"), ap, {"description": "test average precision per label"})
    m = np.nanmean(ap, axis=-1)  # (loss, seed)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, size=(p.n_boot, n))
    by_img = np.empty((p.n_boot, len(LOSSES)))
    for b in range(p.n_boot):
        yb = yte[idx[b]]
        by_img[b] = [np.mean([float(average_precision(yb, scores[l, s][idx[b]])["map"]) for s in seeds])
                     for l in LOSSES]
    sidx = np.random.default_rng([0, 1]).integers(0, n_s, size=(p.n_boot, n_s))
    by_seed = m[:, sidx].mean(axis=-1).T  # (B, loss)
    obs = m.mean(axis=1)
    lo, hi = two_source_interval(obs, by_img, by_seed, n_seeds=n_s)
    ds["map"] = ("loss", obs, {"description": "test mAP, mean over seeds"})
    ds["map_lower"], ds["map_upper"] = ("loss", np.clip(lo, 0, 1)), ("loss", np.clip(hi, 0, 1))
    d = [x[..., 1] - x[..., 0] for x in (obs, by_img, by_seed)]
    lo, hi = two_source_interval(*d, n_seeds=n_s)
    ds["delta_map"] = ((), float(d[0]), {"description": "mAP of BCE minus multi-label softmax, paired"})
    ds["delta_map_lower"], ds["delta_map_upper"] = float(lo), float(hi)
    ds["map_seed"] = (("loss", "seed"), m)
    # per-group event rates
    a = te.attributes
    groups = {g: a[g].astype(str).to_numpy() for g in p.group_attributes if g in a}
    if not groups:
        raise ValueError(f"the evaluation set has none of the group attributes {list(p.group_attributes)}; it has "
                         f"{list(a.columns)}")
    te_eval = _relabel(te, names)
    found = events(te_eval, preds[LOSSES[0], seeds[0]])
    for ev in [e for e in EVENTS if e in found]:
        per = [[events(te_eval, preds[l, s])[ev] for s in seeds] for l in LOSSES]
        applies = per[0][0][0]
        hits = np.array([[h for _, h in row] for row in per], float)[:, :, applies]  # (loss, seed, N')
        for attr, g in groups.items():
            gg = g[applies]
            if gg.size == 0:
                continue
            gnames, codes = np.unique(gg, return_inverse=True)
            o, bi, bs = replicate_accuracy(codes, hits, n_boot=p.n_boot, seed=0)  # (loss, G)
            dim = f"{attr}_{ev}"
            ds = ds.assign_coords({dim: gnames})
            lo, hi = two_source_interval(o, bi, bs, n_seeds=n_s)
            ds[f"{ev}_by_{attr}"] = (("loss", dim), o, {"description": f"{EVENTS[ev]}, per {attr}"})
            ds[f"{ev}_by_{attr}_lower"] = (("loss", dim), np.clip(lo, 0, 1))
            ds[f"{ev}_by_{attr}_upper"] = (("loss", dim), np.clip(hi, 0, 1))
            ds[f"{ev}_by_{attr}_count"] = (dim, np.bincount(codes, minlength=gnames.size))
            gap = [x.max(-1) - x.min(-1) for x in (o, bi, bs)]
            lo, hi = two_source_interval(*gap, n_seeds=n_s)
            ds[f"{ev}_gap_{attr}"] = ("loss", gap[0], {"description": f"largest between-{attr} difference"})
            ds[f"{ev}_gap_{attr}_lower"], ds[f"{ev}_gap_{attr}_upper"] = ("loss", np.clip(lo, 0, 1)), \
                ("loss", np.clip(hi, 0, 1))
            dg = [x[..., 1] - x[..., 0] for x in gap]
            lo, hi = two_source_interval(*dg, n_seeds=n_s)
            ds[f"{ev}_delta_gap_{attr}"] = ((), float(dg[0]), {"description": "gap of BCE minus gap of softmax"})
            ds[f"{ev}_delta_gap_{attr}_lower"], ds[f"{ev}_delta_gap_{attr}_upper"] = float(lo), float(hi)
        rate = [x.mean(-1) for x in (hits.mean(1),)]
        ds[f"{ev}_rate"] = ("loss", rate[0], {"description": EVENTS[ev]})
    ds["topk"] = ("seed", [int(ops["multilabel-softmax", s].k) for s in seeds])
    ds.attrs.update(group_attr=next(iter(groups)), events=[e for e in EVENTS if e in found],
                    eval_dataset=p.eval_dataset or p.dataset)
    ds.attrs.update(profile=p.profile, backbone=p.backbone, image_size=int(p.image_size), dataset=p.dataset,
                    n_train=int(keep.sum()), n_val=len(yva), n_test=n, n_labels=len(names), n_boot=int(p.n_boot),
                    n_seeds=n_s, cam_per_group=int(p.cam_per_group), train_styles=_styles(tr), test_styles=_styles(te))
    if p.precision != "fp32":  # only then: an fp32 run's attrs are as they were
        ds.attrs["precision_asked"] = p.precision
    if "person_box" in te.attributes and p.cam_per_group > 0:
        ds = ds.merge(_cams(p, te, heads, names, progress=progress))
    return ds


def _styles(images: Any) -> list[str]:
    a = images.attributes
    return sorted(set(a["style"].astype(str))) if a is not None and "style" in a else []


def _align(te: Any, names: list[str]) -> np.ndarray:
    """The evaluation set's multi-hot targets on the training label columns (its labels must all be among them)."""
    own = [str(n) for n in te.meta["label_names"]]
    extra = sorted(set(own) - set(names))
    if extra:
        raise ValueError(f"the evaluation set has labels the training set lacks: {extra[:10]}")
    y = np.zeros((len(te), len(names)), np.float32)
    m = np.asarray(te.meta["multi_hot"], np.float32)
    for j, n in enumerate(own):
        y[:, names.index(n)] = m[:, j]
    return y


def _relabel(te: Any, names: list[str]) -> Any:
    """``te`` seen through the training label columns (for :func:`events`)."""
    import types
    return types.SimpleNamespace(meta={"label_names": names}, attributes=te.attributes)


def _cams(p: Params, te: Any, heads: dict, names: list[str], *, progress: bool | None) -> xr.Dataset:
    """Grad-CAM (the ``grad-cam`` package) of the labels ``person`` and ``woman`` for seed 0 of each loss on
    ``cam_per_group`` test scenes per skin tone: the share of the map's mass inside the person's box."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from .. import augment, models
    a = te.attributes
    tone = a["skin_tone"].astype(str).to_numpy()
    gender = a["gender"].astype(str).to_numpy()
    chosen = []
    for t in sorted(set(tone)):
        here = np.flatnonzero((tone == t) & (gender == "woman"))
        chosen.extend(here[: p.cam_per_group].tolist())
    chosen = np.asarray(chosen, np.int64)
    imgs = np.stack([np.asarray(te.images[i]) for i in chosen])
    boxes = [a["person_box"].iloc[i] for i in chosen]
    size = imgs.shape[-1]
    mask = np.zeros((len(chosen), size, size), bool)
    for j, (x0, y0, side) in enumerate(boxes):
        mask[j, int(y0):int(y0 + side), int(x0):int(x0 + side)] = True
    labels = [n for n in ("person", "woman") if n in names]
    share = np.full((len(LOSSES), len(labels), len(chosen)), np.nan)
    example = np.array([int(np.flatnonzero(tone[chosen] == t)[0]) for t in sorted(set(tone[chosen]))], np.int64)
    maps = np.zeros((len(LOSSES), len(labels), len(example), size, size), np.float32)
    s0 = p.seeds[0]
    torch.manual_seed(0)
    for li, loss in enumerate(LOSSES):
        net = models.create(p.backbone, len(names), 3, p.image_size, pretrained=True).eval()
        head = net.get_classifier()
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(heads[loss, s0]["weight"]))
            head.bias.copy_(torch.from_numpy(heads[loss, s0]["bias"]))
        mean, std = models.normalization(net, 3)
        x = augment.to_float(torch.from_numpy(imgs), mean, std, size=p.image_size)
        layer = _last_conv(net)
        with GradCAM(model=net, target_layers=[layer]) as cam:
            for ki, lab in enumerate(labels):
                g = cam(input_tensor=x, targets=[ClassifierOutputTarget(names.index(lab))] * len(chosen))
                g = torch.nn.functional.interpolate(torch.from_numpy(g)[:, None], size=(size, size), mode="bilinear",
                                                    align_corners=False)[:, 0].numpy()
                tot = g.reshape(len(chosen), -1).sum(1)
                share[li, ki] = np.where(tot > 0, (g * mask).reshape(len(chosen), -1).sum(1) / np.maximum(tot, 1e-12),
                                         np.nan)
                maps[li, ki] = g[example]
    return xr.Dataset({"cam_share": (("loss", "cam_label", "cam_scene"), share,
                                     {"description": "share of the Grad-CAM mass inside the person's box"}),
                       "cam_tone": ("cam_scene", tone[chosen]), "cam_index": ("cam_scene", chosen),
                       "cam_box_share": ("cam_scene", mask.reshape(len(chosen), -1).mean(1),
                                         {"description": "share of the image the person's box covers"}),
                       "cam_maps": (("loss", "cam_label", "cam_example", "y", "x"), maps,
                                    {"description": "Grad-CAM maps of one scene per skin tone (cam_example_index)"}),
                       "cam_example_index": ("cam_example", chosen[example])},
                      coords={"loss": list(LOSSES), "cam_label": labels})


def _last_conv(net: Any) -> Any:
    import torch
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1]


# ------------------------------------------------------------------------------------------------ claims

def claims(ds: xr.Dataset) -> xr.Dataset:
    """The paper compares the two losses; it publishes no per-group figure, so the claims are ours, each decided
    by the shared rules on our paired intervals."""
    def v(name):
        return float(ds[name]), float(ds[f"{name}_lower"]), float(ds[f"{name}_upper"])
    m = v("delta_map")
    rows = [Claim(id="ml.same_map", paper="Mahadev & Chakravarti 2021 (arXiv 2107.09211) compare the two losses",
                  statement="Multi-label softmax and BCE reach the same mAP (within one point)",
                  measure="mAP of BCE minus mAP of multi-label softmax, same features, initial weights and seeds",
                  ours=m[0], lower=m[1], upper=m[2], rule=near(0, margin=0.01))]
    attr = ds.attrs.get("group_attr", "skin_tone")
    for ev in ("person", "profession", "wrong_gender"):
        if f"{ev}_delta_gap_{attr}" not in ds:
            continue
        d = v(f"{ev}_delta_gap_{attr}")
        rows.append(Claim(id=f"ml.bce_narrows_{ev}_gap", paper=OURS, statement=f"BCE treats {attr} groups more equally "
                          f"than multi-label softmax: {EVENTS[ev]}", measure=f"largest between-group ({attr}) difference "
                          f"of the {ev} rate, BCE minus softmax, paired", ours=d[0], lower=d[1], upper=d[2], rule=below(0)))
    return claims_dataset(rows, chapter="multilabel")


def glue_values(ds: xr.Dataset) -> dict[str, Any]:
    """The numbers the prose quotes, all ``ml_*``."""
    attr = ds.attrs.get("group_attr", "skin_tone")
    out: dict[str, Any] = {"ml_n_train": int(ds.attrs["n_train"]), "ml_n_val": int(ds.attrs["n_val"]),
                           "ml_n_test": int(ds.attrs["n_test"]), "ml_n_labels": int(ds.attrs["n_labels"]),
                           "ml_n_seeds": int(ds.attrs["n_seeds"]), "ml_topk": float(ds["topk"].mean()),
                           "ml_n_boot": int(ds.attrs["n_boot"]), "ml_image_size": int(ds.attrs["image_size"]),
                           "ml_n_cam_per_group": int(ds.attrs.get("cam_per_group", 0))}
    for i, loss in enumerate(LOSSES):
        key = "sm" if loss == "multilabel-softmax" else "bce"
        for x in ("", "_lower", "_upper"):
            out[f"ml_map_{key}{x}"] = float(ds[f"map{x}"].sel(loss=loss))
        for ev in EVENTS:
            if f"{ev}_rate" in ds:
                out[f"ml_{ev}_rate_{key}"] = float(ds[f"{ev}_rate"].sel(loss=loss))
            if f"{ev}_rate" not in ds:
                continue
            if f"{ev}_gap_{attr}" in ds:
                for x in ("", "_lower", "_upper"):
                    out[f"ml_{ev}_gap_{key}{x}"] = float(ds[f"{ev}_gap_{attr}{x}"].sel(loss=loss))
        if "cam_share" in ds:
            for lab in ds["cam_label"].values:
                out[f"ml_cam_{lab}_{key}"] = float(np.nanmean(ds["cam_share"].sel(loss=loss, cam_label=lab)))
    if "cam_box_share" in ds:
        out["ml_cam_box_share"] = float(ds["cam_box_share"].mean())
    for x in ("", "_lower", "_upper"):
        out[f"ml_delta_map{x}"] = float(ds[f"delta_map{x}"])
        for ev in EVENTS:
            if f"{ev}_delta_gap_{attr}" in ds:
                out[f"ml_{ev}_delta_gap{x}"] = float(ds[f"{ev}_delta_gap_{attr}{x}"])
    c = claims(ds)
    for cid, verdict in zip(c["claim"].values, c["verdict"].values):
        out[f"ml_v_{str(cid).split('.', 1)[1]}"] = str(verdict)
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else float("nan")) for k, v in out.items()}


# ------------------------------------------------------------------------------------------------ the short answer

#: the events of the group claims, as the short answer names them
_ANSWER_EVENTS = {"person": "recognising the person", "profession": "recognising the profession",
                  "wrong_gender": "outputting the wrong gender's label"}


def _ans_ci(v: float, lo: float, hi: float, fmt: str = "+.3f") -> str:
    from ._common import ci_text
    return ci_text(v, lo, hi, fmt)


def answer(ds: xr.Dataset) -> str:
    """The chapter's short answer to "which loss treats groups more equally?", in two sentences whose wording follows
    the verdicts of ``ml.same_map`` and of each ``ml.bce_narrows_<event>_gap``; each difference (BCE minus
    softmax, paired) with its 95 % interval."""
    from ._claims import AGREES, DISAGREES
    found = claims(ds)
    verdict = {str(i): str(v) for i, v in zip(found["claim"].values, found["verdict"].values)}

    def ci(cid: str) -> tuple[float, str]:
        r = found.sel(claim=cid)
        return float(r["ours"]), _ans_ci(float(r["ours"]), float(r["lower"]), float(r["upper"]))

    d, text = ci("ml.same_map")
    every = "; every difference here is BCE minus multi-label softmax, paired"
    out = [{AGREES: f"The two losses reach the same mAP, within one point ({text}{every}).",
            DISAGREES: f"The two losses do not reach the same mAP: BCE's is {'higher' if d > 0 else 'lower'} by more "
                       f"than one point ({text}{every})."}.get(
        verdict["ml.same_map"], f"Whether the two losses reach the same mAP within one point, this run cannot tell "
                                f"({text}{every}).")]
    attr = str(ds.attrs.get("group_attr", "skin_tone")).replace("_", "-")
    verbs = {AGREES: "narrows", DISAGREES: "widens"}
    clauses: dict[str, list[str]] = {}
    for ev, words in _ANSWER_EVENTS.items():
        cid = f"ml.bce_narrows_{ev}_gap"
        if cid in verdict:
            clauses.setdefault(verdict[cid], []).append(f"{words} ({ci(cid)[1]})")
    if clauses:
        said = []
        for v, items in clauses.items():
            word = "and" if v in verbs else "or"
            listed = items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"
            said.append(f"{verbs.get(v, 'does not measurably change')} {'it' if said else 'the largest gap'} in {listed}")
        out.append(f"Between {attr} groups, BCE {'; it '.join(said)}.")
    return " ".join(out)
