"""The laptop profile's data path for D3G: EmojiProf embedded by the LiT model, the two tasks, supports drawn
by demographic mix from other art styles, and predictions over the text weight for every style pair.

EmojiProf has 20 professions × {person, man, woman} × {no tone, 5 skin tones} in four art styles, one image per
cell (1,440 images). Two tasks mirror D3G's: ``profession`` (20 classes, every image; the fairness groups are
skin tone and gender) and ``skin_tone`` (5 classes, the images with a tone; the classes are the groups, as race7's
are in D3G).

**Style roles.** For every ordered pair (test style, validation style) the supports come from the two other styles,
so no image is ever its own support and no style is both test and validation (12 pairs). Each image is a test
image in three pairs (one per validation style); its correctness is averaged over them.

**Supports by mix.** A *mix* gives weights over demographic *cells* of the class (profession task: gender × tone,
18 cells; skin-tone task: profession × gender, 60 cells). Each class gets ``n_supports`` cells drawn with those
weights (with replacement, from ``seed``), and each drawn cell becomes its image in the support styles: one of them
drawn (``per_prompt=1``, D3G's "standard") or both averaged (``per_prompt=2``, its "average image"). A *stereotyped
generator* returns the stereotypical cell instead of the drawn one with probability ``p``.

torch is imported only inside the functions that embed.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = ["TASKS", "TONES", "GENDERS", "STEREOTYPE", "emojiprof_embeddings", "task_view", "cells", "mix_weights",
           "draw_supports", "style_pairs", "pair_predictions", "combine_pairs"]

TASKS = ("profession", "skin_tone")
TONES = ("none", "1-2", "3", "4", "5", "6")  # EmojiProf's skin_tone values; "none" is the default yellow
GENDERS = ("person", "man", "woman")
#: the cell a stereotyped generator draws instead (profession task): a light-skinned man, the default depiction of
#: professions by text-to-image models documented by Bianchi et al. 2023 and Luccioni et al. 2023
STEREOTYPE = {"gender": "man", "skin_tone": "1-2"}
#: the classifiers compared (as in the MuSE chapter)
ENTRIES = ("text", "image", "heldout", "tuned")


def emojiprof_embeddings(lit_cfg: Any, *, embedder: Any = None, progress: bool | None = None) -> xr.Dataset:
    """EmojiProf (all four styles) embedded by the LiT model of ``lit_cfg``, with both tasks' text prototypes.

    Image embeddings go through :func:`fairnotes.analysis._muse_jobs.image_embeddings` (LiT trunk features cached
    once for every seed). Returns ``embedding`` (image × dim) and the attributes ``profession``, ``gender``,
    ``skin_tone``, ``style`` (image), ``text_profession`` (profession × dim) and ``text_skin_tone`` (tone × dim,
    the five tones), with coords ``profession_name`` and ``tone_name``.
    """
    from .. import data
    from ..data.fetch_emoji import STYLES
    from ..zeroshot._classifier import zero_shot_weights
    from ..zeroshot._prompts import classnames
    from ._muse_jobs import image_embeddings
    if embedder is None:
        from ..zeroshot import lit
        embedder = lit.load_embedder(lit_cfg)
    prof = data.load("emojiprof", "test", styles=tuple(STYLES))
    x, _ = image_embeddings(embedder, prof.images, lit_cfg=lit_cfg, tag="d3g-emojiprof",
                            selection={"styles": list(STYLES)}, progress=progress)
    a = prof.attributes
    tones = classnames("skin_tone")
    tpl = getattr(lit_cfg, "templates", {}) or {}
    t_prof = zero_shot_weights(embedder, list(prof.class_names), tpl.get("profession", "emoji"))
    t_tone = zero_shot_weights(embedder, list(tones.values()), tpl.get("skin_tone", "{}"))
    return xr.Dataset(
        {"embedding": (("image", "dim"), np.asarray(x, np.float32)),
         "profession": ("image", np.asarray(prof.labels, np.int64)),
         "gender": ("image", a["gender"].astype(str).to_numpy()),
         "skin_tone": ("image", a["skin_tone"].astype(str).to_numpy()),
         "style": ("image", a["style"].astype(str).to_numpy()),
         "text_profession": (("profession_class", "dim"), np.asarray(t_prof, np.float32)),
         "text_skin_tone": (("tone_class", "dim"), np.asarray(t_tone, np.float32))},
        coords={"profession_name": ("profession_class", [str(c) for c in prof.class_names]),
                "tone_name": ("tone_class", list(tones))},
        attrs={"model": getattr(embedder, "name", ""), "styles": list(STYLES), "source": prof.source})


def task_view(emb: xr.Dataset, task: str) -> dict[str, Any]:
    """``{"mask", "y", "text", "classes"}`` of ``task``: the images that take part, their class, the text
    prototypes and the class names (skin tone: the five tones, images without a tone left out)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if task == "profession":
        return {"mask": np.ones(emb.sizes["image"], bool), "y": emb["profession"].values,
                "text": emb["text_profession"].values, "classes": [str(c) for c in emb["profession_name"].values]}
    tones = [str(t) for t in emb["tone_name"].values]
    tone = emb["skin_tone"].values
    mask = np.isin(tone, tones)
    y = np.array([tones.index(t) if t in tones else -1 for t in tone], np.int64)
    return {"mask": mask, "y": y, "text": emb["text_skin_tone"].values, "classes": tones}


def cells(task: str, n_professions: int = 20) -> list[tuple]:
    """The demographic cells of a class: profession task ``(gender, tone)`` (18), skin-tone task
    ``(profession index, gender)`` (60)."""
    if task == "profession":
        return [(g, t) for g in GENDERS for t in TONES]
    return [(p, g) for p in range(n_professions) for g in GENDERS]


def mix_weights(task: str, mix: str | Mapping[str, Any], *, n_professions: int = 20) -> np.ndarray:
    """Weights over :func:`cells` for a named mix (or ``{"tone": t, "share": s}``: share ``s`` of one tone, the rest
    balanced).

    Profession task: ``plain`` (person, no tone: D3G's plain prompt), ``balanced`` (every gender × tone: D3G's
    diverse prompts), ``tones`` (person × every tone), ``genders`` (every gender, no tone: default tone only),
    ``one-gender`` (man × every tone), ``skewed-<tone>`` (80 % that tone, every gender; the rest balanced).
    Skin-tone task: ``plain`` (person, one profession: the first), ``balanced`` (every profession × gender),
    ``professions`` (person × every profession), ``genders`` (every gender, the first profession).
    """
    cs = cells(task, n_professions)
    w = np.zeros(len(cs))
    if isinstance(mix, Mapping):
        tone, share = str(mix["tone"]), float(mix["share"])
        if task != "profession" or tone not in TONES or not 0 <= share <= 1:
            raise ValueError(f"a skewed mix needs the profession task, a tone in {TONES} and a share in [0, 1]; "
                             f"got {mix}")
        on = np.array([c[1] == tone for c in cs])
        w[on] = share / on.sum()
        w[~on] = (1 - share) / (~on).sum()
        return w
    mix = str(mix)
    if task == "profession":
        rules = {"plain": lambda g, t: g == "person" and t == "none", "balanced": lambda g, t: True,
                 "tones": lambda g, t: g == "person", "genders": lambda g, t: t == "none",
                 "one-gender": lambda g, t: g == "man"}
        if mix.startswith("skewed-"):
            return mix_weights(task, {"tone": mix[len("skewed-"):], "share": 0.8}, n_professions=n_professions)
    else:
        rules = {"plain": lambda p, g: p == 0 and g == "person", "balanced": lambda p, g: True,
                 "professions": lambda p, g: g == "person", "genders": lambda p, g: p == 0}
    if mix not in rules:
        valid = list(rules) + (["skewed-<tone>"] if task == "profession" else [])
        raise ValueError(f"unknown mix {mix!r} for task {task!r}; valid: {', '.join(valid)}")
    w = np.array([1.0 if rules[mix](*c) else 0.0 for c in cs])
    return w / w.sum()


def draw_supports(emb: xr.Dataset, task: str, weights: np.ndarray, support_styles: Sequence[str], *,
                  n_supports: int, per_prompt: int, seed: int, stereotype_p: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``emb`` that serve as supports, their class, and the cell index each was drawn for.

    Each class draws ``n_supports`` cells from ``weights`` (:func:`mix_weights`); with probability
    ``stereotype_p`` a drawn cell is replaced by the stereotypical one (:data:`STEREOTYPE`, profession task only).
    A cell becomes its image in ``per_prompt`` of the support styles (drawn without replacement; 1 = D3G's
    standard, all = its average image). Cells without an image in those styles are skipped.
    """
    tv = task_view(emb, task)
    n_cls = len(tv["classes"])
    cs = cells(task, emb.sizes["profession_class"])
    rng = np.random.default_rng(seed)
    style = emb["style"].values
    in_sup = np.isin(style, list(support_styles))
    prof, gender, tone = emb["profession"].values, emb["gender"].values, emb["skin_tone"].values
    stereo = cs.index((STEREOTYPE["gender"], STEREOTYPE["skin_tone"])) if task == "profession" else None
    if stereotype_p and stereo is None:
        raise ValueError("a stereotyped generator is defined for the profession task only")
    rows, labels, drawn = [], [], []
    for c in range(n_cls):
        picks = rng.choice(len(cs), size=n_supports, p=weights)
        if stereotype_p:
            picks = np.where(rng.random(n_supports) < stereotype_p, stereo, picks)
        for k in picks:
            if task == "profession":
                g, t = cs[k]
                here = np.flatnonzero(in_sup & (prof == c) & (gender == g) & (tone == t))
            else:
                p, g = cs[k]
                here = np.flatnonzero(in_sup & (prof == p) & (gender == g) & (tone == tv["classes"][c]))
            if here.size == 0:
                continue
            take = rng.permutation(here)[:per_prompt]
            rows.extend(take.tolist())
            labels.extend([c] * len(take))
            drawn.extend([int(k)] * len(take))
    return np.asarray(rows, np.int64), np.asarray(labels, np.int64), np.asarray(drawn, np.int64)


def style_pairs(styles: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every ordered (test, validation) style pair with the remaining styles as supports."""
    styles = list(styles)
    if len(styles) < 3:
        raise ValueError(f"need at least three styles (test, validation, supports); got {styles}")
    return [(t, v, tuple(s for s in styles if s not in (t, v))) for t in styles for v in styles if t != v]


def pair_predictions(emb: xr.Dataset, task: str, weights: np.ndarray | None, ws: Sequence[float], *,
                     n_supports: int, per_prompt: int, seed: int, stereotype_p: float = 0.0) -> list[dict]:
    """Per style pair, the correctness over ``ws`` of its validation and its test images.

    Returns one dict per :func:`style_pairs` entry: ``val`` (``len(ws) × n_val`` bool), ``test``
    (``len(ws) × n_test`` bool), ``val_pred`` / ``test_pred`` (the predicted classes) and ``test_pos`` (the test images' positions among the task's images, so the
    three pairs that test an image can be combined). ``weights=None`` is text-only (no supports). Supports are
    drawn with ``seed`` from the pair's support styles.
    """
    from .muse import mixed_predictions
    tv = task_view(emb, task)
    mask, y, text = tv["mask"], tv["y"], tv["text"]
    x = emb["embedding"].values
    style = emb["style"].values
    idx = np.flatnonzero(mask)
    out = []
    for test_style, val_style, sup_styles in style_pairs(emb.attrs.get("styles") or sorted(set(style))):
        if weights is None:
            se, sl = x[:0], np.zeros(0, np.int64)
        else:
            rows, sl, _ = draw_supports(emb, task, weights, sup_styles, n_supports=n_supports,
                                        per_prompt=per_prompt, seed=seed, stereotype_p=stereotype_p)
            se = x[rows]
        res = {"styles": (test_style, val_style)}
        for role, st in (("test", test_style), ("val", val_style)):
            here = idx[style[idx] == st]
            res[f"{role}_pred"] = mixed_predictions(x[here], text, se, sl, ws)
            res[role] = res[f"{role}_pred"] == y[here]
            if role == "test":
                res["test_pos"] = np.searchsorted(idx, here)
        out.append(res)
    return out


def combine_pairs(pairs: list[dict], ws: Sequence[float], n_images: int) -> dict[str, np.ndarray]:
    """Per-image correctness of text-only, image-only, w chosen on each pair's validation style (``heldout``) and
    w tuned on each pair's test style (``tuned``, D3G's protocol), each averaged over the pairs that test the image;
    ``pred_<entry>`` with ``pos``: every pair's test predictions stacked (rows of image position ``pos``), for
    fairlearn's per-group metrics; and the chosen w's (pair). w is chosen by validation accuracy, ties to the larger w
    (:func:`fairnotes.analysis.muse.choose_w`)."""
    from .muse import choose_w
    ws = np.asarray(ws, float)
    i_text, i_img = int(np.flatnonzero(np.isclose(ws, 1))[0]), int(np.flatnonzero(np.isclose(ws, 0))[0])
    sums = {k: np.zeros(n_images) for k in ENTRIES}
    preds: dict[str, list] = {k: [] for k in ENTRIES}
    pos: list = []
    n = np.zeros(n_images)
    w_held, w_tuned = [], []
    for p in pairs:
        wh = choose_w(p["val"], ws, "accuracy")
        wt = choose_w(p["test"], ws, "accuracy")
        w_held.append(wh)
        w_tuned.append(wt)
        for k, i in (("text", i_text), ("image", i_img), ("heldout", int(np.flatnonzero(ws == wh)[0])),
                     ("tuned", int(np.flatnonzero(ws == wt)[0]))):
            sums[k][p["test_pos"]] += p["test"][i]
            preds[k].append(p["test_pred"][i])
        pos.append(p["test_pos"])
        n[p["test_pos"]] += 1
    out = {k: v / np.maximum(n, 1) for k, v in sums.items()}
    out.update({f"pred_{k}": np.concatenate(v) for k, v in preds.items()})
    out["pos"] = np.concatenate(pos)
    out["w_heldout"], out["w_tuned"] = np.asarray(w_held), np.asarray(w_tuned)
    return out
