"""Batched image augmentation on uint8 tensors, on whatever device they live on.

No PIL and no DataLoader workers: a whole batch (``B×C×H×W`` ``uint8``) is cropped and flipped
with a few tensor ops, then converted to normalised float. torchvision's v2 transforms draw one
random setting per call (per batch), not per image, so the per-image random crop is written
here (a gather with per-image offsets).

A policy is a string of ``-``-joined steps: ``"none"``, ``"crop"`` (random crop after zero
padding), ``"flip"`` (random horizontal flip), ``"flip-crop"``. Flipping is wrong for digits
and text, so it is never implied.

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

__all__ = ["STEPS", "parse", "default_padding", "random_crop", "random_hflip", "apply", "to_float"]

STEPS = ("crop", "flip")  # a later issue adds mixup / cutmix / randaugment


def parse(policy: str) -> tuple[str, ...]:
    """Validate a policy string and return its steps in the order they run (crop, then flip)."""
    if not isinstance(policy, str):
        raise ValueError(f"augment must be a string such as 'none', 'crop' or 'flip-crop'; got {policy!r}")
    if policy in ("none", ""):
        return ()
    steps = policy.split("-")
    bad = [s for s in steps if s not in STEPS]
    if bad or len(set(steps)) != len(steps):
        raise ValueError(f"bad augment policy {policy!r}: use 'none' or '-'-joined steps from "
                         f"{', '.join(STEPS)} (e.g. 'crop', 'flip-crop')")
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


def apply(x: torch.Tensor, policy: str | Sequence[str], *, generator: torch.Generator | None = None,
          padding: int | None = None) -> torch.Tensor:
    """Run ``policy`` (a string or :func:`parse`'s steps) on a uint8 batch at its native size."""
    steps = parse(policy) if isinstance(policy, str) else tuple(policy)
    for step in steps:
        if step == "crop":
            x = random_crop(x, default_padding(x.shape[-1]) if padding is None else padding, generator=generator)
        elif step == "flip":
            x = random_hflip(x, generator=generator)
    return x


def to_float(x: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, size: int | None = None,
             dtype: torch.dtype | None = None, channels_last: bool = False) -> torch.Tensor:
    """uint8 ``B×C×H×W`` → normalised float, resized (bilinear) to ``size×size`` when it differs."""
    import torch
    import torch.nn.functional as F
    x = x.float().div_(255)
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
