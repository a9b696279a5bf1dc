"""Batched image augmentation on uint8 tensors, on whatever device they live on.

No PIL and no DataLoader workers: a whole batch (``B×C×H×W`` ``uint8``) is cropped and flipped
with a few tensor ops, then converted to normalised float. torchvision's v2 transforms draw one
random setting per call (per batch), not per image, so the per-image random crop is written
here (a gather with per-image offsets).

A policy is a string of ``-``-joined steps: ``"none"``, ``"crop"`` (random crop after zero
padding), ``"flip"`` (random horizontal flip), ``"flip-crop"``, and at most one automatic policy
from torchvision v2: ``"randaugment"`` (``v2.RandAugment()``: 2 ops at magnitude 9) or
``"trivialaugment"`` (``v2.TrivialAugmentWide()``), e.g. ``"crop-randaugment"``. Steps run in the
order crop, flip, automatic policy. Flipping is wrong for digits and text, so it is never implied.

The automatic policies draw one operation per call, so they are called once per image (a
batch of 128 grey 28-px images costs ~55 ms for RandAugment, ~40 ms for TrivialAugment on one
core); their randomness comes from torch's global generator, which the train job seeds per epoch.
Mixup and CutMix act on float batches and soft targets, so they live in the train job
(``TrainConfig.mixup`` / ``cutmix``, via timm's ``Mixup``), not here.

For contrastive pre-training (:mod:`fairnotes.jobs.contrastive`), :func:`random_resized_crop`
and :func:`random_brightness_contrast` draw their settings per image and run batched.

>>> import torch
>>> from fairnotes import augment
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
>>> augment.apply(x, "flip-crop", generator=g).shape
torch.Size([4, 1, 28, 28])
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch

__all__ = ["STEPS", "AUTO", "parse", "default_padding", "random_crop", "random_hflip", "auto_augment",
           "random_resized_crop", "random_brightness_contrast", "apply", "to_float"]

AUTO = ("randaugment", "trivialaugment")  # torchvision v2 automatic policies, one op per image
STEPS = ("crop", "flip", *AUTO)


def parse(policy: str) -> tuple[str, ...]:
    """Validate a policy string and return its steps in the order they run (crop, then flip)."""
    if not isinstance(policy, str):
        raise ValueError(f"augment must be a string such as 'none', 'crop' or 'flip-crop'; got {policy!r}")
    if policy in ("none", ""):
        return ()
    steps = policy.split("-")
    bad = [s for s in steps if s not in STEPS]
    if bad or len(set(steps)) != len(steps) or sum(s in AUTO for s in steps) > 1:
        raise ValueError(f"bad augment policy {policy!r}: use 'none' or '-'-joined steps from "
                         f"{', '.join(STEPS)}, at most one of {', '.join(AUTO)} (e.g. 'crop', 'flip-crop', "
                         "'crop-trivialaugment')")
    return tuple(s for s in STEPS if s in steps)


def default_padding(size: int) -> int:
    """Crop padding: 4 px at 28–32 px (the CIFAR recipe), 1/8 of the side in general, at least 1."""
    return max(1, round(size / 8))


def random_crop(x: torch.Tensor, padding: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad each image by ``padding`` and cut a random ``H×W`` window, per image."""
    import torch
    import torch.nn.functional as F
    b, c, h, w = x.shape
    xp = F.pad(x, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return xp[bi, ci, rows, cols]


def random_hflip(x: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    import torch
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def auto_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """torchvision v2 ``RandAugment`` / ``TrivialAugmentWide`` on each uint8 image of a batch.

    Grey (1-channel) images work: colour operations leave them unchanged.
    """
    import torch
    from torchvision.transforms import v2
    if policy not in AUTO:
        raise ValueError(f"policy must be one of {', '.join(AUTO)}; got {policy!r}")
    op = v2.RandAugment() if policy == "randaugment" else v2.TrivialAugmentWide()
    return torch.stack([op(img) for img in x])


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float] = (0.3, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), *,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Cut a random window per image (area ``scale`` of the image, aspect ``ratio``) and resize it back.

    The ``RandomResizedCrop`` of SimCLR, drawn per image and applied to the whole batch at once
    with one bilinear ``grid_sample`` (torchvision v2 draws one window per call). Returns float
    images in the input's value range (uint8 in, float32 0..255 out).
    """
    import math

    import torch
    import torch.nn.functional as F
    b = x.shape[0]
    area = torch.empty(b).uniform_(*scale, generator=generator)
    log_r = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_r.exp()
    w = (area * aspect).sqrt().clamp(max=1.0)  # window width and height, as fractions of the side
    h = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(b, generator=generator) * 2 - 1) * (1 - w)  # centres keep the window inside
    cy = (torch.rand(b, generator=generator) * 2 - 1) * (1 - h)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    theta = theta.to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_brightness_contrast(x: torch.Tensor, strength: float = 0.4, *,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale brightness and contrast of each float image (0..255) by factors in ``[1-s, 1+s]``, clamped."""
    import torch
    b = x.shape[0]
    bright = (1 + (torch.rand(b, generator=generator) * 2 - 1) * strength).to(x.device).view(b, 1, 1, 1)
    contrast = (1 + (torch.rand(b, generator=generator) * 2 - 1) * strength).to(x.device).view(b, 1, 1, 1)
    x = x * bright
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean).clamp_(0, 255)


def apply(x: torch.Tensor, policy: str | Sequence[str], *, generator: torch.Generator | None = None,
          padding: int | None = None) -> torch.Tensor:
    """Run ``policy`` (a string or :func:`parse`'s steps) on a uint8 batch at its native size."""
    steps = parse(policy) if isinstance(policy, str) else tuple(policy)
    for step in steps:
        if step == "crop":
            x = random_crop(x, default_padding(x.shape[-1]) if padding is None else padding, generator=generator)
        elif step == "flip":
            x = random_hflip(x, generator=generator)
        elif step in AUTO:
            x = auto_augment(x, step)
    return x


def to_float(x: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, size: int | None = None,
             dtype: torch.dtype | None = None, channels_last: bool = False) -> torch.Tensor:
    """uint8 (or float 0..255) ``B×C×H×W`` → normalised float, resized (bilinear) to ``size×size`` when it differs."""
    import torch
    import torch.nn.functional as F
    x = x.float().div_(255) if x.dtype == torch.uint8 else x.float().div(255)
    if size is not None and (x.shape[-2], x.shape[-1]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < x.shape[-1])
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    x = (x - m) / s
    if dtype is not None:
        x = x.to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
