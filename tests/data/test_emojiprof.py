"""EmojiProf and the emoji caption pairs, checked against emoji.json and Python's own Unicode names."""
from __future__ import annotations

import json
import os
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from fairnotes import data
from fairnotes.data import fetch_emoji

# The 20 professions of Unicode's person-role emoji, written out by hand (Emoji 4.0 and 12.1).
PROFESSIONS = sorted(["artist", "astronaut", "construction worker", "cook", "detective", "factory worker",
                      "farmer", "firefighter", "guard", "health worker", "judge", "mechanic", "office worker",
                      "pilot", "police officer", "scientist", "singer", "student", "teacher", "technologist"])
TONE_OF_MODIFIER = {"EMOJI MODIFIER FITZPATRICK TYPE-1-2": "1-2", "EMOJI MODIFIER FITZPATRICK TYPE-3": "3",
                    "EMOJI MODIFIER FITZPATRICK TYPE-4": "4", "EMOJI MODIFIER FITZPATRICK TYPE-5": "5",
                    "EMOJI MODIFIER FITZPATRICK TYPE-6": "6"}


@pytest.fixture(scope="module")
def packages(emoji_packages):
    """The four packages in the tests' cache (the conftest's ``emoji_packages``)."""
    return emoji_packages


@pytest.fixture(scope="module")
def prof(packages, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRNOTES_CACHE", str(tmp_path_factory.getbasetemp() / "fairnotes-cache"))
        return data.load("emojiprof", "test")


@pytest.fixture(scope="module")
def captions(packages, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRNOTES_CACHE", str(tmp_path_factory.getbasetemp() / "fairnotes-cache"))
        return data.emoji_captions(("google", "twitter"))


@pytest.fixture(scope="module")
def emoji_json(packages) -> dict[str, tuple[str, str]]:
    """unified → (name, short name) of the base emoji, read straight from emoji.json."""
    out = {}
    for e in json.loads((packages["google"] / "emoji.json").read_text("utf-8")):
        out[e["unified"]] = (e["name"], e["short_name"])
        for v in (e.get("skin_variations") or {}).values():
            out[v["unified"]] = (e["name"], e["short_name"])
    return out


def _chars(codepoint: str) -> str:
    return "".join(chr(int(c, 16)) for c in codepoint.split("-"))


def test_registered_as_a_laptop_test_set():
    assert "emojiprof" in data.available("laptop")
    assert data.info("emojiprof").splits == ("test",)
    with pytest.raises(ValueError, match="valid splits: test"):
        data.load("emojiprof", "train")


def test_one_image_per_cell(prof):
    assert len(prof) == 1440 and prof.images.shape == (1440, 3, 64, 64) and prof.images.dtype == np.uint8
    assert list(prof.class_names) == PROFESSIONS
    cells = prof.attributes.groupby(["profession", "gender", "skin_tone", "style"], observed=False).size()
    assert len(cells) == 20 * 3 * 6 * 4 and (cells == 1).all()
    assert (prof.counts() == 72).all()
    counts = data.emojiprof_counts(prof)
    assert counts.dims == ("profession", "gender", "skin_tone", "style") and (counts == 1).all()
    assert list(counts["skin_tone"].values) == ["none", "1-2", "3", "4", "5", "6"]
    assert int(data.emojiprof_counts(prof.subset(np.arange(10))).sum()) == 10
    assert [prof.class_names[k] for k in prof.labels] == list(prof.attributes["profession"].astype(str))


def test_cells_are_distinct_drawings_except_where_the_art_repeats(prof, packages):
    """No file is read for two cells, except that OpenMoji ships byte-identical person and man forms."""
    a = prof.attributes
    for style in fetch_emoji.STYLES:
        seen: dict[bytes, int] = {}
        for i in np.flatnonzero((a["style"] == style).to_numpy()):
            j = seen.setdefault(prof.images[i].tobytes(), i)
            if j == i:
                continue
            assert style == "openmoji", (style, a.codepoint[i], a.codepoint[j])
            assert {a.gender[i], a.gender[j]} == {"person", "man"}, (a.codepoint[i], a.codepoint[j])
            svg = packages["openmoji"] / "color" / "svg"
            assert (svg / f"{a.codepoint[i]}.svg").read_bytes() == (svg / f"{a.codepoint[j]}.svg").read_bytes()


def test_provenance_per_style(prof):
    lic = {"google": "Apache-2.0", "twitter": "CC-BY-4.0", "openmoji": "CC-BY-SA-4.0", "fluent": "MIT"}
    assert prof.meta["licenses"] == lic
    assert dict(zip(prof.attributes["style"], prof.attributes["license"])) == lic
    assert all(f"{s}: {v}" in prof.license for s, v in lic.items())
    assert "Apple" not in prof.source and "Facebook" not in prof.source


def test_attributes_agree_with_unicode_names(prof, emoji_json):
    """Gender and tone from Python's Unicode database; profession from emoji.json's name."""
    a = prof.attributes
    for row in a[a["style"] == "google"].itertuples():
        names = [unicodedata.name(c, "?") for c in _chars(row.codepoint)]
        gender = ("man" if names[0] == "MAN" or "MALE SIGN" in names else
                  "woman" if names[0] == "WOMAN" or "FEMALE SIGN" in names else "person")
        tones = [TONE_OF_MODIFIER[n] for n in names if n in TONE_OF_MODIFIER]
        assert row.gender == gender, row
        assert row.skin_tone == (tones[0] if tones else "none"), row
        name, short = emoji_json[row.codepoint]
        assert row.profession.upper() in name and row.emoji == short and row.name == name, row


def test_images_are_composited_onto_white(prof, packages):
    from PIL import Image
    assert prof.images.shape[1] == 3  # RGB, no alpha channel
    corners = prof.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners[:, :, 0] == 255).all()  # the transparent top-left corner became white, in every style
    assert (corners == 255).mean() > 0.95  # (Twemoji draws some objects into the other corners)
    a = prof.attributes
    i = int(np.flatnonzero((a["style"] == "twitter") & (a["codepoint"] == "1F468-1F3FE-200D-1F33E"))[0])
    rgba = np.asarray(Image.open(packages["twitter"] / "img/twitter/64/1f468-1f3fe-200d-1f33e.png")
                      .convert("RGBA"), dtype=float)
    alpha = rgba[..., 3:] / 255
    expected = rgba[..., :3] * alpha + 255 * (1 - alpha)  # "over" onto white, by hand
    assert np.abs(prof.images[i].transpose(1, 2, 0) - expected).max() <= 1
    assert (alpha < 1).any() and (alpha == 0).any()


def test_styles_and_size(packages):
    small = data.load("emojiprof", "test", styles="google", size=32)
    assert small.images.shape == (360, 3, 32, 32) and list(small.meta["licenses"]) == ["google"]
    with pytest.raises(ValueError, match="valid styles: google, twitter, openmoji, fluent"):
        data.load("emojiprof", "test", styles=("apple",))


def test_missing_packages_say_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        data.load("emojiprof", "test", styles=("twitter",))
    msg = str(info.value)
    assert "make setup" in msg and "npm pack emoji-datasource-twitter@16.0.0" in msg
    assert "npm pack emoji-datasource-google@16.0.0" in msg and str(tmp_path) in msg
    assert "openmoji" not in msg  # only what the asked styles need


def test_unpack_keeps_only_the_listed_files(tmp_path):
    import io
    import tarfile
    tgz = tmp_path / "p.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name in ["package/emoji.json", "package/img/google/64/a.png", "package/img/google/sheets/b.png",
                     "package/img/google/64/../../../../evil.txt"]:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    from fairnotes.data._emoji_fetch import _unpack
    n = _unpack(tgz, tmp_path / "out", ("emoji.json", "img/google/64/"))
    assert n == 2 and sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.png", "emoji.json"]
    assert not (tmp_path / "evil.txt").exists()


def test_captions_hold_no_profession(prof, captions):
    assert captions.images.dtype == np.uint8 and captions.images.shape[1:] == (3, 64, 64)
    assert set(captions.attributes["style"]) == {"google", "twitter"}
    prof_codes = set(prof.attributes["codepoint"])
    assert not prof_codes & set(captions.attributes["codepoint"])
    # nor any of their names: no caption names a profession in a man/woman/person form
    forms = {f"{g} {p}" for p in PROFESSIONS for g in ("man", "woman")} | set(PROFESSIONS)
    assert not forms & {c for cs in captions.attributes["captions"] for c in cs}
    assert len(captions) > 6000 and (captions.images[:, :, 0, 0] == 255).mean() > 0.9


def test_caption_groups_tie_tones_and_styles(captions, emoji_json):
    """Oracle: the codepoints without skin-tone modifiers (and FE0F) name the base emoji."""
    modifiers = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF", "FE0F"}
    a = captions.attributes
    base = ["-".join([c for c in code.split("-") if c not in modifiers] or [code]) for code in a["codepoint"]]
    groups_of: dict[str, set] = {}
    bases_of: dict[int, set] = {}
    for b, k in zip(base, captions.labels):
        groups_of.setdefault(b, set()).add(k)
        bases_of.setdefault(int(k), set()).add(b)
    assert all(len(g) == 1 for g in groups_of.values())  # tones and styles never split an emoji's group
    assert len(bases_of) == captions.num_classes
    # emoji.json lists the mixed-tone two-person emoji (other codepoints) as tone variants of their base
    merged = {captions.class_names[k] for k, b in bases_of.items() if len(b) > 1}
    assert merged == {"handshake", "couplekiss", "couple_with_heart", "man_and_woman_holding_hands",
                      "two_men_holding_hands", "two_women_holding_hands"}
    assert [captions.class_names[k] for k in captions.labels] == list(a["group"])
    assert list(a["group"]) == [emoji_json[c][1] for c in a["codepoint"]]
    thumbs = a[a["group"] == "+1"]
    assert len(thumbs) == 12 and len(set(captions.labels[thumbs.index])) == 1  # 6 tones × 2 styles
    dark = thumbs[thumbs["skin_tone"] == "6"].iloc[0]
    assert dark.captions == ("thumbs up sign", "+1", "thumbsup", "dark skin tone")
    assert dark.caption_kinds == ("name", "short name", "short name", "tone")


def test_caption_pairs_flatten_captions(captions):
    pairs = data.caption_pairs(captions)
    assert list(pairs.columns) == ["image", "caption", "kind", "group"]
    assert len(pairs) == sum(map(len, captions.attributes["captions"]))
    assert set(pairs["kind"]) == {"name", "short name", "tone"}
    assert (pairs["group"].to_numpy() == captions.labels[pairs["image"].to_numpy()]).all()
    toned = captions.attributes["skin_tone"] != "none"
    assert (pairs[pairs["kind"] == "tone"]["image"].nunique() == toned.sum())
