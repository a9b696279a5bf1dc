from __future__ import annotations

import json

import numpy as np
import pytest

from fairnotes import zeroshot


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_weights_and_logits_match_a_hand_computation(tiny_embedder, images):
    classes = ["cat", "dog", "bird"]
    tpl = ["a photo of a {}.", "a drawing of a {}.", "{}"]
    w = zeroshot.zero_shot_weights(tiny_embedder, classes, tpl, batch_classes=2)
    hand = np.stack([_unit(tiny_embedder.encode_text([t.format(c) for t in tpl]).mean(0)) for c in classes])
    np.testing.assert_allclose(w, hand, atol=1e-5)
    x = tiny_embedder.encode_images(images)
    np.testing.assert_allclose(zeroshot.logits(x, w), _unit(x) @ hand.T, atol=1e-5)
    np.testing.assert_array_equal(zeroshot.predict(x, w), (x @ hand.T).argmax(1))


def test_named_template_sets_and_single_template(tiny_embedder):
    assert len(zeroshot.templates("openai_imagenet")) == 80
    assert "emoji" in zeroshot.template_sets()
    a = zeroshot.zero_shot_weights(tiny_embedder, ["cat"], "a photo of a {}.")
    b = zeroshot.zero_shot_weights(tiny_embedder, ["cat"])  # default set "photo"
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(KeyError, match="valid: .*openai_imagenet"):
        zeroshot.templates("nope")


def test_cupl_descriptions_from_a_json_file(tiny_embedder, tmp_path):
    desc = {"cat": ["A cat has whiskers.", "Cats purr {softly}."], "dog": ["A dog barks."], "extra": ["unused"]}
    f = tmp_path / "cupl.json"
    f.write_text(json.dumps(desc))
    w = zeroshot.zero_shot_weights(tiny_embedder, ["cat", "dog"], descriptions=f)
    hand = np.stack([_unit(tiny_embedder.encode_text(desc[c]).mean(0)) for c in ("cat", "dog")])
    np.testing.assert_allclose(w, hand, atol=1e-5)
    with pytest.raises(KeyError, match="no descriptions"):
        zeroshot.zero_shot_weights(tiny_embedder, ["cat", "horse"], descriptions=f)
    with pytest.raises(ValueError, match="not both"):
        zeroshot.zero_shot_weights(tiny_embedder, ["cat"], "photo", descriptions=f)


def test_skin_tone_class_names_are_data():
    assert zeroshot.classnames("skin_tone")["5"] == "medium-dark skin tone"
    with pytest.raises(KeyError, match="valid: gender, skin_tone"):
        zeroshot.classnames("race")
