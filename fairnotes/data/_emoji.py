"""EmojiProf (professions drawn in four openly licensed emoji styles) and emoji caption pairs.

The catalogue is ``emoji.json`` of emoji-datasource; the art comes from four npm packages (see
:mod:`fairnotes.data.fetch_emoji`): Noto (``google``, PNG), Twemoji (``twitter``, PNG), OpenMoji
(``openmoji``, SVG) and Fluent Flat (``fluent``, SVG, rendered with cairosvg). Every image is
composited onto white and returned as RGB ``uint8`` ``N×3×S×S``; decoded arrays are cached as
``.npz`` under ``$FAIRNOTES_CACHE/emoji/arrays``.

**Which person-role emoji are professions.** In emoji.json's subcategory ``person-role``, a *role*
is a triad when it has a person, a man and a woman form — either ``{PERSON|MAN|WOMAN} ZWJ object``
(🧑‍🌾 👨‍🌾 👩‍🌾) or ``base``, ``base ZWJ ♂`` and ``base ZWJ ♀`` (👮 👮‍♂️ 👮‍♀️) — each with the five
Fitzpatrick tones. The 24 triads minus the four that name no occupation (:data:`NOT_PROFESSIONS`:
feeding baby, with veil, wearing turban, in tuxedo) are the 20 professions. The other person-role
emoji (prince, princess, person with crown, ninja, pregnant woman/man/person, breast-feeding, person
with headscarf, man with gua pi mao) are not triads and are not professions.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ._emoji_fetch import PACKAGES, STYLES, check_styles, fetch, require
from ._types import ImageSet

GENDERS = ("person", "man", "woman")
SKIN_TONES = ("none", "1-2", "3", "4", "5", "6")
# Fitzpatrick modifier -> (skin_tone label, CLDR word used in names, captions and Fluent file names)
TONE_MODIFIERS = {"1F3FB": ("1-2", "light"), "1F3FC": ("3", "medium-light"), "1F3FD": ("4", "medium"),
                  "1F3FE": ("5", "medium-dark"), "1F3FF": ("6", "dark")}
NOT_PROFESSIONS = ("feeding baby", "with veil", "wearing turban", "in tuxedo")
_FORM = {"1F9D1": "person", "1F468": "man", "1F469": "woman"}
_SIGN = {"2642-FE0F": "man", "2640-FE0F": "woman"}
_CACHE_FORMAT = 1  # bump when the decoding below changes


@dataclass(frozen=True)
class Variant:
    """One drawable emoji: a base emoji or one of its skin-tone variants."""

    codepoint: str  # emoji-datasource "unified", e.g. "1F468-1F3FE-200D-1F33E"
    base: str  # unified of the base emoji (the tone-free one)
    short_name: str  # base emoji's short name, e.g. "male-farmer"
    short_names: tuple[str, ...]
    name: str  # emoji.json name (Unicode name or CLDR-like title), e.g. "MAN FARMER"
    tones: tuple[str, ...]  # modifiers, () for the base
    category: str
    subcategory: str
    image: str  # emoji-datasource image file name

    @property
    def skin_tone(self) -> str:
        return ",".join(TONE_MODIFIERS[t][0] for t in self.tones) or "none"

    @property
    def tone_phrase(self) -> str:
        words = dict.fromkeys(TONE_MODIFIERS[t][1] for t in self.tones)  # ordered, deduplicated
        return ", ".join(f"{w} skin tone" for w in words)


@lru_cache(maxsize=4)
def _catalogue(path: str) -> tuple[Variant, ...]:
    """Every base emoji of emoji.json and its skin-tone variants, in emoji.json order."""
    out = []
    for e in json.loads(Path(path).read_text(encoding="utf-8")):
        common = dict(base=e["unified"], short_name=e["short_name"], short_names=tuple(e["short_names"]),
                      name=e["name"], category=e["category"], subcategory=e["subcategory"])
        out.append(Variant(codepoint=e["unified"], tones=(), image=e["image"], **common))
        for key, v in (e.get("skin_variations") or {}).items():
            out.append(Variant(codepoint=v["unified"], tones=tuple(key.split("-")), image=v["image"], **common))
    return tuple(out)


def catalogue() -> tuple[Variant, ...]:
    """All variants in emoji.json (needs the google package; see :func:`fairnotes.data.fetch_emoji.require`)."""
    return _catalogue(str(require(("google",))["google"] / "emoji.json"))


def _role(unified: str) -> tuple[str, str] | None:
    """``(role key, gender)`` of a tone-free person-role emoji, or ``None`` if it is no triad member."""
    head, _, rest = unified.partition("-200D-")
    if head in _FORM and rest:
        return "zwj:" + rest, _FORM[head]
    if rest in _SIGN:
        return "sign:" + head, _SIGN[rest]
    if not rest:
        return "sign:" + head, "person"
    return None


def professions_table() -> pd.DataFrame:
    """One row per profession emoji variant: profession, gender, skin_tone, emoji, codepoint, name.

    Applies the module's written rule (triads of person-role minus :data:`NOT_PROFESSIONS`) and checks
    that it yields 20 professions × 3 forms × 6 tones.
    """
    cat = [v for v in catalogue() if v.subcategory == "person-role"]
    forms: dict[str, dict[str, Variant]] = {}
    for v in cat:
        r = _role(v.codepoint) if not v.tones else None
        if r is not None:
            forms.setdefault(r[0], {})[r[1]] = v
    rows = []
    for key, by_gender in forms.items():
        if set(by_gender) != set(GENDERS):
            continue
        profession = re.sub(r"^MAN ", "", by_gender["man"].name).lower()
        if profession in NOT_PROFESSIONS:
            continue
        for gender, base in by_gender.items():
            for v in (x for x in cat if x.base == base.codepoint):
                if len(v.tones) <= 1:
                    rows.append({"profession": profession, "gender": gender, "skin_tone": v.skin_tone,
                                 "emoji": v.short_name, "codepoint": v.codepoint, "name": v.name, "_v": v})
    df = pd.DataFrame(rows)
    n = df.groupby("profession").size() if len(df) else pd.Series(dtype=int)
    if len(n) != 20 or (n != len(GENDERS) * len(SKIN_TONES)).any():
        raise RuntimeError(f"expected 20 professions × 18 variants in emoji.json, found {n.to_dict()}")
    df["profession"] = pd.Categorical(df["profession"], sorted(n.index))
    df["gender"] = pd.Categorical(df["gender"], GENDERS)
    df["skin_tone"] = pd.Categorical(df["skin_tone"], SKIN_TONES)
    return df.sort_values(["profession", "gender", "skin_tone"]).reset_index(drop=True)


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=2)
def _fluent_names(openmoji_json: str) -> dict[str, str]:
    """OpenMoji hexcode → CLDR annotation slug (Fluent names its files by CLDR name)."""
    return {o["hexcode"]: _slug(o["annotation"]) for o in json.loads(Path(openmoji_json).read_text("utf-8"))}


def _art_paths(style: str, variants: list[Variant], dirs: dict[str, Path]) -> list[Path | None]:
    """The art file of each variant in ``style`` (``None`` where that style has no drawing)."""
    root = dirs[style]
    if style in ("google", "twitter"):
        folder = root / "img" / style / "64"
        paths = [folder / v.image for v in variants]
    elif style == "openmoji":
        folder = root / "color" / "svg"
        paths = [next((p for p in (folder / f"{v.codepoint}.svg", folder / f"{v.codepoint.replace('-FE0F', '')}.svg")
                       if p.exists()), None) for v in variants]
    else:  # Fluent: icons/flat/<CLDR name>[-<tone word>|-default].svg; no multi-tone variants
        names = _fluent_names(str(dirs["openmoji"] / "data" / "openmoji.json"))
        folder = root / "icons" / "flat"
        paths = []
        for v in variants:
            slug = names.get(v.base) or names.get(v.base.replace("-FE0F", ""))
            if slug is None or len(v.tones) > 1:
                paths.append(None)
                continue
            # Fluent's few renamings: "person-elf" for "elf", "man-blonde-hair", "man-deaf"
            stems = dict.fromkeys([slug, f"person-{slug}", slug.replace("blond-hair", "blonde-hair"),
                                   re.sub(r"^deaf-(man|woman|person)$", r"\1-deaf", slug)])
            suffixes = [TONE_MODIFIERS[v.tones[0]][1]] if v.tones else ["default", ""]
            files = [folder / (f"{st}-{su}.svg" if su else f"{st}.svg") for st in stems for su in suffixes]
            paths.append(next((f for f in files if f.exists()), None))
    return [p if p is not None and p.exists() else None for p in paths]


def _to_rgb(rgba, size: int) -> np.ndarray:
    """A PIL image composited onto white, resized to ``size``, as ``3×S×S`` uint8."""
    from PIL import Image
    rgba = rgba.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    white.alpha_composite(rgba)
    rgb = white.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _decode(path: Path, size: int) -> np.ndarray:
    from PIL import Image
    if path.suffix == ".svg":
        import io
        try:
            import cairosvg
        except OSError as e:  # cairocffi cannot find the C library
            raise ImportError("rendering the SVG emoji styles (openmoji, fluent) needs the cairo library "
                              "(Debian: apt-get install libcairo2; macOS: brew install cairo)") from e
        png = cairosvg.svg2png(bytestring=path.read_bytes(), output_width=size, output_height=size)
        return _to_rgb(Image.open(io.BytesIO(png)), size)
    with Image.open(path) as im:
        return _to_rgb(im, size)


def _images(style: str, kind: str, variants: list[Variant], paths: list[Path], size: int) -> np.ndarray:
    """Decoded images of ``paths`` (one per variant), through an ``.npz`` cache checked against the
    codepoints and file names it was made from."""
    from tqdm import tqdm
    from .._paths import cache_dir
    p = PACKAGES[style]
    file = cache_dir("emoji", "arrays") / f"{kind}-{style}-{size}px-{p.npm}-{p.version}-f{_CACHE_FORMAT}.npz"
    codes = np.array([f"{v.codepoint} {path.name}" for v, path in zip(variants, paths)])
    if file.exists():
        with np.load(file) as z:
            if np.array_equal(z["codepoints"], codes):
                return z["images"]
    from ..progress import kernel_bars, report
    report(what=f"decoding {style} emoji ({len(paths)} images, once)")
    quiet = len(paths) < 500 or kernel_bars(None) is False  # under `fairnotes run` the terminal shows it
    images = np.stack([_decode(path, size) for path in tqdm(paths, desc=f"decoding {style} emoji", leave=False,
                                                            disable=quiet)])
    import os
    tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")  # one per process: parallel workers may decode at once
    np.savez(tmp, images=images, codepoints=codes)
    tmp.replace(file)
    return images


def _dirs(styles: tuple[str, ...], download: bool) -> dict[str, Path]:
    return fetch(styles, quiet=False) if download else require(styles)


def _provenance(styles: tuple[str, ...]) -> tuple[str, str, dict]:
    source = "; ".join(f"{s}: {PACKAGES[s].art}, npm {PACKAGES[s].spec}" for s in styles)
    license = "; ".join(f"{s}: {PACKAGES[s].license}" for s in styles)
    meta = {"licenses": {s: PACKAGES[s].license for s in styles},
            "packages": {s: PACKAGES[s].spec for s in styles}}
    return source, license, meta


def load_emojiprof(split: str = "test", *, root: Path | None = None, download: bool = False,
                   styles: tuple[str, ...] | list[str] | str | None = None, size: int = 64) -> ImageSet:
    """EmojiProf: 20 professions × {person, man, woman} × {no tone, 5 skin tones} × art style.

    One image per cell: 360 per style, 1,440 for all four styles. Labels are the professions;
    ``attributes`` holds ``profession``, ``gender``, ``skin_tone`` (none, 1-2, 3, 4, 5, 6),
    ``style``, ``emoji`` (short name), ``codepoint``, ``name`` (emoji.json name) and the style's
    ``license``. An evaluation set, so its only split is ``"test"``.

    Parameters
    ----------
    split
        ``"test"``.
    download
        Fetch missing packages with ``npm pack`` first (otherwise a ``FileNotFoundError`` says how).
    styles
        Art styles, any of ``google``, ``twitter``, ``openmoji``, ``fluent`` (default all, in that order).
    size
        Image side in pixels (PNG art is 64 px and resized; SVG art is rendered at this size).
    """
    if split != "test":
        raise ValueError(f"emojiprof has only the split 'test', not {split!r}")
    styles = check_styles(styles)
    if int(size) < 8:
        raise ValueError(f"size must be at least 8 pixels; got {size}")
    dirs = _dirs(styles, download)
    table = professions_table()
    variants = list(table.pop("_v"))
    parts, frames = [], []
    for style in styles:
        paths = _art_paths(style, variants, dirs)
        gone = [v.codepoint for v, p in zip(variants, paths) if p is None]
        if gone:
            raise FileNotFoundError(f"{PACKAGES[style].spec} lacks {len(gone)} profession emoji, e.g. {gone[:3]}")
        parts.append(_images(style, "prof", variants, paths, int(size)))
        frames.append(table.assign(style=style, license=PACKAGES[style].license))
    attrs = pd.concat(frames, ignore_index=True)
    attrs["style"] = pd.Categorical(attrs["style"], list(styles))
    class_names = tuple(attrs["profession"].cat.categories)
    labels = attrs["profession"].cat.codes.to_numpy().astype(np.int64)
    source, license, meta = _provenance(styles)
    return ImageSet("emojiprof", split, np.concatenate(parts), labels, class_names, source=source,
                    license=license, attributes=attrs, meta={**meta, "size": int(size)})


def emojiprof_counts(ds: ImageSet):
    """Images per cell of an EmojiProf set as an ``xr.DataArray`` named ``images`` with dims
    ``profession``, ``gender``, ``skin_tone``, ``style`` (string coordinates, empty cells count 0)."""
    import xarray as xr
    dims = ["profession", "gender", "skin_tone", "style"]
    a = ds.attributes
    levels = [list(a[d].cat.categories) if hasattr(a[d], "cat") else sorted(set(a[d])) for d in dims]
    counts = a.groupby(dims, observed=False).size().reindex(pd.MultiIndex.from_product(levels, names=dims),
                                                              fill_value=0)
    return xr.DataArray(counts.to_numpy().reshape([len(x) for x in levels]), name="images",
                        coords={d: [str(v) for v in lv] for d, lv in zip(dims, levels)}, dims=dims)


def emoji_captions(styles: tuple[str, ...] | list[str] | str = ("google", "twitter"), *, size: int = 64,
                   download: bool = False) -> ImageSet:
    """Every emoji of ``styles`` except the EmojiProf professions, each with several captions.

    For training a LiT-style image-text model whose zero-shot accuracy is then measured on EmojiProf,
    so no profession emoji (in any form or tone) is included.

    Returns
    -------
    ImageSet
        ``name="emoji-captions"``, ``split="all"``; ``images`` ``N×3×S×S`` uint8 (white background).
        ``labels`` are *group* ids: one per base emoji, shared by its tone variants and its styles,
        so ``np.isin(ds.labels, held_out)`` holds out whole emoji; ``class_names`` are the groups'
        short names. ``attributes`` columns: ``style``, ``group`` (base short name), ``codepoint``,
        ``name`` (lower case), ``skin_tone`` (``none``, ``1-2`` ... ``6``, or e.g. ``1-2,5`` for two
        people), ``category``, ``subcategory``, ``captions`` (tuple of str: the name, the short names
        with ``_``/``-`` as spaces, and for tone variants the tone phrase such as
        ``"medium-dark skin tone"``), ``caption_kinds`` (``"name"``, ``"short name"``, ``"tone"``,
        one per caption) and ``license``. :func:`caption_pairs` flattens them to one row per pair.

    Examples
    --------
    >>> ds = emoji_captions(("google",))                          # doctest: +SKIP
    >>> pairs = caption_pairs(ds)                                  # doctest: +SKIP
    >>> pairs.columns.tolist()                                     # doctest: +SKIP
    ['image', 'caption', 'kind', 'group']
    """
    styles = check_styles(styles)
    dirs = _dirs(styles, download)
    prof = set(professions_table()["codepoint"])
    prof_bases = {v.base for v in catalogue() if v.codepoint in prof}
    variants = [v for v in catalogue() if v.base not in prof_bases]
    parts, frames = [], []
    for style in styles:
        paths = _art_paths(style, variants, dirs)
        have = [i for i, p in enumerate(paths) if p is not None]
        vs = [variants[i] for i in have]
        parts.append(_images(style, "captions", vs, [paths[i] for i in have], int(size)))
        frames.append(pd.DataFrame([_caption_row(v) for v in vs]).assign(style=style,
                                                                            license=PACKAGES[style].license))
    attrs = pd.concat(frames, ignore_index=True)
    groups = sorted(set(attrs["base"]))
    short = {v.base: v.short_name for v in variants}
    labels = attrs["base"].map({g: i for i, g in enumerate(groups)}).to_numpy().astype(np.int64)
    attrs = attrs.drop(columns="base")
    source, license, meta = _provenance(styles)
    return ImageSet("emoji-captions", "all", np.concatenate(parts), labels, tuple(short[g] for g in groups),
                    source=source, license=license, attributes=attrs, meta={**meta, "size": int(size)})


def _caption_row(v: Variant) -> dict:
    caps = {v.name.lower(): "name"}
    for s in v.short_names:
        caps.setdefault(re.sub(r"[_-]+", " ", s).strip().lower(), "short name")
    if v.tones:
        caps.setdefault(v.tone_phrase, "tone")
    return {"group": v.short_name, "base": v.base, "codepoint": v.codepoint, "name": v.name.lower(),
            "skin_tone": v.skin_tone, "category": v.category, "subcategory": v.subcategory,
            "captions": tuple(caps), "caption_kinds": tuple(caps.values())}


def caption_pairs(ds: ImageSet) -> pd.DataFrame:
    """One row per (image, caption) of :func:`emoji_captions`: ``image`` (row index into ``ds.images``),
    ``caption``, ``kind`` (``name``/``short name``/``tone``) and ``group`` (``ds.labels`` of the image)."""
    a = ds.attributes
    n = a["captions"].map(len).to_numpy()
    image = np.repeat(np.arange(len(a)), n)
    return pd.DataFrame({"image": image,
                         "caption": [c for cs in a["captions"] for c in cs],
                         "kind": [k for ks in a["caption_kinds"] for k in ks],
                         "group": ds.labels[image]})


__all__ = ["STYLES", "load_emojiprof", "emojiprof_counts", "emoji_captions", "caption_pairs", "professions_table"]
