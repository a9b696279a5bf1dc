"""Small from-scratch classifiers for laptop-sized images: an MLP and a plain conv net.

They follow timm's small contract (``num_classes``, ``num_features``, ``get_classifier()``,
``forward_features`` / ``forward_head``) so the jobs treat them like any timm model.
"""
from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten → ``depth`` × (Linear → ReLU) of ``width`` units → Linear classifier."""

    def __init__(self, num_classes: int, in_chans: int, image_size: int | None, *, width: int = 256, depth: int = 2):
        super().__init__()
        if image_size is None:
            raise ValueError("mlp needs image_size")
        if depth < 1 or width < 1:
            raise ValueError(f"mlp needs depth >= 1 and width >= 1 (got depth={depth}, width={width})")
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = in_chans * image_size * image_size
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.ReLU(inplace=True)]
            n_in = width
        self.body = nn.Sequential(*layers)
        self.num_classes, self.num_features = num_classes, width
        self.fc = nn.Linear(width, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Four 3×3 conv-BN-ReLU layers (``width``, ``width``, ``2·width``, ``2·width`` channels) with two
    2×2 max-pools, global average pooling and a linear classifier. Works from 8 px up."""

    def __init__(self, num_classes: int, in_chans: int, image_size: int | None = None, *, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(*_conv_bn(in_chans, w), *_conv_bn(w, w), nn.MaxPool2d(2),
                                  *_conv_bn(w, 2 * w), *_conv_bn(2 * w, 2 * w), nn.MaxPool2d(2))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_classes, self.num_features = num_classes, 2 * w
        self.fc = nn.Linear(2 * w, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
