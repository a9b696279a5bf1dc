"""The multi-label losses against PyTorch's own cross-entropy (probability targets) and BCE, and by hand."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fairnotes.jobs._loss import (
    MULTILABEL_LOSSES, bce_multilabel_loss, multilabel_loss, multilabel_softmax_loss,
)


def _case(seed: int, n: int = 64, k: int = 7):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, k, generator=g)
    targets = (torch.rand(n, k, generator=g) < 0.3).float()
    targets[targets.sum(1) == 0, 0] = 1.0  # every row has a positive
    return logits, targets


@pytest.mark.parametrize("seed", range(3))
def test_softmax_loss_is_cross_entropy_against_normalised_targets(seed):
    logits, targets = _case(seed)
    probs = targets / targets.sum(1, keepdim=True)
    torch.testing.assert_close(multilabel_softmax_loss(logits, targets), F.cross_entropy(logits, probs))
    torch.testing.assert_close(multilabel_softmax_loss(logits, targets, "sum"),
                               F.cross_entropy(logits, probs, reduction="sum"))
    torch.testing.assert_close(multilabel_softmax_loss(logits, targets, "none"),
                               F.cross_entropy(logits, probs, reduction="none"))
    torch.testing.assert_close(multilabel_loss("multilabel-softmax", logits, targets), F.cross_entropy(logits, probs))


@pytest.mark.parametrize("seed", range(3))
def test_bce_loss_is_torch_bce_with_logits(seed):
    logits, targets = _case(seed)
    targets[0] = 0  # an image without labels is fine for BCE
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(bce_multilabel_loss(logits, targets, reduction),
                                   F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction))
    torch.testing.assert_close(multilabel_loss("bce", logits, targets),
                               F.binary_cross_entropy_with_logits(logits, targets))
    # skip_empty leaves out the same images as the softmax loss does
    torch.testing.assert_close(bce_multilabel_loss(logits, targets, skip_empty=True),
                               F.binary_cross_entropy_with_logits(logits[1:], targets[1:]))


def test_hand_computed_two_images_three_labels():
    # image 1: logits (0, 0, 0) → softmax (1/3, 1/3, 1/3); labels {0, 1} → target (1/2, 1/2, 0)
    #          softmax loss = −(½ ln ⅓ + ½ ln ⅓) = ln 3 = 1.0986123
    #          BCE terms: σ(0) = ½ for every label → ln 2 each, 3 ln 2
    # image 2: logits (ln 2, 0, 0) → exp (2, 1, 1) / 4 = (½, ¼, ¼); label {2} → target (0, 0, 1)
    #          softmax loss = −ln ¼ = ln 4 = 1.3862944
    #          BCE: label 0 negative, σ(ln 2) = ⅔ → −ln ⅓ = ln 3; labels 1 (neg) and 2 (pos) at 0 → ln 2 each
    # softmax mean = (ln 3 + ln 4) / 2 = ln 12 / 2 = 1.2424533
    # BCE mean over 6 terms = (5 ln 2 + ln 3) / 6 = (3.4657359 + 1.0986123) / 6 = 0.7607247
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    sm = multilabel_softmax_loss(logits, targets)
    assert sm.item() == pytest.approx(1.2424533, abs=1e-6)
    per_image = multilabel_softmax_loss(logits, targets, "none")
    assert per_image.tolist() == pytest.approx([1.0986123, 1.3862944], abs=1e-6)
    assert bce_multilabel_loss(logits, targets).item() == pytest.approx(0.7607247, abs=1e-6)
    # gradient of the mean softmax loss: (softmax − target) / N
    #   image 1: (⅓ − ½, ⅓ − ½, ⅓) / 2 = (−1/12, −1/12, 1/6); image 2: (½, ¼, ¼ − 1) / 2 = (0.25, 0.125, −0.375)
    sm.backward()
    torch.testing.assert_close(logits.grad, torch.tensor([[-1 / 12, -1 / 12, 1 / 6], [0.25, 0.125, -0.375]]))


@pytest.mark.parametrize("name", MULTILABEL_LOSSES)
def test_gradients_are_finite_even_for_extreme_logits(name):
    logits, targets = _case(0, n=16, k=5)
    logits = (logits * 100).requires_grad_(True)  # logits of ±300: exp overflows unless done stably
    value = multilabel_loss(name, logits, targets)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_empty_rows_raise_with_their_count_or_are_skipped():
    logits, targets = _case(1, n=10, k=4)
    targets[[2, 5, 7]] = 0
    with pytest.raises(ValueError, match="3 of 10 rows"):
        multilabel_softmax_loss(logits, targets)
    keep = targets.sum(1) > 0
    probs = targets[keep] / targets[keep].sum(1, keepdim=True)
    torch.testing.assert_close(multilabel_softmax_loss(logits, targets, skip_empty=True),
                               F.cross_entropy(logits[keep], probs))
    assert multilabel_softmax_loss(logits, targets, "none", skip_empty=True).shape == (7,)
    # every row empty: a zero that still backpropagates
    z = logits.clone().requires_grad_(True)
    value = multilabel_loss("multilabel-softmax", z, torch.zeros_like(z), skip_empty=True)
    value.backward()
    assert value.item() == 0.0 and (z.grad == 0).all()


def test_bad_inputs_say_what_is_wrong():
    logits, targets = _case(0, n=4, k=3)
    with pytest.raises(ValueError, match="2-D"):
        multilabel_softmax_loss(logits[0], targets[0])
    with pytest.raises(ValueError, match="shape of logits"):
        bce_multilabel_loss(logits, targets[:, :2])
    with pytest.raises(ValueError, match="multi-hot"):
        multilabel_softmax_loss(logits, targets * 0.5)
    with pytest.raises(ValueError, match="'mean', 'sum', 'none'"):
        bce_multilabel_loss(logits, targets, "avg")
    with pytest.raises(ValueError, match="'multilabel-softmax', 'bce'"):
        multilabel_loss("softmax", logits, targets)
