"""The train job with the multi-label losses, end to end on synthetic emoji scenes (offline, seconds)."""
from __future__ import annotations

import numpy as np
import pytest

from emoji_fakes import make

fake_captions, fake_emojiprof = make(style_order=("google", "twitter", "openmoji", "fluent"), style_bar=4)
SHAPES = ("red square", "green bar", "blue dot")


@pytest.fixture()
def fake_scenes(monkeypatch):
    from fairnotes import data
    real_load = data.load

    def load(name, split="train", **kw):
        if name == "emojiprof":
            return fake_emojiprof(name, split, **kw)
        if name == "emoji-scenes":
            kw = {"n": 48 if split == "train" else 24, "objects": SHAPES, "stereotypes": (), "size": 32, **kw}
        return real_load(name, split, **kw)

    monkeypatch.setattr(data, "emoji_captions", fake_captions)
    monkeypatch.setattr(data, "load", load)


def test_both_losses_train_from_the_same_start(fake_scenes, one_torch_thread):
    from fairnotes.jobs import train
    out = {}
    for loss in ("multilabel-softmax", "bce"):
        cfg = train.TrainConfig(dataset="emoji-scenes", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=16, lr=0.01,
                                loss=loss, augment="none", progress=False)
        ds = train.run(cfg)
        names = ds["class_name"].values
        assert list(names[:3]) == ["person", "man", "woman"] and ds["logits"].shape[1] == len(names)
        y = ds["target_multi_hot"].values
        assert y.shape == ds["logits"].shape and (y[:, 0] == 1).all()  # every scene shows a person
        assert np.isfinite(ds["train_loss"].values).all()
        out[loss] = ds
    assert not np.allclose(out["bce"]["logits"].values, out["multilabel-softmax"]["logits"].values)


def test_multilabel_loss_refuses_single_label_options_and_data():
    from fairnotes.jobs import train
    with pytest.raises(ValueError, match="single-label options"):
        train.TrainConfig(dataset="emoji-scenes", loss="bce", mixup=0.2)
    cfg = train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=1, loss="bce", progress=False)
    with pytest.raises(ValueError, match="needs a multi-label data set"):
        train.run(cfg)
