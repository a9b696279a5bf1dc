"""Tiny synthetic stand-ins for the emoji data (`fairnotes.data.emoji_captions` and EmojiProf), shared by the LiT
and MuSE tests: coloured shapes for the emoji, a corner patch for the skin tone, a bottom bar for the art style."""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from fairnotes.data import ImageSet

TONES = {"1-2": "light", "3": "medium-light", "4": "medium", "5": "medium-dark", "6": "dark"}
SHAPES = ["red square", "green bar", "blue dot", "black cross", "yellow ring", "purple frame"]
COLOUR = np.array([[220, 30, 30], [30, 200, 30], [30, 30, 220], [10, 10, 10], [230, 220, 20], [150, 30, 160]])
PROFESSIONS = ["astronaut", "cook", "farmer", "judge"]


def draw(shape_i: int, tone_i: int, style_i: int, size: int = 16, style_bar: int | None = None) -> np.ndarray:
    """One 3×size×size image. The style marks the bottom rows: across the whole width for any style but the
    first (``style_bar=None``), or ``style_bar × style_i`` pixels wide (so every style differs)."""
    img = np.full((3, size, size), 255, np.uint8)
    c = COLOUR[shape_i % len(COLOUR)][:, None, None]
    if shape_i % 3 == 0:
        img[:, 3:13, 3:13] = c
    elif shape_i % 3 == 1:
        img[:, 6:10, :] = c
    else:
        img[:, 5:11, 5:11] = c
    img[:, :3, :3] = 40 * tone_i  # a "skin tone" patch
    if style_bar is None:
        if style_i:
            img[:, -2:, :] = 128
    else:
        img[:, -2:, : style_bar * style_i] = 128
    return img


def make(*, style_order: Sequence[str] | None = None, style_bar: int | None = None, tones_every: int = 1
         ) -> tuple[Callable[..., ImageSet], Callable[..., ImageSet]]:
    """``(fake_captions, fake_emojiprof)`` to monkeypatch over ``data.emoji_captions`` / ``data.load``.

    ``style_order``: a style's index for drawing is its place here (default: its place in the call's ``styles``);
    ``tones_every``: only every n-th emoji has skin-tone variants (1: all of them)."""
    def index(style: str, styles: Sequence[str]) -> int:
        return list(style_order or styles).index(style)

    def fake_captions(styles=("google", "twitter"), size=64, download=False) -> ImageSet:
        rows, images = [], []
        for style in styles:
            for g, name in enumerate(SHAPES):
                tones = ["none", *TONES] if g % tones_every == 0 else ["none"]
                for tone_i, tone in enumerate(tones):
                    caps = {name: "name", name.split()[1]: "short name"}
                    if tone != "none":
                        caps[f"{TONES[tone]} skin tone"] = "tone"
                    rows.append({"group": name, "skin_tone": tone, "style": style, "captions": tuple(caps),
                                 "caption_kinds": tuple(caps.values()), "g": g})
                    images.append(draw(g, tone_i, index(style, styles), style_bar=style_bar))
        a = pd.DataFrame(rows)
        return ImageSet("emoji-captions", "all", np.stack(images), a.pop("g").to_numpy(), tuple(SHAPES),
                        "synthetic", "none", a, {})

    def fake_emojiprof(name, split="test", *, styles=("google", "twitter"), **kw) -> ImageSet:
        assert name == "emojiprof"
        rows, images = [], []
        for (style_i, style), (p, prof), (gi, gender), (ti, tone) in itertools.product(
                enumerate(styles), enumerate(PROFESSIONS), enumerate(["person", "man", "woman"]),
                enumerate(["none", *TONES])):
            rows.append({"profession": prof, "gender": gender, "skin_tone": tone, "style": style})
            images.append(draw(p + gi, ti, style_i, style_bar=style_bar))
        a = pd.DataFrame(rows)
        a["gender"] = pd.Categorical(a["gender"], ["person", "man", "woman"])
        a["skin_tone"] = pd.Categorical(a["skin_tone"], ["none", *TONES])
        a["style"] = pd.Categorical(a["style"], list(styles))
        labels = a["profession"].map({p: i for i, p in enumerate(PROFESSIONS)}).to_numpy()
        return ImageSet("emojiprof", "test", np.stack(images), labels, tuple(PROFESSIONS), "synthetic", "none", a,
                        {})

    return fake_captions, fake_emojiprof
