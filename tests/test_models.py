from __future__ import annotations

import os

import pytest
import torch

from fairnotes import models

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name", models.available())
@pytest.mark.parametrize("in_chans,size", [(1, 28), (3, 32)])
def test_every_registered_model_runs_forward(name, in_chans, size):
    torch.manual_seed(0)
    net = models.create(name, 10, in_chans, size).eval()
    with torch.no_grad():
        out = net(torch.randn(2, in_chans, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert net.get_classifier().out_features == 10


def test_tiny_configs_and_kwargs():
    small = models.create("resnet8", 10, 1, 28, width=4)
    assert sum(p.numel() for p in small.parameters()) < 6000
    assert models.create("resnet20", 10, 3, 32).fc.in_features == 64
    assert sum(p.numel() for p in models.create("resnet20", 10, 3, 32).parameters()) == pytest.approx(0.27e6, rel=0.02)
    assert models.create("resnet_cifar", 10, 3, 32, depth=14).num_features == 64
    with pytest.raises(ValueError, match="6n\\+2"):
        models.create("resnet_cifar", 10, 3, 32, depth=12)
    mlp = models.create("mlp", 10, 1, 8, width=7, depth=3)
    assert sum(isinstance(m, torch.nn.Linear) for m in mlp.modules()) == 4
    assert models.create("vit", 10, 1, 8, embed_dim=16, depth=1, num_heads=2).patch_embed.patch_size == (2, 2)


def test_unknown_name_lists_the_registry():
    with pytest.raises(KeyError, match="resnet20.*timm"):
        models.create("resnet21", 10)
    with pytest.raises(ValueError, match="pretrained"):
        models.create("cnn", 10, pretrained=True)


def test_timm_pass_through_with_small_kwargs():
    net = models.create("vit_tiny_patch16_224", 10, 1, 28, patch_size=4, depth=1)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    cnn = models.create("resnet18", 5, 1, 28)  # CNNs reject img_size; the pass-through retries without it
    assert cnn(torch.randn(2, 1, 28, 28)).shape == (2, 5)
    assert models.normalization(cnn, 1)[0] == pytest.approx((0.449,), abs=1e-3)


def test_efficientnet_lite0_loads_the_bundled_weights():
    from fairnotes.models._timm import lite0_weights_path
    src = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    src = [v for k, v in src.items() if not k.endswith("num_batches_tracked")]
    net = models.create("efficientnet_lite0", 1000, 3, 64, pretrained=True).eval()
    dst = [v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    for i in (0, 1, 57, len(src) - 1):  # by position: stem conv, stem BN, a middle tensor, head bias
        assert torch.equal(dst[i], src[i])
    assert models.normalization(net, 3) == ((0.5,) * 3, (0.5,) * 3)
    assert models.min_image_size("efficientnet_lite0") == 64

    grey = models.create("efficientnet_lite0", 10, 1, 64, pretrained=True).eval()
    assert grey.get_classifier().out_features == 10
    torch.testing.assert_close(grey.conv_stem.weight, net.conv_stem.weight.sum(1, keepdim=True))
    x = torch.rand(4, 1, 64, 64)
    with torch.no_grad():
        y = grey(x)
        # the summed stem equals feeding the grey image repeated to three channels
        torch.testing.assert_close(grey.forward_features(x), net.forward_features(x.expand(-1, 3, -1, -1)),
                                   rtol=1e-4, atol=1e-4)
    assert y.shape == (4, 10) and torch.isfinite(y).all()
