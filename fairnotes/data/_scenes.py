"""Emoji scenes: a *controlled analog* of multi-label web images, composed from emoji art.

The chapter on multi-label classification (multi-label softmax against binary cross-entropy, and
how each treats demographic groups; arXiv 2107.09211) needs images with several labels each and
known demographic attributes. Web photos are out of reach on a laptop, so this module composes
them: one EmojiProf person (a profession in its person/man/woman form and one of six skin tones) on
a white canvas, plus up to ``max_objects`` everyday object emoji. It is an analog, not a
reproduction: the "demographics" are emoji genders and Fitzpatrick modifiers, and the skew is the
one written down here, not one measured on the web.

**Labels.** Multi-label targets are ``meta["multi_hot"]`` (``N×L`` uint8) with columns
``meta["label_names"]`` = ``["person", "man", "woman", <professions>, <objects>]``: ``person`` is
always 1; ``man``/``woman`` is 1 when the art shows that gender (a gender-neutral *person* emoji has
neither); one profession column; one column per object pasted. ``ImageSet.labels`` is the profession
index, so single-label code keeps working.

**Skews** (exact numbers; see :data:`WEB_TONE_WEIGHTS`, :data:`STEREOTYPES`):

``"web"`` (training)
    profession uniform over the professions; skin tone independent of everything else, with
    weights none 0.40, 1-2 0.30, 3 0.15, 4 0.08, 5 0.04, 6 0.03; gender depending on the profession:
    a gender-neutral *person* with probability 1/3 for every profession, and of the other 2/3, 80 %
    the profession's stereotyped gender in :data:`STEREOTYPES` and 20 % the other (so 8/15 and 2/15
    of all scenes of that profession), or 50/50 (1/3 each) for a profession not in the table.
``"balanced"`` (evaluation, like the MR2 benchmark)
    every (profession, gender, skin tone) cell equally often: ``n // cells`` scenes each (cells =
    professions × 3 × 6, 360 for the real art); when ``n`` is not a multiple of the cells, the
    remaining ``n % cells`` scenes go to distinct cells chosen greedily so that the profession, tone
    and gender counts stay within one of each other (so no cell has more than one extra scene). The
    registered test split's 2,400 scenes are not a multiple of 360: 6 or 7 scenes per cell, 120 per
    profession, and tone and gender counts within one of 400 and 800.

Art style is uniform over ``spec.styles`` for ``"web"``; for ``"balanced"`` each cell's scenes cycle
through the styles from a random start, so styles are balanced within every cell. The number of
objects is uniform over ``0..max_objects`` and the objects a uniform sample without replacement from
``spec.objects``, independent of profession, gender and tone in both skews.

**Layout.** The person is a square of side ``U(0.45, 0.65)·size`` at a uniform position; each object
a square of side ``U(0.18, 0.28)·size`` at a uniform position among those whose box does not overlap
the person's box nor earlier objects' boxes. If no such position exists, overlap with other objects
is allowed (never with the person); if the object still does not fit beside the person it is shrunk
until it does (always possible: the free strip beside the person is at least ``0.175·size``).
Sprites are resized with Lanczos and pasted with a *darken* blend (``minimum`` of canvas and
sprite), which on white art composited onto white acts as a transparent paste. Boxes are recorded
in ``attributes`` as ``(x, y, side)``.

Everything is composed in memory from the emoji art (EmojiProf and :func:`fairnotes.data.emoji_captions`,
both cached as decoded arrays by :mod:`fairnotes.data._emoji`); nothing generated is written to disk.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np
import pandas as pd

from ._emoji import GENDERS, SKIN_TONES
from ._emoji_fetch import check_styles
from ._types import ImageSet

#: Default object emoji (``emoji_captions`` group names, i.e. emoji-datasource short names): everyday
#: objects without skin tones and not people, drawn in all four art styles. ``computer`` is 💻.
OBJECTS: tuple[str, ...] = ("computer", "wrench", "stethoscope", "books", "briefcase", "fork_and_knife",
                            "camera", "umbrella")
#: Skin-tone weights of the ``"web"`` skew (sum 1), in :data:`fairnotes.data._emoji.SKIN_TONES` order.
WEB_TONE_WEIGHTS: dict[str, float] = {"none": 0.40, "1-2": 0.30, "3": 0.15, "4": 0.08, "5": 0.04, "6": 0.03}
#: Share of gender-neutral *person* emoji in the ``"web"`` skew, for every profession.
WEB_PERSON_SHARE: float = 1 / 3
#: Share of the stereotyped gender among the gendered (man/woman) scenes of a stereotyped profession.
WEB_STEREOTYPE_SHARE: float = 0.8
#: Stereotyped gender of some professions (a book choice following widely reported occupational
#: stereotypes, each occupation strongly one-gender in labour statistics; not a measurement).
#: Professions not listed are 50/50 between man and woman.
STEREOTYPES: tuple[tuple[str, str], ...] = (
    ("health worker", "woman"), ("teacher", "woman"), ("office worker", "woman"),
    ("mechanic", "man"), ("construction worker", "man"), ("firefighter", "man"), ("pilot", "man"))
SKEWS = ("web", "balanced")
#: Side of the art the sprites are resized from (the decoded EmojiProf/caption arrays are cached at 64 px).
ART_SIZE = 64
PERSON_SCALE = (0.45, 0.65)
OBJECT_SCALE = (0.18, 0.28)


@dataclass(frozen=True)
class SceneSpec:
    """What :func:`compose_scenes` draws.

    Parameters
    ----------
    styles
        Art styles (``google``, ``twitter``, ``openmoji``, ``fluent``); every scene uses one style for
        its person and its objects.
    n
        Number of scenes (at least 1).
    seed
        Seed of the ``numpy.random.Generator`` that draws everything; same spec, same scenes.
    size
        Canvas side in pixels (at least 16).
    objects
        Object emoji, by ``emoji_captions`` group name (default :data:`OBJECTS`).
    max_objects
        At most this many objects per scene (``0..len(objects)``).
    skew
        ``"web"`` (training skew) or ``"balanced"`` (every profession × gender × tone cell equally often).
    stereotypes
        ``(profession, "man" | "woman")`` pairs of the ``"web"`` skew (default :data:`STEREOTYPES`);
        every profession named must be in the art.
    """

    styles: tuple[str, ...] = ("google", "twitter")
    n: int = 4000
    seed: int = 0
    size: int = 96
    objects: tuple[str, ...] = OBJECTS
    max_objects: int = 2
    skew: Literal["web", "balanced"] = "web"
    stereotypes: tuple[tuple[str, str], ...] = field(default=STEREOTYPES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", check_styles(self.styles))
        objects = (self.objects,) if isinstance(self.objects, str) else tuple(self.objects)
        object.__setattr__(self, "objects", objects)
        pairs = self.stereotypes.items() if isinstance(self.stereotypes, Mapping) else self.stereotypes
        stereo = tuple((str(p), str(g)) for p, g in pairs)
        object.__setattr__(self, "stereotypes", stereo)
        if self.skew not in SKEWS:
            raise ValueError(f"unknown skew {self.skew!r}; valid skews: {', '.join(SKEWS)}")
        if int(self.n) < 1:
            raise ValueError(f"n must be at least 1 scene; got {self.n}")
        if int(self.size) < 16:
            raise ValueError(f"size must be at least 16 pixels; got {self.size}")
        if len(set(objects)) != len(objects):
            raise ValueError(f"objects must be distinct; got {objects}")
        if not 0 <= int(self.max_objects) <= len(objects):
            raise ValueError(f"max_objects must be in 0..{len(objects)} (the number of objects); got {self.max_objects}")
        bad = [g for _, g in stereo if g not in ("man", "woman")]
        if bad:
            raise ValueError(f"stereotyped genders must be 'man' or 'woman'; got {bad}")
        if len({p for p, _ in stereo}) != len(stereo):
            raise ValueError(f"a profession appears twice in stereotypes: {stereo}")


def web_gender_probs(professions: Iterable[str],
                     stereotypes: Iterable[tuple[str, str]] = STEREOTYPES) -> pd.DataFrame:
    """``P(gender | profession)`` of the ``"web"`` skew: rows professions, columns person, man, woman.

    Every profession named in ``stereotypes`` must be among ``professions``.

    >>> web_gender_probs(["pilot", "judge"], [("pilot", "man")]).round(3).to_dict("index")
    {'pilot': {'person': 0.333, 'man': 0.533, 'woman': 0.133}, 'judge': {'person': 0.333, 'man': 0.333, 'woman': 0.333}}
    """
    professions = list(professions)
    table = dict(stereotypes)
    unknown = sorted(set(table) - set(professions))
    if unknown:
        raise ValueError(f"stereotypes name professions not in the art: {unknown}; professions: {professions}")
    gendered = 1 - WEB_PERSON_SHARE
    rows = {}
    for p in professions:
        if p in table:
            s = table[p]
            o = "woman" if s == "man" else "man"
            rows[p] = {"person": WEB_PERSON_SHARE, s: gendered * WEB_STEREOTYPE_SHARE,
                       o: gendered * (1 - WEB_STEREOTYPE_SHARE)}
        else:
            rows[p] = {"person": WEB_PERSON_SHARE, "man": gendered / 2, "woman": gendered / 2}
    return pd.DataFrame.from_dict(rows, orient="index")[list(GENDERS)]


def _web_cells(spec: SceneSpec, professions: list[str], rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n, P = int(spec.n), len(professions)
    probs = web_gender_probs(professions, spec.stereotypes).to_numpy()
    prof = rng.integers(P, size=n)
    cum = probs.cumsum(axis=1)
    gender = (rng.random(n)[:, None] >= cum[prof]).sum(axis=1).clip(max=len(GENDERS) - 1)
    tone = rng.choice(len(SKIN_TONES), size=n, p=[WEB_TONE_WEIGHTS[t] for t in SKIN_TONES])
    style = rng.integers(len(spec.styles), size=n)
    return prof, gender, tone, style


def _balanced_cells(spec: SceneSpec, professions: list[str], rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    P, G, T = len(professions), len(GENDERS), len(SKIN_TONES)
    n, cells = int(spec.n), P * G * T
    grid = np.stack(np.unravel_index(np.arange(cells), (P, G, T)), axis=1)  # cell -> (prof, gender, tone)
    reps, extra = divmod(n, cells)
    count = np.full(cells, reps)
    if extra:  # greedy: the cell whose profession, then tone + gender, has had fewest extras; random ties
        ep, eg, et = np.zeros(P), np.zeros(G), np.zeros(T)
        free = np.ones(cells, bool)
        for _ in range(extra):
            score = ep[grid[:, 0]] * 1e6 + eg[grid[:, 1]] * G + et[grid[:, 2]] * T  # counts / expected share
            score = score + rng.random(cells)
            score[~free] = np.inf
            c = int(np.argmin(score))
            free[c] = False
            count[c] += 1
            ep[grid[c, 0]] += 1
            eg[grid[c, 1]] += 1
            et[grid[c, 2]] += 1
    cell = np.repeat(np.arange(cells), count)
    k = np.concatenate([np.arange(m) for m in count if m])  # repeat number within the cell
    start = rng.integers(len(spec.styles), size=cells)
    style = (k + start[cell]) % len(spec.styles)
    order = rng.permutation(n)
    cell, style = cell[order], style[order]
    return grid[cell, 0], grid[cell, 1], grid[cell, 2], style


def _resize(sprite: np.ndarray, side: int) -> np.ndarray:
    """A ``3×s×s`` uint8 sprite resized to ``side`` (Lanczos), as ``side×side×3``."""
    from PIL import Image
    img = Image.fromarray(np.ascontiguousarray(sprite.transpose(1, 2, 0)))
    if img.size != (side, side):
        img = img.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def _free(size: int, side: int, boxes: list[tuple[int, int, int]]) -> np.ndarray:
    """Top-left ``(y, x)`` of every ``side`` square in the canvas that overlaps none of ``boxes`` ``(x, y, s)``."""
    pos = np.arange(size - side + 1)
    ok = np.ones((len(pos), len(pos)), bool)
    for bx, by, bs in boxes:
        apart_y = (pos + side <= by) | (pos >= by + bs)
        apart_x = (pos + side <= bx) | (pos >= bx + bs)
        ok &= apart_y[:, None] | apart_x[None, :]
    return np.argwhere(ok)


def _place(rng: np.random.Generator, size: int, side: int, person: tuple[int, int, int],
           others: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """An object box ``(x, y, side)``: apart from the person and ``others`` if it can, else apart from the
    person only, else shrunk until it fits beside the person."""
    while True:
        cand = _free(size, side, [person, *others])
        if not len(cand):
            cand = _free(size, side, [person])
        if len(cand):
            y, x = cand[rng.integers(len(cand))]
            return int(x), int(y), side
        side -= 1


def _paste(canvas: np.ndarray, sprite: np.ndarray, box: tuple[int, int, int]) -> None:
    x, y, s = box
    region = canvas[y:y + s, x:x + s]
    np.minimum(region, sprite, out=region)


def _object_sprites(spec: SceneSpec, download: bool) -> list[list[np.ndarray]]:
    """The untoned ``3×S×S`` art of each object (outer list, ``spec.objects`` order) in each style (inner list)."""
    from fairnotes import data
    caps = data.emoji_captions(spec.styles, size=ART_SIZE, download=download)
    a = caps.attributes
    group, tone, style = (a[c].astype(str).to_numpy() for c in ("group", "skin_tone", "style"))
    groups = sorted(set(group))
    out = []
    for name in spec.objects:
        if name not in set(groups):
            near = difflib.get_close_matches(name, groups, n=3)
            raise ValueError(f"object emoji {name!r} is not in the emoji art of styles {spec.styles}"
                             + (f"; did you mean {', '.join(map(repr, near))}?" if near else ""))
        rows = group == name
        if "category" in a and (a["category"].astype(str).to_numpy()[rows] == "People & Body").any():
            raise ValueError(f"object emoji {name!r} is a person (category People & Body), not an object")
        per_style = []
        for s in spec.styles:
            idx = np.flatnonzero(rows & (tone == "none") & (style == s))
            if not len(idx):
                raise ValueError(f"object emoji {name!r} has no untoned drawing in style {s!r}")
            per_style.append(np.asarray(caps.images[idx[0]]))
        out.append(per_style)
    return out


def compose_scenes(spec: SceneSpec, *, split: str = "all", download: bool = False) -> ImageSet:
    """Compose ``spec.n`` emoji scenes (see the module doc for the skews, layout and labels).

    Parameters
    ----------
    spec
        What to draw; the scenes depend on nothing else (same spec and art, identical scenes).
    split
        The ``split`` recorded in the returned set.
    download
        Fetch missing art packages first (see :func:`fairnotes.data.load_emojiprof`).

    Returns
    -------
    ImageSet
        ``name="emoji-scenes"``; ``images`` ``N×3×size×size`` uint8; ``labels`` the profession
        index (int64) with ``class_names`` the professions; ``attributes`` columns ``profession``,
        ``gender``, ``skin_tone``, ``style``, ``n_objects`` (categorical), ``objects`` (tuple of the
        object names pasted, in ``spec.objects`` order), ``person_box`` and ``object_boxes``
        (``(x, y, side)``, the latter one per object in ``objects`` order); ``meta`` holds
        ``multi_hot`` (``N×L`` uint8), ``label_names``, ``spec`` (as a dict), ``gender_probs``
        (the ``"web"`` ``P(gender | profession)`` table, ``None`` for ``"balanced"``),
        ``tone_weights`` and the art's licences.
    """
    from fairnotes import data
    ep = data.load("emojiprof", "test", styles=spec.styles, size=ART_SIZE, download=download)
    professions = [str(p) for p in ep.class_names]
    a = ep.attributes
    keys = zip(*(a[c].astype(str) for c in ("profession", "gender", "skin_tone", "style")))
    person_index = {k: i for i, k in enumerate(keys)}
    objects = _object_sprites(spec, download)

    rng = np.random.default_rng(spec.seed)
    if spec.skew == "web":
        prof, gender, tone, style = _web_cells(spec, professions, rng)
        gender_probs = web_gender_probs(professions, spec.stereotypes)
    else:
        web_gender_probs(professions, spec.stereotypes)  # the table must fit the art either way
        prof, gender, tone, style = _balanced_cells(spec, professions, rng)
        gender_probs = None

    n, S, P, O = int(spec.n), int(spec.size), len(professions), len(spec.objects)
    label_names = ["person", "man", "woman", *professions, *spec.objects]
    multi_hot = np.zeros((n, len(label_names)), np.uint8)
    multi_hot[:, 0] = 1
    multi_hot[:, 1] = gender == GENDERS.index("man")
    multi_hot[:, 2] = gender == GENDERS.index("woman")
    multi_hot[np.arange(n), 3 + prof] = 1
    images = np.full((n, S, S, 3), 255, np.uint8)
    pasted, person_boxes, object_boxes = [], [], []
    for i in range(n):
        key = (professions[prof[i]], GENDERS[gender[i]], SKIN_TONES[tone[i]], spec.styles[style[i]])
        if key not in person_index:
            raise ValueError(f"EmojiProf has no image of {key}")
        side = int(round(rng.uniform(*PERSON_SCALE) * S))
        x, y = (int(v) for v in rng.integers(S - side + 1, size=2))
        person = (x, y, side)
        _paste(images[i], _resize(np.asarray(ep.images[person_index[key]]), side), person)
        k = int(rng.integers(int(spec.max_objects) + 1))
        chosen = np.sort(rng.choice(O, size=k, replace=False)) if k else np.zeros(0, int)
        boxes: list[tuple[int, int, int]] = []
        for j in chosen:
            box = _place(rng, S, int(round(rng.uniform(*OBJECT_SCALE) * S)), person, boxes)
            _paste(images[i], _resize(objects[j][style[i]], box[2]), box)
            boxes.append(box)
        multi_hot[i, 3 + P + chosen] = 1
        pasted.append(tuple(spec.objects[j] for j in chosen))
        person_boxes.append(person)
        object_boxes.append(tuple(boxes))

    attrs = pd.DataFrame({
        "profession": pd.Categorical.from_codes(prof, professions),
        "gender": pd.Categorical.from_codes(gender, list(GENDERS)),
        "skin_tone": pd.Categorical.from_codes(tone, list(SKIN_TONES)),
        "style": pd.Categorical.from_codes(style, list(spec.styles)),
        "n_objects": pd.Categorical([len(p) for p in pasted], list(range(int(spec.max_objects) + 1))),
        "objects": pasted, "person_box": person_boxes, "object_boxes": object_boxes})
    meta = {k: v for k, v in ep.meta.items() if k in ("licenses", "packages")}
    meta.update(multi_hot=multi_hot, label_names=label_names, spec=asdict(spec), gender_probs=gender_probs,
                tone_weights=dict(WEB_TONE_WEIGHTS) if spec.skew == "web" else None, size=S)
    source = (f"composed in memory from EmojiProf and object emoji ({', '.join(spec.objects)}); "
              f"art: {ep.source}")
    return ImageSet("emoji-scenes", split, images.transpose(0, 3, 1, 2).copy(), prof.astype(np.int64),
                    tuple(professions), source=source, license=ep.license, attributes=attrs, meta=meta)


#: The registered splits of ``"emoji-scenes"``: web skew in the training styles, balanced in the others.
SPLITS: dict[str, SceneSpec] = {
    "train": SceneSpec(styles=("google", "twitter"), n=4000, seed=0, skew="web"),
    "val": SceneSpec(styles=("google", "twitter"), n=800, seed=1, skew="web"),
    "test": SceneSpec(styles=("openmoji", "fluent"), n=2400, seed=2, skew="balanced"),
}
_OVERRIDABLE = ("n", "seed", "size", "objects", "max_objects", "stereotypes")


def load_scenes(split: str = "train", *, root: Path | None = None, download: bool = False,
                **overrides: object) -> ImageSet:
    """The registry loader of ``"emoji-scenes"``: :func:`compose_scenes` of ``SPLITS[split]``.

    ``overrides`` replace fields of the split's spec: ``n``, ``seed``, ``size``, ``objects``,
    ``max_objects``, ``stereotypes`` (not ``styles`` or ``skew``, which define the split).
    ``root`` is unused (the art lives in the emoji cache).
    """
    if split not in SPLITS:
        raise ValueError(f"emoji-scenes has no split {split!r}; valid splits: {', '.join(SPLITS)}")
    bad = sorted(set(overrides) - set(_OVERRIDABLE))
    if bad:
        raise TypeError(f"emoji-scenes accepts overrides of {', '.join(_OVERRIDABLE)}; not {', '.join(bad)}")
    fields = {**asdict(SPLITS[split]), **{k: v for k, v in overrides.items() if v is not None}}
    return compose_scenes(SceneSpec(**fields), split=split, download=download)


def scene_card(ds: ImageSet | Mapping[str, ImageSet] | Iterable[ImageSet]) -> pd.DataFrame:
    """Counts that show a scene set's skew, per split, as one long table.

    Parameters
    ----------
    ds
        One scene :class:`ImageSet`, a mapping ``split -> ImageSet``, or several sets (keyed by
        their ``split``).

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, ``attribute`` (``skin_tone`` or ``gender``), ``profession`` (``"all"`` for
        the split's marginal counts, else one profession: gender counts per profession), ``value``,
        ``count`` and ``share`` (of the scenes in the same split and profession). Rows in category
        order; empty levels count 0.
    """
    if isinstance(ds, ImageSet):
        sets = {ds.split: ds}
    elif isinstance(ds, Mapping):
        sets = dict(ds)
    else:
        sets = {d.split: d for d in ds}
    frames = []
    for split, d in sets.items():
        a = d.attributes
        for attr in ("skin_tone", "gender"):
            c = a[attr].value_counts(sort=False)
            c = c.reindex(a[attr].cat.categories, fill_value=0)
            frames.append(pd.DataFrame({"split": split, "attribute": attr, "profession": "all",
                                        "value": c.index.astype(str), "count": c.to_numpy()}))
        ct = pd.crosstab(a["profession"], a["gender"], dropna=False)
        ct = ct.reindex(index=a["profession"].cat.categories, columns=a["gender"].cat.categories, fill_value=0)
        long = ct.rename_axis(index="profession", columns="gender").stack().rename("count").reset_index()
        frames.append(pd.DataFrame({"split": split, "attribute": "gender",
                                    "profession": long["profession"].astype(str),
                                    "value": long["gender"].astype(str), "count": long["count"].to_numpy()}))
    out = pd.concat(frames, ignore_index=True)
    out["count"] = out["count"].astype(np.int64)
    tot = out.groupby(["split", "attribute", "profession"], sort=False)["count"].transform("sum")
    out["share"] = np.where(tot > 0, out["count"] / tot.where(tot > 0, 1), 0.0)
    return out


__all__ = ["SceneSpec", "compose_scenes", "load_scenes", "scene_card", "web_gender_probs", "OBJECTS", "STEREOTYPES",
           "WEB_TONE_WEIGHTS", "WEB_PERSON_SHARE", "WEB_STEREOTYPE_SHARE", "SPLITS"]
