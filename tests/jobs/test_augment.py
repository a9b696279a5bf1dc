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
