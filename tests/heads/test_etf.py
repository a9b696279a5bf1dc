"""The fixed simplex-ETF classifier (fairnotes.models._etf) and the train job's head="etf"."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fairnotes import models
from fairnotes.jobs import train
from fairnotes.models._etf import fix_etf_classifier, simplex_etf


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("k,d", [(2, 1), (3, 2), (10, 9), (10, 64), (100, 128)])
def test_simplex_etf_properties(k, d):
    w = simplex_etf(k, d, seed=3, dtype=torch.float64)
    assert w.shape == (k, d)
    gram = w @ w.T
    np.testing.assert_allclose(gram.diagonal(), 1.0, atol=1e-12)  # unit norm
    off = gram[~torch.eye(k, dtype=torch.bool)]
    np.testing.assert_allclose(off, -1.0 / (k - 1), atol=1e-12)  # equiangular, maximally apart
    np.testing.assert_allclose(w.sum(0), 0.0, atol=1e-12)  # centred
    assert torch.equal(w, simplex_etf(k, d, seed=3, dtype=torch.float64))
    if d > 1:
        assert not torch.allclose(w, simplex_etf(k, d, seed=4, dtype=torch.float64))


def test_simplex_etf_needs_enough_dimensions():
    with pytest.raises(ValueError, match="at least 9 feature dimensions"):
        simplex_etf(10, 8)
    with pytest.raises(ValueError, match="2 classes"):
        simplex_etf(1, 4)


def test_fixed_classifier_is_a_buffer_not_a_parameter():
    net = models.create("mlp", 10, 1, 8, width=16)
    n_before = len(list(net.parameters()))
    fix_etf_classifier(net)
    fc = net.get_classifier()
    assert len(list(net.parameters())) == n_before - 2
    assert not fc.weight.requires_grad and torch.equal(fc.bias, torch.zeros(10))
    assert {"fc.weight", "fc.bias"} <= set(net.state_dict())
    net(torch.randn(4, 1, 8, 8)).sum().backward()
    assert fc.weight.grad is None
    scaled = fix_etf_classifier(models.create("mlp", 10, 1, 8, width=16), scale=4.0, learn_scale=True)
    assert "fc.etf_scale" in dict(scaled.named_parameters())


def test_non_linear_classifier_is_refused():
    class Odd(torch.nn.Module):
        def get_classifier(self):
            return torch.nn.Identity()
    with pytest.raises(TypeError, match="nn.Linear"):
        fix_etf_classifier(Odd())


def test_train_config_head_option():
    base = dict(dataset="digits", model="mlp")
    with pytest.raises(ValueError, match="'linear', 'etf'"):
        train.TrainConfig(**base, head="cosine")
    assert train.TrainConfig(**base, head="etf").key() != train.TrainConfig(**base).key()


def test_etf_training_keeps_the_classifier_fixed_and_still_learns(tmp_path):
    cfg = train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 8}, head="etf", epochs=4,
                            batch_size=32, lr=0.05, train_per_class=30, augment="none", device="cpu",
                            progress=False, profile="tiny", checkpoint_dir=str(tmp_path))
    ds = train.run(cfg)
    state = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert torch.equal(state["fc.weight"], simplex_etf(10, 16))  # unchanged by 4 epochs of SGD
    assert torch.equal(state["fc.bias"], torch.zeros(10))
    assert ds.attrs["overall_accuracy"] > 0.5  # chance is 0.1
