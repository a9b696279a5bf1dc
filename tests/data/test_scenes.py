"""Emoji scenes (fairnotes.data._scenes) on the synthetic emoji stand-ins: determinism, multi-hot labels, skews."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoji_fakes import PROFESSIONS, SHAPES, make
from fairnotes import data
from fairnotes.data import _scenes
from fairnotes.data._scenes import SceneSpec, compose_scenes, scene_card

fake_captions, fake_emojiprof = make(style_order=("google", "twitter", "openmoji", "fluent"), style_bar=4)
real_load = data.load
OBJECTS = tuple(SHAPES[:4])
STEREO = (("astronaut", "man"), ("judge", "woman"))  # cook and farmer stay 50/50


@pytest.fixture()
def fake_data(monkeypatch):
    monkeypatch.setattr(data, "emoji_captions", fake_captions)
    monkeypatch.setattr(data, "load", fake_emojiprof)


def spec(**kw) -> SceneSpec:
    base = dict(styles=("google", "twitter"), n=60, seed=0, size=32, objects=OBJECTS, max_objects=2,
                skew="web", stereotypes=STEREO)
    return SceneSpec(**{**base, **kw})


def test_deterministic(fake_data):
    a, b = compose_scenes(spec(seed=5)), compose_scenes(spec(seed=5))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.meta["multi_hot"], b.meta["multi_hot"])
    assert a.attributes.equals(b.attributes)
    c = compose_scenes(spec(seed=6))
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (60, 3, 32, 32) and a.images.dtype == np.uint8 and a.labels.dtype == np.int64


def test_multi_hot_matches_attributes(fake_data):
    ds = compose_scenes(spec(n=200, max_objects=3))
    names, y, a = ds.meta["label_names"], ds.meta["multi_hot"], ds.attributes
    assert names == ["person", "man", "woman", *PROFESSIONS, *OBJECTS]
    assert y.shape == (200, len(names)) and y.dtype == np.uint8
    assert (y[:, 0] == 1).all()
    np.testing.assert_array_equal(y[:, 1], a["gender"] == "man")
    np.testing.assert_array_equal(y[:, 2], a["gender"] == "woman")
    prof = y[:, 3:3 + len(PROFESSIONS)]
    assert (prof.sum(1) == 1).all()
    np.testing.assert_array_equal(prof.argmax(1), ds.labels)
    assert [ds.class_names[i] for i in ds.labels] == list(a["profession"].astype(str))
    obj = y[:, 3 + len(PROFESSIONS):]
    for i, pasted in enumerate(a["objects"]):
        assert [OBJECTS[j] for j in np.flatnonzero(obj[i])] == list(pasted)
        assert len(pasted) == int(a["n_objects"][i]) == len(a["object_boxes"][i])
    assert set(a["n_objects"].astype(int)) == {0, 1, 2, 3}
    for col in ("profession", "gender", "skin_tone", "style", "n_objects"):
        assert isinstance(a[col].dtype, pd.CategoricalDtype)


def test_objects_drawn_where_recorded_and_apart_from_person(fake_data):
    ds = compose_scenes(spec(n=100, max_objects=2))
    for img, person, boxes in zip(ds.images, ds.attributes["person_box"], ds.attributes["object_boxes"]):
        x, y, s = person
        assert 0 <= x and x + s <= 32 and 0 <= y and y + s <= 32
        for bx, by, bs in boxes:
            assert bx + bs <= x or bx >= x + s or by + bs <= y or by >= y + s  # never overlaps the person
            assert (img[:, by:by + bs, bx:bx + bs] < 255).any()  # something was pasted there
    empty = ds.attributes["n_objects"].astype(int).to_numpy() == 0
    img = ds.images[np.flatnonzero(empty)[0]]
    x, y, s = ds.attributes["person_box"][np.flatnonzero(empty)[0]]
    outside = img.copy()
    outside[:, y:y + s, x:x + s] = 255
    assert (outside == 255).all()  # a scene without objects is white outside the person


def test_web_skew_frequencies(fake_data):
    ds = compose_scenes(spec(n=4000, size=16, max_objects=0, seed=3))
    a = ds.attributes
    tones = a["skin_tone"].value_counts(normalize=True)
    for tone, w in _scenes.WEB_TONE_WEIGHTS.items():
        assert abs(tones[tone] - w) < 0.025, (tone, tones[tone], w)
    probs = _scenes.web_gender_probs(PROFESSIONS, STEREO)
    assert probs.loc["astronaut", "man"] == pytest.approx(2 / 3 * 0.8)
    assert probs.loc["judge", "man"] == pytest.approx(2 / 3 * 0.2)
    assert probs.loc["cook"].tolist() == pytest.approx([1 / 3] * 3)
    for p in PROFESSIONS:
        g = a.loc[a["profession"] == p, "gender"].value_counts(normalize=True)
        for gender in ("person", "man", "woman"):
            assert abs(g[gender] - probs.loc[p, gender]) < 0.05, (p, gender, g[gender])
    assert (a["profession"].value_counts(normalize=True) - 0.25).abs().max() < 0.03
    assert ds.meta["gender_probs"].equals(probs)


def test_balanced_skew_exact(fake_data):
    cells = len(PROFESSIONS) * 3 * 6
    ds = compose_scenes(spec(n=2 * cells * 2, skew="balanced", size=16))
    counts = ds.attributes.groupby(["profession", "gender", "skin_tone", "style"], observed=False).size()
    assert (counts == 2).all()
    # not a multiple of the cells: no cell gets more than one extra, and the marginals stay within one
    ds = compose_scenes(spec(n=cells + 50, skew="balanced", size=16, max_objects=0))
    a = ds.attributes
    counts = a.groupby(["profession", "gender", "skin_tone"], observed=False).size()
    assert set(counts) == {1, 2} and counts.sum() == cells + 50
    for col in ("profession", "gender", "skin_tone"):
        c = a[col].value_counts()
        assert c.max() - c.min() <= 1, (col, c.to_dict())


def test_registered_splits(fake_data):
    assert "emoji-scenes" in data.available("laptop")
    assert data.info("emoji-scenes").splits == ("train", "val", "test")
    kw = dict(size=16, objects=OBJECTS, stereotypes=STEREO)
    train = real_load("emoji-scenes", "train", n=30, seed=4, **kw)
    test = real_load("emoji-scenes", "test", n=cells_balanced(), seed=4, **kw)
    assert len(train) == 30 and train.split == "train" and train.meta["spec"]["seed"] == 4
    assert train.meta["spec"]["skew"] == "web" and test.meta["spec"]["skew"] == "balanced"
    assert not set(train.attributes["style"]) & set(test.attributes["style"])
    assert set(test.attributes["style"]) == {"openmoji", "fluent"}
    assert _scenes.SPLITS["train"].n == 4000 and _scenes.SPLITS["val"].n == 800 and _scenes.SPLITS["test"].n == 2400
    assert [_scenes.SPLITS[s].seed for s in ("train", "val", "test")] == [0, 1, 2]
    assert not set(_scenes.SPLITS["train"].styles) & set(_scenes.SPLITS["test"].styles)
    assert _scenes.SPLITS["val"].styles == _scenes.SPLITS["train"].styles
    with pytest.raises(TypeError, match="overrides"):
        real_load("emoji-scenes", "train", styles=("openmoji",))


def cells_balanced() -> int:
    return len(PROFESSIONS) * 3 * 6


def test_scene_card(fake_data):
    train = compose_scenes(spec(n=200, size=16), split="train")
    test = compose_scenes(spec(n=cells_balanced(), size=16, skew="balanced", styles=("openmoji",)), split="test")
    card = scene_card({"train": train, "test": test})
    assert set(card.columns) == {"split", "attribute", "profession", "value", "count", "share"}
    tone = card[(card.split == "train") & (card.attribute == "skin_tone")]
    assert tone["value"].tolist() == ["none", "1-2", "3", "4", "5", "6"] and tone["count"].sum() == 200
    pg = card[(card.split == "test") & (card.attribute == "gender") & (card.profession == "cook")]
    assert pg["count"].tolist() == [6, 6, 6] and pg["share"].tolist() == pytest.approx([1 / 3] * 3)
    assert scene_card(train)["split"].unique().tolist() == ["train"]


def test_clear_errors(fake_data):
    with pytest.raises(ValueError, match="unknown skew"):
        spec(skew="uniform")
    with pytest.raises(ValueError, match="at least 1"):
        spec(n=0)
    with pytest.raises(ValueError, match="unknown emoji style"):
        spec(styles=("apple",))
    with pytest.raises(ValueError, match="max_objects"):
        spec(objects=("red square",), max_objects=2)
    with pytest.raises(ValueError, match="'laptop'.*not in the emoji art"):
        compose_scenes(spec(objects=("red square", "laptop")))
    with pytest.raises(ValueError, match="did you mean 'blue dot'"):
        compose_scenes(spec(objects=("blue dots",), max_objects=1))
    with pytest.raises(ValueError, match="not in the art.*nurse"):
        compose_scenes(spec(stereotypes=(("nurse", "woman"),)))
    with pytest.raises(ValueError, match="'man' or 'woman'"):
        spec(stereotypes=(("cook", "person"),))
    with pytest.raises(ValueError, match="no split"):
        real_load("emoji-scenes", "dev")


def test_default_objects_and_table_name_real_professions():
    # the defaults are written for the real art: 8 distinct objects, stereotypes of real EmojiProf professions
    real = {"artist", "astronaut", "construction worker", "cook", "detective", "factory worker", "farmer",
            "firefighter", "guard", "health worker", "judge", "mechanic", "office worker", "pilot", "police officer",
            "scientist", "singer", "student", "teacher", "technologist"}
    assert len(set(_scenes.OBJECTS)) == 8
    assert {p for p, _ in _scenes.STEREOTYPES} <= real
    assert sum(_scenes.WEB_TONE_WEIGHTS.values()) == pytest.approx(1.0)
    assert _scenes.web_gender_probs(sorted(real)).sum(axis=1).to_numpy() == pytest.approx(np.ones(20))
