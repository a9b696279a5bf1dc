"""The linear multi-label head: both losses learn a separable problem, from the same start, deterministically."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fairnotes.heads._multilabel import MULTILABEL_LOSSES, fit_multilabel_head, head_scores
from fairnotes.metrics import average_precision


def _blobs(n: int, seed: int):
    """Three Gaussian blobs (labels 0-2) in 8 dims; label 3 (a third of the images, any blob) shifts
    the last feature by +4, so those images have two labels. Linearly separable up to the noise."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, 8))
    centres[np.arange(3), np.arange(3)] = 4.0
    blob = rng.integers(0, 3, n)
    extra = rng.random(n) < 1 / 3
    x = centres[blob] + rng.normal(size=(n, 8))
    x[:, 7] += 4.0 * extra
    y = np.zeros((n, 4), dtype=np.int64)
    y[np.arange(n), blob] = 1
    y[:, 3] = extra
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    xtr, ytr = _blobs(600, seed=0)
    xte, yte = _blobs(300, seed=1)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def heads(data):
    xtr, ytr, _, _ = data
    return {loss: fit_multilabel_head(xtr, ytr, loss=loss, epochs=60, seed=3) for loss in MULTILABEL_LOSSES}


@pytest.mark.parametrize("loss", MULTILABEL_LOSSES)
def test_both_losses_learn_the_blobs(data, heads, loss):
    _, ytr, xte, yte = data
    assert (ytr.sum(1) == 2).mean() > 0.25  # some images have two labels
    head = heads[loss]
    assert head["weight"].shape == (4, 8) and head["weight"].dtype == np.float32
    assert head["bias"].shape == (4,) and head["loss"] == loss
    assert head["loss_history"].shape == (60,) and head["loss_history"][-1] < 0.5 * head["loss_history"][0]
    assert float(average_precision(yte, head_scores(head, xte, loss))["map"]) > 0.9


def test_same_seed_same_start_different_losses_different_ends(heads):
    soft, bce = heads["multilabel-softmax"], heads["bce"]
    np.testing.assert_array_equal(soft["init_weight"], bce["init_weight"])
    np.testing.assert_array_equal(soft["init_bias"], bce["init_bias"])
    assert np.abs(soft["weight"] - bce["weight"]).max() > 1e-2
    # the start is nn.Linear's default init: uniform within ±1/√D
    assert np.abs(soft["init_weight"]).max() <= 1 / np.sqrt(8)
    other = fit_multilabel_head(np.zeros((4, 8)), np.eye(4), loss="bce", epochs=1, seed=4)
    assert not np.array_equal(other["init_weight"], soft["init_weight"])


def test_deterministic_and_init_reproduces_the_seeded_start(data, heads):
    xtr, ytr, _, _ = data
    again = fit_multilabel_head(xtr, ytr, loss="bce", epochs=60, seed=3)
    for key in ("weight", "bias", "loss_history"):
        np.testing.assert_array_equal(again[key], heads["bce"][key])
    # the same start given explicitly (same seed, so the same shuffles): the same head
    given = fit_multilabel_head(xtr, ytr, loss="bce", epochs=60, seed=3,
                                init={"weight": again["init_weight"], "bias": again["init_bias"]})
    np.testing.assert_array_equal(given["weight"], again["weight"])


def test_full_batch_and_scores(data):
    xtr, ytr, xte, _ = data
    head = fit_multilabel_head(xtr[:100], ytr[:100], loss="multilabel-softmax", epochs=5, batch_size=1000)
    assert head["loss_history"].shape == (5,)
    logits = torch.from_numpy(xte) @ torch.from_numpy(head["weight"]).T + torch.from_numpy(head["bias"])
    soft = head_scores(head, xte, "multilabel-softmax")
    np.testing.assert_allclose(soft, torch.softmax(logits, 1).numpy(), atol=1e-5)
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(head_scores(head, xte, "bce"), torch.sigmoid(logits).numpy(), atol=1e-5)


def test_bad_input_says_what_is_wrong(data):
    xtr, ytr, _, _ = data
    with pytest.raises(ValueError, match="'multilabel-softmax', 'bce'"):
        fit_multilabel_head(xtr, ytr, loss="softmax")
    empty = ytr.copy()
    empty[:7] = 0
    with pytest.raises(ValueError, match="7 of 600 rows"):
        fit_multilabel_head(xtr, empty, loss="multilabel-softmax")
    fit_multilabel_head(xtr[:20], empty[:20], loss="bce", epochs=1)  # BCE takes images without labels
    with pytest.raises(ValueError, match="one row per row of x"):
        fit_multilabel_head(xtr, ytr[:10], loss="bce")
    with pytest.raises(ValueError, match=r"init\['weight'\] must have shape \(4, 8\)"):
        fit_multilabel_head(xtr, ytr, loss="bce", init={"weight": np.zeros((8, 4)), "bias": np.zeros(4)})
    with pytest.raises(ValueError, match="'multilabel-softmax', 'bce'"):
        head_scores({"weight": np.zeros((4, 8)), "bias": np.zeros(4)}, xtr, "sigmoid")
