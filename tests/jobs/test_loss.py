from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairnotes.jobs import _loss
from fairnotes.jobs.train import TrainConfig


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(12, 5, generator=g), torch.randint(0, 5, (12,), generator=g)


def test_plain_weighted_and_smoothed_match_torch(batch):
    logits, y = batch
    w = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    torch.testing.assert_close(_loss.classification_loss(logits, y), F.cross_entropy(logits, y))
    torch.testing.assert_close(_loss.classification_loss(logits, y, class_weight=w),
                               F.cross_entropy(logits, y, weight=w))
    torch.testing.assert_close(_loss.classification_loss(logits, y, label_smoothing=0.2),
                               F.cross_entropy(logits, y, label_smoothing=0.2))
    soft = torch.softmax(torch.randn(12, 5), dim=1)
    torch.testing.assert_close(_loss.classification_loss(logits, soft),
                               -(soft * torch.log_softmax(logits, 1)).sum(1).mean())


def test_general_formula_without_focusing_is_weighted_cross_entropy(batch):
    logits, y = batch
    w = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    # hard targets with weights but gamma=0 through the general path equal torch's weighted loss
    t = F.one_hot(y, 5).float()
    torch.testing.assert_close(_loss._general(logits, t, w, 0.0), F.cross_entropy(logits, y, weight=w))


def test_focal_hand_example():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([0, 2])
    p = np.exp([2.0, 0.0]) / np.array([np.exp(2) + 2, np.exp(1) + 2])  # p of the true class
    gamma = 2.0
    expected = np.mean(-(1 - p) ** gamma * np.log(p))
    got = _loss.classification_loss(logits, y, focal_gamma=gamma)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # alpha weights: sum w_y * focal_i / sum w_y
    w = torch.tensor([2.0, 1.0, 0.5])
    terms = -(1 - p) ** gamma * np.log(p)
    exp_w = (2.0 * terms[0] + 0.5 * terms[1]) / 2.5
    assert float(_loss.classification_loss(logits, y, focal_gamma=gamma, class_weight=w)) == pytest.approx(exp_w, rel=1e-6)


def test_mixer_is_timm_mixup_with_its_own_stream():
    x = torch.arange(8 * 2 * 4 * 4, dtype=torch.float32).view(8, 2, 4, 4)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    mixer = _loss.Mixer(5, mixup=0.4, cutmix=0.0, label_smoothing=0.0)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    xa, ta = mixer(x.clone(), y, np.random.RandomState(7))
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's numpy stream is untouched
    xb, tb = mixer(x.clone(), y, np.random.RandomState(7))
    assert torch.equal(xa, xb) and torch.equal(ta, tb)  # same stream, same mix
    # Mixup: x' = lam x + (1 - lam) x.flip(0), and the targets carry the same lam
    lam = float(ta[0, 0])
    torch.testing.assert_close(xa, lam * x + (1 - lam) * x.flip(0))
    torch.testing.assert_close(ta.sum(1), torch.ones(8))
    x_odd, t_odd = mixer(x[:7].clone(), y[:7], np.random.RandomState(7))
    assert len(x_odd) == len(t_odd) == 6  # an odd batch leaves its last image out


@pytest.mark.parametrize("kw, match", [
    (dict(loss="l2"), "loss must be one of"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(mixup=-1), "mixup"),
    (dict(class_weights=[1, 0, 1]), "positive"),
    (dict(class_weights="heavy"), "one positive number per class"),
    (dict(track=True, mixup=0.2), "Mixup/CutMix"),
    (dict(pretrain={"model": "mlp"}, model="cnn"), "same network"),
    (dict(pretrain={"bogus": 1}), "bogus"),
])
def test_bad_remedy_fields(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig(dataset="digits", **kw)


def test_class_weights_must_match_the_classes(tiny):
    with pytest.raises(ValueError, match="10 classes"):
        from fairnotes.jobs import train
        train.run(tiny(class_weights=[1.0, 2.0]))


def test_remedy_fields_at_defaults_keep_the_key():
    base = TrainConfig(dataset="digits")
    same = TrainConfig(dataset="digits", label_smoothing=0.0, mixup=0.0, cutmix=0.0, loss="cross_entropy",
                       focal_gamma=2.0, class_weights=None, pretrain=None)
    assert base.key() == same.key()
    assert TrainConfig(dataset="digits", mixup=0.2).key() != base.key()
