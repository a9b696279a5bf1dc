from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fairnotes import data
from fairnotes.jobs import heldout_subset, train, training_subset
from fairnotes.jobs.contrastive import ContrastiveConfig
from fairnotes.jobs.remedies import LinearProbeConfig


def _old_load_data_subset(cfg):
    """The train job's selection before training_subset existed (copied from jobs/train.py _load_data)."""
    root = {"root": cfg.data_root} if cfg.data_root else {}
    t = data.load(cfg.dataset, "train", **root)
    if cfg.train_imbalance is not None:
        n_max = cfg.train_per_class or int(t.counts().min())
        t = t.long_tailed(n_max, cfg.train_imbalance, seed=cfg.seed)
    elif cfg.train_per_class is not None:
        t = t.per_class(cfg.train_per_class, seed=cfg.seed)
    return t


def _same(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.images, b.images)


def test_long_tail_counts_by_hand():
    # 40 · 10^(−c/9): 40, 30.97, 23.98, 18.57, 14.38, 11.13, 8.62, 6.67, 5.17, 4
    assert data.long_tail_counts(40, 10.0, 10).tolist() == [40, 31, 24, 19, 14, 11, 9, 7, 5, 4]
    assert data.long_tail_counts(1000, 10.0, 10).sum() == 4085  # the representation chapter's run
    assert data.long_tail_counts(7, 1.0, 3).tolist() == [7, 7, 7]
    assert data.long_tail_counts(3, 100.0, 4).tolist() == [3, 1, 1, 1]  # never below one image
    assert data.long_tail_counts(9, 4.0, 1).tolist() == [9]
    with pytest.raises(ValueError, match="ratio >= 1"):
        data.long_tail_counts(10, 0.5, 10)


@pytest.mark.parametrize("kw, counts", [
    ({}, None),                                                   # the whole training split
    ({"train_per_class": 40, "seed": 3}, [40] * 10),
    ({"train_per_class": 40, "train_imbalance": 10.0, "seed": 1}, data.long_tail_counts(40, 10.0, 10).tolist()),
    ({"train_imbalance": 5.0, "seed": 2}, None),                  # n_max = the smallest class (122 for digits)
])
def test_training_subset_is_the_train_jobs_old_selection(kw, counts):
    cfg = train.TrainConfig(dataset="digits", model="mlp", epochs=1, **kw)
    sub = training_subset(cfg)
    _same(sub, _old_load_data_subset(cfg))
    _same(sub, train._load_data(cfg)[0])
    full = data.load("digits", "train")
    if counts is not None:
        assert sub.counts().tolist() == counts
    elif "train_imbalance" in kw:
        assert sub.counts().tolist() == data.long_tail_counts(int(full.counts().min()), 5.0, 10).tolist()
    else:
        assert len(sub) == len(full)


def test_every_config_with_the_same_fields_gets_the_same_images():
    cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=25, seed=4)
    ref = training_subset(cfg)
    # contrastive pre-training and the linear probe have no train_imbalance or data_root field
    _same(training_subset(ContrastiveConfig(dataset="digits", train_per_class=25, seed=4)), ref)
    _same(training_subset(LinearProbeConfig(dataset="digits", train_per_class=25, seed=4)), ref)
    _same(training_subset(SimpleNamespace(dataset="digits", train_per_class=25, seed=4)), ref)
    # a pool passed in is subset the same way
    _same(training_subset(cfg, data.load("digits", "train")), ref)


def test_heldout_subset_is_disjoint_from_the_training_subset():
    cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=40, seed=5)
    seen, held = training_subset(cfg), heldout_subset(cfg, 30)
    key = lambda s: {x.tobytes() for x in s.images}  # noqa: E731
    assert len(held) == 300 and not key(seen) & key(held)
    _same(held, data.load("digits", "train").per_class(30, seed=5, skip=40))
    for bad in ({"train_per_class": None}, {"train_imbalance": 10.0}):
        with pytest.raises(ValueError, match="balanced training subset"):
            heldout_subset(train.TrainConfig(**{**cfg.__dict__, **bad}), 30)
