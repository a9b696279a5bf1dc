from __future__ import annotations

import numpy as np
import pytest
import torch

from fairnotes import augment


def test_parse():
    assert augment.parse("none") == ()
    assert augment.parse("flip-crop") == augment.parse("crop-flip") == ("crop", "flip")
    with pytest.raises(ValueError, match="crop, flip"):
        augment.parse("mixup")


def test_random_crop_matches_a_per_image_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 2, 8, 8), dtype=torch.uint8)
    out = augment.random_crop(x, 2, generator=g)
    # oracle: replay the same offsets and slice image by image
    g = torch.Generator().manual_seed(0)
    oy = torch.randint(0, 5, (16,), generator=g)
    ox = torch.randint(0, 5, (16,), generator=g)
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        assert torch.equal(out[i], xp[i, :, oy[i]:oy[i] + 8, ox[i]:ox[i] + 8])
    assert out.dtype == torch.uint8


def test_hflip_flips_some_and_keeps_others():
    x = torch.arange(64, dtype=torch.uint8).view(64, 1, 1, 1).expand(64, 1, 2, 3).contiguous()
    x[:, :, :, 0] = 0
    out = augment.random_hflip(x, generator=torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, -1] == 0)
    assert 10 < int(flipped.sum()) < 54
    assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(out[~flipped], x[~flipped])


def test_to_float_normalises_and_resizes():
    x = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)
    y = augment.to_float(x, (0.5,), (0.5,), size=16)
    assert y.shape == (2, 1, 16, 16) and y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), 1.0)


def test_auto_policies_parse_and_run_per_image():
    assert augment.parse("crop-trivialaugment") == ("crop", "trivialaugment")
    with pytest.raises(ValueError, match="at most one of randaugment, trivialaugment"):
        augment.parse("randaugment-trivialaugment")
    torch.manual_seed(0)
    x = torch.randint(0, 256, (1, 1, 16, 16), dtype=torch.uint8).expand(32, 1, 16, 16).contiguous()
    for policy in augment.AUTO:
        out = augment.apply(x, policy)
        assert out.shape == x.shape and out.dtype == torch.uint8
        # one op per image, not per batch: identical inputs come out different
        assert len({o.numpy().tobytes() for o in out}) > 4


def test_random_resized_crop_full_window_is_identity_and_crops_otherwise():
    x = torch.randint(0, 256, (4, 1, 12, 12), dtype=torch.uint8)
    same = augment.random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, x.float(), atol=1e-3, rtol=0)
    # a half-width window of a left-right ramp spans half the ramp's range
    ramp = torch.arange(12, dtype=torch.float32).view(1, 1, 1, 12).expand(4, 1, 12, 12) * 20
    out = augment.random_resized_crop(ramp, scale=(0.25, 0.25), ratio=(1.0, 1.0),
                                      generator=torch.Generator().manual_seed(0))
    span = out[:, 0, 6, -1] - out[:, 0, 6, 0]
    assert torch.all(span < 0.6 * 220) and torch.all(span > 0.4 * 220)


def test_brightness_contrast_zero_strength_is_identity_and_stays_in_range():
    x = torch.rand(8, 1, 6, 6) * 255
    torch.testing.assert_close(augment.random_brightness_contrast(x, 0.0), x)
    y = augment.random_brightness_contrast(x, 0.9, generator=torch.Generator().manual_seed(1))
    assert float(y.min()) >= 0 and float(y.max()) <= 255 and not torch.allclose(x, y)
